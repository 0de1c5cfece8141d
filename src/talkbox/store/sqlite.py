"""The embedded default store: one SQLite file in WAL mode that survives restarts.

Writers take ``BEGIN IMMEDIATE`` so that several processes sharing the file serialise their
read-modify-write of a room instead of losing updates; readers never block in WAL mode.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from talkbox import events as ev
from talkbox.errors import Conflict, NotFound
from talkbox.model import Conference, ConferenceStatus
from talkbox.store.base import ApiToken, Change, LoggedEvent, Store, User, parties_of
from talkbox.store.cache import LRU, find_cached
from talkbox.store.codec import dumps, loads, lookup_key, lookup_keys

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conferences (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conferences_live ON conferences(status, created_at);
CREATE TABLE IF NOT EXISTS lookup (
    key TEXT PRIMARY KEY,
    conference_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    conference_id TEXT,
    parties TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS provider_state (
    provider TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (provider, key)
);
"""


def _party_column(parties: frozenset[str]) -> str:
    # Space-delimited so that ``instr(parties, ' client:al ')`` matches whole endpoints only.
    return " " + " ".join(sorted(parties)) + " "


class SQLiteStore(Store):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._lookups: LRU[str, str] = LRU(100_000)  # immutable once written: safe to cache
        self._db = sqlite3.connect(
            str(path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path} was written by a newer talkbox (schema {version}); upgrade talkbox"
                )
            # Every statement is IF NOT EXISTS: older files gain the newer tables in place.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _write(
        self,
        db: sqlite3.Connection,
        conf: Conference,
        events: Sequence[ev.Event],
        insert: bool,
        previous: Conference | None = None,
    ) -> list[LoggedEvent]:
        if insert:
            try:
                db.execute(
                    "INSERT INTO conferences(id, status, created_at, data) VALUES (?,?,?,?)",
                    (conf.id, conf.status.value, conf.created_at, dumps(conf)),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"conference {conf.id!r} already exists") from None
        else:
            db.execute(
                "UPDATE conferences SET status=?, data=? WHERE id=?",
                (conf.status.value, dumps(conf), conf.id),
            )
        # Lookup keys never change once written: insert only the ones this change adds.
        known = set(lookup_keys(previous)) if previous is not None else set()
        new_keys = [key for key in lookup_keys(conf) if key not in known]
        db.executemany(
            "INSERT OR REPLACE INTO lookup(key, conference_id) VALUES (?,?)",
            [(key, conf.id) for key in new_keys],
        )
        parties = parties_of(conf)
        column = _party_column(parties)
        logged = []
        for event in events:
            cursor = db.execute(
                "INSERT INTO events(at, type, conference_id, parties, data) VALUES (?,?,?,?,?)",
                (event.at, event.name, conf.id, column, json.dumps(ev.to_dict(event))),
            )
            assert cursor.lastrowid is not None
            logged.append(LoggedEvent(cursor.lastrowid, event, parties))
        return logged

    def add(self, conference: Conference, events: Sequence[ev.Event] = ()) -> list[LoggedEvent]:
        with self._transaction() as db:
            return self._write(db, conference, events, insert=True)

    def update(
        self, conference_id: str, change: Callable[[Conference], Change]
    ) -> tuple[Conference, list[LoggedEvent]]:
        with self._transaction() as db:
            current = self._get(db, conference_id)
            result = change(current)
            if result is None:
                return current, []
            new, events = result
            return new, self._write(db, new, events, insert=False, previous=current)

    def _get(self, db: sqlite3.Connection, conference_id: str) -> Conference:
        row = db.execute("SELECT data FROM conferences WHERE id=?", (conference_id,)).fetchone()
        if row is None:
            raise NotFound("conference", conference_id)
        return loads(row[0])

    def get(self, conference_id: str) -> Conference:
        with self._lock:
            return self._get(self._db, conference_id)

    def find(
        self,
        *,
        call_id: str | None = None,
        provider_call_id: str | None = None,
        provider_conference_id: str | None = None,
    ) -> str | None:
        def fetch(key: str) -> str | None:
            with self._lock:
                row = self._db.execute(
                    "SELECT conference_id FROM lookup WHERE key=?", (key,)
                ).fetchone()
            return str(row[0]) if row else None

        keys = lookup_key(call_id, provider_call_id, provider_conference_id)
        return find_cached(self._lookups, keys, fetch)

    def live(self) -> list[Conference]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM conferences WHERE status != ? ORDER BY created_at, id",
                (ConferenceStatus.ENDED.value,),
            ).fetchall()
        return [loads(row[0]) for row in rows]

    def _rows_to_events(self, rows: list[tuple[int, str, str]]) -> list[LoggedEvent]:
        return [
            LoggedEvent(row[0], ev.from_dict(json.loads(row[1])), frozenset(row[2].split()))
            for row in rows
        ]

    def events(
        self, after: int = 0, *, limit: int = 1000, party: str | None = None
    ) -> list[LoggedEvent]:
        sql = "SELECT id, data, parties FROM events WHERE id > ?"
        args: list[object] = [after]
        if party is not None:
            sql += " AND instr(parties, ?) > 0"
            args.append(f" {party} ")
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return self._rows_to_events(rows)

    def history(
        self, *, party: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[LoggedEvent]:
        sql = "SELECT id, data, parties FROM events WHERE type = ?"
        args: list[object] = [ev.ConferenceEnded.name]
        if before is not None:
            sql += " AND id < ?"
            args.append(before)
        if party is not None:
            sql += " AND instr(parties, ?) > 0"
            args.append(f" {party} ")
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return self._rows_to_events(rows)

    def provider_state(self, provider: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM provider_state WHERE provider=?", (provider,)
            ).fetchall()
        return dict(rows)

    def put_provider_state(self, provider: str, changes: Mapping[str, str | None]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM provider_state WHERE provider=? AND key=?",
                [(provider, k) for k, v in changes.items() if v is None],
            )
            db.executemany(
                "INSERT OR REPLACE INTO provider_state(provider, key, value) VALUES (?,?,?)",
                [(provider, k, v) for k, v in changes.items() if v is not None],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- users and API tokens ----------------------------------------------------------------
    def save_user(self, user: User) -> None:
        with self._transaction() as db:
            # An upsert, not INSERT OR REPLACE: a replace deletes the row first, which would
            # cascade to the user's tokens were foreign keys ever switched on.
            db.execute(
                "INSERT INTO users(name, password_hash, created_at) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET password_hash=excluded.password_hash, "
                "created_at=excluded.created_at",
                (user.name, user.password_hash, user.created_at),
            )

    def get_user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, password_hash, created_at FROM users WHERE name=?", (name,)
            ).fetchone()
        return User(*row) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, password_hash, created_at FROM users ORDER BY name"
            ).fetchall()
        return [User(*row) for row in rows]

    def delete_user(self, name: str) -> bool:
        with self._transaction() as db:
            db.execute("DELETE FROM tokens WHERE user=?", (name,))
            return db.execute("DELETE FROM users WHERE name=?", (name,)).rowcount > 0

    _TOKEN_COLUMNS = "id, user, digest, label, created_at"

    def save_token(self, token: ApiToken) -> None:
        with self._transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO tokens({self._TOKEN_COLUMNS}) VALUES (?,?,?,?,?)",
                (token.id, token.user, token.digest, token.label, token.created_at),
            )

    def token_by_digest(self, digest: str) -> ApiToken | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE digest=?", (digest,)
            ).fetchone()
        return ApiToken(*row) if row else None

    def tokens(self, user: str) -> list[ApiToken]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE user=? ORDER BY created_at",
                (user,),
            ).fetchall()
        return [ApiToken(*row) for row in rows]

    def delete_token(self, user: str, token_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM tokens WHERE id=? AND user=?", (token_id, user))
            return cursor.rowcount > 0
