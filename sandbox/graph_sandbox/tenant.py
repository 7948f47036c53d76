"""The tenant's directory, held in memory and written through to DIR/tenant.sqlite.

Every object is one row (kind, id, JSON). The server handles one request at a time on its event loop,
so a handler's reads and writes are never interleaved with another's; ``commit`` runs once per HTTP
request, before its response is sent. ``version`` grows with every write so derived views (dynamic
membership, inherited licences) can cache on it. The database and its -wal / -shm files hold secrets
(app credentials, the token signing key's siblings): they are created mode 0600.
"""
import json
import os
import sqlite3
import time

from .indexes import Indexes

KINDS = ("user", "group", "invitation", "sku", "deleted", "app", "meta")


class Tenant:
    def __init__(self, db_path, replication_lag=lambda: 0.0):
        # SQLite gives the -wal and -shm files the database file's mode: create it private first.
        os.close(os.open(str(db_path), os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(str(db_path), 0o600)
        self.db = sqlite3.connect(str(db_path), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, id))")
        self.db.commit()
        self._replication_lag = replication_lag
        self._visible_at = {}   # object id -> monotonic time from which reads see it
        self.version = 0
        self.license_version = 0   # grows only with writes that can change someone's licences
        self._load()

    # -- storage -------------------------------------------------------------------------------------
    def _load(self):
        self.users, self.groups, self.invitations, self.skus = {}, {}, {}, {}
        self.deleted, self.apps, self.meta = {}, {}, {}
        self.indexes = Indexes()
        for kind, obj_id, doc in self.db.execute("SELECT kind, id, doc FROM objects"):
            self.store(kind)[obj_id] = json.loads(doc)
            self.indexes.update(kind, obj_id, self.store(kind)[obj_id])
        self.version += 1
        self.license_version += 1

    def store(self, kind):
        return {"user": self.users, "group": self.groups, "invitation": self.invitations, "sku": self.skus,
                "deleted": self.deleted, "app": self.apps, "meta": self.meta}[kind]

    @staticmethod
    def key_of(kind, doc):
        return doc["skuId"] if kind == "sku" else doc["id"]

    def save(self, kind, doc):
        """Insert or replace one object (the caller has already changed ``doc``)."""
        key = self.key_of(kind, doc)
        store = self.store(kind)
        if key not in store and kind in ("user", "group"):
            # A created or restored object reaches the replicas that serve reads later (FIDELITY 2.8, 7.3).
            lag = self._replication_lag()
            if lag:
                self._visible_at[key] = time.monotonic() + lag
        if self.indexes.licence_relevant(kind, key, doc, new=key not in store):
            self.license_version += 1
        store[key] = doc
        self.indexes.update(kind, key, doc)
        self.db.execute("INSERT OR REPLACE INTO objects (kind, id, doc) VALUES (?, ?, ?)", (kind, key, json.dumps(doc)))
        self.version += 1

    def drop(self, kind, obj_id):
        if obj_id in self.store(kind) and self.indexes.licence_relevant(kind, obj_id, None, new=False):
            self.license_version += 1
        self.store(kind).pop(obj_id, None)
        self.indexes.update(kind, obj_id, None)
        self.db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))
        self.version += 1

    def commit(self):
        self.db.commit()

    def wipe(self):
        self.db.execute("DELETE FROM objects")
        self.db.commit()
        self._visible_at.clear()
        self._load()

    @property
    def initialized(self):
        return "tenant" in self.meta

    # -- tenant facts --------------------------------------------------------------------------------
    @property
    def info(self):
        return self.meta["tenant"]

    @property
    def id(self):
        return self.info["tenant_id"]

    @property
    def default_domain(self):
        return self.info["default_domain"]

    @property
    def verified_domains(self):
        return self.info["verified_domains"]

    def is_verified_domain(self, domain):
        return domain.lower() in (d.lower() for d in self.verified_domains)

    # -- replication lag -----------------------------------------------------------------------------
    def settle(self):
        """Every object readable now (after seeding: a seed is not a write clients wait for)."""
        self._visible_at.clear()

    def replicated(self, obj_id):
        """False while a just-created (or restored) object has not reached the replica that serves reads.

        The lag is drawn when the object is written, so later changes to the setting do not move it.
        """
        visible_at = self._visible_at.get(obj_id)
        if visible_at is None:
            return True
        if time.monotonic() >= visible_at:
            del self._visible_at[obj_id]
            return True
        return False

    # -- lookups shared by resources -----------------------------------------------------------------
    def find_user(self, key):
        """A live user by id or userPrincipalName (case-insensitive)."""
        user = self.users.get(key)
        if user is None and "@" in key:
            user = self.users.get(self.indexes.upns.get(key.lower()))
        return user

    def directory_object(self, obj_id):
        """(kind, doc) of a live user or group, or (None, None)."""
        if obj_id in self.users:
            return "user", self.users[obj_id]
        if obj_id in self.groups:
            return "group", self.groups[obj_id]
        return None, None

    def users_with_address(self, address):
        """Live users whose mail or otherMails hold the address (case-insensitive)."""
        return [self.users[i] for i in sorted(self.indexes.addresses.get(address.lower(), ())) if i in self.users]

    def reports_of(self, manager_id):
        """Live users whose manager is ``manager_id``."""
        return [self.users[i] for i in sorted(self.indexes.reports.get(manager_id, ())) if i in self.users]

    def groups_holding(self, object_id):
        """(store kind, group document) of every live or soft-deleted group with the object as member or owner."""
        found = []
        for kind, key in sorted(self.indexes.holders.get(object_id, ())):
            doc = self.groups.get(key) if kind == "group" else (self.deleted.get(key) or {}).get("doc")
            if doc is not None:
                found.append((kind, doc))
        return found
