"""Malformed options, generated: every writing module refuses each kind clearly and writes nothing.

Hypothesis draws one case of every kind below (wrong types, bad UPNs and addresses, oversize and
control-character strings, unknown SKUs and plans, invalid rules, contradictory options, missing
connection settings), with the values drawn anew for each example. All cases of one example run in
one ansible-playbook (one task per case, ignore_errors), so a few examples stay fast; each task must
fail with a message naming the option (or the thing) it got wrong, and the sandbox must count no write.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

DOMAIN = "contoso.com"
EXISTING_GROUP = "bad-input-existing-group"

# Not NUL: Ansible itself refuses it in any module argument (it cannot log it), before the module runs.
CONTROL = st.sampled_from([chr(c) for c in list(range(1, 9)) + [11, 12] + list(range(14, 32)) + [127]] +
                          ["\u200b", "\u2028", "\u202e"])
WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10)
NOT_AN_ADDRESS = st.one_of(WORD, WORD.map(lambda w: w + "@"), WORD.map(lambda w: "@" + w),
                           WORD.map(lambda w: w + "@nodot"), WORD.map(lambda w: w + " x@example.com"),
                           st.just(""))
NOT_A_LANGUAGE = st.one_of(st.sampled_from(["english", "en_US", "e", "en-", "1234", "en-USA-x-y"]),
                           WORD.filter(lambda w: len(w) > 3))


def upn(draw, local=None):
    return "%s@%s" % (local or draw(WORD), DOMAIN)


def with_control(draw, text):
    position = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:position] + draw(CONTROL) + text[position:]


# Each kind: draw -> (module, options, text the failure message must contain, case-insensitive).
def user_kinds():
    def user(draw, **options):
        base = {"user_principal_name": upn(draw), "display_name": "Bad Input", "password": "Bad!Input123"}
        base.update(options)
        return "aad_user", base

    return {
        "account_enabled not a bool": lambda d: user(d, account_enabled=d(WORD.filter(lambda w: w not in (
            "y", "n", "yes", "no", "on", "off", "t", "f", "true", "false")))) + ("account_enabled",),
        "business_phones a dict": lambda d: user(d, business_phones={"a": d(WORD)}) + ("business_phones",),
        "users not a list of dicts": lambda d: ("aad_user", {"users": [d(WORD)]}, "users"),
        "upn without @": lambda d: user(d, user_principal_name=d(WORD) + DOMAIN) + ("user_principal_name",),
        "upn with two @": lambda d: user(d, user_principal_name=d(WORD) + "@" + upn(d)) + ("user_principal_name",),
        "upn trailing space": lambda d: user(d, user_principal_name=upn(d) + d(st.sampled_from([" ", "\t", "  "])))
        + ("trailing whitespace",),
        "upn leading space": lambda d: user(d, user_principal_name=" " + upn(d)) + ("leading whitespace",),
        "upn bad character": lambda d: user(d, user_principal_name=upn(
            d, d(WORD) + d(st.sampled_from(list("()<>,;:\"[]\\ %&*"))) + d(WORD))) + ("user_principal_name",),
        "upn alias over 64": lambda d: user(d, user_principal_name=upn(d, "a" * d(st.integers(65, 90))))
        + ("user_principal_name",),
        "upn domain without dot": lambda d: user(d, user_principal_name=d(WORD) + "@" + d(WORD))
        + ("user_principal_name",),
        "user display_name over 256": lambda d: user(d, display_name="n" * d(st.integers(257, 600)))
        + ("display_name",),
        "user display_name control": lambda d: user(d, display_name=with_control(d, "Bad Name")) + ("display_name",),
        "user display_name blank": lambda d: user(d, display_name=d(st.sampled_from([" ", "   ", "\u3000"])))
        + ("display_name",),
        "other_mails not an address": lambda d: user(d, other_mails=[d(NOT_AN_ADDRESS)]) + ("other_mails",),
        "other_mails empty entry": lambda d: user(d, other_mails=[""]) + ("other_mails",),
        "preferred_language not a tag": lambda d: user(d, preferred_language=d(NOT_A_LANGUAGE))
        + ("preferred_language",),
        "user permanent with present": lambda d: user(d, permanent=True) + ("permanent",),
        "usage_location not a country": lambda d: user(d, usage_location=d(st.sampled_from(["XX", "ZZ", "U1", "USA"])))
        + ("usage_location",),
        "weak password": lambda d: user(d, password=d(st.text(string.ascii_lowercase, min_size=8, max_size=20)))
        + ("password",),
        "unknown password policy": lambda d: user(d, password_policies=[d(WORD)]) + ("password_policies",),
        "unknown extension attribute": lambda d: user(d, on_premises_extension_attributes={d(WORD): "x"})
        + ("on_premises_extension_attributes",),
        "groups set with add": lambda d: user(d, groups={"set": [d(WORD)], "add": [d(WORD)]}) + ("groups",),
        "id not a guid": lambda d: ("aad_user", {"id": d(WORD), "display_name": "x"}, "id"),
        "mail_nickname bad character": lambda d: user(d, mail_nickname=d(WORD) + d(st.sampled_from(list("@()[];:<>, ")))
                                                      ) + ("mail_nickname",),
        "update_password unknown": lambda d: user(d, update_password=d(WORD)) + ("update_password",),
        "user state unknown": lambda d: user(d, state=d(WORD)) + ("state",),
        "department control": lambda d: user(d, department=with_control(d, "Sales")) + ("department",),
        "unknown option": lambda d: user(d, **{"colour_" + d(WORD): "blue"}) + ("colour_",),
        "upn with users": lambda d: ("aad_user", {"user_principal_name": upn(d), "users": []}, "users"),
        "empty tenant_id": lambda d: user(d, tenant_id="") + ("tenant_id",),
        "no credential": lambda d: user(d, client_secret="") + ("client_secret",),
        "two credentials": lambda d: user(d, client_certificate_path="/tmp/" + d(WORD) + ".pem")
        + ("client_certificate_path",),
        "unknown cloud": lambda d: user(d, cloud=d(WORD)) + ("cloud",),
        "timeout not a number": lambda d: user(d, timeout=d(WORD)) + ("timeout",),
        "missing ca_path": lambda d: user(d, ca_path="/nonexistent/" + d(WORD) + ".pem") + ("ca_path",),
    }


def both_add_and_remove(group, draw):
    ref = upn(draw)
    return group(draw, members={"add": [ref], "remove": [ref]}) + ("members",)


def group_kinds():
    def group(draw, **options):
        base = {"display_name": "Bad Group " + draw(WORD), "group_type": "security"}
        base.update(options)
        return "aad_group", base

    return {
        "group display_name over 256": lambda d: group(d, display_name="g" * d(st.integers(257, 600)))
        + ("display_name",),
        "group display_name control": lambda d: group(d, display_name=with_control(d, "Bad Group")) + ("display_name",),
        "group display_name blank": lambda d: group(d, display_name=d(st.sampled_from([" ", "  "]))) + ("display_name",),
        "visibility without group_type": lambda d: group(d, group_type=None, visibility=d(st.sampled_from(
            ["Public", "Private", "HiddenMembership"]))) + ("group_type",),
        "hidden membership on security": lambda d: group(d, visibility="HiddenMembership") + ("visibility",),
        "processing state without rule": lambda d: group(d, membership_rule_processing_state=d(st.sampled_from(
            ["On", "Paused"]))) + ("membership_rule",),
        "group permanent with present": lambda d: group(d, permanent=True) + ("permanent",),
        "invalid membership rule": lambda d: group(d, membership_rule=d(st.sampled_from([
            "user.department -eq", "user.nosuch -eq \"x\"", "(user.city -eq \"a\"", "user.city -like \"x\""]))
            + d(st.sampled_from(["", " "]))) + ("membership_rule",),
        "group mail_nickname over 64": lambda d: group(d, mail_nickname="m" * d(st.integers(65, 100)))
        + ("mail_nickname",),
        "members set with add": lambda d: group(d, members={"set": [upn(d)], "add": [upn(d)]}) + ("members",),
        "members add and remove": lambda d: both_add_and_remove(group, d),
        "unknown group_type": lambda d: group(d, group_type=d(WORD)) + ("group_type",),
        "group id not a guid": lambda d: ("aad_group", {"id": d(WORD)}, "id"),
        "rule on role-assignable group": lambda d: group(d, is_assignable_to_role=True,
                                                         membership_rule='user.department -eq "x"')
        + ("is_assignable_to_role",),
        "a group as owner": lambda d: group(d, owners={"add": [EXISTING_GROUP]}) + ("owners",),
        "members not a dict": lambda d: group(d, members=d(WORD)) + ("members",),
    }


def license_kinds():
    def assign(draw, licenses):
        return "aad_license", {"user": "ada.admin@" + DOMAIN, "licenses": licenses}

    return {
        "unknown sku": lambda d: assign(d, {"add": ["NOPE_" + d(WORD).upper()]}) + ("sku",),
        "unknown plan": lambda d: assign(d, {"add": [{"sku": "SPE_E3", "disabled_plans": ["NOPLAN_" + d(WORD)]}]})
        + ("service plan",),
        "licenses set with add": lambda d: assign(d, {"set": ["SPE_E3"], "add": ["SPE_E5"]}) + ("set",),
        "licenses not a dict": lambda d: assign(d, d(WORD)) + ("licenses",),
        "licence unknown key": lambda d: assign(d, {"add": [{"sku": "SPE_E3", d(WORD) + "_x": 1}]}) + ("unknown key",),
        "user and group": lambda d: ("aad_license", {"user": upn(d), "group": d(WORD), "licenses": {"add": ["SPE_E3"]}},
                                     "group"),
        "user without licenses": lambda d: ("aad_license", {"user": upn(d)}, "licenses"),
        "sku added and removed": lambda d: assign(d, {"add": ["SPE_E3"], "remove": ["SPE_E3"]}) + ("removed",),
    }


def guest_kinds():
    def guest(draw, **options):
        base = {"email": draw(WORD) + "@fabrikam.com", "send_invitation_message": False}
        base.update(options)
        return "aad_guest", base

    return {
        "guest email invalid": lambda d: guest(d, email=d(NOT_AN_ADDRESS.filter(bool))) + ("email",),
        "guest display_name over 256": lambda d: guest(d, display_name="q" * d(st.integers(257, 600)))
        + ("display_name",),
        "guest display_name control": lambda d: guest(d, display_name=with_control(d, "Guest")) + ("display_name",),
        "message_language not a tag": lambda d: guest(d, message_language=d(NOT_A_LANGUAGE)) + ("message_language",),
        "guest permanent with present": lambda d: guest(d, permanent=True) + ("permanent",),
        "redirect_url not https": lambda d: guest(d, redirect_url="http://" + d(WORD) + ".com") + ("redirect_url",),
        "cc_recipient invalid": lambda d: guest(d, cc_recipient=d(WORD)) + ("cc_recipient",),
        "resend with reset": lambda d: guest(d, resend=True, reset_redemption=True) + ("reset_redemption",),
        "guest usage_location": lambda d: guest(d, usage_location="XX") + ("usage_location",),
        "invited_user_type unknown": lambda d: guest(d, invited_user_type=d(WORD)) + ("invited_user_type",),
    }


KINDS = dict(user_kinds(), **group_kinds(), **license_kinds(), **guest_kinds())


def test_there_are_at_least_50_kinds():
    assert len(KINDS) >= 50


@st.composite
def every_kind(draw):
    cases = []
    for name, kind in sorted(KINDS.items()):
        module, options, expected = kind(draw)
        options = dict((key, value) for key, value in options.items() if value is not None)
        cases.append((name, module, options, expected))
    return cases


@pytest.fixture(scope="module")
def existing_group(graph):
    """The group the "a group as owner" case names (the sandbox of this file is fresh)."""
    return graph.post("/groups", json={"displayName": EXISTING_GROUP, "mailNickname": EXISTING_GROUP,
                                       "mailEnabled": False, "securityEnabled": True, "uniqueName": EXISTING_GROUP})


# One example a run, drawn afresh each time, no shrinking: an example is one ansible-playbook run of every
# kind (about 70 tasks), and the failure report lists each case that was not refused, with its options.
@settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(cases=every_kind())
def test_malformed_options_fail_clearly_with_zero_writes(cases, run_play, sandbox, existing_group):
    tasks = [{"name": name, "ignore_errors": True, "m365.cloud_identity.%s" % module: options}
             for name, module, options, _expected in cases]
    sandbox.reset_counters()
    play = run_play(tasks, extra_vars={"m365_password_file": ""})
    counters = sandbox.counters()
    problems = []
    for name, module, options, expected in cases:
        result = play.task(name)
        message = str(result.result.get("msg", ""))
        if result.status != "failed":
            problems.append("%s: not refused (%s) with %r" % (name, result.status, options))
        elif expected.lower() not in message.lower():
            problems.append("%s: message does not name %r: %s" % (name, expected, message[:300]))
    assert not problems, "\n".join(problems)
    assert counters["http"]["write"] == 0, counters["http"]["by_route"]
    assert counters["operations"]["write"] == 0, counters["operations"]["by_route"]
