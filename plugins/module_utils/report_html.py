# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Draw the tenant identity report as one self-contained HTML page.

The page has no script, no web font, no image file and no link to anything outside itself: styles
are inline, charts are inline SVG drawn here, so it reads the same offline, attached to a ticket or
printed. Every chart is an image with a title and a description for screen readers
(``role="img"``, ``<title>``, ``<desc>``), and a table beside it holds the same numbers.

Pure functions of the report data from tenant_report.build_report; no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from html import escape

# Drawing constants (SVG user units; the SVG scales to its container).
CHART_WIDTH = 520
LABEL_WIDTH = 170
VALUE_WIDTH = 50
BAR_AREA = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH - 10
BAR_HEIGHT = 14
ROW_GAP = 10
LEGEND_HEIGHT = 24
LABEL_CHARS = 25

# A restrained palette; each series keeps its colour across charts.
COLOURS = {
    "purchased": "#c9d7e5",
    "consumed": "#2b5f8a",
    "enabled": "#2b5f8a",
    "disabled": "#c2703d",
    "pending": "#d9a521",
    "accepted": "#2b5f8a",
    "other": "#8d8d8d",
    "count": "#2b5f8a",
    "created": "#3c8a5a",
    "invited": "#6aa67f",
    "updated": "#2b5f8a",
    "restored": "#7b68a6",
    "deleted": "#b04a3c",
    "failed": "#8d8d8d",
}

STYLE = """
:root { --ink: #1d2630; --muted: #5b6673; --rule: #d9dee4; --accent: #2b5f8a; --warn: #b04a3c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 1.7rem; margin: 0 0 4px; font-weight: 650; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 8px; font-size: .9rem; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 10px; margin: 18px 0 8px; }
.tile { border: 1px solid var(--rule); border-radius: 6px; padding: 10px 12px; }
.tile .value { font-size: 1.5rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .label { color: var(--muted); font-size: .85rem; }
.tile.warn .value { color: var(--warn); }
section { border-top: 2px solid var(--ink); margin-top: 30px; padding-top: 6px; }
h2 { font-size: 1.3rem; margin: 4px 0 2px; }
h3 { font-size: 1.02rem; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 10px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 10px 28px; align-items: start; }
figure { margin: 8px 0; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-weight: 600; font-size: .95rem; margin-bottom: 4px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 12px; fill: var(--ink); }
svg text.value { font-variant-numeric: tabular-nums; }
svg .axis { stroke: var(--rule); }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin: 8px 0; break-inside: auto; }
caption { text-align: left; font-weight: 600; padding: 0 0 4px; font-size: .95rem; }
th, td { text-align: left; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { color: var(--muted); font-weight: 600; border-bottom-color: #aeb6bf; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
tr.total td { font-weight: 650; border-top: 1px solid #aeb6bf; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .82rem;
  overflow-wrap: anywhere; }
.warn { color: var(--warn); }
.muted { color: var(--muted); }
.note { color: var(--muted); font-size: .85rem; }
footer { margin-top: 36px; color: var(--muted); font-size: .8rem; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  section { break-before: auto; }
  h2, h3, figcaption { break-after: avoid; }
  /* One column on paper: a chart at half an A4 width would print its labels too small to read. */
  .pair { grid-template-columns: 1fr; }
  figure svg { max-width: 15cm; }
}
"""


def _fmt(value):
    """A number for people: thousands separated; a float with one decimal."""
    if isinstance(value, float):
        return "{:,.1f}".format(value)
    if isinstance(value, int):
        return "{:,}".format(value)
    return "" if value is None else str(value)


def _short(label):
    label = "" if label is None else str(label)
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "\u2026"


def _attrs(**attrs):
    return "".join(' %s="%s"' % (name.rstrip("_").replace("_", "-"), escape(str(value), quote=True))
                   for name, value in attrs.items())


# ---- charts --------------------------------------------------------------------------------------


def bar_chart(chart_id, title, description, labels, series, stacked=False):
    """A horizontal bar chart as inline SVG.

    labels: one per row; series: [(name, css key of COLOURS, [value per row])]. Grouped charts draw
    one bar per series and row, stacked charts one segment per series and row. Every bar is a
    ``<rect class="bar ...">`` with its figure in ``data-value`` and a tooltip ``<title>``.
    """
    rows = len(labels)
    lanes = 1 if stacked else len(series)
    row_height = lanes * BAR_HEIGHT + ROW_GAP
    legend = len(series) > 1
    top = LEGEND_HEIGHT if legend else 4
    height = top + max(rows, 1) * row_height + 6
    if stacked:
        peak = max([sum(entry[2][i] for entry in series) for i in range(rows)] or [0])
    else:
        peak = max([value for entry in series for value in entry[2]] or [0])
    scale = BAR_AREA / float(peak) if peak else 0.0
    title_id, desc_id = chart_id + "-title", chart_id + "-desc"
    svg_attributes = _attrs(xmlns="http://www.w3.org/2000/svg", viewBox="0 0 %d %d" % (CHART_WIDTH, height),
                            role="img", aria_labelledby="%s %s" % (title_id, desc_id),
                            id=chart_id, class_="chart", data_bars=rows * len(series))
    parts = ['<svg%s>' % svg_attributes,
             '<title id="%s">%s</title>' % (title_id, escape(title)),
             '<desc id="%s">%s</desc>' % (desc_id, escape(description))]
    if legend:
        x = LABEL_WIDTH
        for name, key, _values in series:
            parts.append('<rect%s/>' % _attrs(x=x, y=6, width=11, height=11, fill=COLOURS[key], class_="legend"))
            parts.append('<text%s>%s</text>' % (_attrs(x=x + 16, y=16), escape(name)))
            x += 24 + 7 * len(name)
    if not rows:
        parts.append('<text%s>Nothing to show.</text>' % _attrs(x=LABEL_WIDTH + 8, y=top + 12, class_="value"))
    parts.append('<line%s/>' % _attrs(x1=LABEL_WIDTH, x2=LABEL_WIDTH, y1=top - 2, y2=height - 4, class_="axis"))
    for row, label in enumerate(labels):
        y = top + row * row_height
        parts.append('<text%s>%s<title>%s</title></text>' % (
            _attrs(x=LABEL_WIDTH - 8, y=y + lanes * BAR_HEIGHT / 2.0 + 4, text_anchor="end"),
            escape(_short(label)), escape(str(label))))
        x = float(LABEL_WIDTH)
        total = 0
        for lane, (name, key, values) in enumerate(series):
            value = values[row]
            width = value * scale
            bar_y = y if stacked else y + lane * BAR_HEIGHT
            parts.append('<rect%s><title>%s</title></rect>' % (
                _attrs(class_="bar %s" % key, x="%.1f" % x, y=bar_y, width="%.1f" % width, height=BAR_HEIGHT - 2,
                       fill=COLOURS[key], data_value=value),
                escape("%s, %s: %s" % (label, name, _fmt(value)))))
            if stacked:
                x += width
                total += value
            else:
                parts.append('<text%s>%s</text>' % (
                    _attrs(x="%.1f" % (LABEL_WIDTH + width + 5), y=bar_y + BAR_HEIGHT - 3, class_="value"),
                    escape(_fmt(value))))
        if stacked:
            total_position = _attrs(x="%.1f" % (x + 5), y=y + BAR_HEIGHT - 3, class_="value")
            parts.append('<text%s>%s</text>' % (total_position, escape(_fmt(total))))
    parts.append("</svg>")
    return "".join(parts)


def figure(caption, svg):
    return "<figure><figcaption>%s</figcaption>%s</figure>" % (escape(caption), svg)


# ---- tables --------------------------------------------------------------------------------------


def table(caption, columns, rows, total=None, empty="None.", table_id=None):
    """columns: [(heading, numeric?)]; rows: lists of cell values (already-escaped Markup via _Raw)."""
    head = "".join('<th scope="col"%s>%s</th>' % (' class="num"' if numeric else "", escape(name))
                   for name, numeric in columns)
    body = []
    for row in rows:
        body.append("<tr>%s</tr>" % "".join(_cell(value, column[1]) for value, column in zip(row, columns)))
    if total:
        body.append('<tr class="total">%s</tr>' % "".join(
            _cell(value, column[1]) for value, column in zip(total, columns)))
    if not rows:
        body.append('<tr><td colspan="%d" class="muted">%s</td></tr>' % (len(columns), escape(empty)))
    return '<table%s><caption>%s</caption><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (
        _attrs(id=table_id) if table_id else "", escape(caption), head, "".join(body))


class _Raw(str):
    """Cell content that is already HTML."""


def _cell(value, numeric):
    text = value if isinstance(value, _Raw) else escape(_fmt(value))
    return '<td class="num">%s</td>' % text if numeric else "<td>%s</td>" % text


def _code(text):
    return _Raw("<code>%s</code>" % escape(text or ""))


# ---- sections ------------------------------------------------------------------------------------


def tiles(report):
    licenses = report["licenses"]["totals"]
    users = report["users"]
    entries = [
        ("Member accounts", users["total"], False),
        ("Disabled accounts", users["disabled"], False),
        ("Without usage location", users["without_usage_location"], users["without_usage_location"] > 0),
        ("Guests", report["guests"]["total"], False),
        ("Pending invitations", report["guests"]["by_state"]["PendingAcceptance"], False),
        ("Groups", report["groups"]["total"], False),
        ("Seats used / bought", "%s / %s" % (_fmt(licenses["consumed"]), _fmt(licenses["enabled"])), False),
        ("Licence errors", licenses["in_error"], licenses["in_error"] > 0),
    ]
    if report.get("drift") is not None:
        entries.append(("Changes the spec would make", report["drift"]["changing"], report["drift"]["changing"] > 0))
    return '<div class="tiles">%s</div>' % "".join(
        '<div class="tile%s"><div class="value">%s</div><div class="label">%s</div></div>' % (
            " warn" if warn else "", escape(_fmt(value)), escape(label)) for label, value, warn in entries)


def licence_section(data):
    skus = data["skus"]
    labels = [s["display_name"] for s in skus]
    chart = bar_chart(
        "chart-licences", "Seats per licence: bought and in use",
        "Bought and consumed seats of each of the tenant's %d subscribed SKUs; the table beside lists them." % len(skus),
        labels, [("Bought", "purchased", [s["enabled"] for s in skus]),
                 ("In use", "consumed", [s["consumed"] for s in skus])])
    rows = [[_Raw("%s<br><span class=\"note\">%s</span>" % (escape(s["display_name"]), escape(s["sku_part_number"]))),
             s["enabled"], s["consumed"], s["free"], s["utilisation"],
             _Raw('<span class="warn">%s</span>' % _fmt(s["in_error"])) if s["in_error"] else 0] for s in skus]
    totals = data["totals"]
    seats = table("Seats per SKU", [("Licence", False), ("Bought", True), ("In use", True), ("Free", True),
                                    ("Used %", True), ("In error", True)], rows,
                  total=["Total", totals["enabled"], totals["consumed"], totals["free"],
                         round(100.0 * totals["consumed"] / totals["enabled"], 1) if totals["enabled"] else 0.0,
                         totals["in_error"]], empty="The tenant has no subscribed SKU.", table_id="table-licences")
    parts = ['<section id="licences"><h2>Licences</h2>',
             '<p class="lead">Seats bought and in use per product. A seat in error is an assignment that did not '
             'take, usually a group-based licence with no free seat left (<code>CountViolation</code>).</p>',
             '<div class="pair">%s%s</div>' % (figure("Seats bought and in use", chart), seats)]
    for sku in skus:
        if not sku["in_error"]:
            continue
        codes = ", ".join("%s: %s" % (code, _fmt(count)) for code, count in sku["errors_by_code"].items())
        rows = [[e["user_principal_name"], "direct" if e["direct"] else e["group"], e["state"], e["error"]]
                for e in sku["users_in_error"]]
        caption = "%s: %s assignments in error (%s)" % (sku["display_name"], _fmt(sku["in_error"]), codes)
        if sku["in_error"] > len(rows):
            caption += ", first %d listed" % len(rows)
        parts.append(table(caption, [("User", False), ("Assigned by", False), ("State", False), ("Error", False)],
                           rows))
    parts.append("</section>")
    return "".join(parts)


def user_section(data):
    departments = data["by_department"]
    chart = bar_chart(
        "chart-departments", "Member accounts per department",
        "Enabled and disabled member accounts in each of the %d largest departments of %d." % (
            len([d for d in departments if not d.get("other")]), data["department_count"]),
        [d["department"] for d in departments],
        [("Enabled", "enabled", [d["enabled"] for d in departments]),
         ("Disabled", "disabled", [d["disabled"] for d in departments])], stacked=True)
    rows = [[d["department"], d["users"], d["enabled"], d["disabled"]] for d in departments]
    counts = table("Accounts per department",
                   [("Department", False), ("Accounts", True), ("Enabled", True), ("Disabled", True)], rows,
                   total=["All departments", data["total"], data["enabled"], data["disabled"]],
                   empty="No member accounts.")
    missing = data["without_usage_location_sample"]
    caption = "Accounts without a usage location: %s" % _fmt(data["without_usage_location"])
    if data["without_usage_location"] > len(missing):
        caption += ", first %d listed" % len(missing)
    no_location = table(caption, [("User", False), ("Name", False), ("Department", False), ("Enabled", False)],
                        [[u["user_principal_name"], u["display_name"], u["department"],
                          "yes" if u["enabled"] else "no"] for u in missing], empty="Every account has one.")
    return "".join([
        '<section id="users"><h2>Member accounts</h2>',
        '<p class="lead">%s accounts, %s enabled and %s disabled. An account needs a usage location before a '
        'licence can be assigned to it directly.</p>' % (
            _fmt(data["total"]), _fmt(data["enabled"]), _fmt(data["disabled"])),
        '<div class="pair">%s%s</div>' % (figure("Accounts per department", chart), counts),
        no_location, "</section>"])


STATE_LABELS = (("PendingAcceptance", "Pending", "pending"), ("Accepted", "Accepted", "accepted"),
                ("Other", "Other", "other"))


def guest_section(data):
    states = data["by_state"]
    state_chart = bar_chart(
        "chart-guest-states", "Guests by invitation state",
        "Guests whose invitation is pending, accepted, or in another state.",
        [entry[1] for entry in STATE_LABELS], [("Guests", "count", [states[entry[0]] for entry in STATE_LABELS])])
    state_table = table("Guests by state", [("State", False), ("Guests", True)],
                        [[entry[1], states[entry[0]]] for entry in STATE_LABELS],
                        total=["All guests", data["total"]])
    ages = data["by_age"]
    age_chart = bar_chart(
        "chart-guest-ages", "Guests by age of their invitation",
        "Guests per age of their invitation, split by state.", [a["age"] for a in ages],
        [(label, colour, [a[key] for a in ages]) for key, label, colour in STATE_LABELS], stacked=True)
    age_table = table("Guests by invitation age", [("Invited", False), ("Pending", True), ("Accepted", True),
                                                   ("Other", True)],
                      [[a["age"], a["PendingAcceptance"], a["Accepted"], a["Other"]] for a in ages])
    oldest = table("Oldest pending invitations", [("Guest", False), ("Name", False), ("Invited", False),
                                                  ("Days", True)],
                   [[g["mail"], g["display_name"], g["invited"], g["age_days"]] for g in data["oldest_pending"]],
                   empty="No invitation is pending.")
    return "".join([
        '<section id="guests"><h2>Guests</h2>',
        '<p class="lead">%s B2B guests. A pending guest has not redeemed the invitation yet; old pending '
        'invitations are candidates to re-send or remove.</p>' % _fmt(data["total"]),
        '<div class="pair">%s%s</div>' % (figure("Guests by state", state_chart), state_table),
        '<div class="pair">%s%s</div>' % (figure("Guests by invitation age", age_chart), age_table),
        oldest, "</section>"])


def group_section(data):
    kinds = list(data["by_kind"].items())
    kind_chart = bar_chart("chart-group-kinds", "Groups by kind",
                           "Security, Microsoft 365, dynamic and distribution groups.",
                           [kind for kind, count in kinds], [("Groups", "count", [count for kind, count in kinds])])
    kind_table = table("Groups by kind", [("Kind", False), ("Groups", True)], [[k, v] for k, v in kinds],
                       total=["All groups", data["total"]])
    largest = data["largest"]
    largest_chart = bar_chart("chart-largest-groups", "Largest groups",
                              "Direct members of the %d largest groups." % len(largest),
                              [g["name"] for g in largest], [("Members", "count", [g["members"] for g in largest])])
    largest_table = table("Largest groups", [("Group", False), ("Kind", False), ("Members", True)],
                          [[g["name"], g["kind"], g["members"]] for g in largest], empty="No groups.")
    rules = table("Dynamic groups and their rules", [("Group", False), ("Rule", False), ("Processing", False),
                                                     ("Members", True)],
                  [[g["name"], _code(g["rule"]), g["processing"], g["members"]] for g in data["dynamic"]],
                  empty="No dynamic groups.")
    return "".join([
        '<section id="groups"><h2>Groups</h2>',
        '<p class="lead">%s groups, %s of them with group-based licences. A dynamic group is counted as '
        'dynamic whatever else it is.</p>' % (_fmt(data["total"]), _fmt(data["licensed"])),
        '<div class="pair">%s%s</div>' % (figure("Groups by kind", kind_chart), kind_table),
        '<div class="pair">%s%s</div>' % (figure("Largest groups", largest_chart), largest_table),
        rules, "</section>"])


DRIFT_COLUMNS = (("created", "Create"), ("invited", "Invite"), ("updated", "Update"), ("restored", "Restore"),
                 ("deleted", "Delete"), ("failed", "Failed"))


def drift_section(data):
    stages = data["stages"]
    shown = [(key, label) for key, label in DRIFT_COLUMNS if any(s["summary"][key] for s in stages)]
    shown = shown or [("updated", "Update")]
    chart = bar_chart("chart-drift", "Changes applying the spec would make",
                      "Objects each stage of the spec would create, update, restore or delete.",
                      [s["name"] for s in stages],
                      [(label, key, [s["summary"][key] for s in stages]) for key, label in shown], stacked=True)
    rows = [[s["name"]] + [s["summary"][column[0]] for column in DRIFT_COLUMNS] + [s["summary"]["unchanged"]]
            for s in stages]
    counts = table("Changes per stage", [("Stage", False)] + [(column[1], True) for column in DRIFT_COLUMNS]
                   + [("Unchanged", True)], rows, empty="No stage ran.")
    parts = ['<section id="drift"><h2>Drift from the spec</h2>',
             '<p class="lead">What applying the tenant spec would change now, from a check-mode run of the '
             'writing modules (nothing was written). %s</p>' % (
                 "The tenant matches the spec." if not data["changing"] else
                 "%s objects would change." % _fmt(data["changing"])),
             '<div class="pair">%s%s</div>' % (figure("Changes per stage", chart), counts)]
    for stage in stages:
        if stage["error"]:
            parts.append('<p class="warn">%s: the check run failed: %s</p>' % (
                escape(stage["name"]), escape(stage["error"])))
        if stage["items"]:
            caption = "%s that would change" % stage["name"]
            if stage["more_items"]:
                caption += " (first %d; %s more)" % (len(stage["items"]), _fmt(stage["more_items"]))
            parts.append(table(caption, [("Object", False), ("Action", False), ("Attributes", False)],
                               [[i["key"], i["action"], i["error"] or ", ".join(i["changes"])] for i in stage["items"]]))
    parts.append("</section>")
    return "".join(parts)


def render(report):
    """The whole page."""
    sections = [licence_section(report["licenses"]), user_section(report["users"]),
                guest_section(report["guests"]), group_section(report["groups"])]
    links = [("licences", "Licences"), ("users", "Accounts"), ("guests", "Guests"), ("groups", "Groups")]
    if report.get("drift") is not None:
        sections.append(drift_section(report["drift"]))
        links.append(("drift", "Drift"))
    nav = "".join('<a href="#%s">%s</a>' % (anchor, label) for anchor, label in links)
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body><main>" % (escape(report["title"]), STYLE),
        "<header><h1>%s</h1><p>Generated %s by m365.cloud_identity from Microsoft Graph. Lists show at most "
        "%d rows; the JSON file beside this page holds the same figures.</p></header>" % (
            escape(report["title"]), escape(report["generated_at"].replace("T", " ").replace("Z", " UTC")),
            report["top"]),
        "<nav>%s</nav>" % nav, tiles(report), "".join(sections),
        "<footer>Figures as Microsoft Graph returned them at %s.</footer>" % escape(report["generated_at"]),
        "</main></body></html>\n"])
