"""Reverse lookups over the tenant's objects, kept up to date on every save and drop.

They let a request cost what it touches rather than the tenant's size (issue 13): a user by UPN or by
e-mail address, a manager's direct reports, the groups (live or soft-deleted) whose members or owners
hold an object, the users and groups that carry licences. Each object's last indexed facts are kept, so
an update removes exactly what it added before.
"""
from collections import defaultdict

LICENSED_DYNAMIC = "DynamicMembership"


class Indexes:
    def __init__(self):
        self.upns = {}                      # lower-cased UPN -> live user id
        self.addresses = defaultdict(set)   # lower-cased mail / otherMails -> live user ids
        self.reports = defaultdict(set)     # manager id -> ids of the users it manages
        self.holders = defaultdict(set)     # member or owner id -> {(store kind, group id)}
        self.licensed_users = set()         # live users with direct licences
        self.licensed_groups = set()        # live groups with group licences
        self.licensed_dynamic_groups = set()
        self._facts = {}                    # (kind, key) -> what was indexed for it

    def update(self, kind, key, doc):
        """Re-index one object; ``doc`` None when it was dropped."""
        old = self._facts.pop((kind, key), None)
        if old is not None:
            self._apply(kind, key, old, discard=True)
        facts = self._facts_of(kind, doc) if doc is not None else None
        if facts is not None:
            self._facts[(kind, key)] = facts
            self._apply(kind, key, facts, discard=False)

    @staticmethod
    def _facts_of(kind, doc):
        if kind == "user":
            addresses = {a.lower() for a in [doc.get("mail")] + list(doc.get("otherMails") or []) if a}
            return {"upn": doc["userPrincipalName"].lower(), "addresses": addresses, "manager": doc.get("_manager"),
                    "licensed": bool(doc.get("_licenses"))}
        group = doc["doc"] if kind == "deleted" else doc
        if kind == "deleted" and doc["kind"] != "group":
            return None
        if kind not in ("group", "deleted"):
            return None
        refs = set(group.get("_members") or ()) | set(group.get("_owners") or ())
        licensed = kind == "group" and bool(group.get("_licenses"))
        return {"refs": refs, "licensed": licensed,
                "dynamic": licensed and LICENSED_DYNAMIC in (group.get("groupTypes") or [])}

    def _apply(self, kind, key, facts, discard):
        def toggle(collection, value):
            if discard:
                collection.discard(value)
            else:
                collection.add(value)

        if kind == "user":
            if discard:
                if self.upns.get(facts["upn"]) == key:
                    del self.upns[facts["upn"]]
            else:
                self.upns[facts["upn"]] = key
            for address in facts["addresses"]:
                toggle(self.addresses[address], key)
                if not self.addresses[address]:
                    del self.addresses[address]
            if facts["manager"]:
                toggle(self.reports[facts["manager"]], key)
                if not self.reports[facts["manager"]]:
                    del self.reports[facts["manager"]]
            if facts["licensed"]:
                toggle(self.licensed_users, key)
            return
        for ref in facts["refs"]:
            toggle(self.holders[ref], (kind, key))
            if not self.holders[ref]:
                del self.holders[ref]
        if facts["licensed"]:
            toggle(self.licensed_groups, key)
        if facts["dynamic"]:
            toggle(self.licensed_dynamic_groups, key)

    def licence_relevant(self, kind, key, doc, new):
        """Whether saving (``doc``) or dropping (None) this object can change anyone's licences.

        Called before the object is re-indexed, so the old facts are still known.
        """
        if kind == "sku":
            return True
        old = self._facts.get((kind, key)) or {}
        if kind == "user":
            if old.get("licensed") or (doc is not None and doc.get("_licenses")):
                return True
            if self.licensed_dynamic_groups:
                return True   # any user change can move a user in or out of a licensed dynamic group
            # A deleted, restored or purged user leaves or rejoins the groups that hold it.
            return (doc is None or new) and key in self.holders
        if kind == "group":
            return bool(old.get("licensed")) or (doc is not None and bool(doc.get("_licenses")))
        return False
