"""Graph's rules for the user properties an HR feed writes (docs/graph-rules.md, "HR attributes").

Called from users.py: ``check_properties`` on every user body (create and update), ``require_for_body`` and
``require_for_select`` with the request, for the permission employeeLeaveDateTime needs.
"""
import datetime
import re

from ..http import GraphHTTPError, require

# DC api/user-update.md: the values Graph allows (null clears).
ENUMS = {
    "ageGroup": ("Minor", "NotAdult", "Adult"),
    "consentProvidedForMinor": ("Granted", "Denied", "NotRequired"),
}
DATES = ("employeeHireDate", "employeeLeaveDateTime")
ORG_DATA_KEYS = ("costCenter", "division")
# Computed by Graph from ageGroup and consentProvidedForMinor (DC resources/user.md).
READ_ONLY = ("legalAgeGroupClassification",)

LEAVE_DATE = "employeeLeaveDateTime"
# DC resources/user.md, employeeLeaveDateTime row; tutorial-lifecycle-workflows-set-employeeleavedatetime.md.
LEAVE_DATE_READ = ("User-LifeCycleInfo.Read.All", "User-LifeCycleInfo.ReadWrite.All")
LEAVE_DATE_WRITE = ("User-LifeCycleInfo.ReadWrite.All",)

# An Edm.DateTimeOffset literal as OData JSON carries it: a date, a time and an offset (Z or +hh:mm).
_DATE_TIME_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_MAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def invalid(prop):
    return GraphHTTPError(400, "Request_BadRequest", "Invalid value specified for property '%s' of resource 'User'." % prop)


def not_a_date(value):
    # The OData reader's wording (observed).
    return GraphHTTPError(400, "BadRequest", "Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'."
                          % value)


def utc_text(value):
    """A DateTimeOffset literal -> Graph's stored form, UTC with Z and whole seconds; None if not one."""
    if not isinstance(value, str) or not _DATE_TIME_OFFSET.match(value):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _holder_of_address(tenant, address, except_id):
    wanted = "smtp:" + address.lower()
    for user in tenant.users.values():
        if user["id"] != except_id and wanted in (p.lower() for p in user.get("proxyAddresses") or ()):
            return user
    return None


def check_properties(tenant, body, existing=None):
    """Refuse what Graph refuses in these properties; normalise the rest in place (as Graph stores them)."""
    for prop in READ_ONLY:
        if prop in body:
            raise GraphHTTPError(400, "Request_BadRequest", "Property '%s' is read-only and cannot be set." % prop)
    for prop in DATES:
        if body.get(prop) is not None:
            stored = utc_text(body[prop])
            if stored is None:
                raise not_a_date(body[prop])
            body[prop] = stored
    for prop, allowed in ENUMS.items():
        if body.get(prop) is not None and body[prop] not in allowed:
            raise invalid(prop)
    if body.get("employeeOrgData") is not None:
        org_data = body["employeeOrgData"]
        if set(org_data) - set(ORG_DATA_KEYS) or not all(v is None or isinstance(v, str) for v in org_data.values()):
            raise invalid("employeeOrgData")
        # The complex value is replaced whole: a key the body leaves out becomes null (DC api/user-update.md).
        body["employeeOrgData"] = dict((key, org_data.get(key)) for key in ORG_DATA_KEYS)
    if body.get("mail") is not None:
        mail = body["mail"]
        if not _MAIL.match(mail):
            raise invalid("mail")
        other = _holder_of_address(tenant, mail, existing and existing["id"])
        if other is not None:
            from .users import conflict  # users.py imports this module
            raise conflict("proxyAddresses", other)


def require_for_body(request, body):
    """Writing employeeLeaveDateTime needs User-LifeCycleInfo.ReadWrite.All besides the User permission."""
    if LEAVE_DATE in body:
        require(request, *LEAVE_DATE_WRITE)


def require_for_select(request):
    """Reading employeeLeaveDateTime needs User-LifeCycleInfo.Read.All (assumption: refused, not nulled)."""
    select = request.query_params.get("$select") or ""
    if LEAVE_DATE.lower() in [part.strip().lower() for part in select.split(",")]:
        require(request, *LEAVE_DATE_READ)
