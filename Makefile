# m365.cloud_identity: build, demo and test.  GNU make; recipes run in bash.
#
#   make demo   run the demo playbook against a local Graph sandbox
#   make test   unit + integration tests, ansible-lint, collection build, ansible-test sanity
#
# Everything runs from the project virtualenv .venv (created when missing).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.requirements-installed
REQUIREMENTS := requirements.txt test-requirements.txt sandbox/requirements.txt

BUILD := .build
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/m365/cloud_identity
COLLECTION_PATH_IN_ROOT := ansible_collections/m365/cloud_identity
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
ARTIFACT := $(BUILD)/m365-cloud_identity-$(VERSION).tar.gz

DEMO_STATE := .sandbox/demo
MANUAL_STATE := .sandbox/manual
DEMO_REPORT := $(DEMO_STATE)/tenant-report.html
SANDBOX_PORT ?= 0

# Parallel pytest workers for the integration tests (each test file gets its own sandbox).
JOBS ?= 2
# Target Pythons for ansible-test sanity (module code must work on all of them);
# versions not installed on this machine are skipped.
SANITY_PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
# Sanity tests to leave out (e.g. SANITY_SKIP="pylint"); none by default.
SANITY_SKIP ?=
# The oldest ansible-core meta/runtime.yml accepts; sanity also runs with it.
SANITY_OLDEST_CORE ?= 2.16
OLDEST_CORE_VENV := $(BUILD)/ansible-core-$(SANITY_OLDEST_CORE)
OLDEST_CORE_STAMP := $(OLDEST_CORE_VENV)/.installed
SANITY_PYTHONS_DIR := $(abspath $(BUILD)/sanity-pythons)

# galaxy-importer releases `make importer` runs: the one Red Hat's partner certification
# workflow pins, and the newest.
IMPORTER_VERSIONS ?= 0.4.31 0.4.44
RELEASE_VENV := $(BUILD)/release-venv
RELEASE_STAMP := $(RELEASE_VENV)/.requirements-installed
EE_DEFINITION := extensions/awx/execution-environment/execution-environment.yml

export ANSIBLE_COLLECTIONS_PATH := $(abspath $(COLLECTIONS))
export ANSIBLE_NOCOLOR := 1
# The demo runs on the implicit localhost (with the venv's Python); no inventory needed.
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv collection demo sandbox test unit integration molecule lint sanity sanity-newest sanity-oldest build publish importer shipped-tests changelog docs ee clean bench

help:
	@echo "make demo         run playbooks/demo.yml against a local Graph sandbox"
	@echo "make test         unit, integration, lint, build and sanity (what CI runs)"
	@echo "make venv         create .venv and install the requirements"
	@echo "make collection   lay the collection out under $(COLLECTIONS)"
	@echo "make unit | integration | molecule | lint | sanity | build"
	@echo "make bench        workload B10k through the roles (BENCH_USERS=1000 for a quick run; not a test)"
	@echo "make sandbox      run a Graph sandbox in the foreground (state in $(MANUAL_STATE))"
	@echo "make clean        remove build output, sandbox state and test caches (keeps .venv)"

# --- virtualenv ---------------------------------------------------------------

# Print the path of the best Python >= 3.12 on this machine. Candidates are run,
# not just looked up: a pyenv shim can exist for a version that is not active.
define find_python
python_ok() { "$$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }; \
candidates=(python3.12 python3.13 python3.14); \
if command -v pyenv >/dev/null 2>&1; then \
  for version in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])\.[0-9]+$$' | sort -V); do \
    candidates+=("$$(pyenv root)/versions/$$version/bin/python3"); \
  done; \
fi; \
candidates+=(python3); \
for candidate in "$${candidates[@]}"; do \
  if python_ok "$$candidate"; then command -v "$$candidate"; exit 0; fi; \
done; \
echo "No Python 3.12 or newer found (tried: $${candidates[*]})." >&2; \
echo "Install Python 3.12+ and put it on PATH as python3.12 or python3." >&2; \
exit 1
endef

# Link a working interpreter for each of $(SANITY_PYTHONS) into $(SANITY_PYTHONS_DIR),
# which goes first on ansible-test's PATH (a pyenv shim for an inactive version fails).
define link_sanity_pythons
rm -rf $(SANITY_PYTHONS_DIR); mkdir -p $(SANITY_PYTHONS_DIR); \
for version in $(SANITY_PYTHONS); do \
  candidates=("python$$version"); \
  if command -v pyenv >/dev/null 2>&1; then \
    for installed in $$(pyenv versions --bare 2>/dev/null | grep -E "^$${version//./\\.}\.[0-9]+$$" | sort -rV); do \
      candidates+=("$$(pyenv root)/versions/$$installed/bin/python$$version"); \
    done; \
  fi; \
  for candidate in "$${candidates[@]}"; do \
    found=$$("$$candidate" -c 'import sys; print(sys.executable if "%d.%d" % sys.version_info[:2] == sys.argv[1] else "")' "$$version" 2>/dev/null) || continue; \
    if [ -n "$$found" ]; then ln -s "$$found" $(SANITY_PYTHONS_DIR)/python$$version; break; fi; \
  done; \
done; \
echo "Target Pythons for sanity: $$(ls $(SANITY_PYTHONS_DIR) | tr '\n' ' ')"
endef

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@if ! $(PY) -c 'import sys' >/dev/null 2>&1; then \
	  python=$$( $(find_python) ); \
	  echo "Creating $(VENV) with $$python ($$($$python --version))"; \
	  rm -rf $(VENV); \
	  "$$python" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	@touch $@

# --- collection layout -----------------------------------------------------------

# ansible-playbook and pytest find the collection through a symlink to this tree.
collection: $(COLLECTION_LINK)

$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../../.. $@

# --- demo ------------------------------------------------------------------------

# Starts a fresh sandbox in the background and runs playbooks/demo.yml against it: the example company
# built, applied again (no change), exported to $(DEMO_STATE)/export.yml and the export re-applied (no
# change). The connection reaches ansible-playbook only as environment variables, and the sandbox's state
# (which holds its app secrets) is removed when the demo ends; the export and the sandbox log stay.
demo: venv collection
	@rm -rf $(DEMO_STATE); mkdir -p $(DEMO_STATE)
	@PYTHONPATH=sandbox $(PY) -m graph_sandbox serve --host 127.0.0.1 --port $(SANDBOX_PORT) \
	    --state-dir $(DEMO_STATE) >> $(DEMO_STATE)/sandbox.log 2>&1 & \
	sandbox_pid=$$!; \
	trap 'kill $$sandbox_pid 2>/dev/null || true; wait $$sandbox_pid 2>/dev/null || true; \
	      find $(DEMO_STATE) -mindepth 1 ! -name export.yml ! -name sandbox.log ! -name "$(notdir $(DEMO_REPORT:.html=)).*" \
	        -exec rm -rf {} +' EXIT; \
	connection=$$($(PY) .ci/connection_vars.py --env --wait 60 --pid $$sandbox_pid $(DEMO_STATE)/connection.json) \
	  || { echo "The sandbox did not start; its log:" >&2; tail -n 30 $(DEMO_STATE)/sandbox.log >&2; exit 1; }; \
	eval "$$connection"; \
	$(BIN)/ansible-playbook playbooks/demo.yml -e m365_demo_export_path=$(abspath $(DEMO_STATE))/export.yml \
	    -e m365_tenant_password_file=$(abspath $(DEMO_STATE))/passwords.jsonl; \
	$(BIN)/ansible-playbook playbooks/report.yml -e m365_report_path=$(abspath $(DEMO_REPORT)); \
	echo "make demo: the tenant report is $(abspath $(DEMO_REPORT)) (data: $(abspath $(DEMO_REPORT:.html=.json)))"; \
	echo "make demo: done. The export and the report are in $(DEMO_STATE); 'make clean' removes them."

# Workload B10k through playbooks/site.yml against fresh local sandboxes: cold build, no-op, churn, the
# per-object baseline and the cold build under Graph's throttling budgets (docs/performance.md).
# BENCH_USERS scales it down (default 10000), BENCH_SLICE sizes the baseline's slice, BENCH_RUNS picks runs.
bench: venv collection
	$(PY) benchmarks/b10k.py

# A sandbox for manual use; Ctrl-C stops it. Its state stays in $(MANUAL_STATE).
sandbox: venv collection
	@mkdir -p $(MANUAL_STATE)
	@rm -f $(MANUAL_STATE)/connection.json
	@echo "Starting the Graph sandbox (Ctrl-C stops it). Once it is up, in another shell:"
	@echo '  export ANSIBLE_COLLECTIONS_PATH=$$PWD/$(COLLECTIONS)'
	@echo '  eval "$$($(PY) .ci/connection_vars.py --env $(MANUAL_STATE)/connection.json)"'
	PYTHONPATH=sandbox $(PY) -m graph_sandbox serve --host 127.0.0.1 --port $(SANDBOX_PORT) --state-dir $(MANUAL_STATE)

# --- tests -----------------------------------------------------------------------

# Every part runs even if an earlier one failed; the target fails if any did.
test: venv collection
	@failed=(); summary=(); \
	for part in unit integration molecule lint build sanity publish; do \
	  start=$$(date +%s); \
	  echo "=== make $$part"; \
	  if $(MAKE) --no-print-directory $$part; then status=passed; else status=FAILED; failed+=("$$part"); fi; \
	  summary+=("$$(printf '  %-12s %-7s %4d s' "$$part" "$$status" $$(( $$(date +%s) - start )))"); \
	done; \
	echo "=== make test summary"; printf '%s\n' "$${summary[@]}"; \
	if [ $${#failed[@]} -gt 0 ]; then echo "make test: FAILED: $${failed[*]}"; exit 1; fi; \
	echo "make test: all passed"

unit: venv collection
	$(PY) -m pytest tests/unit -q

integration: venv collection
	$(PY) -m pytest tests/integration -q -n $(JOBS) --dist loadfile

# The roles' molecule scenarios (extensions/molecule): each starts and stops a Graph sandbox of its own.
molecule: venv collection
	cd extensions && PATH=$(abspath $(BIN)):$$PATH $(abspath $(BIN))/molecule test --all


# As in a plain clone: without this Makefile's ANSIBLE_COLLECTIONS_PATH (.ansible-lint
# says how the playbooks find the collection then).
lint: venv
	env -u ANSIBLE_COLLECTIONS_PATH PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-lint --profile production

# ansible-test wants the collection at .../ansible_collections/<ns>/<name> on its own,
# so it runs on exactly what ships: the Galaxy artifact unpacked under
# $(BUILD)/sanity-<core>, marked as the content root so that ansible-test does not walk
# up into this repository's git checkout. It runs twice: with the project venv's
# ansible-core (the newest) and with the oldest release meta/runtime.yml accepts
# ($(SANITY_OLDEST_CORE), in its own virtualenv $(OLDEST_CORE_VENV)). Each sanity test
# runs in a virtualenv of ansible-test's own pinned tools, installed from PyPI on the
# first run and kept under $(BUILD)/ansible-test-home-<core>. ansible-test bootstraps
# pip into those with a script from ci-files.testing.ansible.com; the cache is seeded
# with .ci/ansible_test_get_pip.py, which does the same from PyPI. Module code is
# compiled and imported on every target Python found ($(SANITY_PYTHONS)) that the core
# supports; missing ones are skipped with a warning.
sanity: sanity-newest sanity-oldest

sanity-newest: build
	$(call run_sanity,$(abspath $(BIN)),newest)

sanity-oldest: build $(OLDEST_CORE_STAMP)
	$(call run_sanity,$(abspath $(OLDEST_CORE_VENV)/bin),$(SANITY_OLDEST_CORE))

$(OLDEST_CORE_STAMP):
	rm -rf $(OLDEST_CORE_VENV)
	$(PY) -m venv $(OLDEST_CORE_VENV)
	$(OLDEST_CORE_VENV)/bin/python -m pip install --quiet 'ansible-core==$(SANITY_OLDEST_CORE).*'
	@touch $@

# $(1): the bin directory of ansible-test's virtualenv; $(2): a name for its work directories.
define run_sanity
	@rm -rf $(BUILD)/sanity-$(2)
	@mkdir -p $(BUILD)/sanity-$(2)/$(COLLECTION_PATH_IN_ROOT)
	@tar -xzf $(ARTIFACT) -C $(BUILD)/sanity-$(2)/$(COLLECTION_PATH_IN_ROOT)
	@$(link_sanity_pythons)
	@home=$(abspath $(BUILD))/ansible-test-home-$(2); \
	pip_version=$$($(1)/python -c 'import re, inspect, ansible_test._internal.python_requirements as r; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))'); \
	mkdir -p $$home/.ansible/test/cache; \
	cp .ci/ansible_test_get_pip.py $$home/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	@echo "ansible-test sanity with ansible-core $$($(1)/python -c 'import ansible.release; print(ansible.release.__version__)')"
	cd $(BUILD)/sanity-$(2)/$(COLLECTION_PATH_IN_ROOT) && ANSIBLE_TEST_CONTENT_ROOT=$$PWD \
	    HOME=$(abspath $(BUILD))/ansible-test-home-$(2) PATH=$(SANITY_PYTHONS_DIR):$$PATH \
	    $(1)/ansible-test sanity --local --color no $(addprefix --skip-test ,$(SANITY_SKIP))
endef

# --- publishing ------------------------------------------------------------------

# What Galaxy / Automation Hub and certification check, on the artifact `make build`
# makes: galaxy-importer (the release the certification workflow pins and the newest;
# each in its own virtualenv under $(BUILD)), the changelog, the docsite, and the
# example execution environment. The tools of release-requirements.txt live in
# $(RELEASE_VENV), apart from .venv, so that their pins never clash with the project's.
publish: importer shipped-tests changelog docs ee

importer: build
	@for version in $(IMPORTER_VERSIONS); do \
	  venv=$(BUILD)/galaxy-importer-$$version; \
	  if [ ! -e $$venv/.installed ]; then \
	    rm -rf $$venv; $(PY) -m venv $$venv; \
	    $$venv/bin/python -m pip install --quiet "galaxy-importer==$$version"; touch $$venv/.installed; \
	  fi; \
	  echo "galaxy-importer $$version on $(ARTIFACT)"; \
	  log=$$venv/import.log; \
	  if ! (cd $(BUILD) && PATH=$$PWD/galaxy-importer-$$version/bin:$$PATH \
	        galaxy-importer-$$version/bin/python -m galaxy_importer.main $(notdir $(ARTIFACT))) > $$log 2>&1; then \
	    cat $$log; echo "galaxy-importer $$version refused the artifact" >&2; exit 1; \
	  fi; \
	  if grep -E '^(WARNING|ERROR)' $$log | grep -v 'Ignore files skip ansible-test sanity tests, found ignore-[0-9.]*\.txt with 0 statement'; then \
	    echo "galaxy-importer $$version: the warnings above would show on the collection's page" >&2; exit 1; \
	  fi; \
	  tail -n 1 $$log; \
	done

# The tests the artifact ships must run from it alone: without tests/conftest.py and
# without the sandbox (both stay out through build_ignore in galaxy.yml). A test that
# needs a sandbox fixture fails here ("fixture 'sandbox' not found").
shipped-tests: build
	@rm -rf $(BUILD)/shipped
	@mkdir -p $(BUILD)/shipped/$(COLLECTION_PATH_IN_ROOT)
	@tar -xzf $(ARTIFACT) -C $(BUILD)/shipped/$(COLLECTION_PATH_IN_ROOT)
	cd $(BUILD)/shipped/$(COLLECTION_PATH_IN_ROOT) && PYTHONPATH=$(abspath $(BUILD)/shipped) \
	    $(abspath $(PY)) -m pytest -q -p no:cacheprovider --noconftest tests/unit

$(RELEASE_STAMP): release-requirements.txt
	@if [ ! -x $(RELEASE_VENV)/bin/python ]; then $(PY) -m venv $(RELEASE_VENV); fi
	$(RELEASE_VENV)/bin/python -m pip install --quiet -r release-requirements.txt
	@touch $@

# Fragments are valid, and CHANGELOG.md is what changelogs/changelog.yaml renders to
# (`antsibull-changelog release` writes both; see CONTRIBUTING.md).
changelog: $(RELEASE_STAMP) collection
	PATH=$(abspath $(RELEASE_VENV)/bin):$$PATH antsibull-changelog lint
	PATH=$(abspath $(RELEASE_VENV)/bin):$$PATH antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@PATH=$(abspath $(RELEASE_VENV)/bin):$$PATH antsibull-changelog generate --output $(BUILD)/CHANGELOG.md
	@diff -u CHANGELOG.md $(BUILD)/CHANGELOG.md \
	  || { echo "CHANGELOG.md is out of date: run antsibull-changelog generate" >&2; exit 1; }

# The docsite guides (docs/docsite/) and the plugin docs as docs.ansible.com renders them.
docs: $(RELEASE_STAMP) collection
	PATH=$(abspath $(RELEASE_VENV)/bin):$$PATH antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION_LINK)

# ansible-builder writes the build context of the example execution environment
# (building the image needs podman or docker: see docs/docsite/rst/guide_awx.rst), and
# finds the collection's Python requirements the way the image build does: by
# introspecting the artifact installed into a collections directory.
ee: build $(RELEASE_STAMP)
	@rm -rf $(BUILD)/ee-context $(BUILD)/ee-collections
	$(RELEASE_VENV)/bin/ansible-builder create --file $(EE_DEFINITION) --context $(BUILD)/ee-context \
	    --output-filename Containerfile
	@grep -q 'ansible-galaxy collection install' $(BUILD)/ee-context/Containerfile
	@grep -q 'm365.cloud_identity' $(BUILD)/ee-context/_build/requirements.yml
	@$(RELEASE_VENV)/bin/ansible-galaxy collection install --force --offline -p $(BUILD)/ee-collections $(ARTIFACT) >/dev/null
	$(RELEASE_VENV)/bin/ansible-builder introspect --sanitize $(BUILD)/ee-collections > $(BUILD)/ee-introspect.txt
	@for library in msal requests cryptography; do \
	  grep -q "^- '$$library" $(BUILD)/ee-introspect.txt \
	    || { cat $(BUILD)/ee-introspect.txt; echo "$$library missing from the execution environment's requirements" >&2; exit 1; }; \
	done
	@echo "execution environment: build context in $(BUILD)/ee-context; Python requirements found: msal, requests, cryptography"

build: venv
	@mkdir -p $(BUILD)
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD) .

clean:
	rm -rf $(BUILD) .sandbox tests/output .pytest_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
