"""The local provider's legs, and where they are kept.

A leg says which device holds which call: without it, a restarted server could not tell a
reconnecting browser that it still holds a call, and a second server process could not relay
media offers to a device that answered on the first. So the book keeps every live leg in the
store (:meth:`Store.put_provider_state`) as well as in memory:

* **one process** (memory or SQLite store): memory is the truth, and each change is written
  through, so that after a restart :meth:`LegBook.attach` reads the legs back;
* **several processes** (a store with ``shared = True``, Redis): the store is the truth. Every
  change runs under the store's lock and starts from the stored legs (re-read only when another
  process changed them since: the store keeps a version), so two processes never act on stale
  legs (two devices accepting one call on two servers: one wins). On Redis that is two round
  trips per change: lock and read, write and unlock.

Ended legs are not kept in the store; this process remembers the newest ones only to answer
late device messages with a clear conflict.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from talkbox.providers.local.devices import Leg, LegState
from talkbox.store.base import Store

log = logging.getLogger("talkbox.providers.local")

#: The provider-state namespace the legs are saved under.
STATE = "local"
#: How long a process killed while holding the legs' lock blocks the others (a change takes
#: milliseconds; the lock expires after this).
LOCK_TIMEOUT = 5.0


class LegBook:
    #: How many ended legs to remember.
    keep_ended = 1000

    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}  # live legs and the newest ended ones
        self.by_call: dict[str, str] = {}
        #: The live legs only: what every change scans (the room's mesh, what to save), so
        #: that remembering ended legs costs nothing per change.
        self.live_legs: dict[str, Leg] = {}
        self.store: Store | None = None
        self._saved: dict[str, str] = {}  # leg id -> its text as last read or written
        self._version: str | None = None  # of the shared legs this process last read
        self._ended: deque[str] = deque()
        self._lock = threading.RLock()
        self._depth = 0

    @property
    def shared(self) -> bool:
        return self.store is not None and self.store.shared

    def attach(self, store: Store) -> list[Leg]:
        """Keep the legs in ``store`` from now on; returns the live legs found there (a restart
        or another process's calls)."""
        with self._lock:
            self.store = store
            self._reload()
            return self.live()

    def live(self) -> list[Leg]:
        return list(self.live_legs.values())

    def add(self, leg: Leg) -> None:
        self.legs[leg.id] = leg
        if leg.state is not LegState.ENDED:
            self.live_legs[leg.id] = leg
        if leg.call_id:
            self.by_call[leg.call_id] = leg.id

    def discard(self, leg_id: str) -> None:
        """Forget a leg as if it never was."""
        self.legs.pop(leg_id, None)
        self.live_legs.pop(leg_id, None)

    def retire(self, leg: Leg) -> None:
        """Mark a leg ended; only the newest ended legs are remembered, so that a long-running
        server does not grow."""
        leg.state = LegState.ENDED
        self.live_legs.pop(leg.id, None)
        self._ended.append(leg.id)
        while len(self._ended) > self.keep_ended:
            old = self.legs.pop(self._ended.popleft(), None)
            if old is not None and self.by_call.get(old.call_id) == old.id:
                del self.by_call[old.call_id]

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Leg]]:
        """Read or change legs. Re-entrant; the outermost transaction re-reads shared legs
        first and writes what changed last, even when its body raised (memory already holds
        the change)."""
        with self._lock:
            outer = self._depth == 0
            self._depth += 1
            try:
                if not outer:
                    yield self.legs
                elif self.shared:
                    assert self.store is not None
                    with self.store.provider_state_locked(
                        STATE, self._version, timeout=LOCK_TIMEOUT
                    ) as state:
                        if state.entries is not None:  # changed elsewhere since we last looked
                            self._reload(state.entries)
                        try:
                            yield self.legs
                        finally:
                            state.changes = self._changes()
                    self._saved_changes(state.changes)
                    self._version = state.version
                else:
                    try:
                        yield self.legs
                    finally:
                        self._save()
            finally:
                self._depth -= 1

    def _reload(self, stored: dict[str, str] | None = None) -> None:
        """Take the stored legs as the truth: new ones are added, changed ones replaced (keeping
        this process's ring timer), and live ones gone from the store were ended elsewhere."""
        if self.store is None:
            return
        if stored is None:
            stored = self.store.provider_state(STATE)
        for leg_id, text in stored.items():
            if self._saved.get(leg_id) == text and leg_id in self.legs:
                continue
            try:
                fresh = Leg.from_json(text)
            except (ValueError, KeyError, TypeError):
                log.error("dropping unreadable local leg %s from the store: %.200s", leg_id, text)
                self._saved[leg_id] = text  # not live: the next save deletes it
                continue
            old = self.legs.get(leg_id)
            if old is not None:
                fresh.timer = old.timer
            self.add(fresh)
            self._saved[leg_id] = text
        for leg_id in [k for k in self._saved if k not in stored]:
            del self._saved[leg_id]
            leg = self.legs.get(leg_id)
            if leg is not None and leg.state is not LegState.ENDED:
                if leg.timer is not None:
                    leg.timer.cancel()
                    leg.timer = None
                self.retire(leg)

    def _changes(self) -> dict[str, str | None]:
        """What to write: live legs that differ from what was saved, and ended ones to drop."""
        changes: dict[str, str | None] = {}
        for leg_id, leg in self.live_legs.items():
            text = leg.to_json()
            if self._saved.get(leg_id) != text:
                changes[leg_id] = text
        for leg_id in self._saved:
            if leg_id not in self.live_legs:  # ended or discarded
                changes[leg_id] = None
        return changes

    def _save(self) -> None:
        if self.store is None:
            return
        changes = self._changes()
        if changes:
            self.store.put_provider_state(STATE, changes)
            self._saved_changes(changes)

    def _saved_changes(self, changes: dict[str, str | None]) -> None:
        for leg_id, change in changes.items():
            if change is None:
                self._saved.pop(leg_id, None)
            else:
                self._saved[leg_id] = change
