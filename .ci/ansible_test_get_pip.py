"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip.

ansible-test creates a virtualenv without pip for each sanity test and fetches
get-pip.py from ci-files.testing.ansible.com to put pip in it. That host is not
reachable from every machine that can reach PyPI, so `make sanity` seeds
ansible-test's cache with this script instead: it installs the bundled pip with
ensurepip, then the exact packages ansible-test asked for from the usual index.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    pip_arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    # In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own
    # environment, which would hide the machine's pip settings (index, CA) from the install.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    install = [sys.executable, "-m", "pip", "install", "--quiet"] + pip_arguments
    status = subprocess.call(install)
    if status != 0:  # one retry: a first install has been seen to fail transiently
        status = subprocess.call(install)
    return status


if __name__ == "__main__":
    sys.exit(main())
