"""The Redis event bridge: events committed by other server processes, published here.

Each process's switchboard publishes its own events on the local blinker signals as it commits
them. The bridge listens on the Redis store's channel and publishes, with itself as the sender,
every event committed by *another* process (entries carry the committing store's ``origin``),
so a browser stream in process B sees events caused by a webhook that hit process A, exactly
once and in log order.

Pub/sub drops messages while a subscriber is disconnected; log ids are consecutive, so the
bridge notices a gap (or a reconnect) and reads the missing entries from the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from talkbox import events as ev
from talkbox.store.base import LoggedEvent
from talkbox.store.redis_store import RedisStore, listen, parse_message

log = logging.getLogger("talkbox.bridge")


class RedisBridge:
    def __init__(self, store: RedisStore, *, poll: float = 1.0) -> None:
        self.store = store
        self.poll = poll
        self.last_id = 0
        #: Called with *every* entry, this process's own included, in log-id order. A
        #: consumer that must see one room's events in order whichever process committed
        #: them (the browser streams: a reconnect resumes "after id N") reads them here rather
        #: than from the local switchboard, which publishes its own at once, possibly before
        #: an earlier event another process committed has arrived.
        self.sinks: list[Callable[[LoggedEvent], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribed = threading.Event()

    def start(self) -> RedisBridge:
        """Deliver everything committed from now on; returns once subscribed."""
        self.last_id = self.store.last_event_id()
        self._thread = threading.Thread(target=self._run, name="talkbox-bridge", daemon=True)
        self._thread.start()
        self._subscribed.wait(timeout=10)
        return self

    @property
    def running(self) -> bool:
        """Whether the listening thread is alive (readiness checks report it)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        listen(
            self.store.client,
            [self.store.channel],
            lambda _channel, data: self.receive(data),
            self._stop,
            subscribed=self._resubscribed,
            poll=self.poll,
            name="event bridge",
        )

    def _resubscribed(self) -> None:
        with self._lock:
            self._catch_up()  # whatever was committed while we were not subscribed
        self._subscribed.set()

    def receive(self, text: str) -> None:
        """Handle one published entry: fill any gap before it from the log, then deliver."""
        origin, entry = parse_message(text)
        with self._lock:
            if entry.id <= self.last_id:
                return  # already delivered (caught up from the log)
            if entry.id > self.last_id + 1:
                self._catch_up(until=entry.id - 1)
            self._deliver(origin, entry)

    def _catch_up(self, until: int | None = None) -> None:
        while until is None or self.last_id < until:
            batch = self.store.raw_events(self.last_id, limit=1000)
            batch = [item for item in batch if until is None or item[1].id <= until]
            if not batch:
                return
            for origin, entry in batch:
                self._deliver(origin, entry)

    def _deliver(self, origin: str, entry: LoggedEvent) -> None:
        self.last_id = max(self.last_id, entry.id)
        for sink in self.sinks:
            try:
                sink(entry)
            except Exception:
                log.exception("an event sink failed on event %s", entry.id)
        if origin == self.store.origin:
            return  # our own switchboard already published it on the signals
        try:
            ev.publish(entry.event, self, event_id=entry.id, parties=entry.parties)
        except Exception:
            log.exception("an event receiver failed on bridged event %s", entry.id)
