"""relations.py: the one add/remove/set rule, OData literals, alternate keys, bind URLs, advanced queries."""
import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import (
    advanced_query,
    alternate_key_path,
    directory_object_url,
    odata_literal,
    relation_changes,
)


def test_set_adds_what_is_missing_and_removes_the_rest_except_what_must_stay():
    ids = {"a": "1", "b": "2", "c": "3"}
    adds, removes = relation_changes({"set": ["a", "b", "a"]}, ["2", "3", "4"], ids.get, removable=lambda i: i != "4")
    assert (adds, removes) == (["1"], ["3"])


def test_add_and_remove_touch_only_what_they_name():
    ids = {"a": "1", "b": "2", "c": "3"}
    assert relation_changes({"add": ["a", "b"], "remove": ["c", "a"]}, ["2", "3"], ids.get) == (["1"], ["3"])
    assert relation_changes(None, ["2"], ids.get) == ([], [])


def test_set_is_linear_in_the_list_sizes():
    current = [str(n) for n in range(100000)]
    wanted = [str(n) for n in range(50000, 150000)]
    adds, removes = relation_changes({"set": wanted}, current, lambda ref: ref)
    assert len(adds) == 50000 and len(removes) == 50000


def test_odata_literals_alternate_keys_and_bind_urls():
    assert odata_literal("O'Brien") == "'O''Brien'"
    assert alternate_key_path("groups", "uniqueName", "sales team") == "/groups(uniqueName='sales%20team')"
    assert alternate_key_path("groups", "uniqueName", "o'k") == "/groups(uniqueName='o''k')"
    assert directory_object_url("https://graph.microsoft.us/v1.0/", "42") == "https://graph.microsoft.us/v1.0/directoryObjects/42"


@pytest.mark.parametrize("text, advanced", [
    ("displayName ne 'x'", True),
    ("not(startswith(displayName,'a'))", True),
    ("endswith(mail,'@contoso.com')", True),
    ("startswith(displayName,'not me')", False),
    ("displayName eq 'a ne b'", False),
    ("groupTypes/any(c:c eq 'Unified')", False),
    (None, False),
])
def test_advanced_operators_need_the_consistency_header(text, advanced):
    params, headers = advanced_query(text)
    if advanced:
        assert params == {"$count": "true"} and headers == {"ConsistencyLevel": "eventual"}
    else:
        assert params is None and headers is None
