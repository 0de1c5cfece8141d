"""An in-process store: fast, thread-safe, forgets everything when the process ends (tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from talkbox.errors import Conflict, NotFound
from talkbox.events import Event
from talkbox.model import Conference, ConferenceStatus
from talkbox.store.base import (
    ApiToken,
    Change,
    LoggedEvent,
    Store,
    User,
    is_history,
    parties_of,
)
from talkbox.store.codec import lookup_key, lookup_keys


class MemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rooms: dict[str, Conference] = {}
        self._lookup: dict[str, str] = {}
        self._log: list[LoggedEvent] = []
        self._users: dict[str, User] = {}
        self._tokens: dict[str, ApiToken] = {}

    def _log_events(self, conf: Conference, events: Sequence[Event]) -> list[LoggedEvent]:
        parties = parties_of(conf)
        logged = []
        for event in events:
            entry = LoggedEvent(len(self._log) + 1, event, parties)
            self._log.append(entry)
            logged.append(entry)
        return logged

    def _index(self, conf: Conference) -> None:
        for key in lookup_keys(conf):
            self._lookup[key] = conf.id

    def add(self, conference: Conference, events: Sequence[Event] = ()) -> list[LoggedEvent]:
        with self._lock:
            if conference.id in self._rooms:
                raise Conflict(f"conference {conference.id!r} already exists")
            self._rooms[conference.id] = conference
            self._index(conference)
            return self._log_events(conference, events)

    def update(
        self, conference_id: str, change: Callable[[Conference], Change]
    ) -> tuple[Conference, list[LoggedEvent]]:
        with self._lock:
            current = self.get(conference_id)
            result = change(current)
            if result is None:
                return current, []
            new, events = result
            self._rooms[conference_id] = new
            self._index(new)
            return new, self._log_events(new, events)

    def get(self, conference_id: str) -> Conference:
        with self._lock:
            try:
                return self._rooms[conference_id]
            except KeyError:
                raise NotFound("conference", conference_id) from None

    def find(
        self,
        *,
        call_id: str | None = None,
        provider_call_id: str | None = None,
        provider_conference_id: str | None = None,
    ) -> str | None:
        with self._lock:
            for key in lookup_key(call_id, provider_call_id, provider_conference_id):
                if key in self._lookup:
                    return self._lookup[key]
        return None

    def live(self) -> list[Conference]:
        with self._lock:
            rooms = [c for c in self._rooms.values() if c.status is not ConferenceStatus.ENDED]
        return sorted(rooms, key=lambda c: (c.created_at, c.id))

    def events(
        self, after: int = 0, *, limit: int = 1000, party: str | None = None
    ) -> list[LoggedEvent]:
        with self._lock:
            out = []
            for entry in self._log[max(after, 0) :]:
                if party is None or party in entry.parties:
                    out.append(entry)
                    if len(out) >= limit:
                        break
            return out

    def history(
        self, *, party: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[LoggedEvent]:
        with self._lock:
            end = len(self._log) if before is None else max(min(before - 1, len(self._log)), 0)
            out = []
            for entry in reversed(self._log[:end]):
                if is_history(entry.event) and (party is None or party in entry.parties):
                    out.append(entry)
                    if len(out) >= limit:
                        break
            return out

    def save_user(self, user: User) -> None:
        with self._lock:
            self._users[user.name] = user

    def get_user(self, name: str) -> User | None:
        with self._lock:
            return self._users.get(name)

    def users(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    def delete_user(self, name: str) -> bool:
        with self._lock:
            for token in [t for t in self._tokens.values() if t.user == name]:
                del self._tokens[token.id]
            return self._users.pop(name, None) is not None

    def save_token(self, token: ApiToken) -> None:
        with self._lock:
            self._tokens[token.id] = token

    def token_by_digest(self, digest: str) -> ApiToken | None:
        with self._lock:
            return next((t for t in self._tokens.values() if t.digest == digest), None)

    def tokens(self, user: str) -> list[ApiToken]:
        with self._lock:
            return sorted(
                (t for t in self._tokens.values() if t.user == user), key=lambda t: t.created_at
            )

    def delete_token(self, user: str, token_id: str) -> bool:
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None or token.user != user:
                return False
            del self._tokens[token_id]
            return True
