"""Bad input refused before any request: validation.py and the validate functions that call it."""

import unicodedata

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import validation
from ansible_collections.m365.cloud_identity.plugins.module_utils.groups import GroupSpecError, validate_spec
from ansible_collections.m365.cloud_identity.plugins.module_utils.invitations import spec_errors
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import Directory
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import validate_item

UPN = "ada@contoso.com"


def user_problems(**options):
    item = dict(user_principal_name=UPN, state="present", display_name="Ada")
    item.update(options)
    return " | ".join(validate_item(item))


@pytest.mark.parametrize("options, expected", [
    (dict(user_principal_name="ada@contoso.com "), "user_principal_name 'ada@contoso.com ' has trailing whitespace"),
    (dict(user_principal_name=" ada@contoso.com"), "has leading whitespace"),
    (dict(display_name="x" * 257), "display_name 'xxx"),
    (dict(display_name="Ada\x00Admin"), "display_name 'Ada\\x00Admin' contains control or invisible characters (U+0000)"),
    (dict(display_name="   "), "display_name '   ' is only whitespace"),
    (dict(department="Sales\nTeam"), "department 'Sales\\nTeam' contains control"),
    (dict(other_mails=[""]), "other_mails entry '' is not an e-mail address"),
    (dict(other_mails=["ada@", "ok@example.com"]), "other_mails entry 'ada@'"),
    (dict(preferred_language="english"), "preferred_language 'english' is not a language tag"),
    (dict(preferred_language="en_US"), "use an ISO 639-1 language"),
    (dict(permanent=True), "permanent: true applies to state: absent only"),
])
def test_bad_user_input_names_the_option_and_the_value(options, expected):
    assert expected in user_problems(**options)


def test_display_name_limit_says_how_long_in_the_modules_words():
    message = user_problems(display_name="x" * 300)
    assert "300 characters long" in message and "at most 256" in message and "displayName" not in message


@pytest.mark.parametrize("options", [
    dict(display_name="x" * 256), dict(preferred_language="en-US"), dict(preferred_language="zh-Hans-CN"),
    dict(preferred_language="es-419"), dict(other_mails=["ada.home@example.org", "ä@bücher.de"]),
    dict(display_name="Café Ünïcode ✓"), dict(permanent=False),
])
def test_good_user_input_passes(options):
    assert user_problems(**options) == ""


def test_permanent_with_absent_is_fine():
    assert validate_item(dict(user_principal_name=UPN, state="absent", permanent=True)) == []


@pytest.mark.parametrize("spec, expected", [
    (dict(display_name="g", visibility="Private"), "visibility needs group_type"),
    (dict(display_name="g", group_type="security", visibility="HiddenMembership"), "microsoft365 groups only"),
    (dict(display_name="g", state="present", permanent=True), "permanent: true applies to state: absent"),
    (dict(display_name="g\tx"), "display_name 'g\\tx' contains control"),
    (dict(display_name=" "), "only whitespace"),
    (dict(display_name="g" * 257), "257 characters long"),
])
def test_bad_group_input(spec, expected):
    with pytest.raises(GroupSpecError) as caught:
        validate_spec(spec)
    assert expected in str(caught.value)


@pytest.mark.parametrize("spec", [
    dict(display_name="g", group_type="security", visibility="Private"),
    dict(display_name="g", group_type="security", visibility="Public"),
    dict(display_name="g", group_type="microsoft365", visibility="HiddenMembership"),
    dict(display_name="g", membership_rule='user.department -eq "x"', membership_rule_processing_state="Paused"),
])
def test_what_graph_accepts_is_accepted(spec):
    validate_spec(spec)


def guest(**options):
    spec = dict(email="ann@fabrikam.com", state="present")
    spec.update(options)
    return " | ".join(spec_errors(spec))


@pytest.mark.parametrize("options, expected", [
    (dict(display_name="a" * 257), "display_name 'aaa"),
    (dict(display_name="Ann\t"), "contains control"),
    (dict(display_name="  "), "only whitespace"),
    (dict(message_language="French"), "message_language 'French' is not a language tag"),
    (dict(permanent=True), "permanent: true applies to state: absent"),
    (dict(job_title="Boss\x07"), "job_title"),
])
def test_bad_guest_input(options, expected):
    assert expected in guest(**options)


def test_good_guest_input():
    assert guest(display_name="Ann", message_language="fr-CA") == ""


def test_composed_and_decomposed_names_are_one_group():
    composed, decomposed = "Caf\u00e9", unicodedata.normalize("NFD", "Caf\u00e9")
    assert composed != decomposed
    assert validation.same_name(composed) == validation.same_name(decomposed)
    directory = Directory(client=None)
    directory.add_groups([{"id": "11111111-1111-1111-1111-111111111111", "displayName": composed}], complete=True)
    assert directory.knows_group(decomposed)
    assert validation.spellings(decomposed) == [decomposed, composed]


def test_options_with_sub_options_in_the_wrong_shape_are_named():
    spec = {"members": {"type": "dict", "options": {"add": {}, "set": {}}},
            "users": {"type": "list", "elements": "dict", "options": {
                "groups": {"type": "dict", "options": {"add": {}}}, "password": {"no_log": True}}},
            "name": {"type": "str"}}
    assert validation.shape_problems(spec, {"members": "abc", "name": "x"}) == {
        "members": "members must be a mapping of its options (add, set), got a string"}
    assert validation.shape_problems(spec, {"users": "Secret!123"}) == {
        "users": "users must be a list of mappings, got a string"}
    problems = validation.shape_problems(spec, {"users": [{"groups": {"add": []}}, {"groups": ["g"]}]})
    assert problems == {"users": "users[1].groups must be a mapping of its options (add), got a list"}
    assert validation.shape_problems(spec, {"users": [{"password": "Secret!123"}], "members": {"add": []}}) == {}


def test_processing_state_without_a_rule_is_refused_on_create():
    from ansible_collections.m365.cloud_identity.plugins.module_utils.groups import GroupManager
    with pytest.raises(GroupSpecError, match="membership_rule_processing_state applies to dynamic groups"):
        GroupManager._create_body(dict(display_name="g", membership_rule_processing_state="Paused"), None)
    # On an existing dynamic group, pausing alone is fine (validate_spec lets it through).
    validate_spec(dict(display_name="g", membership_rule_processing_state="Paused"))


def test_an_object_id_in_upper_case_finds_the_object_graph_names_in_lower_case():
    user_id, group_id = "abcdef11-2222-3333-4444-555555555555", "abcdef11-2222-3333-4444-666666666666"

    class GetByIds(object):
        def __init__(self):
            self.calls = 0

        def post(self, path, json=None, idempotent=None):
            self.calls += 1
            wanted = set(i.lower() for i in json["ids"])  # Graph matches ids without regard to case
            known = [{"id": user_id, "@odata.type": "#microsoft.graph.user", "userPrincipalName": "a@contoso.com"},
                     {"id": group_id, "@odata.type": "#microsoft.graph.group", "displayName": "G"}]
            return {"value": [obj for obj in known if obj["id"] in wanted]}

    client = GetByIds()
    directory = Directory(client=client)
    found = directory.principals([user_id.upper(), group_id.upper()])
    assert [obj["id"] for obj in found.values()] == [user_id, group_id]
    assert directory.user(user_id.upper())["id"] == user_id and client.calls == 1
