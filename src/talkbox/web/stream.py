"""One server-sent event stream per logged-in device, and the device hub built on them.

A stream carries three kinds of message, each a JSON ``data:`` line:

* ``event: call`` with ``id:`` = the event's position in the store's log: the user's own call
  events (filtered on the event's ``parties``), so that a reconnecting page resumes with
  ``Last-Event-ID`` and misses nothing;
* ``event: signal``: provider messages for this device (invites, media offers, hang-ups);
  not logged, not replayed: after a reconnect the provider re-sends what still matters;
* ``event: presence``: who is online, on every change.

SSE rather than WebSocket: it runs on any WSGI server with one thread per stream, goes through
proxies, reconnects on its own with ``Last-Event-ID``, and the browser's few messages upward
are ordinary authenticated JSON requests that get CSRF checks and error codes for free.

A new stream for the same device replaces the old one (a reloaded page must not leave a stale
stream that swallows its messages); the replaced stream ends at once.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from talkbox import events as ev
from talkbox.errors import Conflict
from talkbox.providers.local import endpoint_of
from talkbox.store import LoggedEvent, Store

log = logging.getLogger("talkbox.web.stream")

#: (SSE event name, data, event log id); None ends the stream (replaced, or shutting down).
Item = tuple[str, dict[str, Any], int | None]


class Rendered(dict[str, Any]):
    """An event's data with its SSE text rendered once, for every stream it goes to (JSON
    encoding per stream was a tenth of a busy server's time)."""

    text: str


#: How many replayed events a resuming stream may receive before it is told to reload state.
REPLAY_LIMIT = 500


class PresenceListener(Protocol):
    def device_online(self, identity: str, device_id: str) -> None: ...

    def device_offline(self, identity: str, device_id: str) -> None: ...


@dataclass(eq=False)
class DeviceStream:
    identity: str
    device_id: str
    messages: queue.Queue[Item | None] = field(default_factory=queue.Queue)
    closed: bool = False
    #: Names this stream (not the device) so that a page leaving can end its own stream and
    #: never the one its reload has opened meanwhile.
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    #: When it opened (wall clock: compared with other processes' claims on the device).
    opened_at: float = field(default_factory=time.time)

    def put(self, item: Item) -> None:
        if not self.closed:
            self.messages.put(item)

    def close(self) -> None:
        self.closed = True
        self.messages.put(None)


def sse(data: Mapping[str, Any], event: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class StreamHub:
    """The connected devices, keyed by (identity, device id); implements the local provider's
    ``DeviceHub``. Never calls a listener while holding its own lock."""

    #: Streams one user may hold open at once (each holds a server thread).
    max_devices = 10

    def __init__(self, store: Store, keepalive: float = 15.0, presence_delay: float = 0.2) -> None:
        self.store = store
        self.keepalive = keepalive
        self.presence_delay = presence_delay
        self._presence_pending = False
        self._lock = threading.Lock()
        # identity -> device id -> stream: an event finds its users' streams without a scan.
        self._streams: dict[str, dict[str, DeviceStream]] = {}
        self._observers: dict[str, dict[str, DeviceStream]] = {}
        self._listeners: list[PresenceListener] = []
        #: Who is online, when more than this process's streams count (several processes).
        self.online_source: Callable[[], list[str]] | None = None
        self._receiver: Callable[..., None] = self._on_event  # a strong reference for blinker

    def start(self, *senders: object) -> None:
        """Carry the events ``senders`` publish: this deployment's switchboard, and its Redis
        event bridge when other processes share the store. Another switchboard in the same
        process has its own hub and its own users."""
        self._senders = senders
        for sender in senders:
            ev.event_published.connect(self._receiver, sender=sender)

    def stop(self) -> None:
        for sender in getattr(self, "_senders", ()):
            ev.event_published.disconnect(self._receiver, sender=sender)
        with self._lock:
            streams = [s for group in (self._streams, self._observers) for s in _all(group)]
            self._streams.clear()
            self._observers.clear()
        for stream in streams:
            stream.close()

    def add_listener(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    # -- DeviceHub ---------------------------------------------------------------------------
    def devices(self, identity: str) -> list[str]:
        with self._lock:
            return sorted(self._streams.get(identity, ()))

    def send(self, identity: str, message: Mapping[str, Any], device_id: str | None = None) -> int:
        with self._lock:
            mine = self._streams.get(identity, {})
            if device_id is None:
                targets = list(mine.values())
            else:
                targets = [mine[device_id]] if device_id in mine else []
        for stream in targets:
            stream.put(("signal", dict(message), None))
        return len(targets)

    def online(self) -> list[str]:
        """Users with a device connected (to any process, given an ``online_source``)."""
        if self.online_source is not None:
            return self.online_source()
        return self.local_online()

    def local_online(self) -> list[str]:
        with self._lock:
            return sorted(self._streams)

    # -- streams -----------------------------------------------------------------------------
    def deliver(self, entry: LoggedEvent) -> None:
        """An event from the log, in order (the Redis bridge's sink)."""
        self._on_event(None, event=entry.event, event_id=entry.id, parties=entry.parties)

    def _on_event(self, sender: object, **kwargs: Any) -> None:
        event: ev.Event = kwargs["event"]
        event_id: int | None = kwargs.get("event_id")
        parties: frozenset[str] = kwargs.get("parties") or frozenset()
        # Users' browsers (``client:alice``) and simulated telephones (``+14155550100``).
        identities = {p.removeprefix("client:") for p in parties if p.startswith(("client:", "+"))}
        if not identities:
            return
        with self._lock:
            targets = [
                s
                for group in (self._streams, self._observers)
                for who in identities
                for s in group.get(who, {}).values()
            ]
        if not targets:
            return
        data = Rendered(ev.to_dict(event))
        data.text = sse(data, "call", event_id)
        for stream in targets:
            stream.put(("call", data, event_id))

    def open(self, identity: str, device_id: str, *, observer: bool = False) -> DeviceStream:
        """Register a device; the stream it replaces (same device) is told so and ends.

        An ``observer`` (``talkbox watch``, a dashboard) gets the user's call events but is no
        device: it is not rung, not counted as online, and takes no device slot.
        """
        if observer:
            watcher = DeviceStream(identity, device_id)
            with self._lock:
                watchers = self._observers.setdefault(identity, {})
                old_watcher = watchers.get(device_id)
                watchers[device_id] = watcher
            if old_watcher is not None:
                old_watcher.close()
            return watcher
        stream = DeviceStream(identity, device_id)
        with self._lock:
            devices = self._streams.get(identity, {})
            old = devices.get(device_id)
            mine = len(devices)
            if old is None and mine >= self.max_devices:
                raise Conflict(
                    f"{identity} already has {mine} devices connected; close a tab first"
                )
            first = mine == 0
            self._streams.setdefault(identity, {})[device_id] = stream
        if old is not None:
            # A page that still runs (a duplicated tab) must stop reconnecting, or the two
            # would take the device from each other forever.
            old.put(("signal", {"type": "replaced"}, None))
            old.close()
        try:
            for listener in self._listeners:
                listener.device_online(identity, device_id)
        except BaseException:
            # Not opened after all (the store failed under the provider, say): a stream left
            # registered would count as online and take the device's messages for good.
            with self._lock:
                if self._streams.get(identity, {}).get(device_id) is stream:
                    _remove(self._streams, identity, device_id)
            stream.close()
            raise
        if first:
            self.broadcast_presence()
        return stream

    def close(self, stream: DeviceStream) -> None:
        """A stream ended; the device is offline unless a newer stream replaced it."""
        with self._lock:
            watchers = self._observers.get(stream.identity, {})
            if watchers.get(stream.device_id) is stream:
                _remove(self._observers, stream.identity, stream.device_id)
                return
            if self._streams.get(stream.identity, {}).get(stream.device_id) is not stream:
                return
            last = _remove(self._streams, stream.identity, stream.device_id)
        for listener in self._listeners:
            listener.device_offline(stream.identity, stream.device_id)
        if last:
            self.broadcast_presence()

    def away(self, identity: str, device_id: str, token: str) -> bool:
        """The page holding the stream ``token`` is going away (closed or reloading): treat
        the device as offline now rather than at the next failed write; a reload comes back
        within the provider's grace period. Whether that stream was the current one."""
        with self._lock:
            stream = self._streams.get(identity, {}).get(device_id)
        if stream is None or stream.token != token:
            return False
        stream.close()
        self.close(stream)
        return True

    def drop(self, identity: str, device_id: str, opened_before: float | None = None) -> bool:
        """End a device's stream here because the device has reconnected to another server
        process: its page already dropped this connection, and it must not keep taking the
        device's messages until a write to it fails. A stream opened after ``opened_before``
        (the page came back here meanwhile) is the live one and stays."""
        with self._lock:
            stream = self._streams.get(identity, {}).get(device_id)
        if stream is None or (opened_before is not None and stream.opened_at >= opened_before):
            return False
        stream.close()
        self.close(stream)
        return True

    def broadcast_presence(self) -> None:
        """Tell every stream who is online, soon: changes within ``presence_delay`` go out as
        one message. Without that, N people logging in sent N lists of N names to N pages
        (and each page asks for the list again): a load test with 500 streams spent seconds
        doing nothing else."""
        with self._lock:
            if self._presence_pending:
                return
            self._presence_pending = True
        if self.presence_delay <= 0:
            self._send_presence()
            return
        timer = threading.Timer(self.presence_delay, self._send_presence)
        timer.daemon = True
        timer.start()

    def _send_presence(self) -> None:
        with self._lock:
            self._presence_pending = False
            streams = list(_all(self._streams))
        data = Rendered({"type": "presence", "online": self.online()})
        data.text = sse(data, "presence")
        for stream in streams:
            stream.put(("presence", data, None))

    def iterate(self, stream: DeviceStream, last_event_id: int | None) -> Iterator[str]:
        """The SSE body: backlog after ``last_event_id``, then live messages and keep-alives.

        The stream is registered before the backlog is read, so nothing falls between the
        two; live events already replayed are skipped by id.
        """
        party = endpoint_of(stream.identity)
        try:
            yield "retry: 1000\n\n"
            yield sse({"type": "hello", "stream": stream.token}, "signal")
            yield sse({"type": "presence", "online": self.online()}, "presence")
            replayed = 0
            if last_event_id is not None:
                backlog = self.store.events(
                    after=last_event_id, party=party, limit=REPLAY_LIMIT + 1
                )
                if len(backlog) > REPLAY_LIMIT:
                    # Too far behind: reloading the state is cheaper than a replay.
                    yield sse({"type": "reset"}, "signal")
                else:
                    for entry in backlog:
                        yield sse(ev.to_dict(entry.event), "call", entry.id)
                        replayed = entry.id
            while True:  # until the None that close() queues
                try:
                    item = stream.messages.get(timeout=self.keepalive)
                except queue.Empty:
                    yield ": keepalive\n\n"
                    continue
                if item is None:
                    return
                kind, data, event_id = item
                if event_id is not None and event_id <= replayed:
                    continue
                yield data.text if isinstance(data, Rendered) else sse(data, kind, event_id)
        finally:
            self.close(stream)


def _all(group: dict[str, dict[str, DeviceStream]]) -> Iterator[DeviceStream]:
    for devices in group.values():
        yield from devices.values()


def _remove(group: dict[str, dict[str, DeviceStream]], identity: str, device_id: str) -> bool:
    """Drop one stream; whether it was the identity's last."""
    devices = group.get(identity, {})
    devices.pop(device_id, None)
    if devices:
        return False
    group.pop(identity, None)
    return True
