"""Many threads applying reports and commands at once: no lost update, events in log order."""

from __future__ import annotations

import threading

from talkbox import events as ev
from talkbox.model import CallStatus, ConferenceStatus
from talkbox.providers.base import ParticipantChange
from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone, Recorder


def test_parallel_calls_all_end_with_events_in_log_order() -> None:
    clock, provider = Clock(), FakeProvider()
    board = Switchboard(MemoryStore(), provider, clock=clock)  # real thread pool for effects
    recorder = Recorder()
    rooms = [board.dial(f"client:caller_{i}", f"client:callee_{i}") for i in range(20)]
    sids = {room.id: room.caller.provider_id for room in rooms}

    def drive(room_id: str) -> None:
        caller = Phone(str(sids[room_id]), room_id)
        for _ in range(3):  # duplicates from Twilio's retries, concurrently
            board.apply(caller.member(ParticipantChange.JOINED, clock.now, 1))
        board.apply(caller.status(CallStatus.COMPLETED, clock.now, duration=1))

    with recorder.listening():
        threads = [threading.Thread(target=drive, args=(r.id,)) for r in rooms]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        board.close()  # wait for the placements the joins triggered
        for room in rooms:
            callee = board.get(room.id).calls[1]
            assert callee.provider_id is not None
            board.apply(Phone(callee.provider_id, room.id).status(CallStatus.BUSY, clock.now))
    assert all(board.get(r.id).status is ConferenceStatus.ENDED for r in rooms)
    assert recorder.ids == sorted(recorder.ids)  # published in log order
    assert len(recorder.of(ev.ConferenceEnded)) == 20
    assert len(recorder.of(ev.ParticipantJoined)) == 20  # duplicates changed nothing
    assert len([c for c in provider.commands if c[0] == "add"]) == 20  # each callee once


def test_a_receiver_that_commands_the_switchboard_does_not_deadlock() -> None:
    clock, provider = Clock(), FakeProvider()
    board = Switchboard(MemoryStore(), provider, clock=clock, run_effect=lambda w: w())
    seen: list[str] = []

    def add_carol_when_answered(sender: object, event: ev.Event, **_: object) -> None:
        assert isinstance(event, ev.CallAnswered)
        seen.append("receiver")
        board.add_participant(event.conference_id, "client:carol")  # publishes call-created

    def everything(sender: object, event: ev.Event, **_: object) -> None:
        seen.append(event.name)

    conf = board.dial("client:alice", "client:bob")
    with (
        ev.call_answered.connected_to(add_carol_when_answered),
        ev.event_published.connected_to(everything),
    ):
        board.apply(Phone("CA0001", conf.id).status(CallStatus.IN_PROGRESS, clock.tick()))
    # Every receiver sees the first event before anyone sees the one published from inside.
    assert seen == ["receiver", "call-answered", "call-created"]
    assert [str(c.endpoint) for c in board.get(conf.id).calls][-1] == "client:carol"


class _SlowToReturn(MemoryStore):
    """Commits the gated room's update at once but returns from it only when let go, as a
    store round trip that is slow on the way back does."""

    def __init__(self) -> None:
        super().__init__()
        self.gated: str | None = None
        self.committed = threading.Event()
        self.let_go = threading.Event()

    def update(self, conference_id, change):  # type: ignore[no-untyped-def]
        result = super().update(conference_id, change)
        if conference_id == self.gated:
            self.committed.set()
            assert self.let_go.wait(10)
        return result


def test_store_round_trips_overlap_and_events_still_leave_in_log_order() -> None:
    clock, store = Clock(), _SlowToReturn()
    board = Switchboard(store, FakeProvider(), clock=clock, run_effect=lambda w: w())
    first, second = (board.dial(f"client:a{i}", f"client:b{i}") for i in range(2))
    store.gated = first.id
    recorder = Recorder()
    slow = threading.Thread(
        target=board.apply,
        args=(Phone(str(first.caller.provider_id), first.id).status(CallStatus.RINGING, 1),),
    )
    fast = threading.Thread(
        target=board.apply,
        args=(Phone(str(second.caller.provider_id), second.id).status(CallStatus.RINGING, 1),),
    )
    with recorder.listening():
        try:
            slow.start()
            assert store.committed.wait(10)
            # The first room's events are logged but its commit has not returned: the second
            # room's update does not wait for it (no lock across the store), but its events,
            # logged later, are held back until the earlier ones have left.
            fast.start()
            fast.join(10)
            assert not fast.is_alive(), "the second room waited for the first room's commit"
            assert recorder.ids == []
        finally:
            store.let_go.set()
            slow.join(10)
            fast.join(10)
    assert len(recorder.ids) == 2
    assert recorder.ids == sorted(recorder.ids)
    assert [e.conference_id for e in recorder.events] == [first.id, second.id]  # type: ignore[attr-defined]
