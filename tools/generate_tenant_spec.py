#!/usr/bin/env python3
"""Write a generated tenant spec (m365_tenant) of any size, for tests and benchmarks of the roles.

    python tools/generate_tenant_spec.py --users 1000 --groups 60 --guests 20 > tenant.yml

The spec fits the Graph sandbox's default tenant (domain contoso.com; SKUs SPE_E3 with 25 seats and
EMSPREMIUM with 20): ten departments with a dynamic group each, assigned security groups of about
twenty members, one Microsoft 365 group, managers, ten direct licences and one licensed group of
fifteen members, and guests from a partner domain.
"""

import argparse
import sys

import yaml

DEPARTMENTS = 10
COMPANY = "Generated Ltd"


def build(users, groups, guests, domain, partner):
    people = []
    for number in range(users):
        department = "Department %02d" % (number % DEPARTMENTS)
        head = number % DEPARTMENTS  # the first user of each department leads it
        person = {
            "user_principal_name": "user%04d@%s" % (number, domain),
            "display_name": "User %04d" % number,
            "department": department,
            "company_name": COMPANY,
            "usage_location": "US",
        }
        if number >= DEPARTMENTS:
            person["manager"] = "user%04d@%s" % (head, domain)
        if number < 10:
            person["licenses"] = ["SPE_E3"]
        people.append(person)

    spec_groups = []
    for number in range(min(groups, DEPARTMENTS)):
        spec_groups.append({
            "unique_name": "gen-dept-%02d" % number,
            "display_name": "Department %02d" % number,
            "membership_rule": '(user.department -eq "Department %02d") -and (user.companyName -eq "%s")'
                               % (number, COMPANY),
        })
    static = max(0, groups - len(spec_groups) - 1)
    for number in range(static):
        members = [people[(number * 20 + offset) % users]["user_principal_name"] for offset in range(20)]
        group = {"unique_name": "gen-team-%02d" % number, "display_name": "Team %02d" % number,
                 "members": {"set": members}}
        if number == 0:
            group["members"] = {"set": members[:15]}
            group["licenses"] = ["EMSPREMIUM"]
        spec_groups.append(group)
    if groups > len(spec_groups):
        spec_groups.append({
            "unique_name": "gen-partners", "display_name": "Partner Project", "group_type": "microsoft365",
            "visibility": "Private", "owners": {"set": [people[0]["user_principal_name"]]},
            "members": {"set": [people[0]["user_principal_name"]]
                        + ["guest%02d@%s" % (number, partner) for number in range(guests)]},
        })

    spec_guests = [{"email": "guest%02d@%s" % (number, partner), "display_name": "Guest %02d (Partner)" % number}
                   for number in range(guests)]
    return {"m365_tenant": {
        "groups": spec_groups,
        "users": people,
        "guests": spec_guests,
        "leavers": {"scope": {"filter": "companyName eq '%s'" % COMPANY}, "action": "disable", "max_changes": 10},
    }}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=60)
    parser.add_argument("--guests", type=int, default=20)
    parser.add_argument("--domain", default="contoso.com")
    parser.add_argument("--partner-domain", default="fabrikam.com")
    args = parser.parse_args()
    spec = build(args.users, args.groups, args.guests, args.domain, args.partner_domain)
    sys.stdout.write("---\n" + yaml.safe_dump(spec, sort_keys=False, width=120))


if __name__ == "__main__":
    main()
