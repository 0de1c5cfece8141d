"""The event catalogue: one signal per type, a single publish path, a stable JSON form."""

from __future__ import annotations

import dataclasses
import json

import pytest

from talkbox import events as ev
from talkbox.model import CallStatus, EndReason, Role

SAMPLES: list[ev.Event] = [
    ev.ConferenceCreated(at=1.0, conference_id="conf_1", owner="client:alice"),
    ev.ConferenceStarted(at=1.0, conference_id="conf_1"),
    ev.ConferenceEnded(
        at=9.0,
        conference_id="conf_1",
        owner="client:alice",
        reason=EndReason.BUSY,
        party="client:bob",
        parties=("client:alice", "client:bob"),
        duration=0.0,
        created_at=1.0,
    ),
    ev.CallCreated(
        at=1.0,
        conference_id="conf_1",
        call_id="call_1",
        endpoint="client:bob",
        role=Role.CALLEE,
        status=CallStatus.QUEUED,
    ),
    ev.CallEnded(
        at=2.0,
        conference_id="conf_1",
        call_id="call_1",
        endpoint="client:bob",
        status=CallStatus.BUSY,
        reason=EndReason.REJECTED,
        duration=0.0,
    ),
    ev.TransferStarted(
        at=3.0,
        conference_id="conf_1",
        call_id="call_1",
        endpoint="client:bob",
        target="client:carol",
        target_call_id="call_2",
        warm=True,
    ),
    ev.CommandFailed(
        at=4.0, conference_id="conf_1", command="add", call_id=None, message="no", code=None
    ),
]


def test_every_event_type_has_its_own_named_signal() -> None:
    names = [t.name for t in ev.SIGNALS]
    assert len(names) == len(set(names))
    for event_type, signal in ev.SIGNALS.items():
        assert signal.name == event_type.name
        assert ev.EVENT_TYPES[event_type.name] is event_type
        assert event_type.__doc__, f"{event_type.__name__} is undocumented"
        assert dataclasses.is_dataclass(event_type)
        assert event_type.__dataclass_params__.frozen  # type: ignore[attr-defined]
    # Module attributes are the snake_case form of the kebab-case signal names.
    for name in ev.EVENT_TYPES:
        assert getattr(ev, name.replace("-", "_")) is ev.SIGNALS[ev.EVENT_TYPES[name]]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.name)
def test_json_round_trip(event: ev.Event) -> None:
    data = json.loads(json.dumps(ev.to_dict(event)))
    assert data["type"] == event.name
    back = ev.from_dict(data)
    assert back == event
    assert type(back) is type(event)
    for field in dataclasses.fields(event):
        assert type(getattr(back, field.name)) is type(getattr(event, field.name))


def test_from_dict_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        ev.from_dict({"type": "call-exploded"})


def test_publish_sends_on_the_type_signal_then_on_event_published() -> None:
    seen: list[tuple[str, object, dict[str, object]]] = []

    def on_type(sender: object, **kw: object) -> None:
        seen.append(("type", sender, kw))

    def on_all(sender: object, **kw: object) -> None:
        seen.append(("all", sender, kw))

    event = SAMPLES[1]
    sender = object()
    with ev.conference_started.connected_to(on_type), ev.event_published.connected_to(on_all):
        ev.publish(event, sender, event_id=7, parties=["client:alice"])
    assert [s[0] for s in seen] == ["type", "all"]
    for _, who, kw in seen:
        assert who is sender
        assert kw == {"event": event, "event_id": 7, "parties": frozenset({"client:alice"})}


def test_receivers_can_filter_by_sender() -> None:
    mine, other = object(), object()
    got: list[ev.Event] = []

    def receiver(sender: object, event: ev.Event, **_: object) -> None:
        got.append(event)

    ev.call_ended.connect(receiver, sender=mine)
    try:
        ev.publish(SAMPLES[4], other)
        ev.publish(SAMPLES[4], mine)
    finally:
        ev.call_ended.disconnect(receiver, sender=mine)
    assert got == [SAMPLES[4]]
