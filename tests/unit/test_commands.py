"""Commands: what they ask of the provider, and typed errors (with nothing half-written) when
they cannot be carried out."""

from __future__ import annotations

import pytest

from talkbox import events as ev
from talkbox.errors import Conflict, InvalidEndpoint, NotFound, ProviderError
from talkbox.model import CallStatus, Conference, ConferenceStatus
from talkbox.providers.base import ParticipantChange
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone, Recorder, invalid_number

IN = CallStatus.IN_PROGRESS


def connected_call(board: Switchboard, clock: Clock) -> tuple[Conference, Phone, Phone]:
    conf = board.dial("client:alice", "client:bob")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    board.apply(alice.status(IN, clock.tick()))
    board.apply(alice.member(ParticipantChange.JOINED, clock.tick(), 1))
    board.apply(bob.status(IN, clock.tick()))
    board.apply(bob.member(ParticipantChange.JOINED, clock.tick(), 2))
    return board.get(conf.id), alice, bob


def snapshot(board: Switchboard) -> tuple[object, ...]:
    return tuple(board.live()), tuple(board.store.events())


@pytest.mark.parametrize(
    ("from_", "to"),
    [
        ("client:al ice", "client:bob"),
        ("client:alice", "+1415555"),
        ("client:alice", "bob"),
        ("client:alice", []),
    ],
)
def test_dial_with_bad_endpoints_creates_nothing(
    board: Switchboard, provider: FakeProvider, from_: str, to: object
) -> None:
    before = snapshot(board)
    with pytest.raises(InvalidEndpoint):
        board.dial(from_, to)  # type: ignore[arg-type]
    assert snapshot(board) == before
    assert provider.commands == []


def test_unknown_ids_are_not_found(board: Switchboard) -> None:
    for command in (board.hangup, board.mute, board.hold, board.remove):
        with pytest.raises(NotFound, match="no call with id 'call_nope'"):
            command("call_nope")
    with pytest.raises(NotFound, match="no conference with id 'conf_nope'"):
        board.add_participant("conf_nope", "client:carol")
    with pytest.raises(NotFound):
        board.end_conference("conf_nope")


def test_commands_on_an_ended_call_conflict_and_change_nothing(
    board: Switchboard, provider: FakeProvider, clock: Clock
) -> None:
    conf, alice, bob = connected_call(board, clock)
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=3))
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=3))
    assert board.get(conf.id).status is ConferenceStatus.ENDED
    before, commands = snapshot(board), list(provider.commands)
    bob_id = conf.calls[1].id
    with pytest.raises(Conflict, match="already ended"):
        board.hangup(bob_id)
    with pytest.raises(Conflict, match="already ended"):
        board.mute(bob_id)
    with pytest.raises(Conflict, match="has ended; start a new call"):
        board.add_participant(conf.id, "client:carol")
    with pytest.raises(Conflict):
        board.end_conference(conf.id)
    with pytest.raises(Conflict):
        board.transfer(conf.calls[0].id, "client:carol")
    assert snapshot(board) == before
    assert provider.commands == commands


def test_mute_and_hold_ask_the_provider_and_change_on_its_report(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf, _, bob = connected_call(board, clock)
    bob_id = conf.calls[1].id
    board.mute(bob_id)
    assert provider.commands[-1] == ("mute", "CA0002")
    assert not board.get(conf.id).participant(bob_id).muted  # the provider is the truth
    board.apply(bob.member(ParticipantChange.MUTED, clock.tick(), 3))
    assert board.get(conf.id).participant(bob_id).muted
    board.mute(bob_id)  # already muted: nothing to ask
    assert provider.commands[-1] == ("mute", "CA0002")
    board.hold(bob_id)
    board.apply(bob.member(ParticipantChange.HELD, clock.tick(), 4))
    board.unhold(bob_id)
    board.apply(bob.member(ParticipantChange.RESUMED, clock.tick(), 5))
    board.unmute(bob_id)
    board.apply(bob.member(ParticipantChange.UNMUTED, clock.tick(), 6))
    assert [c[0] for c in provider.commands[-4:]] == ["mute", "hold", "unhold", "unmute"]
    assert recorder.names()[-4:] == [
        "participant-muted",
        "participant-held",
        "participant-resumed",
        "participant-unmuted",
    ]


def test_mute_before_joining_is_a_conflict(board: Switchboard) -> None:
    conf = board.dial("client:alice", "client:bob")
    with pytest.raises(Conflict, match="not in the room yet"):
        board.mute(conf.calls[1].id)


def test_provider_failure_is_raised_and_published(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf, _, _ = connected_call(board, clock)
    provider.fail_commands["mute"] = ProviderError(
        "Too many requests", provider="fake", status=429, code=20429, retryable=True
    )
    with pytest.raises(ProviderError, match="HTTP 429, code 20429"):
        board.mute(conf.calls[1].id)
    failed = recorder.of(ev.CommandFailed)
    assert len(failed) == 1
    assert failed[0].command == "mute"  # type: ignore[attr-defined]
    assert not board.get(conf.id).participant(conf.calls[1].id).muted


def test_add_participant_twice_conflicts(board: Switchboard, clock: Clock) -> None:
    conf, _, _ = connected_call(board, clock)
    board.add_participant(conf.id, "client:carol")
    with pytest.raises(Conflict, match="already in conference"):
        board.add_participant(conf.id, "client:carol")


def test_participants_added_before_anyone_joined_wait(
    board: Switchboard, provider: FakeProvider, clock: Clock
) -> None:
    conf = board.start_conference("client:alice", ["client:bob", "client:carol"])
    extra = board.add_participant(conf.id, "client:dave")
    assert extra.status is CallStatus.QUEUED
    assert [c[0] for c in provider.commands] == ["place"]
    alice = Phone("CA0001", conf.id)
    board.apply(alice.member(ParticipantChange.JOINED, clock.tick(), 1))
    assert [c[2] for c in provider.commands[1:]] == ["client:bob", "client:carol", "client:dave"]
    assert all(c.ring_group is None for c in board.get(conf.id).calls)


def test_hangup_of_a_queued_leg_cancels_it_without_the_provider(
    board: Switchboard, provider: FakeProvider
) -> None:
    conf = board.start_conference("client:alice", ["client:bob", "client:carol"])
    board.hangup(conf.calls[2].id)
    after = board.get(conf.id)
    assert after.calls[2].status is CallStatus.CANCELED
    assert after.status is ConferenceStatus.CREATED  # bob is still to be dialled
    assert [c[0] for c in provider.commands] == ["place"]


def test_end_conference_cancels_queued_and_hangs_up_placed(
    board: Switchboard, provider: FakeProvider, clock: Clock
) -> None:
    conf, _, _ = connected_call(board, clock)
    board.add_participant(conf.id, "client:carol")
    board.end_conference(conf.id)
    assert sorted(provider.hangups()) == ["CA0001", "CA0002", "CA0003"]
    assert board.get(conf.id).status is ConferenceStatus.ENDING


def test_remove_kicks_a_participant(
    board: Switchboard, provider: FakeProvider, clock: Clock
) -> None:
    conf, _, _ = connected_call(board, clock)
    board.remove(conf.calls[1].id)
    assert provider.commands[-1] == ("remove", "CA0002")


def test_cold_transfer(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf, _alice, bob = connected_call(board, clock)
    target = board.transfer(conf.calls[1].id, "client:carol")  # bob hands alice to carol
    assert provider.commands[-2:] == [
        ("add", conf.id, "client:carol", "CA0003"),
        ("hangup", "CA0002"),
    ]
    board.apply(bob.member(ParticipantChange.LEFT, clock.tick(), 3))
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=5))
    assert board.get(conf.id).status is ConferenceStatus.ACTIVE  # alice waits for carol
    carol = Phone("CA0003", conf.id)
    board.apply(carol.status(IN, clock.tick()))
    board.apply(carol.member(ParticipantChange.JOINED, clock.tick(), 4))
    now = board.get(conf.id)
    assert [str(c.endpoint) for c in now.connected()] == ["client:alice", "client:carol"]
    started = recorder.of(ev.TransferStarted)[0]
    assert started.target_call_id == target.id  # type: ignore[attr-defined]
    assert not started.warm  # type: ignore[attr-defined]


def test_warm_transfer_completed_and_canceled(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf, alice, _bob = connected_call(board, clock)
    bob_id, alice_id = conf.calls[1].id, conf.calls[0].id
    board.transfer(bob_id, "client:carol", warm=True)
    assert provider.commands[-2:] == [
        ("hold", "CA0001"),
        ("add", conf.id, "client:carol", "CA0003"),
    ]
    board.apply(alice.member(ParticipantChange.HELD, clock.tick(), 3))
    with pytest.raises(Conflict, match="already has a transfer"):
        board.transfer(bob_id, "client:dave", warm=True)
    board.cancel_transfer(conf.id)  # carol is hung up, alice resumes
    assert provider.commands[-2:] == [("unhold", "CA0001"), ("hangup", "CA0003")]
    assert board.get(conf.id).transfer is None
    board.apply(alice.member(ParticipantChange.RESUMED, clock.tick(), 4))

    board.transfer(bob_id, "client:dave", warm=True)
    board.apply(alice.member(ParticipantChange.HELD, clock.tick(), 5))
    board.complete_transfer(conf.id)  # bob leaves, alice resumes with dave
    assert provider.commands[-2:] == [("unhold", "CA0001"), ("hangup", "CA0002")]
    assert recorder.names().count("transfer-canceled") == 1
    assert recorder.names().count("transfer-completed") == 1
    with pytest.raises(Conflict, match="no transfer under way"):
        board.complete_transfer(conf.id)
    assert alice_id == board.get(conf.id).caller.id


@pytest.mark.parametrize("gone", ["transferor", "target"])
def test_a_warm_transfer_ends_on_its_own_when_one_side_of_it_goes(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder, gone: str
) -> None:
    """Alice, held, must not stay on hold once bob (transferor) hangs up or carol (target)
    does not answer: nobody is left to complete or cancel the transfer."""
    conf, alice, bob = connected_call(board, clock)
    target = board.transfer(conf.calls[1].id, "client:carol", warm=True)
    board.apply(alice.member(ParticipantChange.HELD, clock.tick(), 3))
    carol = Phone("CA0003", conf.id)
    if gone == "transferor":
        board.apply(carol.status(IN, clock.tick()))
        board.apply(carol.member(ParticipantChange.JOINED, clock.tick(), 4))
        board.apply(bob.member(ParticipantChange.LEFT, clock.tick(), 5))
        expected: type[ev.Event] = ev.TransferCompleted
    else:
        board.apply(carol.status(CallStatus.NO_ANSWER, clock.tick()))
        expected = ev.TransferCanceled
    assert provider.commands[-1] == ("unhold", "CA0001")
    assert board.get(conf.id).transfer is None
    (event,) = recorder.of(expected)
    assert event.target_call_id == target.id  # type: ignore[attr-defined]
    assert (
        recorder.names().count("transfer-completed") + recorder.names().count("transfer-canceled")
        == 1
    )
    with pytest.raises(Conflict, match="no transfer under way"):
        board.complete_transfer(conf.id)


def test_a_warm_transfer_to_a_refused_target_resumes_at_once(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf, _alice, _bob = connected_call(board, clock)
    provider.refuse["+14155552673"] = invalid_number()
    board.transfer(conf.calls[1].id, "+14155552673", warm=True)
    assert provider.commands[-3:] == [
        ("hold", "CA0001"),
        ("add-refused", "+14155552673"),
        ("unhold", "CA0001"),
    ]
    assert board.get(conf.id).transfer is None
    assert recorder.names()[-2:] == ["transfer-started", "transfer-canceled"]


def test_a_warm_transfer_that_cannot_start_leaves_nobody_on_hold(
    board: Switchboard, provider: FakeProvider, clock: Clock
) -> None:
    conf, _alice, _bob = connected_call(board, clock)
    with pytest.raises(Conflict, match="already in conference"):
        board.transfer(conf.calls[1].id, "client:alice", warm=True)  # checked before holding
    assert "hold" not in [c[0] for c in provider.commands]
    board.add_participant(conf.id, "client:carol")  # CA0003, not answered: not held
    board.apply(Phone("CA0003", conf.id).member(ParticipantChange.JOINED, clock.tick(), 3))
    real_hold = provider.set_on_hold

    def second_hold_fails(c: Conference, call: object, on_hold: bool) -> None:
        if on_hold and any(cmd[0] == "hold" for cmd in provider.commands):
            raise ProviderError("Service Unavailable", provider="fake", status=503)
        real_hold(c, call, on_hold)  # type: ignore[arg-type]

    provider.set_on_hold = second_hold_fails  # type: ignore[method-assign]
    with pytest.raises(ProviderError, match="Service Unavailable"):
        board.transfer(conf.calls[1].id, "client:dave", warm=True)
    assert [c[0] for c in provider.commands][-2:] == ["hold", "unhold"]  # rolled back
    now = board.get(conf.id)
    assert now.transfer is None
    assert "client:dave" not in [str(c.endpoint) for c in now.calls]


def test_credentials_only_for_valid_identities(board: Switchboard) -> None:
    assert board.credentials("alice").identity == "alice"
    with pytest.raises(InvalidEndpoint):
        board.credentials("alice smith")


def test_incoming_is_idempotent_for_webhook_retries(board: Switchboard) -> None:
    first = board.incoming("+14155552671", ["client:bob"], provider_call_id="CA9")
    again = board.incoming("+14155552671", ["client:bob"], provider_call_id="CA9")
    assert first.id == again.id
    assert len(board.live()) == 1
    assert first.caller.status is CallStatus.RINGING
