"""Pure logic of app role assignments: naming roles, and the items refused before any read."""
import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.app_assignments import (
    DEFAULT_ACCESS_ROLE,
    AssignmentError,
    AssignmentRun,
    resolve_role,
    role_name,
)

ADMIN = "2f0c0b4e-0000-4000-8000-000000000001"
USER = "2f0c0b4e-0000-4000-8000-000000000002"
API = "2f0c0b4e-0000-4000-8000-000000000003"
APP = {"id": "sp", "displayName": "Salesforce", "appRoles": [
    {"id": ADMIN, "value": "Admin", "displayName": "System Administrator", "allowedMemberTypes": ["User"], "isEnabled": True},
    {"id": USER, "value": "User", "displayName": "Standard User", "allowedMemberTypes": ["User"], "isEnabled": True},
    {"id": API, "value": "Api.Read", "displayName": "Read API", "allowedMemberTypes": ["Application"], "isEnabled": True},
]}
NO_ROLES = {"id": "sp2", "displayName": "Intranet", "appRoles": []}


@pytest.mark.parametrize("ref, expected", [
    ("Admin", ADMIN), ("admin", ADMIN), ("System Administrator", ADMIN), (ADMIN.upper(), ADMIN), ("Standard User", USER),
])
def test_a_role_by_value_display_name_or_id(ref, expected):
    assert resolve_role(APP, ref) == expected


def test_an_unknown_role_names_the_roles_users_can_have():
    with pytest.raises(AssignmentError) as error:
        resolve_role(APP, "Superuser")
    message = str(error.value)
    assert "no role 'Superuser'" in message
    assert "Admin (System Administrator), User (Standard User)" in message
    assert "Api.Read" not in message


def test_default_access_only_without_roles():
    assert resolve_role(NO_ROLES, None) == DEFAULT_ACCESS_ROLE
    assert resolve_role(NO_ROLES, DEFAULT_ACCESS_ROLE) == DEFAULT_ACCESS_ROLE
    with pytest.raises(AssignmentError, match="name one in role"):
        resolve_role(APP, None)
    with pytest.raises(AssignmentError):
        resolve_role(APP, DEFAULT_ACCESS_ROLE)
    assert role_name(NO_ROLES, DEFAULT_ACCESS_ROLE) is None
    assert role_name(APP, USER) == "User"


def test_bad_and_repeated_items_fail_before_any_read():
    run = AssignmentRun(client=None, check_mode=True)
    items = [{"app": "Salesforce", "user": "a@contoso.com", "group": "g", "role": "User"},
             {"user": "a@contoso.com", "role": "User"},
             {"app": "Salesforce", "user": "b@contoso.com", "role": "User"},
             {"app": "salesforce", "user": "B@contoso.com", "role": "user"}]
    plans = [run.plan(index, item) for index, item in enumerate(items)]
    run.validate(plans)
    assert "exactly one of user" in str(plans[0].error)
    assert "app is required" in str(plans[1].error)
    assert plans[2].error is None
    assert "listed twice (items 3 and 4)" in str(plans[3].error)
