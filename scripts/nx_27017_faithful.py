#!/usr/bin/env python3
"""NX-27017, patched at launch to behave like MongoDB where Tozalash relies on it.

NX-27017 (PyPI ``nx-27017``) is a MongoDB wire-protocol server on SQLite
(``neosqlite``). The MongoDB adapter (crates/store-mongo) is written for real
MongoDB and is never bent toward the emulator: where the emulator deviates,
this launcher monkeypatches it in-process and then runs the unchanged
``nx_27017.main()`` with the same command line, so

    python scripts/nx_27017_faithful.py --data-dir memory --host 127.0.0.1 -p PORT \
        --log-file F --pid-file F

behaves exactly like the ``nx-27017`` command, minus the deviations below.
Every patch is small, wraps the original function (and leaves to it all it
does not fix), and is guarded: if a function it patches is missing or has
another signature (an upgrade), the launcher stops with a message naming the
patch. Patches only change behaviour where NX-27017 0.8.1 differs from mongod.
Each deviation, how to reproduce it and why the patch is right:
docs/mongodb-emulator.md. Regression check: scripts/nx_27017_selftest.py.

Written against the versions pinned in scripts/test-requirements.txt.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import json
import re
import sys
import threading
from importlib import metadata

PINNED = {"nx-27017": "0.8.1", "neosqlite": "1.17.2"}
PREFIX = "nx_27017_faithful"


# --------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------


def _die(message: str) -> None:
    print(f"{PREFIX}: FATAL: {message}", file=sys.stderr)
    raise SystemExit(3)


def _need(owner, attr: str, patch: str, params: tuple[str, ...] = ()):
    """The attribute a patch wraps; stops start-up if it is gone or changed."""
    if inspect.ismodule(owner):
        where = f"{owner.__name__}.{attr}"
    else:
        where = f"{owner.__module__}.{owner.__qualname__}.{attr}"
    if not hasattr(owner, attr):
        _die(
            f"patch '{patch}': {where} not found. NX-27017/neosqlite changed "
            f"(pinned {PINNED}); re-check the deviation in docs/mongodb-emulator.md "
            f"and update scripts/nx_27017_faithful.py."
        )
    value = getattr(owner, attr)
    if params:
        try:
            have = list(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            have = []
        missing = [p for p in params if p not in have]
        if missing:
            _die(
                f"patch '{patch}': {where} no longer takes {missing} "
                f"(signature {have}); re-check and update scripts/nx_27017_faithful.py."
            )
    return value


def _check_versions() -> None:
    for dist, want in PINNED.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            _die(f"{dist} is not installed (pinned {want}).")
        if have != want:
            print(
                f"{PREFIX}: WARNING: {dist} {have} installed, patches written for {want}; "
                f"run scripts/nx_27017_selftest.py against this server.",
                file=sys.stderr,
            )


def _wrap(owner, attr: str, patch: str, params: tuple[str, ...], make):
    """Replaces owner.attr with make(original), keeping the original's metadata."""
    original = _need(owner, attr, patch, params)
    wrapped = functools.wraps(original)(make(original))
    wrapped.__nx_faithful_patch__ = patch
    setattr(owner, attr, wrapped)
    return original


# --------------------------------------------------------------------------
# Shared state and helpers
# --------------------------------------------------------------------------

# Per request (each request runs synchronously in one worker thread).
_tls = threading.local()


class MongoCommandError(Exception):
    """Raised inside a command; the handle_command wrapper answers it as
    {ok: 0, errmsg, code, codeName} like mongod, instead of NX's code-less errmsg."""

    def __init__(self, code: int, code_name: str, errmsg: str):
        super().__init__(errmsg)
        self.code, self.code_name, self.errmsg = code, code_name, errmsg


# Mongo-side description of every index created through the patched
# create_index: SQLite index name -> (MongoDB name, key pattern, unique).
# Lives in each database file, next to neosqlite's own "neosqlite_index_keys";
# the "_neosqlite_" prefix keeps it out of listCollections.
_META = "_neosqlite_nx_faithful_indexes"


def _meta_table(raw_db) -> None:
    raw_db.execute(
        f"CREATE TABLE IF NOT EXISTS {_META} (sqlite_name TEXT PRIMARY KEY, "
        "collection TEXT NOT NULL, name TEXT NOT NULL, key_json TEXT NOT NULL, "
        "is_unique INTEGER NOT NULL)"
    )


def _meta_rows(raw_db, collection: str | None = None, sqlite_name: str | None = None):
    """Rows whose SQLite index still exists (drops leave stale rows harmlessly behind)."""
    _meta_table(raw_db)
    sql = (
        f"SELECT m.sqlite_name, m.name, m.key_json, m.is_unique FROM {_META} m "
        "JOIN sqlite_master s ON s.type = 'index' AND s.name = m.sqlite_name"
    )
    where, args = [], []
    if collection is not None:
        where.append("m.collection = ?")
        args.append(collection)
    if sqlite_name is not None:
        where.append("m.sqlite_name = ?")
        args.append(sqlite_name)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.rowid"
    return [
        {"sqlite_name": r[0], "name": r[1], "key": [tuple(p) for p in json.loads(r[2])], "unique": bool(r[3])}
        for r in raw_db.execute(sql, args).fetchall()
    ]


def _same_key(a, b) -> bool:
    def norm(key):
        return [(f, float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else d) for f, d in key]

    return norm(a) == norm(b)


def _default_index_name(key) -> str:
    # MongoDB's (and every driver's) default: field_direction pairs joined by "_".
    return "_".join(f"{f}_{d}" for f, d in key)


def _db_name_of(collection) -> str:
    database = getattr(collection, "_database", None)
    return getattr(database, "_nx_faithful_db_name", None) or getattr(_tls, "db_name", None) or "test"


def _get_path(doc, path: str):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _shell_value(v) -> str:
    """A value as mongod prints it in a duplicate-key message (approximately)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (int, float)):
        return repr(v)
    if type(v).__name__ == "ObjectId":
        return f"ObjectId('{v}')"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return f"new Date({int(v.timestamp() * 1000)})"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k}: {_shell_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[ " + ", ".join(_shell_value(x) for x in v) + " ]"
    return repr(v)


_UNIQUE_FAILED = re.compile(r"^UNIQUE constraint failed: (?:index '(?P<index>[^']+)'|(?P<columns>.+))$")


def _duplicate_key_error(helper, exc, new_doc_of):
    """exc translated to mongod's E11000 message, or None if exc is no UNIQUE failure.

    new_doc_of(fields) gives the (approximate) values the failed write wanted."""
    m = _UNIQUE_FAILED.match(str(exc))
    if not m:
        return None
    coll = helper.collection
    raw_db = coll.db
    if m.group("index"):
        sqlite_name = m.group("index")
        rows = _meta_rows(raw_db, sqlite_name=sqlite_name)
        if rows:
            name, pattern = rows[0]["name"], dict(rows[0]["key"])
        else:  # an index this launcher did not create: its SQLite name and neosqlite's key list
            from neosqlite.collection.index_manager import _load_index_keys

            name = sqlite_name
            pattern = {f: 1 for f in _load_index_keys(raw_db, sqlite_name) or []}
        fields = list(pattern)
    else:
        # "<table>._id": the unique index neosqlite keeps on the _id column,
        # which is MongoDB's primary-key index "_id_".
        columns = [c.strip().split(".")[-1] for c in m.group("columns").split(",")]
        if columns != ["_id"]:
            return None
        name, fields, pattern = "_id_", ["_id"], {"_id": 1}
    values = new_doc_of(fields)
    message = (
        f"E11000 duplicate key error collection: {_db_name_of(coll)}.{coll.name} "
        f"index: {name} dup key: {_shell_value(values)}"
    )
    new = type(exc)(message)  # same class (sqlite3.IntegrityError): NX maps it to code 11000
    new.nx_key_pattern = pattern
    new.nx_key_value = values
    return new


# --------------------------------------------------------------------------
# Patch 1: dates in $set / $setOnInsert / $min / $max
# --------------------------------------------------------------------------
# MongoDB stores a BSON Date given to an update operator as a Date. neosqlite's
# SQL update tier binds the datetime as an SQL parameter, which sqlite3's
# default adapter turns into the TEXT '2025-01-01 00:00:11.123000', so the
# field becomes a string; $max/$min compare the stored {"$date": ...} JSON
# with that text, so $max with a later date does not update and $min with a
# later one overwrites the Date with the string. The Python update tier stores
# and compares datetimes correctly, so an update carrying a datetime anywhere
# in an operator's argument takes the Python tier (the one that upserts use).


def _contains_datetime(value) -> bool:
    if isinstance(value, datetime.datetime):
        return True
    if isinstance(value, dict):
        return any(_contains_datetime(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_datetime(v) for v in value)
    return False


def patch_dates_in_updates() -> None:
    from neosqlite.collection.query_helper import QueryHelper
    from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin

    patch = "1 dates in update operators"

    def make(original):
        def _can_use_sql_updates(self, update_spec, *args, **kwargs):
            if isinstance(update_spec, dict) and any(
                _contains_datetime(v) for v in update_spec.values()
            ):
                return False
            return original(self, update_spec, *args, **kwargs)

        return _can_use_sql_updates

    _wrap(SqlUpdatesMixin, "_can_use_sql_updates", patch, ("update_spec", "doc_id"), make)
    if getattr(QueryHelper._can_use_sql_updates, "__nx_faithful_patch__", None) != patch:
        _die(f"patch '{patch}': QueryHelper overrides _can_use_sql_updates; patch it there.")

    # $currentDate: both tiers store the time with a UTC offset ("...Z" /
    # "+00:00"), which loads back as an offset-aware datetime while every Date
    # written by a client loads as a naive one; the two then cannot be compared
    # ($max/$min fail with "can't compare offset-naive and offset-aware
    # datetimes", Python-tier range queries miss). mongod stores the same kind
    # of Date either way. {f: true} / {f: {$type: "date"}} becomes $set of the
    # current time as a client would send it: naive UTC, whole milliseconds.
    def make_current_date(original):
        def _internal_update(self, doc_id, update_spec, *args, **kwargs):
            current = update_spec.get("$currentDate") if isinstance(update_spec, dict) else None
            if isinstance(current, dict) and all(
                t is True or (isinstance(t, dict) and t.get("$type") == "date") for t in current.values()
            ):
                now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
                now = now.replace(microsecond=now.microsecond // 1000 * 1000)
                update_spec = {op: arg for op, arg in update_spec.items() if op != "$currentDate"}
                update_spec["$set"] = {**update_spec.get("$set", {}), **{f: now for f in current}}
            return original(self, doc_id, update_spec, *args, **kwargs)

        return _internal_update

    _wrap(QueryHelper, "_internal_update", patch, ("doc_id", "update_spec"), make_current_date)


# --------------------------------------------------------------------------
# Patch 1b: findAndModify upsert ignores $setOnInsert
# --------------------------------------------------------------------------
# MongoDB applies $setOnInsert when findAndModify inserts. neosqlite's
# find_one_and_update upserts by inserting the filter's equality fields and
# then running update_one on the new document, where $setOnInsert is a no-op,
# so those fields are lost. update_one(upsert=True) does it right; use it when
# nothing matches.


def patch_find_one_and_update_upsert() -> None:
    from neosqlite.collection import Collection

    patch = "1b findAndModify upsert with $setOnInsert"
    signature = inspect.signature(
        _need(Collection, "find_one_and_update", patch,
              ("filter", "update", "projection", "sort", "upsert", "return_document", "array_filters", "session"))
    )

    def make(original):
        def find_one_and_update(self, *args, **kwargs):
            a = signature.bind(self, *args, **kwargs)
            a.apply_defaults()
            p = a.arguments
            update = p["update"]
            if p["upsert"] and isinstance(update, dict) and "$setOnInsert" in update:
                if self.find_one(p["filter"], session=p["session"]) is None:
                    res = self.update_one(p["filter"], update, upsert=True,
                                          array_filters=p["array_filters"], session=p["session"])
                    if p["return_document"] and res.upserted_id is not None:
                        return self.find_one({"_id": res.upserted_id}, p["projection"], session=p["session"])
                    return None
            return original(self, *args, **kwargs)

        return find_one_and_update

    _wrap(Collection, "find_one_and_update", patch, (), make)


# --------------------------------------------------------------------------
# Patch 2: compound index containing _id
# --------------------------------------------------------------------------
# MongoDB indexes {nameFolded: 1, _id: 1} like any other key. neosqlite keeps
# _id in its own column, but the compound branch (and the one-tuple branch) of
# IndexManager.create_index index json_extract(data, '_id'), a malformed JSON
# path: on an empty table CREATE INDEX succeeds and every later insert fails
# with "JSON path error near '_id'"; on a non-empty table CREATE INDEX fails.
# Its single-string branch already maps _id to the column (neosqlite #113);
# this does the same for tuple keys. A key of just [("_id", d)] is MongoDB's
# built-in _id_ index: nothing to create.


def _tuple_key(key):
    if isinstance(key, list) and key and all(isinstance(k, tuple) and len(k) == 2 for k in key):
        return key
    return None


def patch_compound_index_on_id() -> None:
    from neosqlite.collection import index_manager as im

    patch = "2 compound index containing _id"
    for helper in ("parse_json_path", "quote_identifier", "quote_table_name", "_store_index_keys"):
        _need(im, helper, patch)
    signature = inspect.signature(
        _need(im.IndexManager, "create_index", patch, ("key", "unique", "fts", "datetime_field", "expireAfterSeconds"))
    )

    def make(original):
        def create_index(self, *args, **kwargs):
            a = signature.bind(self, *args, **kwargs)
            a.apply_defaults()
            p = a.arguments
            key = _tuple_key(p["key"])
            if key is None or p["fts"] or p["datetime_field"] or any(d == "text" for _, d in key):
                return original(self, *args, **kwargs)
            fields = [f for f, _ in key]
            if "_id" not in fields:
                return original(self, *args, **kwargs)
            if fields == ["_id"]:
                return "_id_"
            if p["expireAfterSeconds"] is not None:
                raise ValueError("expireAfterSeconds requires a single-field index; compound indexes do not support TTL")
            # The compound branch of the original, with _id mapped to its column.
            prefix = self.jsonb.json_function_prefix
            columns = ", ".join(
                im.quote_identifier("_id") if f == "_id" else f"{prefix}_extract(data, '{im.parse_json_path(f)}')"
                for f in fields
            )
            sqlite_name = f"idx_{self.collection.name}_{'_'.join(fields).replace('.', '_')}"
            self.collection.db.execute(
                f"CREATE {'UNIQUE ' if p['unique'] else ''}INDEX IF NOT EXISTS "
                f"{im.quote_identifier(sqlite_name)} ON {im.quote_table_name(self.collection.name)}({columns})"
            )
            im._store_index_keys(self.collection.db, sqlite_name, fields)
            return sqlite_name

        return create_index

    _wrap(im.IndexManager, "create_index", patch, (), make)


# --------------------------------------------------------------------------
# Patch 3: index names, keys and options in createIndexes / listIndexes
# --------------------------------------------------------------------------
# MongoDB keeps the name given to createIndexes, lists the full key pattern in
# order with its directions and "unique: true", refuses a second index with
# the same name but another key (86 IndexKeySpecsConflict) or the same key
# under another name (85 IndexOptionsConflict), treats a repeat of an existing
# index as a no-op, and answers dropIndexes of an unknown name with 27
# IndexNotFound. NX-27017 names every index idx_<coll>_<fields>, ignores the
# given name, rebuilds listIndexes from the SQLite DDL (every direction becomes
# 1, keys on the _id column are lost), and drops by guessing
# idx_<coll>_<name minus "_1">. The SQLite index keeps neosqlite's name (its
# planner, drop and list code rely on it); the MongoDB view of it is recorded
# in _META and served by listIndexes, dropIndexes and the duplicate-key
# messages (patch 4).


def _key_of(key):
    if isinstance(key, str):
        return [(key, 1)]
    if isinstance(key, list) and key and all(isinstance(k, str) for k in key):
        return [(k, 1) for k in key]
    return _tuple_key(key)


def patch_index_names() -> None:
    from neosqlite.collection import index_manager as im
    from nx_27017.handler import NeoSQLiteHandler

    patch = "3 index names and listIndexes"
    signature = inspect.signature(
        _need(im.IndexManager, "create_index", patch, ("key", "unique", "fts", "datetime_field", "name"))
    )

    def make_create(original):
        def create_index(self, *args, **kwargs):
            a = signature.bind(self, *args, **kwargs)
            a.apply_defaults()
            p = a.arguments
            key = _key_of(p["key"])
            if key is None or p["fts"] or p["datetime_field"] or any(d == "text" for _, d in key):
                return original(self, *args, **kwargs)  # FTS/datetime indexes: not modelled
            if [f for f, _ in key] == ["_id"]:
                return original(self, *args, **kwargs)  # the built-in _id_ (patch 2)
            coll, raw_db = self.collection.name, self.collection.db
            name = p["name"] or _default_index_name(key)
            unique = bool(p["unique"])
            live = _meta_rows(raw_db, collection=coll)
            for row in live:
                if row["name"] == name:
                    if not _same_key(row["key"], key):
                        raise MongoCommandError(
                            86, "IndexKeySpecsConflict",
                            f"An existing index has the same name as the requested index but a different key. "
                            f"Requested index: {{ key: {_shell_value(dict(key))}, name: \"{name}\" }}, "
                            f"existing index: {{ key: {_shell_value(dict(row['key']))}, name: \"{name}\" }}",
                        )
                    if row["unique"] != unique:
                        raise MongoCommandError(
                            85, "IndexOptionsConflict",
                            f"An existing index has the same name as the requested index but different options: {name}",
                        )
                    return row["sqlite_name"]  # same name, key and options: a no-op, like mongod
                if _same_key(row["key"], key):
                    raise MongoCommandError(
                        85, "IndexOptionsConflict",
                        f"Index already exists with a different name: {row['name']}",
                    )
            before = {r[0] for r in raw_db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (coll,)).fetchall()}
            sqlite_name = original(self, *args, **kwargs)
            if sqlite_name in before and _meta_rows(raw_db, sqlite_name=sqlite_name):
                # Another MongoDB index (other directions, or fields that map to the
                # same SQLite name) already owns this SQLite index: nothing was created.
                raise MongoCommandError(
                    67, "CannotCreateIndex",
                    f"NX-27017 cannot hold index {name} {_shell_value(dict(key))}: its SQLite index "
                    f"{sqlite_name} already serves another index on the same fields",
                )
            _meta_table(raw_db)
            raw_db.execute(
                f"INSERT OR REPLACE INTO {_META} (sqlite_name, collection, name, key_json, is_unique) "
                "VALUES (?, ?, ?, ?, ?)",
                (sqlite_name, coll, name, json.dumps(key), int(unique)),
            )
            return sqlite_name

        return create_index

    def make_drop(original):
        def drop_index(self, index, *args, **kwargs):
            if index == "_id_":
                raise MongoCommandError(72, "InvalidOptions", "cannot drop _id index")
            wanted = _key_of(list(index.items())) if isinstance(index, dict) else None
            for row in _meta_rows(self.collection.db, collection=self.collection.name):
                if row["name"] == index or (wanted and _same_key(row["key"], wanted)):
                    result = original(self, row["sqlite_name"], *args, **kwargs)
                    self.collection.db.execute(f"DELETE FROM {_META} WHERE sqlite_name = ?", (row["sqlite_name"],))
                    return result
            if isinstance(index, str) and not self.collection.db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)).fetchone():
                # NX would guess idx_<coll>_<name minus _1> and may drop an index
                # known under another name; mongod refuses an unknown name.
                raise MongoCommandError(27, "IndexNotFound", f"index not found with name [{index}]")
            return original(self, index, *args, **kwargs)

        return drop_index

    def make_list(original):
        def _handle_list_indexes(self, request_id, db, coll_name, *args, **kwargs):
            request_id, response = original(self, request_id, db, coll_name, *args, **kwargs)
            batch = response.get("cursor", {}).get("firstBatch")
            if not coll_name or not isinstance(batch, list):
                return request_id, response
            described = {r["sqlite_name"]: r for r in _meta_rows(db.db, collection=coll_name)}
            for entry in batch:
                row = described.get(entry.get("name"))
                if row is None:
                    continue
                entry["key"] = dict(row["key"])
                entry["name"] = row["name"]
                if row["unique"]:
                    entry["unique"] = True
                else:
                    entry.pop("unique", None)
            return request_id, response

        return _handle_list_indexes

    _wrap(im.IndexManager, "create_index", patch, (), make_create)
    _wrap(im.IndexManager, "drop_index", patch, ("index",), make_drop)
    _wrap(NeoSQLiteHandler, "_handle_list_indexes", patch, ("request_id", "db", "coll_name"), make_list)


# --------------------------------------------------------------------------
# Patch 4: duplicate-key errors in MongoDB's form
# --------------------------------------------------------------------------
# mongod answers a write that breaks a unique index with code 11000 and
#   E11000 duplicate key error collection: <db>.<coll> index: <name> dup key: { <field>: <value> }
# plus keyPattern/keyValue. NX-27017 passes SQLite's text through
# ("UNIQUE constraint failed: services._id", "... index 'idx_u_email'").
# Every document write in neosqlite (insert, update, replace; alone, upserted,
# in findAndModify or in a bulk) goes through QueryHelper._internal_insert,
# _internal_update or _internal_replace; their UNIQUE failures are re-raised
# as the same exception class with mongod's message (NX's code mapping keys
# on the class), and NX's writeError builder adds keyPattern/keyValue.


def patch_duplicate_key_errors() -> None:
    from neosqlite.collection.query_helper import QueryHelper
    from nx_27017 import handler as h

    patch = "4 duplicate-key errors"

    def translating(original, new_doc_of):
        def method(self, *args, **kwargs):
            try:
                return original(self, *args, **kwargs)
            except Exception as exc:
                new = _duplicate_key_error(self, exc, lambda fields: new_doc_of(self, fields, *args, **kwargs))
                if new is None:
                    raise
                raise new from exc

        return method

    def inserted(self, fields, document, *a, **k):
        return {f: _get_path(document, f) for f in fields}

    def updated(self, fields, doc_id, update_spec, original_doc, *a, **k):
        # Approximate: a field's $set/$setOnInsert value, else its value before the update.
        out = {}
        for f in fields:
            for op in ("$set", "$setOnInsert"):
                if isinstance(update_spec.get(op), dict) and f in update_spec[op]:
                    out[f] = update_spec[op][f]
                    break
            else:
                out[f] = _get_path(original_doc, f)
        return out

    def replaced(self, fields, doc_id, replacement, *a, **k):
        out = {f: _get_path(replacement, f) for f in fields}
        if "_id" in out and out["_id"] is None:
            row = self.collection.db.execute(
                f'SELECT _id FROM "{self.collection.name}" WHERE id = ?', (doc_id,)).fetchone()
            out["_id"] = row[0] if row else None
        return out

    _wrap(QueryHelper, "_internal_insert", patch, ("document",), lambda o: translating(o, inserted))
    _wrap(QueryHelper, "_internal_update", patch, ("doc_id", "update_spec", "original_doc"),
          lambda o: translating(o, updated))
    _wrap(QueryHelper, "_internal_replace", patch, ("doc_id", "replacement"), lambda o: translating(o, replaced))

    def make_write_error(original):
        def _bulk_write_error(exc, index):
            error = original(exc, index)
            if hasattr(exc, "nx_key_pattern"):
                error["code"] = 11000
                error["keyPattern"] = exc.nx_key_pattern
                error["keyValue"] = exc.nx_key_value
            return error

        return _bulk_write_error

    _wrap(h, "_bulk_write_error", patch, ("exc", "index"), make_write_error)


# --------------------------------------------------------------------------
# Patch 5: findAndModify swallows errors
# --------------------------------------------------------------------------
# mongod answers a findAndModify whose write fails with an error (a duplicate
# key: code 11000, DuplicateKey). NX-27017's handler catches every exception of
# find_one_and_update/replace/delete and answers {ok: 1, value: null}, as if
# nothing matched, so the client sees "not found" and the write silently did
# not happen. The neosqlite calls record their exception for the request, and
# the handle_command wrapper turns such an answer into mongod's error reply.
# The same wrapper answers MongoCommandError (patch 3) with its code, and
# remembers the request's database name for the messages of patch 4.


def patch_command_errors() -> None:
    from neosqlite.collection import Collection
    from nx_27017 import handler as h

    patch = "5 findAndModify errors"
    _need(h, "_msg_db_name", patch)

    def recording(original):
        def method(self, *args, **kwargs):
            try:
                return original(self, *args, **kwargs)
            except Exception as exc:
                if getattr(_tls, "recording", False):
                    _tls.error = exc
                raise

        return method

    for name in ("find_one_and_update", "find_one_and_replace", "find_one_and_delete"):
        _wrap(Collection, name, patch, ("filter",), recording)

    def body_of(msg):
        for section_type, doc in (msg.get("sections") or []) if isinstance(msg, dict) else []:
            if section_type == "body" and isinstance(doc, dict):
                return doc
        return {}

    def error_reply(exc):
        if hasattr(exc, "nx_key_pattern"):
            return {"ok": 0, "errmsg": str(exc), "code": 11000, "codeName": "DuplicateKey",
                    "keyPattern": exc.nx_key_pattern, "keyValue": exc.nx_key_value}
        return {"ok": 0, "errmsg": str(exc), "code": 8, "codeName": "UnknownError"}

    def make_command(original):
        def handle_command(self, msg, *args, **kwargs):
            _tls.db_name = h._msg_db_name(msg)
            find_and_modify = "findAndModify" in body_of(msg)
            _tls.recording, _tls.error = find_and_modify, None
            try:
                request_id, response = original(self, msg, *args, **kwargs)
            except MongoCommandError as exc:
                return msg.get("request_id", 0), {"ok": 0, "errmsg": exc.errmsg, "code": exc.code,
                                                  "codeName": exc.code_name}
            finally:
                _tls.recording = False
            error, _tls.error = _tls.error, None
            if find_and_modify and error is not None and response.get("ok") == 1 and response.get("value") is None:
                return request_id, error_reply(error)
            return request_id, response

        return handle_command

    def make_insert(original):
        def handle_insert(self, msg, *args, **kwargs):
            _tls.db_name = h._msg_db_name(msg)
            return original(self, msg, *args, **kwargs)

        return handle_insert

    def make_open(original):
        def _open_db_conn(self, db_name, *args, **kwargs):
            conn = original(self, db_name, *args, **kwargs)
            conn._nx_faithful_db_name = db_name  # one connection per logical database
            return conn

        return _open_db_conn

    _wrap(h.NeoSQLiteHandler, "handle_command", patch, ("msg",), make_command)
    _wrap(h.NeoSQLiteHandler, "handle_insert", patch, ("msg",), make_insert)
    _wrap(h.NeoSQLiteHandler, "_open_db_conn", patch, ("db_name",), make_open)


# --------------------------------------------------------------------------
# Patch 6: {field: null} in the Python query tier
# --------------------------------------------------------------------------
# MongoDB's {f: null} matches documents where f is null *or* missing. The SQL
# tier gets it right (json_extract(...) IS NULL); neosqlite's Python matcher
# (QueryHelper._apply_query, used whenever SQL translation falls back: find
# with $or/$and or an ObjectId value, updates, and every aggregation $match
# that runs in Python, e.g. count_documents) only matches a *missing* f: an
# explicit null is skipped when leaf values are collected. So
# count_documents({f: null}) disagreed with find, and {x: 1, f: null} missed
# documents holding f: null. The wrapper decides plain null conditions itself
# and hands the rest of the query to the original.


def _null_or_missing(node, parts) -> bool:
    if not parts:
        return node is None or (isinstance(node, list) and any(x is None for x in node))
    if isinstance(node, dict):
        return parts[0] not in node or _null_or_missing(node[parts[0]], parts[1:])
    if isinstance(node, list):  # a path through an array: any element may match
        if parts[0].isdigit():
            i = int(parts[0])
            return i >= len(node) or _null_or_missing(node[i], parts[1:])
        # (as the SQL tier's json_extract(...) IS NULL: a path into an array of
        # scalars or an empty array resolves to nothing)
        return not node or any(_null_or_missing(el, parts) for el in node)
    return True  # the path runs through a scalar: the field is missing


def patch_null_equality() -> None:
    from neosqlite.collection.query_helper import QueryHelper

    patch = "6 {field: null} in the Python tier"

    def make(original):
        def _apply_query(self, query, document, *args, **kwargs):
            if isinstance(query, dict) and isinstance(document, dict):
                nulls = [f for f, v in query.items() if v is None and not f.startswith("$")]
                if nulls:
                    if not all(_null_or_missing(document, f.split(".")) for f in nulls):
                        return False
                    rest = {f: v for f, v in query.items() if f not in nulls}
                    return original(self, rest, document, *args, **kwargs) if rest else True
            return original(self, query, document, *args, **kwargs)

        return _apply_query

    _wrap(QueryHelper, "_apply_query", patch, ("query", "document"), make)


# --------------------------------------------------------------------------
# Patch 7: equality with an ObjectId on a field other than _id
# --------------------------------------------------------------------------
# MongoDB matches {sessionId: ObjectId(...)} against the ObjectId stored there
# (and never against the string of its hex). neosqlite stores such a field as
# {"__neosqlite_objectid__": true, "id": "<hex>"}, but every query first goes
# through type_correction.normalize_id_query_for_db, which turns an ObjectId
# in any field other than _id into its hex *string*; the SQL tier then
# compares json_extract(data, '$.sessionId') with that string, which never
# matches. So find, count, update_one/many, findAndModify and delete on an
# ObjectId field matched nothing. Two parts:
#   a) the normalizer keeps ObjectIds outside _id/id (it still does its _id/id
#      work, by calling the original on those keys);
#   b) both SQL builders (QueryHelper._build_simple_where_clause: find;
#      SQLTranslator.translate_match: update/findAndModify/delete/count/$match)
#      give up on a query holding an ObjectId outside _id, as neosqlite's
#      SQLOperatorTranslator already does for {$eq/$in/$ne: ObjectId}
#      ("ObjectId values cannot be bound"), so the Python tier, which compares
#      ObjectIds by value, decides. _id keeps its SQL path (its own column).


def _contains_object_id(value) -> bool:
    if type(value).__name__ == "ObjectId":
        return True
    if isinstance(value, dict):
        return any(_contains_object_id(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_object_id(v) for v in value)
    return False


def _object_id_outside_id(query) -> bool:
    if not isinstance(query, dict):
        return False
    for field, value in query.items():
        if field in ("$and", "$or", "$nor"):
            if isinstance(value, list) and any(_object_id_outside_id(q) for q in value):
                return True
        elif field.startswith("$") or field == "_id":
            continue
        elif _contains_object_id(value):
            return True
    return False


def _distinct_in_python(collection, key, filter, session):
    """distinct computed over find(filter), for filters neosqlite's distinct would drop."""
    values = []
    for doc in collection.find(filter, session=session):
        value = _get_path(doc, key)
        for v in (value if isinstance(value, list) else [value]):
            if v is not None and v not in values:
                values.append(v)
    return values


def patch_object_id_equality() -> None:
    from neosqlite.collection import type_correction
    from neosqlite.collection import query_helper as qh
    from neosqlite.collection.query_helper import QueryHelper
    from neosqlite.collection.query_helper import _sql_query_builder as sqb
    from neosqlite.collection.sql_translator_unified import SQLTranslator

    patch = "7 ObjectId equality outside _id"

    def make_normalize(original):
        def normalize_id_query_for_db(query):
            if not isinstance(query, dict):
                return original(query)
            out = {}
            for key, value in query.items():
                if key in ("_id", "id"):
                    out.update(original({key: value}))  # neosqlite's own _id/id handling
                elif isinstance(value, dict):
                    out[key] = normalize_id_query_for_db(value)
                elif isinstance(value, list):
                    out[key] = [normalize_id_query_for_db(v) if isinstance(v, dict) else v for v in value]
                else:
                    out[key] = value  # an ObjectId stays an ObjectId
            return out

        return normalize_id_query_for_db

    # The function and the two modules that imported it by name.
    for module in (type_correction, qh, sqb):
        _wrap(module, "normalize_id_query_for_db", patch, ("query",), make_normalize)

    def make_helper(original):
        def _build_simple_where_clause(self, query, *args, **kwargs):
            if _object_id_outside_id(query):
                return None  # "use the Python tier"
            return original(self, query, *args, **kwargs)

        return _build_simple_where_clause

    def make_translator(original):
        def translate_match(self, match_spec, *args, **kwargs):
            if _object_id_outside_id(match_spec):
                return None, []  # "use the Python tier"
            return original(self, match_spec, *args, **kwargs)

        return translate_match

    _wrap(QueryHelper, "_build_simple_where_clause", patch, ("query",), make_helper)
    _wrap(SQLTranslator, "translate_match", patch, ("match_spec",), make_translator)

    # distinct takes a filter that translate_match gives up on as "no filter";
    # for the filters (b) now sends to Python, compute distinct in Python.
    from neosqlite.collection import Collection

    def make_distinct(original):
        def distinct(self, key, filter=None, *args, **kwargs):
            if not (filter and _object_id_outside_id(self.query_engine.helpers._normalize_id_query(filter))):
                return original(self, key, filter, *args, **kwargs)
            return _distinct_in_python(self, key, filter, kwargs.get("session"))

        return distinct

    _wrap(Collection, "distinct", patch, ("key", "filter"), make_distinct)


# --------------------------------------------------------------------------
# Patch 8: ObjectIds in aggregate / count / distinct
# --------------------------------------------------------------------------
# The handler converts the driver's bson.ObjectId into neosqlite's ObjectId in
# the filters of find/update/delete/findAndModify/insert, but not in an
# aggregate pipeline, a count query or a distinct query. There a bson
# ObjectId never equals a stored one: count_documents({_id: oid}) (an
# aggregate) answered 0, and distinct with an ObjectId in its filter failed
# with "Error binding parameter 1: type 'ObjectId' is not supported". The
# wrapper converts those parts of the command with the handler's own
# converter before the handler sees them.


def patch_command_object_ids() -> None:
    from nx_27017.handler import NeoSQLiteHandler

    patch = "8 ObjectIds in aggregate/count/distinct"
    _need(NeoSQLiteHandler, "_convert_objectids", patch, ("doc",))
    parts = {"aggregate": "pipeline", "count": "query", "distinct": "query"}

    def make(original):
        def handle_command(self, msg, *args, **kwargs):
            for section_type, body in msg.get("sections") or []:
                if section_type == "body" and isinstance(body, dict):
                    for command, part in parts.items():
                        if command in body and part in body:
                            body[part] = self._convert_objectids(body[part])
            return original(self, msg, *args, **kwargs)

        return handle_command

    _wrap(NeoSQLiteHandler, "handle_command", patch, ("msg",), make)


# --------------------------------------------------------------------------
# Patch 9: Dates in filters compared to the second (or not at all)
# --------------------------------------------------------------------------
# MongoDB compares BSON Dates to the millisecond. neosqlite stores a Date as
# {"$date": "<isoformat>"} and has three SQL builders for filters:
#   a) SQLOperatorTranslator.translate_operator (find's datetime processor;
#      translate_match: update, findAndModify, delete, count, distinct, the
#      temp-table aggregation tier) wraps both sides in SQLite's datetime(),
#      which drops the fractional seconds ("YYYY-MM-DD HH:MM:SS"): within one
#      second $lt/$gt match nothing, $lte/$gte/$eq everything, $ne nothing
#      (and $ne also skipped documents without the field);
#   b) QueryHelper._build_field_clause/_build_operator_clause (the legacy SQL
#      aggregation tier, explain, raw batches, $graphLookup restrictions) and
#   c) StageBuildersMixin._build_match_sql (the CTE aggregation tier 1)
#      bind the datetime itself: sqlite3 turns it into the text
#      '2026-11-27 03:54:40.130000', compared with the stored JSON object text
#      '{"$date":...}', so $gt/$gte/$ne match every document and $lt/$lte/$eq
#      none, whatever the dates.
# So find with {createdAt: {$gte, $lt}} within one second returned nothing,
# aggregate $match {$gt} everything, findAndModify/update matched the wrong
# documents, while count (which happens to end in Python) was right. The
# comparisons with a datetime operand become one expression for (a) and (b):
# strftime('%Y-%m-%d %H:%M:%f', ...) of the stored "$date" and of the operand,
# i.e. UTC to the millisecond (SQLite's date parser keeps milliseconds
# exactly; checked at start-up). Only a stored Date matches (mongod's type
# bracketing), $ne also matches documents without a Date there, like mongod.
# Date operands these builders cannot express ($in/$nin lists of Dates, Dates
# inside $elemMatch/$not/..., Date equality on _id) give up on SQL, and (c)
# gives up on a $match holding a Date: neosqlite's next tier or its Python
# tier, which compares datetimes by value, decides.

_DATE_SQL_OPS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=", "$ne": "!="}
_MS_FORMAT = "%Y-%m-%d %H:%M:%f"


def _ms(expr: str) -> str:
    return f"strftime('{_MS_FORMAT}', {expr})"


def _date_condition(field_access: str, op: str, value) -> tuple[str, list] | None:
    """SQL comparing the Date at field_access (json[b]_extract(data, '<path>'))
    with the datetime value to the millisecond, as mongod does; None if the
    field expression is not of that form."""
    if op not in _DATE_SQL_OPS or not isinstance(value, datetime.datetime):
        return None
    if not re.fullmatch(r"jsonb?_extract\(\w+, '\$[^']*'\)", field_access):
        return None
    stored = _ms(field_access[:-2] + '."$date"\')')  # the ISO text neosqlite stores, UTC-normalised
    sql_op = _DATE_SQL_OPS[op]
    if op == "$ne":
        return f"({stored} IS NULL OR {stored} != {_ms('?')})", [value.isoformat()]
    return f"{stored} {sql_op} {_ms('?')}", [value.isoformat()]


def _check_sqlite_milliseconds(patch: str) -> None:
    """The SQLite neosqlite runs on (sqlite3 or pysqlite3) parses and prints milliseconds exactly."""
    from neosqlite import _sqlite

    probe = "2026-11-27T03:54:40.123000"
    conn = _need(_sqlite, "sqlite3", patch).connect(":memory:")
    try:
        got = tuple(conn.execute(f"SELECT {_ms('?')}, {_ms('?')}", (probe, probe[:19] + ".999+02:00")).fetchone())
    finally:
        conn.close()
    if got != ("2026-11-27 03:54:40.123", "2026-11-27 01:54:40.999"):
        _die(f"patch '{patch}': this SQLite's strftime('{_MS_FORMAT}') gives {got}, not milliseconds in UTC.")


def patch_date_comparisons() -> None:
    from neosqlite.collection import Collection
    from neosqlite.collection._stage_builders import StageBuildersMixin
    from neosqlite.collection.query_helper import QueryHelper
    from neosqlite.collection.sql_tier_aggregator import SQLTierAggregator
    from neosqlite.collection.sql_translator_unified import SQLOperatorTranslator

    patch = "9 dates compared to the millisecond"
    _check_sqlite_milliseconds(patch)

    # (a)
    def make_translator(original):
        def translate_operator(self, field_access, operator, value, *args, **kwargs):
            if _contains_datetime(value):
                return _date_condition(field_access, operator, value) or (None, [])  # None: Python tier
            return original(self, field_access, operator, value, *args, **kwargs)

        return translate_operator

    _wrap(SQLOperatorTranslator, "translate_operator", patch, ("field_access", "operator", "value"),
          make_translator)

    # (b)
    def make_operator_clause(original):
        def _build_operator_clause(self, json_path, operators, *args, **kwargs):
            if not isinstance(operators, dict):
                return original(self, json_path, operators, *args, **kwargs)
            dated = {op: v for op, v in operators.items() if _contains_datetime(v)}
            if not dated:
                return original(self, json_path, operators, *args, **kwargs)
            field_access = f"{self.jsonb.json_function_prefix}_extract(data, {json_path})"
            clauses, params = [], []
            for op, value in dated.items():
                condition = _date_condition(field_access, op, value)
                if condition is None:
                    return None, []  # Python tier
                clauses.append(condition[0])
                params.extend(condition[1])
            rest = {op: v for op, v in operators.items() if op not in dated}
            if rest:
                clause, rest_params = original(self, json_path, rest, *args, **kwargs)
                if clause is None:
                    return None, []
                clauses.append(clause)
                params.extend(rest_params)
            return " AND ".join(clauses), params

        return _build_operator_clause

    def make_field_clause(original):
        def _build_field_clause(self, field, value, *args, **kwargs):
            if isinstance(value, datetime.datetime):  # {f: Date} is {f: {$eq: Date}}
                if field == "_id":
                    return None  # Python tier
                return original(self, field, {"$eq": value}, *args, **kwargs)
            return original(self, field, value, *args, **kwargs)

        return _build_field_clause

    _wrap(QueryHelper, "_build_operator_clause", patch, ("json_path", "operators"), make_operator_clause)
    _wrap(QueryHelper, "_build_field_clause", patch, ("field", "value"), make_field_clause)

    # (c)
    def make_match_sql(original):
        def _build_match_sql(self, spec, *args, **kwargs):
            if _contains_datetime(spec):
                return None, []  # the next aggregation tier ((b) or the temp-table tier with (a))
            return original(self, spec, *args, **kwargs)

        return _build_match_sql

    _wrap(StageBuildersMixin, "_build_match_sql", patch, ("spec", "prev_stage", "context"), make_match_sql)
    if getattr(SQLTierAggregator._build_match_sql, "__nx_faithful_patch__", None) != patch:
        _die(f"patch '{patch}': SQLTierAggregator overrides _build_match_sql; patch it there.")

    # distinct treats a filter translate_match gives up on as no filter (see
    # patch 7): one that (a) sent to the Python tier is computed over find.
    def make_distinct(original):
        def distinct(self, key, filter=None, *args, **kwargs):
            if filter and _contains_datetime(filter):
                normalized = self.query_engine.helpers._normalize_id_query(filter)
                if self.query_engine.sql_translator.translate_match(normalized)[0] is None:
                    return _distinct_in_python(self, key, filter, kwargs.get("session"))
            return original(self, key, filter, *args, **kwargs)

        return distinct

    _wrap(Collection, "distinct", patch, ("key", "filter"), make_distinct)


# --------------------------------------------------------------------------

PATCHES = (
    patch_dates_in_updates,
    patch_find_one_and_update_upsert,
    patch_compound_index_on_id,   # inner create_index wrapper: must come before 3
    patch_index_names,
    patch_duplicate_key_errors,
    patch_command_errors,
    patch_null_equality,
    patch_object_id_equality,
    patch_command_object_ids,
    patch_date_comparisons,
)


def apply_patches() -> None:
    _check_versions()
    try:
        import neosqlite  # noqa: F401
        import nx_27017  # noqa: F401
    except ImportError as exc:
        _die(f"cannot import NX-27017: {exc}")
    for apply in PATCHES:
        apply()
    print(f"{PREFIX}: {len(PATCHES)} MongoDB-fidelity patches applied (docs/mongodb-emulator.md)",
          file=sys.stderr)


def main():
    apply_patches()
    from nx_27017.nx_27017 import main as nx_main

    sys.argv[0] = "nx-27017"  # the same argparse prog/behaviour as the nx-27017 command
    return nx_main()


if __name__ == "__main__":
    sys.exit(main())
