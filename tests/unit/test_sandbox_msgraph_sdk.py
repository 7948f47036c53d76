"""A client nobody here wrote: Microsoft's msgraph-sdk with azure-identity, pointed at the sandbox.

Only what any non-Microsoft host needs is changed (FIDELITY.md 6): the authority host and
``disable_instance_discovery`` on the credential, ``allowed_hosts`` and explicit scopes on the
authentication provider, the adapter's ``base_url``, and the sandbox CA for TLS.
"""
import asyncio
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.group import Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory


@pytest.fixture
def sdk(sandbox, monkeypatch):
    """A GraphServiceClient on the sandbox, and the event loop its calls run on."""
    # azure-identity's requests transport honours REQUESTS_CA_BUNDLE (set globally on this machine).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.conn["ca_path"])
    credential = ClientSecretCredential(sandbox.conn["tenant_id"], sandbox.conn["client_id"],
                                        sandbox.conn["client_secret"], authority=sandbox.conn["authority_host"],
                                        disable_instance_discovery=True)
    host = urlsplit(sandbox.url).netloc
    auth = AzureIdentityAuthenticationProvider(credential, scopes=["https://graph.microsoft.com/.default"],
                                               allowed_hosts=[host.split(":")[0], host])
    loop = asyncio.new_event_loop()
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=sandbox.conn["ca_path"]))
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = sandbox.url + "/v1.0"
    yield GraphServiceClient(request_adapter=adapter), loop.run_until_complete
    loop.run_until_complete(http.aclose())
    loop.close()
    credential.close()


def new_user(alias):
    return User(account_enabled=True, display_name="SDK %s" % alias, mail_nickname=alias,
                user_principal_name="%s@contoso.com" % alias, usage_location="SE",
                password_profile=PasswordProfile(password="Sdk-Str0ng-Passw0rd!", force_change_password_next_sign_in=True))


def test_the_sdk_lists_the_seeded_users(sdk):
    client, run = sdk
    page = run(client.users.get())
    upns = {u.user_principal_name for u in page.value}
    assert "ada.admin@contoso.com" in upns
    assert all(u.id for u in page.value)


def create_user(client, run):
    alias = "sdk%s" % uuid.uuid4().hex[:8]
    user = run(client.users.post(new_user(alias)))
    assert user.id and user.user_principal_name == "%s@contoso.com" % alias
    return user


def test_the_sdk_creates_a_user_and_finds_it_with_filter_and_select(sdk):
    client, run = sdk
    user = create_user(client, run)
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="userPrincipalName eq '%s'" % user.user_principal_name, select=["id", "usageLocation", "accountEnabled"])
    config = RequestConfiguration(query_parameters=query)
    found = run(client.users.get(request_configuration=config)).value
    assert [(u.id, u.usage_location, u.account_enabled) for u in found] == [(user.id, "SE", True)]


def test_the_sdk_creates_and_lists_a_group_and_adds_a_member(sdk, sandbox):
    client, run = sdk
    user = create_user(client, run)
    alias = uuid.uuid4().hex[:8]
    group = run(client.groups.post(Group(display_name="SDK group %s" % alias, mail_enabled=False,
                                         mail_nickname="sdkgroup%s" % alias, security_enabled=True, group_types=[])))
    assert group.id and group.security_enabled is True

    groups = run(client.groups.get())
    assert group.id in {g.id for g in groups.value}

    ref = ReferenceCreate(odata_id=sandbox.object_url(user.id))
    run(client.groups.by_group_id(group.id).members.ref.post(ref))
    members = run(client.groups.by_group_id(group.id).members.get())
    assert [m.id for m in members.value] == [user.id]


def test_the_sdk_surfaces_graph_errors(sdk):
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    client, run = sdk
    with pytest.raises(ODataError) as caught:
        run(client.users.by_user_id(str(uuid.uuid4())).get())
    assert caught.value.response_status_code == 404
    assert caught.value.error.code == "Request_ResourceNotFound"
