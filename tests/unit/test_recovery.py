"""Start-up reconciliation against the provider's live view."""

from __future__ import annotations

from talkbox import events as ev
from talkbox.model import CallStatus, ConferenceStatus, EndReason, ParticipantState
from talkbox.providers.base import (
    CallReport,
    LiveCall,
    LiveConference,
    LiveParticipant,
    LiveView,
    ParticipantChange,
)
from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone, Recorder


class ScriptedProvider(FakeProvider):
    """A fake whose live view and final reports the test sets."""

    def __init__(self) -> None:
        super().__init__()
        self.view = LiveView()
        self.finals: dict[str, CallReport] | None = None

    def live(self) -> LiveView:
        return self.view

    def final_report(self, provider_call_id: str) -> CallReport | None:
        return (self.finals or {}).get(provider_call_id)


def fresh(provider: FakeProvider, clock: Clock) -> Switchboard:
    return Switchboard(MemoryStore(), provider, clock=clock, run_effect=lambda w: w())


def test_legs_that_ended_while_down_are_closed_with_the_providers_reason() -> None:
    clock, provider = Clock(), ScriptedProvider()
    board = fresh(provider, clock)
    conf = board.dial("client:alice", "+14155552671")
    alice = Phone("CA0001", conf.id)
    board.apply(alice.status(CallStatus.IN_PROGRESS, clock.tick()))
    board.apply(alice.member(ParticipantChange.JOINED, clock.tick(), 1))
    # Down: bob's phone was busy; alice hung up. The provider has nothing live any more.
    provider.finals = {
        "CA0002": CallReport(CallStatus.BUSY, clock.tick(), provider_call_id="CA0002"),
        "CA0001": CallReport(
            CallStatus.COMPLETED, clock.tick(), provider_call_id="CA0001", duration=9
        ),
    }
    recorder = Recorder()
    with recorder.listening():
        result = board.reconcile()
    after = board.get(conf.id)
    assert after.status is ConferenceStatus.ENDED
    assert after.end_reason is EndReason.BUSY
    assert sorted(result.closed) == sorted(c.id for c in after.calls)
    assert recorder.names()[-1] == "conference-ended"


def test_without_final_reports_answered_legs_complete_and_others_cancel() -> None:
    clock, provider = Clock(), ScriptedProvider()
    board = fresh(provider, clock)
    conf = board.dial("client:alice", "client:bob")
    board.apply(Phone("CA0001", conf.id).member(ParticipantChange.JOINED, clock.tick(), 1))
    board.reconcile()
    after = board.get(conf.id)
    assert [c.status for c in after.calls] == [CallStatus.COMPLETED, CallStatus.CANCELED]
    assert after.status is ConferenceStatus.ENDED


def test_live_legs_are_brought_forward() -> None:
    clock, provider = Clock(), ScriptedProvider()
    board = fresh(provider, clock)
    conf = board.dial("client:alice", "client:bob")
    board.apply(Phone("CA0001", conf.id).member(ParticipantChange.JOINED, clock.tick(), 1))
    # Down: bob answered and joined muted; alice is still there.
    provider.view = LiveView(
        calls=(
            LiveCall("CA0001", CallStatus.IN_PROGRESS, "client:alice", "+14155552671"),
            LiveCall("CA0002", CallStatus.IN_PROGRESS, "client:bob", "+14155552671"),
        ),
        conferences=(
            LiveConference(
                "CF1", conf.id, (LiveParticipant("CA0001"), LiveParticipant("CA0002", muted=True))
            ),
        ),
    )
    result = board.reconcile()
    after = board.get(conf.id)
    assert [c.status for c in after.calls] == [CallStatus.IN_PROGRESS, CallStatus.IN_PROGRESS]
    bob = after.participants[1]
    assert bob.state is ParticipantState.JOINED
    assert bob.muted
    assert after.provider_id == "CF1"
    assert after.calls[1].id in result.updated
    assert board.reconcile().updated == []  # a second run changes nothing


def test_rooms_the_store_lost_are_adopted_and_can_be_ended() -> None:
    clock, provider = Clock(), ScriptedProvider()
    provider.view = LiveView(
        calls=(
            LiveCall(
                "CA7", CallStatus.IN_PROGRESS, "+14155550000", "+14155552671", "CF9", "inbound"
            ),
            LiveCall("CA8", CallStatus.IN_PROGRESS, "client:bob", "+14155559999", "CF9"),
            LiveCall("CA9", CallStatus.IN_PROGRESS, "sip:x@example.com", "+1415", "CF9"),
        ),
        conferences=(
            LiveConference(
                "CF9",
                "conf_lost",
                (
                    LiveParticipant("CA7"),
                    LiveParticipant("CA8", on_hold=True),
                    LiveParticipant("CA9"),
                ),
            ),
            LiveConference("CF10", "somebody-elses-room", (LiveParticipant("CA7"),)),
        ),
    )
    board = fresh(provider, clock)
    recorder = Recorder()
    with recorder.listening():
        result = board.reconcile()
    assert result.adopted == ["conf_lost"]
    room = board.get("conf_lost")
    assert [str(c.endpoint) for c in room.calls] == ["+14155552671", "client:bob"]  # SIP skipped
    assert room.participants[1].on_hold
    assert room.status is ConferenceStatus.ACTIVE
    assert recorder.names()[:3] == ["conference-created", "call-created", "call-created"]
    board.end_conference("conf_lost")
    assert sorted(provider.hangups()) == ["CA7", "CA8"]
    assert isinstance(recorder.events[0], ev.ConferenceCreated)
