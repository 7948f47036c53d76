"""Workload B10k as an m365_tenant spec (issue 13), and its churned next version.

At the default 10,000 users: 20 departments, 5% of the users managed by users of the same spec, 300 guests,
200 groups (150 assigned security groups of 20-800 members, 40 dynamic on department or job title,
10 Microsoft 365 groups), group-based licensing on 5 of the assigned groups and 1,000 direct licences.
Smaller ``users`` scale every count in proportion (a quick run), never below one of each kind.
Deterministic: the same ``users`` always gives the same spec.
"""
import copy
import math
import random

DOMAIN = "contoso.com"
COMPANY = "Bench Corp"
DEPARTMENTS = ["Dept%02d" % n for n in range(20)]
JOB_TITLES = ["Title%02d" % n for n in range(20)]
# The sandbox seed's SKUs (benchmarks/b10k.py raises their seats): direct licences use the first,
# the licensed groups the others.
DIRECT_SKU = "SPE_E3"
GROUP_SKUS = ["EMSPREMIUM", "POWER_BI_STANDARD", "ENTERPRISEPACK", "SPE_E5", "VISIOCLIENT"]


def scaled(count, users):
    return max(1, int(round(count * users / 10000.0)))


def upn(n):
    return "b%05d@%s" % (n, DOMAIN)


def member_user(n, rng):
    return {"user_principal_name": upn(n), "display_name": "Bench User %05d" % n,
            "given_name": "Bench", "surname": "User%05d" % n, "department": rng.choice(DEPARTMENTS),
            "job_title": rng.choice(JOB_TITLES), "company_name": COMPANY, "usage_location": "US"}


def generate(users=10000, seed=13):
    """The spec (the value of m365_tenant) for ``users`` member users."""
    rng = random.Random(seed)
    people = [member_user(n, rng) for n in range(users)]
    # 5% have a manager, always a user created in the same run: every 20th user manages the next one.
    managers = set()
    for n in range(1, users, 20):
        people[n]["manager"] = upn(n - 1)
        managers.add(upn(n - 1))
    for person in rng.sample(people, min(users, scaled(1000, users))):
        person["licenses"] = [DIRECT_SKU]

    guests = [{"email": "guest%04d@fabrikam.com" % n, "display_name": "Guest %04d (Fabrikam)" % n,
               "company_name": "Fabrikam"} for n in range(scaled(300, users))]

    all_upns = [person["user_principal_name"] for person in people]
    groups = []
    for n in range(scaled(150, users)):
        size = min(users, rng.randint(max(2, scaled(20, users)), max(2, scaled(800, users))))
        group = {"unique_name": "sg-%03d" % n, "display_name": "Security Group %03d" % n,
                 "members": {"set": sorted(rng.sample(all_upns, size))}}
        groups.append(group)
    for n, sku in enumerate(GROUP_SKUS[:min(5, len(groups))]):
        groups[n]["licenses"] = [sku]
    dynamic = scaled(40, users)
    for n in range(dynamic):
        if n % 2 == 0:
            attribute, value = "department", DEPARTMENTS[(n // 2) % len(DEPARTMENTS)]
        else:
            attribute, value = "jobTitle", JOB_TITLES[(n // 2) % len(JOB_TITLES)]
        groups.append({"unique_name": "dyn-%02d" % n, "display_name": "Dynamic %s %s" % (attribute, value),
                       "membership_rule": '(user.%s -eq "%s") -and (user.companyName -eq "%s")'
                                          % (attribute, value, COMPANY)})
    for n in range(scaled(10, users)):
        team = sorted(rng.sample(all_upns, min(users, 25)))
        groups.append({"unique_name": "m365-%02d" % n, "display_name": "Team %02d" % n,
                       "group_type": "microsoft365", "owners": {"set": team[:1]}, "members": {"set": team}})

    return {"groups": groups, "users": people, "guests": guests,
            "leavers": {"scope": {"filter": "companyName eq '%s'" % COMPANY}, "action": "disable",
                        "max_changes": 10}}


def churn(spec, seed=14):
    """The next day's spec: 2% joiners, 2% movers (new department and job title), 1% leavers.

    Leavers are never managers; they leave the assigned groups too. max_changes is raised to let the
    leavers through the deletion guard.
    """
    rng = random.Random(seed)
    spec = copy.deepcopy(spec)
    people = spec["users"]
    count = len(people)
    managers = set(person.get("manager") for person in people)
    candidates = [person for person in people if person["user_principal_name"] not in managers]
    leavers = set(person["user_principal_name"] for person in rng.sample(candidates, max(1, count // 100)))
    for person in rng.sample([p for p in candidates if p["user_principal_name"] not in leavers], max(1, count // 50)):
        person["department"] = rng.choice([d for d in DEPARTMENTS if d != person["department"]])
        person["job_title"] = rng.choice([t for t in JOB_TITLES if t != person["job_title"]])
    spec["users"] = [person for person in people if person["user_principal_name"] not in leavers]
    spec["users"] += [member_user(count + n, rng) for n in range(max(1, count // 50))]
    for group in spec["groups"]:
        if "members" in group:
            group["members"]["set"] = [name for name in group["members"]["set"] if name not in leavers]
        if "owners" in group:
            group["owners"]["set"] = [name for name in group["owners"]["set"] if name not in leavers] \
                or group["members"]["set"][:1]
    spec["leavers"]["max_changes"] = len(leavers) + 10
    return spec, {"joiners": max(1, count // 50), "movers": max(1, count // 50), "leavers": len(leavers)}


def counts(spec):
    groups = spec["groups"]
    return {
        "users": len(spec["users"]),
        "managed": sum(1 for person in spec["users"] if person.get("manager")),
        "guests": len(spec["guests"]),
        "assigned groups": sum(1 for group in groups if "members" in group and not group.get("group_type")),
        "dynamic groups": sum(1 for group in groups if "membership_rule" in group),
        "microsoft365 groups": sum(1 for group in groups if group.get("group_type") == "microsoft365"),
        "memberships": sum(len(group.get("members", {}).get("set", [])) for group in groups),
        "licensed groups": sum(1 for group in groups if group.get("licenses")),
        "direct licences": sum(1 for person in spec["users"] if person.get("licenses")),
        "max group size": max([len(group.get("members", {}).get("set", [])) for group in groups] or [0]),
        "departments": len(set(person["department"] for person in spec["users"])),
        "ceil(N/999)": math.ceil(len(spec["users"]) / 999.0),
    }
