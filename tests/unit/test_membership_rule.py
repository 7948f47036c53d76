# -*- coding: utf-8 -*-
"""Dynamic membership rule parser and evaluator (FIDELITY.md section 3)."""

import datetime
import random
import time

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.membership_rule import (
    MAX_RULE_LENGTH,
    RuleError,
    parse,
    rule_properties_select,
    validate,
)

EXCHANGE_PLAN = "efb87545-963c-4e0d-99df-69c6916d9eb0"
INTUNE_PLAN = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"

ALICE = {
    "id": "11111111-1111-1111-1111-111111111111",
    "displayName": "Alice Adams",
    "userPrincipalName": "alice@contoso.com",
    "mail": "alice@contoso.com",
    "mailNickname": "alice",
    "department": "Sales",
    "jobTitle": "SDE II",
    "city": "Seattle",
    "country": "US",
    "usageLocation": "US",
    "userType": "Member",
    "accountEnabled": True,
    "onPremisesSyncEnabled": None,
    "companyName": "O'Neil & Co",
    "officeLocation": "Building 7",
    "faxNumber": "+1 555 0100",
    "mobilePhone": "+1 555 0101",
    "businessPhones": ["+1 555 0102"],
    "employeeHireDate": "2024-03-01T00:00:00Z",
    "otherMails": ["alice@fabrikam.com"],
    "proxyAddresses": ["SMTP:alice@contoso.com", "smtp:aa@contoso.com", "SIP:alice@contoso.com"],
    "onPremisesExtensionAttributes": {"extensionAttribute15": "Marketing"},
    "assignedPlans": [
        {"capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": EXCHANGE_PLAN},
        {"capabilityStatus": "Deleted", "service": "SCO", "servicePlanId": INTUNE_PLAN},
    ],
}

# A user with almost nothing set, as Graph returns nulls for unset properties.
BOB = {
    "id": "22222222-2222-2222-2222-222222222222",
    "displayName": "Bob",
    "userPrincipalName": "bob@contoso.com",
    "department": None,
    "accountEnabled": False,
    "businessPhones": [],
    "otherMails": [],
    "proxyAddresses": [],
    "assignedPlans": [],
}


def matches(rule, user=None, now=None):
    return parse(rule).matches(ALICE if user is None else user, now=now)


# ---------------------------------------------------------------------------------- operators

@pytest.mark.parametrize("rule, expected", [
    ('user.department -eq "Sales"', True),
    ('user.department -eq "Marketing"', False),
    ('user.department -ne "Marketing"', True),
    ('user.department -ne "Sales"', False),
    ('user.displayName -startsWith "Ali"', True),
    ('user.displayName -startsWith "Adams"', False),
    ('user.displayName -notStartsWith "Bob"', True),
    ('user.displayName -notStartsWith "Ali"', False),
    ('user.userPrincipalName -endsWith "@contoso.com"', True),
    ('user.userPrincipalName -endsWith "@fabrikam.com"', False),
    ('user.mail -notEndsWith "@outlook.com"', True),
    ('user.mail -notEndsWith "@contoso.com"', False),
    ('user.displayName -contains "ce Ad"', True),
    ('user.displayName -contains "Bob"', False),
    ('user.displayName -notContains "Bob"', True),
    ('user.displayName -notContains "Adams"', False),
    ('user.displayName -match "^Al.*s$"', True),
    ('user.displayName -match "^Adams"', False),
    ('user.displayName -notMatch "^Bo"', True),
    ('user.displayName -notMatch "Ad"', False),
    ('user.department -in ["Marketing","Sales"]', True),
    ('user.department -in ["Marketing","Support"]', False),
    ('user.department -notIn ["Marketing","Support"]', True),
    ('user.department -notIn ["Marketing","Sales"]', False),
    ('user.employeeHireDate -ge 2024-01-01T00:00:00Z', True),
    ('user.employeeHireDate -ge 2024-06-01', False),
    ('user.employeeHireDate -le "2024-03-01T00:00:00Z"', True),
    ('user.employeeHireDate -le 2024-02-29T23:59:59+00:00', False),
    ('user.employeeHireDate -eq 2024-03-01T01:00:00+01:00', True),
    ('user.employeeHireDate -ne 2024-03-01T00:00:00Z', False),
    ('user.accountEnabled -eq true', True),
    ('user.accountEnabled -eq false', False),
    ('user.accountEnabled -ne false', True),
    ('user.dirSyncEnabled -eq false', True),
    ('user.dirSyncEnabled -eq true', False),
])
def test_each_operator_true_and_false(rule, expected):
    assert matches(rule) is expected


@pytest.mark.parametrize("rule", [
    'user.department eq "Sales"',
    'user.department -EQ "Sales"',
    'user.department EQ "Sales"',
    'user.displayName STARTSWITH "ali"',
    'user.department \u2013eq "Sales"',          # en dash as copied from the docs' examples
    'user.department -eq "Sales" and user.accountEnabled -eq true',
    'user.department -eq "Sales" -AND user.accountEnabled -eq true',
    'not (user.department -eq "Marketing")',
])
def test_operators_without_hyphen_and_in_any_case(rule):
    assert matches(rule)


def test_string_and_regex_comparisons_ignore_case():
    assert matches('user.department -eq "SALES"')
    assert matches('user.department -in ["sales"]')
    assert matches('user.displayName -match "^alice"')
    assert matches('user.userPrincipalName -endsWith "@CONTOSO.COM"')
    assert matches('user.displayName -contains "ADAMS"')


def test_property_names_are_accepted_in_any_case():
    assert matches('user.DEPARTMENT -eq "Sales"')
    assert matches('User.mailNickname -eq "alice"')
    assert matches('user.mailNickName -eq "alice"')
    assert matches('user.employeehiredate -ge 2020-06-10T18:13:20Z')


# ---------------------------------------------------------------------------------- logic

def test_documented_sales_rule_matches_only_enabled_sales_users():
    rule = parse('(user.department -eq "Sales") -and (user.accountEnabled -eq true)')
    disabled_sales = dict(ALICE, accountEnabled=False)
    marketing = dict(ALICE, department="Marketing")
    assert rule.filter([ALICE, disabled_sales, marketing, BOB]) == [ALICE]


def test_and_binds_tighter_than_or():
    # true -or (false -and false) is true; (true -or false) -and false would be false.
    rule = ('user.department -eq "Sales" -or user.department -eq "Support" '
            '-and user.city -eq "Paris"')
    assert matches(rule)
    rule = ('user.department -eq "Support" -and user.city -eq "Paris" '
            '-or user.department -eq "Sales"')
    assert matches(rule)


def test_parentheses_override_precedence():
    rule = ('(user.department -eq "Sales" -or user.department -eq "Support") '
            '-and user.city -eq "Paris"')
    assert not matches(rule)


def test_not_binds_tighter_than_and():
    # (-not false) -and true; -not (false -and true) would also be true, so use a false right side.
    assert not matches('-not user.department -eq "Marketing" -and user.city -eq "Paris"')
    assert matches('-not user.department -eq "Marketing" -and user.city -eq "Seattle"')
    assert matches('-not (user.department -eq "Sales" -and user.city -eq "Paris")')


def test_documented_and_not_example():
    rule = '(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")'
    assert not matches(rule)
    assert matches(rule, dict(ALICE, jobTitle="Account Manager"))


def test_double_not_cancels():
    assert matches('-not -not user.department -eq "Sales"')


# ---------------------------------------------------------------------------------- values

def test_backtick_escapes_double_quote_inside_string():
    user = dict(ALICE, department='The "A" team')
    assert matches('user.department -eq "The `"A`" team"', user)
    assert not matches('user.department -eq "The A team"', user)


def test_backtick_quoted_value_as_in_the_documentation():
    user = dict(ALICE, department='"Sales"')
    assert matches('user.department -eq `"Sales`"', user)
    assert not matches('user.department -eq `"Sales`"')


def test_doubled_single_quote_is_one_single_quote():
    assert matches('user.companyName -eq "O\'\'Neil & Co"')
    assert matches("user.companyName -eq 'O''Neil & Co'")
    assert not matches('user.companyName -eq "O\'\'\'\'Neil & Co"')


def test_unquoted_single_token_values():
    assert matches("user.department -eq Sales")
    assert matches("user.preferredLanguage -ne en-US")
    assert matches("user.department -in [Sales,Marketing]")


def test_quoted_null_is_a_string_not_null():
    assert not matches('user.department -eq "null"', BOB)
    assert matches('user.department -eq null', BOB)


def test_in_list_with_single_quotes_and_spaces():
    assert matches("user.department -in [ 'Marketing' , 'Sales' ]")
    assert matches('user.department -in ["50001","Sales","50003"]')


# ---------------------------------------------------------------------------------- null

@pytest.mark.parametrize("rule, expected", [
    ("user.department -eq null", True),
    ("user.department -eq $null", True),
    ("user.department -ne null", False),
    ('user.department -ne "Sales"', True),
    ('user.department -eq "Sales"', False),
    ('user.department -notIn ["Sales"]', True),
    ('user.department -in ["Sales"]', False),
    ('user.department -startsWith "S"', False),
    ('user.department -notStartsWith "S"', False),
    ('user.department -contains "a"', False),
    ('user.department -notContains "a"', False),
    ('user.department -match ".*"', False),
    ('user.department -notMatch "x"', False),
    ("user.mail -eq null", True),                       # key missing altogether
    ("user.telephoneNumber -eq null", True),            # empty businessPhones
    ("user.employeeHireDate -eq null", True),
    ("user.employeeHireDate -ge 2000-01-01", False),
    ("user.proxyAddresses -eq null", True),             # empty collection
    ("user.otherMails -ne null", False),
    ("user.dirSyncEnabled -eq null", True),
    ("user.dirSyncEnabled -eq false", True),
])
def test_null_semantics(rule, expected):
    assert matches(rule, BOB) is expected


def test_empty_string_counts_as_null():
    assert matches("user.department -eq null", dict(ALICE, department=""))


def test_all_users_rule():
    rule = parse('(user.objectId -ne null) -and (user.userType -eq "Member")')
    assert rule.filter([ALICE, BOB, dict(ALICE, userType="Guest")]) == [ALICE]


# ---------------------------------------------------------------------------------- collections

@pytest.mark.parametrize("rule, expected", [
    ('user.proxyAddresses -any (_ -startsWith "smtp:aa")', True),
    ('user.proxyAddresses -any (_ -startsWith "x500:")', False),
    ('user.proxyAddresses -all (_ -endsWith "@contoso.com")', True),
    ('user.proxyAddresses -all (_ -startsWith "SMTP:")', False),
    ('(user.proxyAddresses -any (_ -startsWith "sip"))', True),
    ('user.otherMails -any (_ -eq "ALICE@fabrikam.com")', True),
    ('user.otherMails -all (_ -contains "contoso")', False),
    ('user.otherMails -any _ -endsWith "@fabrikam.com"', True),      # without parentheses
    ('user.otherMails -endsWith "@fabrikam.com"', True),             # directly on the collection
    ('user.otherMails -startsWith "bob"', False),
    ('user.proxyAddresses -notEndsWith "@outlook.com"', True),
    ('user.proxyAddresses -notEndsWith "@contoso.com"', False),
    ('user.proxyAddresses -notContains "contoso"', False),
    ('user.assignedPlans -any (assignedPlan.servicePlanId -eq "%s" '
     '-and assignedPlan.capabilityStatus -eq "Enabled")' % EXCHANGE_PLAN, True),
    ('user.assignedPlans -any (assignedPlan.servicePlanId -eq "%s" '
     '-and assignedPlan.capabilityStatus -eq "Enabled")' % INTUNE_PLAN, False),
    ('user.assignedPlans -any (assignedPlan.service -eq "SCO")', True),
    ('user.assignedPlans -all (assignedPlan.capabilityStatus -eq "Enabled")', False),
    ('user.assignedPlans -all (assignedPlan.capabilityStatus -in ["enabled","deleted"])', True),
    ('user.assignedPlans -all (assignedPlan.servicePlanId -eq null)', False),
])
def test_any_and_all(rule, expected):
    assert matches(rule) is expected


def test_any_without_parentheses_takes_the_rest_of_the_rule():
    # -any/-all have the lowest precedence, so the -and belongs to the item condition.
    rule = ('user.assignedPlans -any assignedPlan.service -eq "SCO" '
            '-and assignedPlan.capabilityStatus -eq "Enabled"')
    assert not matches(rule)         # the SCO plan is Deleted; no single plan satisfies both
    assert matches(rule.replace('"SCO"', '"exchange"'))
    with pytest.raises(RuleError) as caught:
        parse('user.otherMails -any _ -endsWith "@fabrikam.com" -and user.city -eq "Seattle"')
    assert caught.value.position == 54
    assert "put the -any condition in parentheses" in caught.value.reason
    assert matches('(user.otherMails -any _ -endsWith "@fabrikam.com") -and user.city -eq "Seattle"')


def test_empty_collections():
    assert not matches('user.proxyAddresses -any (_ -startsWith "smtp")', BOB)
    assert matches('user.proxyAddresses -all (_ -startsWith "smtp")', BOB)
    # The documentation's "users with no assigned plan" example.
    assert matches("user.assignedPlans -all (assignedPlan.servicePlanId -eq null)", BOB)
    assert matches('user.proxyAddresses -notContains "contoso"', BOB)


def test_any_combined_with_other_conditions():
    rule = ('user.accountEnabled -eq true -and user.proxyAddresses -any (_ -startsWith "smtp:") '
            '-and -not (user.department -eq "Marketing")')
    assert parse(rule).filter([ALICE, BOB]) == [ALICE]


def test_member_of_reads_supplied_group_ids():
    rule = parse("user.memberOf -any (group.objectId -in ['g1', 'G2'])")
    assert rule.uses_member_of
    assert rule.matches(dict(ALICE, memberOf=["g2"]))
    assert rule.matches(dict(ALICE, memberOf=[{"id": "g1"}]))
    assert not rule.matches(dict(ALICE, memberOf=["g3"]))
    assert not rule.matches(ALICE)


# ---------------------------------------------------------------------------------- property mapping

@pytest.mark.parametrize("rule", [
    'user.objectId -eq "11111111-1111-1111-1111-111111111111"',
    'user.mailNickName -eq "alice"',
    'user.physicalDeliveryOfficeName -eq "Building 7"',
    'user.facsimileTelephoneNumber -eq "+1 555 0100"',
    'user.mobile -eq "+1 555 0101"',
    'user.telephoneNumber -eq "+1 555 0102"',
    'user.sipProxyAddress -eq "alice@contoso.com"',
    'user.extensionAttribute15 -eq "Marketing"',
    'user.usageLocation -eq "us"',
])
def test_rule_properties_map_to_graph_json(rule):
    assert matches(rule)


def test_custom_extension_property():
    user = dict(ALICE, extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber="123")
    rule = parse('user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123"')
    assert rule.matches(user)
    assert rule.properties() == {"extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber"}


def test_properties_lists_graph_names_to_select():
    rule = parse('user.objectId -ne null -and user.telephoneNumber -startsWith "+1" -and '
                 'user.sipProxyAddress -ne null -and user.assignedPlans -any '
                 '(assignedPlan.service -eq "SCO") -and user.mailNickName -ne null')
    assert rule.properties() == {"id", "businessPhones", "proxyAddresses", "assignedPlans", "mailNickname"}


def test_rule_properties_select():
    select = rule_properties_select('(user.department -eq "Sales") -and (user.accountEnabled -eq true)')
    assert select == "accountEnabled,department,displayName,id,userPrincipalName"
    assert parse("user.memberOf -any (group.objectId -in ['g1'])").properties() == set()


def test_system_now_with_plus_and_minus():
    now = datetime.datetime(2024, 3, 10, 12, 0, tzinfo=datetime.timezone.utc)
    hired_recently = parse("user.employeeHireDate -ge system.now -minus p10d")
    assert hired_recently.uses_now
    assert hired_recently.matches(ALICE, now=now)                       # 2024-03-01 >= 02-29 12:00
    assert not parse("user.employeeHireDate -ge system.now -minus P8D").matches(ALICE, now=now)
    assert parse("user.employeeHireDate -le system.now -plus p1d").matches(ALICE, now=now)
    assert not parse("user.employeeHireDate -le system.now -minus PT240H").matches(ALICE, now=now)
    assert parse("user.employeeHireDate -le SYSTEM.NOW").matches(ALICE)   # real clock
    assert parse("user.employeeHireDate -ge system.now -plus p1d").filter([ALICE], now=now) == []


def test_system_now_in_parentheses_as_published_rules_write_it():
    now = datetime.datetime(2024, 3, 10, 12, 0, tzinfo=datetime.timezone.utc)
    rule = parse("user.employeeHireDate -ge (system.now -minus P30D) -and user.employeeHireDate -le (system.now)")
    assert rule.matches(ALICE, now=now)                                  # hired 2024-03-01
    assert not rule.matches(ALICE, now=now + datetime.timedelta(days=30))
    assert not rule.matches(ALICE, now=datetime.datetime(2024, 2, 1, tzinfo=datetime.timezone.utc))
    assert rule.properties() == {"employeeHireDate"}


@pytest.mark.parametrize("rule, reason", [
    ("user.employeeHireDate -ge system.now -plus p-30d",
     "A duration cannot be negative; write system.now -minus p30d instead of -plus p-30d"),
    ("user.employeeHireDate -ge (2024-01-01)", "Only system.now with -plus or -minus can stand in parentheses"),
    ("user.employeeHireDate -ge (system.now -minus p1d", "Unbalanced parentheses"),
])
def test_date_value_errors_say_how_to_write_it(rule, reason):
    with pytest.raises(RuleError) as caught:
        parse(rule)
    assert reason in caught.value.reason


def test_device_rules_are_accepted():
    rule = parse('(device.deviceOSType -eq "iPad") -or (device.deviceOSType -eq "iOS")')
    assert rule.object_type == "device"
    assert rule.matches({"operatingSystem": "iOS"})
    assert parse('device.devicePhysicalIds -any _ -startsWith "[ZTDId]"').matches(
        {"physicalIds": ["[ZTDId]:abc"]})


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("rule, position, reason", [
    ('(user.department -eq "Sales"', 0, "Unbalanced parentheses: '(' is never closed"),
    ('user.department -eq "Sales")', 27, "Unbalanced parentheses: ')' has no matching '('"),
    ('((user.department -eq "Sales") -or (user.city -eq "x")', 0, "Unbalanced parentheses"),
    ('user.departmnt -eq "Sales"', 0, "Unknown property 'user.departmnt'; did you mean 'user.department'?"),
    ('user.accountEnabled -eq true -and user.foo -eq 1', 34, "Unknown property 'user.foo'"),
    ('department -eq "Sales"', 0, "Unknown property 'department'"),
    ('user.department -contians "Sales"', 16, "Unknown operator '-contians'; did you mean '-contains'?"),
    ('user.department -startwith "S"', 16, "did you mean '-startsWith'?"),
    ('user.department -eq "a" -adn user.city -eq "b"', 24, "Unknown operator '-adn'; did you mean '-and'?"),
    ('user.department -eq', 19, "Missing value after -eq"),
    ('user.department -eq -and user.city -eq "x"', 20, "Missing value after -eq"),
    ('(user.department -eq) -or user.city -eq "x"', 20, "Missing value after -eq"),
    ('user.department', 15, "Missing operator after 'user.department'"),
    ('user.department -in "Sales"', 20, "-in needs a list of values in brackets"),
    ('user.department -in ["a" "b"]', 25, "Expected ',' or ']' in the -in list"),
    ('user.department -notIn []', 24, "The -notIn list is empty"),
    ('user.department -in ["a",]', 25, "Expected a value in the -in list"),
    ('user.department -in ["a"', 24, "Expected ',' or ']' in the -in list"),
    ('user.department -eq ["a"]', 20, "A list of values can only be used with -in or -notIn"),
    ('user.department -not null', 16, "-not cannot be used with null; use -ne null"),
    ('user.department -not "Sales"', 16, "-not is a logical operator"),
    ('user.department -startsWith null', 28, "null can only be compared with -eq or -ne"),
    ('user.department -in [null]', 21, "null cannot be used in an -in list"),
    ('user.department -eq "x" -and device.displayName -eq "y"', 29,
     "A rule cannot mix user and device properties ('device.displayName')"),
    ('user.department -le "x"', 16, "-le can only be used with employeeHireDate"),
    ('user.displayName -ge "x"', 17, "-ge can only be used with employeeHireDate"),
    ('user.department -any (_ -eq "x")', 16, "Invalid operands found for operator -any: 'user.department' "
                                             "is not a collection"),
    ('user.accountEnabled -all (_ -eq "x")', 20, "Invalid operands found for operator -all"),
    ('user.proxyAddresses -any (user.department -eq "x")', 26,
     "Invalid operands found for operator -any: only '_' can be used"),
    ('user.assignedPlans -any (assignedPlan.sku -eq "x")', 25,
     "unknown property 'assignedPlan.sku' inside a condition on user.assignedPlans"),
    ('user.assignedPlans -eq "x"', 19, "'user.assignedPlans' can only be used with -any or -all"),
    ('user.proxyAddresses -any', 24, "Missing condition after -any"),
    ('_ -eq "x"', 0, "'_' can only be used inside -any or -all"),
    ('user.displayName -match "(unclosed"', 24, "Invalid regular expression for -match"),
    ('user.displayName -notMatch "[a-"', 27, "Invalid regular expression for -notMatch"),
    ('user.accountEnabled -eq yes', 24, "'user.accountEnabled' expects true or false"),
    ('user.accountEnabled -startsWith "t"', 20, "-startsWith cannot be used with the bool property"),
    ('user.accountEnabled -in ["true"]', 20, "-in cannot be used with the bool property"),
    ('user.employeeHireDate -ge "last week"', 26, "Invalid date/time"),
    ('user.employeeHireDate -ge system.now -plus p1y', 43, "Expected an ISO 8601 duration"),
    ('user.employeeHireDate -contains "2020"', 22, "-contains cannot be used with the date property"),
    ('user.employeeHireDate -in ["2020-01-01"]', 22, "use -eq or -ne or -le or -ge"),
    ('(' * 51 + 'user.city -eq "x"' + ')' * 51, 50, "nested more than 50 deep"),
    ('-not ' * 51 + 'user.city -eq "x"', 250, "nested more than 50 deep"),
    ('user.department -eq "Sales', 20, "Unterminated string"),
    ('user.displayName -eq John Smith', 26, "Unexpected 'Smith'"),
    ('user.department -eq "a" -and', 28, "Missing expression"),
    ('', 0, "The rule is empty"),
    ('   ', 0, "The rule is empty"),
    ('user.memberOf -any (group.objectId -in ["g"]) -and user.department -eq "x"', 0,
     "memberOf cannot be combined with other conditions"),
])
def test_invalid_rules_name_reason_and_position(rule, position, reason):
    with pytest.raises(RuleError) as caught:
        parse(rule)
    error = caught.value
    assert reason in error.reason
    assert error.position == position
    assert str(error) == "Dynamic membership rule validation error: %s at position %d" % (error.reason, position)
    with pytest.raises(ValueError):
        validate(rule)


def test_rule_too_long():
    condition = 'user.department -eq "Sales" -or '
    rule = condition * (MAX_RULE_LENGTH // len(condition)) + 'user.city -eq "x"'
    assert len(rule) > 3072
    with pytest.raises(RuleError) as caught:
        validate(rule)
    assert caught.value.position == 3072
    assert "maximum is 3,072" in caught.value.reason
    assert "%d characters" % len(rule) in caught.value.reason


def test_rule_of_exactly_the_maximum_length_is_valid():
    base = 'user.department -eq "'
    rule = base + "x" * (MAX_RULE_LENGTH - len(base) - 1) + '"'
    assert len(rule) == MAX_RULE_LENGTH
    assert validate(rule) is None


def test_valid_rules_validate_quietly():
    assert validate('user.department -eq "Sales"') is None
    assert validate('(' * 50 + 'user.city -eq "x"' + ')' * 50) is None
    assert validate("user.employeehiredate -ge system.now -plus p1d") is None
    assert validate("user.employeehiredate -le 2020-06-10T18:13:20Z") is None


def test_malformed_input_only_ever_raises_rule_error():
    # Random sequences of rule fragments: every outcome is a parsed rule or a RuleError.
    fragments = ['user.department', 'user.proxyAddresses', 'user.assignedPlans', 'user.accountEnabled',
                 'user.employeeHireDate', 'assignedPlan.service', '_', '-eq', '-in', '-any', '-all',
                 '-not', '-and', '-or', '-le', '-match', '(', ')', '[', ']', ',', '"x"', '"(["', 'null',
                 'true', 'system.now', '-plus', 'p1d', '`"', "''", "'", '"', 'device.deviceModel',
                 '2020-01-01', 'eq', 'and']
    generator = random.Random(5)
    parsed = 0
    for _attempt in range(3000):
        rule = " ".join(generator.choice(fragments) for _fragment in range(generator.randint(1, 9)))
        try:
            compiled = parse(rule)
        except RuleError as error:
            assert 0 <= error.position <= len(rule)
        else:
            parsed += 1
            compiled.matches(ALICE)
            compiled.matches(BOB)
    assert parsed > 0


# ---------------------------------------------------------------------------------- speed

def test_evaluating_ten_thousand_users_is_fast():
    departments = ["Sales", "Marketing", "Support", None]
    users = []
    for n in range(10000):
        user = dict(ALICE, id="id-%d" % n, department=departments[n % 4],
                    accountEnabled=bool(n % 3), displayName="User %05d" % n)
        users.append(user)
    rule = parse('(user.department -eq "Sales") -and (user.accountEnabled -eq true) -and '
                 '-not (user.displayName -match "7$") -and '
                 'user.proxyAddresses -any (_ -startsWith "smtp:") -and '
                 'user.assignedPlans -any (assignedPlan.servicePlanId -eq "%s" -and '
                 'assignedPlan.capabilityStatus -eq "Enabled")' % EXCHANGE_PLAN)
    started = time.perf_counter()
    matched = rule.filter(users)
    elapsed = time.perf_counter() - started
    expected = [u for u in users if u["department"] == "Sales" and u["accountEnabled"]
                and not u["displayName"].endswith("7")]
    assert matched == expected
    assert elapsed < 1.0, "10,000 users took %.3f s" % elapsed
