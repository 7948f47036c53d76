"""The sandbox's OData $filter / $search parser, evaluator and Graph support rules."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sandbox"))

import pytest  # noqa: E402

from graph_sandbox.odata_filter import (  # noqa: E402
    FilterError,
    UnsupportedFilter,
    parse_filter,
    parse_search,
)

SKU_E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
ADVANCED_HINT = (
    " is not supported because the required parameters might be missing. "
    "Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
    "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
)

ADA = {
    "id": "0b7c8a3e-1111-4c1e-9f00-000000000001",
    "displayName": "Ada Lovelace",
    "givenName": "Ada",
    "surname": "Lovelace",
    "userPrincipalName": "ada@contoso.com",
    "mail": "Ada.Lovelace@contoso.com",
    "mailNickname": "ada",
    "accountEnabled": True,
    "userType": "Member",
    "usageLocation": "GB",
    "companyName": None,
    "createdDateTime": "2024-03-01T09:30:00Z",
    "otherMails": ["ada@analytical.org", "countess@lovelace.net"],
    "proxyAddresses": ["SMTP:Ada.Lovelace@contoso.com", "smtp:ada@contoso.onmicrosoft.com"],
    "assignedLicenses": [{"skuId": SKU_E3.upper(), "disabledPlans": []}],
    "onPremisesExtensionAttributes": {"extensionAttribute1": "Engines"},
    "employeeOrgData": {"costCenter": "CC-7", "division": None},
    "seats": 3,
}

GRACE = {
    "id": "0b7c8a3e-2222-4c1e-9f00-000000000002",
    "displayName": "Grace O'Hopper",
    "givenName": "Grace",
    "userPrincipalName": "grace_navy.mil#EXT#@contoso.onmicrosoft.com",
    "mail": "grace@navy.mil",
    "accountEnabled": False,
    "userType": "Guest",
    "companyName": "US Navy",
    "createdDateTime": "2025-07-15T00:00:00Z",
    "otherMails": [],
    "proxyAddresses": [],
    "assignedLicenses": [],
    "seats": 10,
}


def matches(text, doc=None):
    return parse_filter(text).evaluate(ADA if doc is None else doc)


# ---------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    "text, ada, grace",
    [
        ("displayName eq 'Ada Lovelace'", True, False),
        ("displayName ne 'Ada Lovelace'", False, True),
        ("accountEnabled eq true", True, False),
        ("accountEnabled eq false", False, True),
        ("seats lt 3", False, False),
        ("seats le 3", True, False),
        ("seats gt 3", False, True),
        ("seats ge 10", False, True),
        ("seats eq 3", True, False),
        ("surname eq null", False, True),
        ("surname ne null", True, False),
        ("companyName eq null", True, False),
        ("createdDateTime ge 2025-01-01T00:00:00Z", False, True),
        ("createdDateTime lt 2025-01-01", True, False),
        ("createdDateTime eq 2024-03-01T10:30:00+01:00", True, False),
        ("displayName lt 'B'", True, False),
        ("id eq '0b7c8a3e-2222-4c1e-9f00-000000000002'", False, True),
        ("id eq 0B7C8A3E-2222-4C1E-9F00-000000000002", False, True),
    ],
)
def test_comparison_operators(text, ada, grace):
    assert matches(text, ADA) is ada
    assert matches(text, GRACE) is grace


def test_string_comparisons_ignore_case():
    assert matches("displayName eq 'ADA LOVELACE'")
    assert matches("userType eq 'member'")
    assert matches("startswith(displayName,'ada l')")
    assert matches("endswith(mail,'@CONTOSO.COM')")
    assert matches("userType in ('GUEST', 'MEMBER')")
    assert not matches("userType ne 'MEMBER'")


def test_boolean_literals_do_not_match_strings_or_numbers():
    assert not matches("accountEnabled eq 'true'")
    assert not matches("seats eq true")
    assert not matches("displayName eq 1")


def test_nested_property_paths():
    assert matches("onPremisesExtensionAttributes/extensionAttribute1 eq 'engines'")
    assert not matches("onPremisesExtensionAttributes/extensionAttribute2 eq 'engines'")
    assert matches("onPremisesExtensionAttributes/extensionAttribute2 eq null")
    assert matches("employeeOrgData/costCenter eq 'cc-7'")
    assert not matches("onPremisesExtensionAttributes/extensionAttribute1 eq 'Engines'", GRACE)


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(
    "text, ada, grace",
    [
        ("startswith(displayName,'Ada')", True, False),
        ("startsWith(displayName, 'Gr')", False, True),
        ("endswith(mail,'navy.mil')", False, True),
        ("endsWith(userPrincipalName,'%s')" % "#EXT#@contoso.onmicrosoft.com", False, True),
        ("contains(displayName,'love')", True, False),
        ("startswith(surname,'L')", True, False),  # missing on Grace: no match, no error
    ],
)
def test_string_functions(text, ada, grace):
    assert matches(text, ADA) is ada
    assert matches(text, GRACE) is grace


def test_functions_never_match_null_or_non_strings():
    assert not matches("startswith(companyName,'')")
    assert not matches("endswith(seats,'3')")


# ---------------------------------------------------------------- in


def test_in_list():
    assert matches("userType in ('Guest','Member')")
    assert not matches("usageLocation in ('US', 'FR')")
    assert matches("usageLocation in ('US', 'gb')")
    assert matches("seats in (1, 3)")
    assert not matches("accountEnabled in (1)")
    assert matches("id in ('x', '0b7c8a3e-1111-4c1e-9f00-000000000001')")
    assert matches("companyName in (null, 'Contoso')")


# ---------------------------------------------------------------- logic and precedence


def test_and_binds_tighter_than_or():
    # Read as: Guest or (Member and disabled) -> Ada (Member, enabled) is out.
    assert not matches("userType eq 'Guest' or userType eq 'Member' and accountEnabled eq false")
    assert matches("(userType eq 'Guest' or userType eq 'Member') and accountEnabled eq true")
    assert matches("userType eq 'Member' and accountEnabled eq true or userType eq 'Nobody'")


def test_not_applies_to_the_next_term_only():
    assert matches("not userType eq 'Guest' and accountEnabled eq true")
    assert not matches("not (userType eq 'Member' and accountEnabled eq true)")
    assert matches("NOT startsWith(displayName, 'Conf')")
    assert matches("not not (mail ne null)")


def test_keywords_are_case_insensitive():
    assert matches("displayName EQ 'Ada Lovelace' AND accountEnabled Eq TRUE OR seats gt 99")


def test_long_chains_of_and_or():
    assert matches("seats eq 1 or seats eq 2 or seats eq 3 or seats eq 4")
    assert not matches("seats gt 0 and seats gt 1 and seats gt 2 and seats gt 3")


# ---------------------------------------------------------------- quoting


def test_doubled_quote_is_one_quote():
    assert matches("displayName eq 'Grace O''Hopper'", GRACE)
    assert matches("startswith(displayName,'Grace O''')", GRACE)
    assert not matches("displayName eq 'Grace OHopper'", GRACE)


def test_string_literal_keeps_operators_and_parentheses_as_text():
    doc = {"displayName": "R&D (eq) and/or 'x'"}
    assert matches("displayName eq 'R&D (eq) and/or ''x'''", doc)


# ---------------------------------------------------------------- lambdas


def test_lambda_any_on_string_collections():
    assert matches("otherMails/any(x:x eq 'ADA@analytical.org')")
    assert not matches("otherMails/any(x:x eq 'ada@analytical.org')", GRACE)
    assert matches("proxyAddresses/any(x:startswith(x,'smtp:'))")
    assert matches("proxyAddresses/any(p:endsWith(p, 'onmicrosoft.com'))")
    assert not matches("proxyAddresses/any(x:startswith(x,'x500:'))")
    assert matches("otherMails/any(m: m eq 'nobody@x' or startswith(m, 'countess'))")


def test_lambda_on_objects_with_unquoted_guid():
    assert matches("assignedLicenses/any(x:x/skuId eq %s)" % SKU_E3)
    assert not matches("assignedLicenses/any(x:x/skuId eq %s)" % SKU_E3, GRACE)
    assert not matches("assignedLicenses/any(x:x/skuId eq 00000000-0000-0000-0000-000000000000)")


def test_lambda_on_missing_collection_is_false():
    assert not matches("otherMails/any(x:x eq 'a')", {"displayName": "no mails"})
    assert matches("not otherMails/any(x:x eq 'a')", {"displayName": "no mails"})


def test_lambda_all():
    assert matches("otherMails/all(x:endswith(x,'.org') or endswith(x,'.net'))")
    assert not matches("otherMails/all(x:endswith(x,'.org'))")


def test_count_of_collections():
    assert matches("assignedLicenses/$count eq 0", GRACE)
    assert not matches("assignedLicenses/$count eq 0", ADA)
    assert matches("otherMails/$count ne 0", ADA)
    assert matches("proxyAddresses/$count eq 0", {"displayName": "no addresses"})


# ---------------------------------------------------------------- properties()


def test_properties_lists_top_level_names():
    expr = parse_filter(
        "startswith(displayName,'a') and (otherMails/any(x:x eq 'b') or "
        "onPremisesExtensionAttributes/extensionAttribute1 eq 'c') and not (assignedLicenses/$count eq 0)"
    )
    assert expr.properties() == {
        "displayName",
        "otherMails",
        "onPremisesExtensionAttributes",
        "assignedLicenses",
    }


# ---------------------------------------------------------------- advanced queries


@pytest.mark.parametrize(
    "text",
    [
        "displayName eq 'a'",
        "startswith(displayName,'a') or mail eq 'b'",
        "userType in ('Guest','Member')",
        "otherMails/any(x:x eq 'a')",
        "proxyAddresses/any(x:startswith(x,'smtp:'))",
        "assignedLicenses/any(x:x/skuId eq %s)" % SKU_E3,
        "accountEnabled eq false and usageLocation eq 'GB'",
        "department eq 'Sales' and jobTitle eq 'Clerk' and city eq 'Leeds'",
        "createdDateTime ge 2024-01-01T00:00:00Z",
    ],
)
def test_default_queries_do_not_require_advanced(text):
    expr = parse_filter(text)
    assert expr.requires_advanced() is False
    expr.check_supported("user", advanced=False)  # no exception


@pytest.mark.parametrize(
    "text",
    [
        "accountEnabled ne true",
        "not (displayName eq 'a')",
        "endswith(mail,'@contoso.com')",
        "proxyAddresses/any(p:endswith(p,'.com'))",
        "assignedLicenses/$count eq 0",
        "displayName eq null",
        "mail ne null",
        "companyName eq 'Microsoft'",
        "startswith(mobilePhone,'254')",
        "officeLocation eq '12/1110'",
        "postalCode eq '98052'",
        "employeeType eq 'Contractor'",
        "displayName eq 'a' and (userType eq 'Guest' or companyName eq 'x')",
    ],
)
def test_advanced_only_queries(text):
    expr = parse_filter(text)
    assert expr.requires_advanced() is True
    assert expr.requires_advanced("user") is True
    expr.check_supported("user", advanced=True)  # accepted with the advanced parameters


def test_requires_advanced_depends_on_the_resource_type():
    expr = parse_filter("description eq 'Finance'")
    assert expr.requires_advanced("group") is True
    assert expr.requires_advanced() is True
    expr = parse_filter("hasMembersWithLicenseErrors eq null")
    assert expr.requires_advanced("group") is False


@pytest.mark.parametrize(
    "text, operator",
    [
        ("endswith(mail,'@contoso.com')", "endsWith"),
        ("accountEnabled ne true", "ne"),
        ("mail ne null", "ne"),
        ("not (displayName eq 'a')", "not"),
        ("NOT startsWith(displayName, 'Conf')", "not"),
        ("displayName eq 'x' and assignedLicenses/$count eq 0", "$count"),
    ],
)
def test_advanced_operator_without_parameters_gives_graph_message(text, operator):
    with pytest.raises(UnsupportedFilter) as caught:
        parse_filter(text).check_supported("user", advanced=False)
    assert caught.value.message == "Operator '%s'%s" % (operator, ADVANCED_HINT)
    assert caught.value.code == "Request_UnsupportedQuery"


def test_documented_endswith_error_text():
    with pytest.raises(UnsupportedFilter) as caught:
        parse_filter("endsWith(userPrincipalName,'#EXT#@contoso.com')").check_supported("user", False)
    assert str(caught.value) == (
        "Operator 'endsWith' is not supported because the required parameters might be missing. "
        "Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
        "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    )


@pytest.mark.parametrize(
    "type_name, text, advanced, prop",
    [
        # Documented example (DC aad-advanced-queries): not indexed even in advanced mode.
        ("group", "createdDateTime ge 2021-11-01", True, "createdDateTime"),
        ("user", "aboutMe eq 'x'", True, "aboutMe"),
        ("user", "noSuchProperty eq 'x'", False, "noSuchProperty"),
        ("user", "contains(displayName,'ada')", True, "displayName"),
        ("user", "endswith(displayName,'lace')", True, "displayName"),
        ("user", "startswith(accountEnabled,'t')", True, "accountEnabled"),
        ("user", "otherMails eq 'a@b.c'", True, "otherMails"),
        ("user", "otherMails/all(x:x eq 'a')", True, "otherMails"),
        ("user", "assignedLicenses/$count eq 1", True, "assignedLicenses"),
        ("user", "userPrincipalName eq null", True, "userPrincipalName"),
        ("user", "displayName gt 'M'", True, "displayName"),
        # Advanced-only properties without the parameters (observed Graph behaviour).
        ("user", "companyName eq 'Contoso'", False, "companyName"),
        ("user", "startswith(mobilePhone,'+44')", False, "mobilePhone"),
        ("user", "displayName eq null", False, "displayName"),
        ("group", "description eq 'x'", False, "description"),
        # FIDELITY.md 7.2: uniqueName is an alternate key, read by /groups(uniqueName='x'), not filterable.
        ("group", "uniqueName eq 'sales-team'", True, "uniqueName"),
        ("group", "startswith(uniqueName,'sales')", False, "uniqueName"),
    ],
)
def test_unsupported_property_gives_graph_message(type_name, text, advanced, prop):
    with pytest.raises(UnsupportedFilter) as caught:
        parse_filter(text).check_supported(type_name, advanced=advanced)
    resource = type_name.capitalize()
    assert caught.value.message == (
        "Unsupported or invalid query filter clause specified for property '%s' of resource '%s'."
        % (prop, resource)
    )


@pytest.mark.parametrize(
    "text",
    [
        "displayName eq 'Sales'",
        "startswith(displayName,'Sal')",
        "mailNickname eq 'sales' or mail eq 'sales@contoso.com'",
        "groupTypes/any(c:c eq 'Unified')",
        "securityEnabled eq true and mailEnabled eq false",
        "id in ('a', 'b')",
        "membershipRuleProcessingState eq 'On'",
        "proxyAddresses/any(x:startswith(x,'smtp:sales'))",
        "assignedLicenses/any(x:x/skuId eq %s)" % SKU_E3,
    ],
)
def test_group_default_filters_are_supported(text):
    expr = parse_filter(text)
    expr.check_supported("group", advanced=False)
    assert expr.requires_advanced("group") is False


def test_group_filters_evaluate():
    sales = {"displayName": "Sales", "groupTypes": ["Unified"], "securityEnabled": False, "mailEnabled": True}
    staff = {"displayName": "Staff", "groupTypes": [], "securityEnabled": True, "mailEnabled": False}
    expr = parse_filter("groupTypes/any(c:c eq 'unified')")
    expr.check_supported("group", advanced=False)
    assert expr.filter([sales, staff]) == [sales]
    assert parse_filter("securityEnabled eq true").filter([sales, staff]) == [staff]


def test_user_properties_are_not_group_properties():
    parse_filter("userType eq 'Guest'").check_supported("user", advanced=False)
    with pytest.raises(UnsupportedFilter) as caught:
        parse_filter("userType eq 'Guest'").check_supported("group", advanced=True)
    assert "property 'userType' of resource 'Group'" in caught.value.message


def test_literal_of_the_wrong_type_is_an_invalid_filter_clause():
    # Graph answers "Invalid filter clause" for accountEnabled eq 'true' (quoted boolean).
    with pytest.raises(FilterError) as caught:
        parse_filter("accountEnabled eq 'true'").check_supported("user", advanced=False)
    assert caught.value.message.startswith("Invalid filter clause")
    with pytest.raises(FilterError):
        parse_filter("createdDateTime ge 'yesterday'").check_supported("user", advanced=False)


def test_property_names_are_case_insensitive_once_checked():
    expr = parse_filter("DISPLAYNAME eq 'ada lovelace' and otherMAILS/any(x:x eq 'ada@analytical.org')")
    assert expr.evaluate(ADA) is False  # stored docs use camelCase keys
    expr.check_supported("user", advanced=False)
    assert expr.evaluate(ADA) is True
    expr = parse_filter("assignedlicenses/any(x:x/SKUID eq %s)" % SKU_E3)
    expr.check_supported("user", advanced=False)
    assert expr.evaluate(ADA) is True


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "displayName",
        "displayName eq",
        "displayName eq 'unterminated",
        "displayName = 'x'",
        "displayName eq 'a' and",
        "displayName eq 'a' or or mail eq 'b'",
        "(displayName eq 'a'",
        "displayName eq 'a')",
        "displayName eq 'a' mail eq 'b'",
        "eq 'a'",
        "'a' eq displayName",
        "displayName eq mail",
        "displayName has 'a'",
        "userType in 'Guest'",
        "userType in ()",
        "userType in ('a',)",
        "tolower(displayName) eq 'a'",
        "startswith(displayName)",
        "startswith(displayName, 5)",
        "startswith('a', displayName)",
        "otherMails/any(x eq 'a')",
        "otherMails/any(x:x eq 'a'",
        "seats eq 12abc",
        "displayName eq 'a' ; drop",
        "$count eq 0",
        "not",
    ],
)
def test_syntax_errors(text):
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.message.startswith("Invalid filter clause")
    assert caught.value.code == "Request_BadRequest"


def test_syntax_error_names_the_position():
    with pytest.raises(FilterError) as caught:
        parse_filter("displayName eq 'a' xor mail eq 'b'")
    assert "position 19" in caught.value.message


# ---------------------------------------------------------------- $search


@pytest.mark.parametrize(
    "search, doc, expected",
    [
        ('"displayName:Ada"', ADA, True),
        ('"displayName:lace"', ADA, False),  # no substring ("contains") matching
        ('"displayName:Lovel"', ADA, True),  # word prefix
        ('"displayName:lovelace ada"', ADA, True),  # words in any order
        ('"displayName:ada hopper"', ADA, False),
        ('"displayName:video"', {"displayName": "OneVideo Team"}, True),  # case change splits
        ('"displayName:OneVideo"', {"displayName": "One video"}, True),  # documented example
        ('"displayName:OneVideo"', {"displayName": "Video one-off"}, True),
        ('"displayName:OneVideo"', {"displayName": "Video"}, False),
        ('"displayName:world"', {"displayName": "hello.world"}, True),
        ('"displayName:helloworld"', {"displayName": "hello-world"}, True),
        ('"displayName:123"', {"displayName": "hello123world"}, True),
        ('"displayName:David"', {"displayName": "李四(David Li)"}, True),
        ('"description:budget"', {"description": "Q3 Budget review"}, True),
        ('"mail:ada.love"', ADA, True),  # other properties: startsWith
        ('"mail:lovelace"', ADA, False),
        ('"proxyAddresses:smtp:ada@contoso.onmicrosoft"', ADA, True),
        ('"displayName:Ada" OR "mail:grace"', GRACE, True),
        ('"displayName:Ada" AND "mail:grace"', GRACE, False),
        ('"displayName:Grace" AND ("mail:x" OR "mail:grace")', GRACE, True),
        ('"displayName:Ada" OR "displayName:Grace" AND "mail:nobody"', ADA, True),
        ('"displayName:Ada"', {"displayName": None}, False),
    ],
)
def test_search(search, doc, expected):
    assert parse_search(search).evaluate(doc) is expected


def test_search_escaped_quote_and_properties():
    expr = parse_search('"displayName:say \\"hi\\"" OR "mail:ada"')
    assert expr.evaluate({"displayName": 'They say "hi" loudly'})
    assert expr.properties() == {"displayName", "mail"}


@pytest.mark.parametrize(
    "search",
    [
        "",
        "Ada",
        '"Ada"',
        '"displayName:Ada" and "mail:x"',
        '"displayName:Ada',
        '"displayName:a" OR',
        '("displayName:a"',
    ],
)
def test_search_syntax_errors(search):
    with pytest.raises(FilterError) as caught:
        parse_search(search)
    assert caught.value.message.startswith("Invalid $search clause")
