"""The tenant's directory, held in memory and written through to DIR/tenant.sqlite.

Every object is one row (kind, id, JSON). The server handles one request at a time on its event loop,
so a handler's reads and writes are never interleaved with another's; ``commit`` runs once per HTTP
request. ``version`` grows with every write so derived views (dynamic membership, inherited licences)
can cache on it.
"""
import json
import sqlite3
import time

KINDS = ("user", "group", "invitation", "sku", "deleted", "app", "meta")


class Tenant:
    def __init__(self, db_path, replication_lag=lambda: 0.0):
        self.db = sqlite3.connect(str(db_path), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, id))")
        self.db.commit()
        self._replication_lag = replication_lag
        self._written_at = {}
        self.version = 0
        self._load()

    # -- storage -------------------------------------------------------------------------------------
    def _load(self):
        self.users, self.groups, self.invitations, self.skus = {}, {}, {}, {}
        self.deleted, self.apps, self.meta = {}, {}, {}
        self._upns, self._deleted_upns, self._upn_of = {}, {}, {}
        for kind, obj_id, doc in self.db.execute("SELECT kind, id, doc FROM objects"):
            self.store(kind)[obj_id] = json.loads(doc)
            self._index_upn(kind, obj_id, self.store(kind)[obj_id])
        self.version += 1

    def _index_upn(self, kind, key, doc):
        """Keep UPN -> id maps of live and of soft-deleted users, so lookups by UPN need no scan."""
        if kind == "user":
            index = self._upns
        elif kind == "deleted" and (doc is None or doc["kind"] == "user"):
            index, doc = self._deleted_upns, doc and doc["doc"]
        else:
            return
        old = self._upn_of.pop((kind, key), None)
        if old is not None and index.get(old) == key:
            del index[old]
        if doc is not None:
            upn = doc["userPrincipalName"].lower()
            index[upn] = key
            self._upn_of[(kind, key)] = upn

    def store(self, kind):
        return {"user": self.users, "group": self.groups, "invitation": self.invitations, "sku": self.skus,
                "deleted": self.deleted, "app": self.apps, "meta": self.meta}[kind]

    @staticmethod
    def key_of(kind, doc):
        return doc["skuId"] if kind == "sku" else doc["id"]

    def save(self, kind, doc):
        """Insert or replace one object (the caller has already changed ``doc``)."""
        key = self.key_of(kind, doc)
        self.store(kind)[key] = doc
        self._index_upn(kind, key, doc)
        self.db.execute("INSERT OR REPLACE INTO objects (kind, id, doc) VALUES (?, ?, ?)", (kind, key, json.dumps(doc)))
        self._written_at[key] = time.monotonic()
        self.version += 1

    def drop(self, kind, obj_id):
        self.store(kind).pop(obj_id, None)
        self._index_upn(kind, obj_id, None)
        self.db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))
        self.version += 1

    def commit(self):
        self.db.commit()

    def wipe(self):
        self.db.execute("DELETE FROM objects")
        self.db.commit()
        self._written_at.clear()
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
    def replicated(self, obj_id):
        """False while a just-written object has not reached the replica that serves reads."""
        lag = self._replication_lag()
        if not lag:
            return True
        written = self._written_at.get(obj_id)
        return written is None or time.monotonic() - written >= lag

    # -- lookups shared by resources -----------------------------------------------------------------
    def find_user(self, key):
        """A live user by id or userPrincipalName (case-insensitive)."""
        user = self.users.get(key)
        if user is None and "@" in key:
            user = self.users.get(self._upns.get(key.lower()))
        return user

    def deleted_user_by_upn(self, upn):
        """The deleted-items entry of a soft-deleted user by its original UPN, or None."""
        return self.deleted.get(self._deleted_upns.get(upn.lower()))

    def directory_object(self, obj_id):
        """(kind, doc) of a live user or group, or (None, None)."""
        if obj_id in self.users:
            return "user", self.users[obj_id]
        if obj_id in self.groups:
            return "group", self.groups[obj_id]
        return None, None
