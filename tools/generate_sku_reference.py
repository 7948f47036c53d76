#!/usr/bin/env python3
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Generate plugins/module_utils/sku_reference.py from Microsoft's licensing table.

Input: sandbox/graph_sandbox/data/licensing-service-plans.csv, Microsoft's
"Product names and service plan identifiers for licensing" table (one row per
SKU and service plan). Output: a compact Python module with two dicts,

    SKUS  = {sku_id: (part_number, (display names...), (service plan ids...))}
    PLANS = {plan_id: (service_plan_name, friendly_name)}

The published table has quirks this keeps rather than hides:
- one SKU id can carry two product names (a renamed product): both are kept;
- one part number (MCOPSTN5) names two SKU ids, and one product name can name
  several SKU ids: the lookup helpers return every candidate, never a guess;
- one plan id appears with differently spelled names (typos, case): the most
  frequent spelling is kept (first seen on a tie).

Usage: python tools/generate_sku_reference.py [--check]
  --check  exit 1 when the committed module differs from what would be generated.
"""

import argparse
import collections
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV_PATH = os.path.join(ROOT, "sandbox", "graph_sandbox", "data", "licensing-service-plans.csv")
OUTPUT_PATH = os.path.join(ROOT, "plugins", "module_utils", "sku_reference.py")
PLAN_IDS_PER_LINE = 3
MAX_LINE = 150  # ansible-test's pep8 limit is 160

HEADER = '''# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# GENERATED FILE, do not edit: run `python tools/generate_sku_reference.py`.
#
# Source: Microsoft, "Product names and service plan identifiers for licensing"
# (https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference,
# published CSV as of 2026-03), copied into the project as
# sandbox/graph_sandbox/data/licensing-service-plans.csv.
# {sku_count} SKUs, {plan_count} service plans.

"""Microsoft's SKU and service plan reference table.

SKUS maps a SKU id to (part number, product display names, service plan ids);
a few SKU ids carry two product names as published. PLANS maps a service plan
id to (service plan name, friendly name). The helpers return every match: a
part number or product name can name more than one SKU (MCOPSTN5, for one),
and callers must treat more than one match as ambiguous.
"""

from __future__ import annotations

'''

HELPERS = '''

def _fold(text):
    return " ".join(text.split()).casefold()


def sku_ids_by_part_number(part_number):
    """The SKU ids whose part number is part_number (case-insensitive)."""
    wanted = _fold(part_number)
    return sorted(sku_id for sku_id, sku in SKUS.items() if _fold(sku[0]) == wanted)


def sku_ids_by_display_name(display_name):
    """The SKU ids one of whose product names is display_name (case-insensitive)."""
    wanted = _fold(display_name)
    return sorted(sku_id for sku_id, sku in SKUS.items() if wanted in [_fold(name) for name in sku[1]])


def display_name(sku_id):
    """The first published product name of a SKU id, or None when unknown."""
    sku = SKUS.get(sku_id.lower())
    return sku[1][0] if sku else None


def plan_names(plan_id):
    """(service plan name, friendly name) of a plan id, or None when unknown."""
    return PLANS.get(plan_id.lower())
'''


def read_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def most_frequent(counter_and_order):
    """The most frequent value; on a tie the one seen first."""
    counts, order = counter_and_order
    return max(order, key=lambda value: (counts[value], -order.index(value)))


def collect(rows):
    skus = collections.OrderedDict()
    plan_spellings = collections.OrderedDict()
    for row in rows:
        sku_id = row["sku_id"].strip().lower()
        plan_id = row["service_plan_id"].strip().lower()
        part_number, names, plans = skus.setdefault(sku_id, (row["sku_part_number"].strip(), [], []))
        if row["sku_part_number"].strip() != part_number:
            raise SystemExit("SKU %s has two part numbers: %s, %s" % (sku_id, part_number, row["sku_part_number"]))
        if row["product_display_name"].strip() not in names:
            names.append(row["product_display_name"].strip())
        if plan_id not in plans:
            plans.append(plan_id)
        spellings = plan_spellings.setdefault(plan_id, ((collections.Counter(), []), (collections.Counter(), [])))
        for (counts, order), value in zip(spellings, (row["service_plan_name"], row["service_plan_friendly_name"])):
            value = value.strip()
            counts[value] += 1
            if value not in order:
                order.append(value)
    plans = collections.OrderedDict(
        (plan_id, (most_frequent(name), most_frequent(friendly)))
        for plan_id, (name, friendly) in plan_spellings.items()
    )
    return skus, plans


def render(skus, plans):
    out = [HEADER.format(sku_count=len(skus), plan_count=len(plans))]
    out.append("SKUS = {\n")
    for sku_id in sorted(skus):
        part_number, names, plan_ids = skus[sku_id]
        out.append("    %r: (\n        %r,\n        (%s),\n        (\n" % (
            sku_id, part_number, "".join("%r, " % name for name in names).rstrip()))
        for start in range(0, len(plan_ids), PLAN_IDS_PER_LINE):
            chunk = plan_ids[start:start + PLAN_IDS_PER_LINE]
            out.append("            %s\n" % " ".join("%r," % plan_id for plan_id in chunk))
        out.append("        ),\n    ),\n")
    out.append("}\n\nPLANS = {\n")
    for plan_id in sorted(plans):
        line = "    %r: %r,\n" % (plan_id, plans[plan_id])
        if len(line) > MAX_LINE:
            line = "    %r: (\n        %r,\n        %r,\n    ),\n" % ((plan_id,) + plans[plan_id])
        out.append(line)
    out.append("}\n")
    out.append(HELPERS)
    return "".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed module is out of date")
    args = parser.parse_args(argv)
    text = render(*collect(read_rows(CSV_PATH)))
    if args.check:
        with open(OUTPUT_PATH, encoding="utf-8") as handle:
            if handle.read() != text:
                print("%s is out of date: run tools/generate_sku_reference.py" % OUTPUT_PATH, file=sys.stderr)
                return 1
        return 0
    with open(OUTPUT_PATH, "w", encoding="utf-8") as handle:
        handle.write(text)
    print("wrote %s (%d bytes)" % (OUTPUT_PATH, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
