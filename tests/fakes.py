"""A fake provider and helpers shared by the tests (not part of the package)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from talkbox import events as ev
from talkbox.errors import ProviderError
from talkbox.model import Call, CallStatus, Conference, EndReason
from talkbox.providers.base import (
    CallReport,
    Credentials,
    LiveView,
    ParticipantChange,
    ParticipantReport,
    Provider,
)


class FakeProvider(Provider):
    """Records every command; gives legs predictable ids ``CA0001``, ``CA0002`` ...

    ``refuse`` maps an endpoint string to the ProviderError placing it raises.
    """

    name = "fake"

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []
        self.refuse: dict[str, ProviderError] = {}
        self.fail_commands: dict[str, ProviderError] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """The id the next placed leg will get (without taking it)."""
        with self._lock:
            peek, self._ids = itertools.tee(self._ids)
            return f"CA{next(peek):04d}"

    def _place(self, kind: str, conference: Conference, call: Call) -> str:
        if str(call.endpoint) in self.refuse:
            self.commands.append((f"{kind}-refused", str(call.endpoint)))
            raise self.refuse[str(call.endpoint)]
        with self._lock:
            sid = f"CA{next(self._ids):04d}"
        self.commands.append((kind, conference.id, str(call.endpoint), sid))
        return sid

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail_commands:
            raise self.fail_commands[name]

    def place_call(self, conference: Conference, call: Call) -> str:
        return self._place("place", conference, call)

    def add_participant(self, conference: Conference, call: Call) -> str:
        return self._place("add", conference, call)

    def hangup(self, call: Call) -> None:
        self._maybe_fail("hangup")
        self.commands.append(("hangup", str(call.provider_id)))

    def farewell(self, call: Call, reason: EndReason) -> None:
        self.commands.append(("farewell", str(call.provider_id), reason.value))

    def remove_participant(self, conference: Conference, call: Call) -> None:
        self._maybe_fail("remove")
        self.commands.append(("remove", str(call.provider_id)))

    def set_muted(self, conference: Conference, call: Call, muted: bool) -> None:
        self._maybe_fail("mute")
        self.commands.append(("mute" if muted else "unmute", str(call.provider_id)))

    def set_on_hold(self, conference: Conference, call: Call, on_hold: bool) -> None:
        self._maybe_fail("hold")
        self.commands.append(("hold" if on_hold else "unhold", str(call.provider_id)))

    def end_conference(self, conference: Conference) -> None:
        self.commands.append(("end", conference.id))

    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        return Credentials("fake", identity, f"token-for-{identity}", 3600.0)

    def live(self) -> LiveView:
        return LiveView()

    def hangups(self) -> list[str]:
        return [c[1] for c in self.commands if c[0] == "hangup"]


def invalid_number() -> ProviderError:
    return ProviderError(
        "The 'To' number is not a valid phone number.",
        provider="fake",
        status=400,
        code=21211,
        reason=EndReason.INVALID_NUMBER,
    )


@dataclass
class Recorder:
    """Collects everything published on ``event_published`` (held strongly)."""

    events: list[ev.Event] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)

    def __call__(self, sender: object, **kwargs: object) -> None:
        event = kwargs["event"]
        assert isinstance(event, ev.Event)
        self.events.append(event)
        self.ids.append(kwargs["event_id"])  # type: ignore[arg-type]

    @contextmanager
    def listening(self) -> Iterator[Recorder]:
        with ev.event_published.connected_to(self):
            yield self

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, event_type: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, event_type)]

    def clear(self) -> None:
        self.events.clear()
        self.ids.clear()


class Clock:
    """A settable clock: tests move time explicitly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now


class Phone:
    """Builds the reports a provider would send about one leg, with its own sequence."""

    def __init__(self, provider_id: str, conference_id: str | None = None) -> None:
        self.provider_id = provider_id
        self.conference_id = conference_id
        self.seq = itertools.count()

    def status(
        self, status: CallStatus, at: float, duration: float | None = None, **kw: object
    ) -> CallReport:
        return CallReport(
            status=status,
            timestamp=at,
            provider_call_id=self.provider_id,
            sequence=next(self.seq),
            duration=duration,
            **kw,  # type: ignore[arg-type]
        )

    def member(
        self, change: ParticipantChange, at: float, seq: int, **kw: object
    ) -> ParticipantReport:
        return ParticipantReport(
            change=change,
            timestamp=at,
            conference_id=self.conference_id,
            provider_call_id=self.provider_id,
            sequence=seq,
            **kw,  # type: ignore[arg-type]
        )


class ManualTimers:
    """A scheduler for the local provider whose timers fire only when a test says so."""

    def __init__(self) -> None:
        self.pending: list[ManualTimer] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(delay, fn)
        self.pending.append(timer)
        return timer

    def fire(self, delay: float | None = None) -> int:
        """Run every live timer (of that delay); how many ran."""
        due = [t for t in self.pending if not t.cancelled and (delay is None or t.delay == delay)]
        for timer in due:
            self.pending.remove(timer)
            timer.fn()
        return len(due)


@dataclass
class ManualTimer:
    delay: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeHub:
    """A device hub that records what the provider sends to each device."""

    def __init__(self) -> None:
        self.connected: dict[str, list[str]] = {}
        self.sent: list[tuple[str, str, dict[str, object]]] = []

    def devices(self, identity: str) -> list[str]:
        return list(self.connected.get(identity, []))

    def send(self, identity: str, message: Mapping[str, Any], device_id: str | None = None) -> int:
        targets = [d for d in self.connected.get(identity, []) if device_id in (None, d)]
        for device in targets:
            self.sent.append((identity, device, dict(message)))
        return len(targets)

    def to(self, device: str) -> list[dict[str, object]]:
        return [m for _, d, m in self.sent if d == device]

    def types(self, device: str) -> list[object]:
        return [m["type"] for m in self.to(device)]
