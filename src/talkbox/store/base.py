"""The store port: where rooms, their legs and the event log live.

A :class:`~talkbox.model.Conference` is saved and loaded whole, and every change goes through
:meth:`Store.update`, an atomic read-modify-write that also appends the change's events to the
log in the same transaction. That is what makes "no lost state" cheap: a crash either keeps
the new room *and* its events, or neither, and two processes applying reports to the same
room cannot lose each other's update.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import ClassVar

from talkbox.events import ConferenceEnded, Event
from talkbox.model import Conference

#: What an update callback returns: the new room and the events its change produced, or
#: ``None`` for "nothing changed" (nothing is written).
Change = tuple[Conference, Sequence[Event]] | None


@dataclass(slots=True)
class LockedState:
    """A provider's entries while it holds the lock (see ``Store.provider_state_locked``):
    ``entries`` as stored (None: unchanged since the version the caller knew), and the
    ``changes`` to write as the lock is released (text saves, None deletes). ``version``
    names what is stored once the changes are written."""

    version: str
    entries: dict[str, str] | None
    changes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as kept in the append-only log: its position and who it concerns."""

    id: int
    event: Event
    parties: frozenset[str]


@dataclass(frozen=True, slots=True)
class User:
    """A person who may log in; ``name`` is their client identity (``client:<name>``).

    Only a salted hash of the password is kept (``werkzeug.security`` format), never the
    password itself.
    """

    name: str
    password_hash: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token for API clients. The store keeps a SHA-256 digest, so a leaked database
    does not leak usable tokens; ``id`` names it for listing and revoking."""

    id: str
    user: str
    digest: str
    label: str
    created_at: float


def parties_of(conference: Conference) -> frozenset[str]:
    return _parties(tuple(str(endpoint) for endpoint in conference.parties))


@functools.lru_cache(maxsize=65536)
def _parties(names: tuple[str, ...]) -> frozenset[str]:
    # Interned: a room's events share one set instead of a copy per update.
    return frozenset(names)


class Store(ABC):
    """Persistence for rooms and the event log. Implementations must be thread-safe."""

    @abstractmethod
    def add(self, conference: Conference, events: Sequence[Event] = ()) -> list[LoggedEvent]:
        """Insert a new room and log its events; ``Conflict`` if the id is taken."""

    @abstractmethod
    def update(
        self, conference_id: str, change: Callable[[Conference], Change]
    ) -> tuple[Conference, list[LoggedEvent]]:
        """Atomically apply ``change`` to the stored room; return the room now stored and the
        events logged. ``change`` may be called more than once (optimistic stores retry), so
        it must be a pure function of its argument. ``NotFound`` for an unknown id."""

    @abstractmethod
    def get(self, conference_id: str) -> Conference:
        """The room, or ``NotFound``."""

    @abstractmethod
    def find(
        self,
        *,
        call_id: str | None = None,
        provider_call_id: str | None = None,
        provider_conference_id: str | None = None,
    ) -> str | None:
        """The id of the room holding that leg or provider room, or None."""

    @abstractmethod
    def live(self) -> list[Conference]:
        """Every room that has not ended, oldest first."""

    @abstractmethod
    def events(
        self, after: int = 0, *, limit: int = 1000, party: str | None = None
    ) -> list[LoggedEvent]:
        """Logged events with ``id > after``, oldest first; only those concerning ``party``
        when given (an endpoint string such as ``client:alice``)."""

    @abstractmethod
    def history(
        self, *, party: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[LoggedEvent]:
        """Ended rooms (their ``ConferenceEnded`` entries), newest first."""

    # -- users and API tokens ----------------------------------------------------------------
    # Not abstract: a store that only relays call state (a cache, say) may leave accounts to
    # another store; the web layer's authentication needs them.
    def save_user(self, user: User) -> None:
        """Insert or replace the user of that name."""
        raise NotImplementedError(f"{type(self).__name__} does not keep users")

    def get_user(self, name: str) -> User | None:
        raise NotImplementedError(f"{type(self).__name__} does not keep users")

    def users(self) -> list[User]:
        """Every user, by name."""
        raise NotImplementedError(f"{type(self).__name__} does not keep users")

    def delete_user(self, name: str) -> bool:
        """Remove a user and their tokens; whether one existed."""
        raise NotImplementedError(f"{type(self).__name__} does not keep users")

    def save_token(self, token: ApiToken) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not keep tokens")

    def token_by_digest(self, digest: str) -> ApiToken | None:
        raise NotImplementedError(f"{type(self).__name__} does not keep tokens")

    def tokens(self, user: str) -> list[ApiToken]:
        raise NotImplementedError(f"{type(self).__name__} does not keep tokens")

    def delete_token(self, user: str, token_id: str) -> bool:
        """Revoke one of ``user``'s tokens; whether it existed."""
        raise NotImplementedError(f"{type(self).__name__} does not keep tokens")

    # -- provider state ----------------------------------------------------------------------
    # Small keyed texts a provider keeps beside the rooms (the local provider's legs: which
    # device holds which call), so that its calls survive a restart and, in a store several
    # processes share, are seen by all of them. Not abstract: the defaults keep them in this
    # process only, which is all a store that is neither durable nor shared can offer.

    #: Whether several server processes may use this store at once. Providers that keep state
    #: of their own then change it only through :meth:`provider_state_locked`.
    shared: ClassVar[bool] = False

    def provider_state(self, provider: str) -> dict[str, str]:
        """Every entry ``provider`` saved (``key -> text``)."""
        with self._state_guard():
            return dict(self._local_state().get(provider, {}))

    def put_provider_state(self, provider: str, changes: Mapping[str, str | None]) -> None:
        """Save entries (text) and delete them (None), all or none."""
        with self._state_guard():
            entries = self._local_state().setdefault(provider, {})
            for key, value in changes.items():
                if value is None:
                    entries.pop(key, None)
                else:
                    entries[key] = value

    def lock(self, name: str, timeout: float = 10.0) -> AbstractContextManager[object]:
        """Mutual exclusion over every process using this store (here: this process's
        threads). ``timeout`` bounds both the wait and how long a crashed holder blocks others;
        not re-entrant."""
        with self._state_guard():
            locks: dict[str, threading.Lock] = self.__dict__.setdefault("_named_locks", {})
            return locks.setdefault(name, threading.Lock())

    @contextlib.contextmanager
    def provider_state_locked(
        self, provider: str, known: str | None, timeout: float = 10.0
    ) -> Iterator[LockedState]:
        """Read ``provider``'s entries under :meth:`lock`, change them, and unlock, in as few
        round trips as the store allows. ``known`` is the version the caller last saw: when
        nothing changed since, ``LockedState.entries`` is None (no need to read them again).
        This default takes the lock and reads every time."""
        with self.lock(f"pstate:{provider}", timeout=timeout):
            state = LockedState("", self.provider_state(provider))
            yield state
            if state.changes:
                self.put_provider_state(provider, state.changes)

    def _local_state(self) -> dict[str, dict[str, str]]:
        state: dict[str, dict[str, str]] = self.__dict__.setdefault("_provider_state", {})
        return state

    def _state_guard(self) -> threading.Lock:
        guard: threading.Lock = self.__dict__.setdefault("_state_lock", threading.Lock())
        return guard

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default does nothing."""


def is_history(event: Event) -> bool:
    return isinstance(event, ConferenceEnded)
