"""Order tolerance, by generation: for call and conference lifecycles a provider could report,
applying the reports in any order, with any duplicates, ends in the same state and publishes
the same terminal events as applying them in order.

What is compared: every leg's status, end reason, duration and end time; each membership's
state; the room's status, reason, deciding party and end time; and the terminal events
(``CallEnded``, ``ConferenceEnded``) field by field. Talkbox's own ids are random per run, so
legs are compared by endpoint. Events about progress (``CallRinging`` ...) may legitimately be
skipped when a later report arrives first, and are not compared.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkbox import events as ev
from talkbox.model import CallStatus, ConferenceStatus
from talkbox.providers.base import (
    CallReport,
    ParticipantChange,
    ParticipantReport,
)
from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Recorder

IN = CallStatus.IN_PROGRESS
FATES = ["talks", "busy", "no-answer", "failed", "canceled", "rings-then-fails"]
PEOPLE = ["client:bob", "+14155552671", "client:carol", "+442071838750"]
Report = CallReport | ParticipantReport


@dataclasses.dataclass
class World:
    board: Switchboard
    provider: FakeProvider
    clock: Clock
    recorder: Recorder
    conference_id: str


def setup_room(extra: int) -> World:
    """alice dials bob; alice's leg answers and joins (so bob is placed), then ``extra`` more
    people are added. Every leg now exists at the provider; the lifecycle starts here."""
    clock, provider, recorder = Clock(), FakeProvider(), Recorder()
    board = Switchboard(MemoryStore(), provider, clock=clock, run_effect=lambda work: work())
    conf = board.dial("client:alice", PEOPLE[0])
    board.apply(CallReport(IN, clock.tick(), provider_call_id="CA0001", sequence=0))
    board.apply(
        ParticipantReport(
            ParticipantChange.JOINED,
            clock.tick(),
            conference_id=conf.id,
            provider_call_id="CA0001",
            sequence=0,
        )
    )
    for person in PEOPLE[1 : 1 + extra]:
        board.add_participant(conf.id, person)
    return World(board, provider, clock, recorder, conf.id)


def scripts(fates: list[str], caller_toggles: int) -> list[list[tuple[str, Any]]]:
    """Per leg, the steps its provider would report, in their own order."""
    out: list[list[tuple[str, Any]]] = []
    caller: list[tuple[str, Any]] = [("flags", i) for i in range(caller_toggles)]
    out.append([*caller, ("leave", None), ("end", CallStatus.COMPLETED)])
    for fate in fates:
        if fate == "talks":
            steps: list[tuple[str, Any]] = [
                ("status", CallStatus.RINGING),
                ("status", IN),
                ("join", None),
                ("flags", 1),
                ("leave", None),
                ("end", CallStatus.COMPLETED),
            ]
        elif fate == "rings-then-fails":
            steps = [("status", CallStatus.RINGING), ("end", CallStatus.FAILED)]
        else:
            steps = [("status", CallStatus.RINGING), ("end", CallStatus(fate))]
        out.append(steps)
    return out


def timeline(world: World, legs: list[list[tuple[str, Any]]], order: list[int]) -> list[Report]:
    """Interleave the legs' steps in ``order`` (leg indices) and stamp them as a provider would:
    increasing time, a sequence per leg, a room-wide sequence for membership reports."""
    reports: list[Report] = []
    positions = [0] * len(legs)
    call_seq = [itertools.count(1) for _ in legs]
    room_seq = itertools.count(1)
    answered_at: dict[int, float] = {0: world.clock.now}
    flags = [(False, False) for _ in legs]
    t = world.clock.now
    for leg in order:
        if positions[leg] >= len(legs[leg]):
            continue
        kind, arg = legs[leg][positions[leg]]
        positions[leg] += 1
        t += 1.5
        sid = f"CA{leg + 1:04d}"
        if kind in ("status", "end"):
            duration = None
            if kind == "end":
                duration = t - answered_at[leg] if arg is CallStatus.COMPLETED else 0.0
            if arg is IN:
                answered_at[leg] = t
            reports.append(
                CallReport(
                    arg, t, provider_call_id=sid, sequence=next(call_seq[leg]), duration=duration
                )
            )
        else:
            if kind == "flags":
                muted, held = flags[leg]
                flags[leg] = (not muted, held) if arg % 2 == 0 else (muted, not held)
            change = {
                "join": ParticipantChange.JOINED,
                "leave": ParticipantChange.LEFT,
                "flags": ParticipantChange.MODIFIED,
            }[kind]
            reports.append(
                ParticipantReport(
                    change,
                    t,
                    conference_id=world.conference_id,
                    provider_call_id=sid,
                    sequence=next(room_seq),
                    muted=flags[leg][0],
                    on_hold=flags[leg][1],
                )
            )
    return reports


def final(world: World) -> tuple[Any, ...]:
    conf = world.board.get(world.conference_id)
    legs = tuple(
        (str(c.endpoint), c.status, c.end_reason, c.duration, c.ended_at) for c in conf.calls
    )
    members = tuple((str(p.endpoint), p.state) for p in conf.participants)
    room = (conf.status, conf.end_reason, conf.end_party, conf.ended_at)
    terminal: list[tuple[Any, ...]] = []
    for event in world.recorder.events:
        if isinstance(event, ev.CallEnded):
            terminal.append(
                ("call-ended", event.endpoint, event.status, event.reason, event.duration, event.at)
            )
        elif isinstance(event, ev.ConferenceEnded):
            fields = dataclasses.asdict(event)
            fields.pop("conference_id")
            terminal.append(("conference-ended", tuple(sorted(fields.items()))))
    return legs, members, room, tuple(sorted(terminal, key=repr))


def run(extra: int, fates: list[str], toggles: int, order: list[int], shuffle: Any) -> Any:
    results = []
    for permute in (False, True):
        world = setup_room(extra)
        reports = timeline(world, scripts(fates, toggles), order)
        if permute:
            reports = shuffle(reports)
        with world.recorder.listening():
            for report in reports:
                world.board.apply(report)
        results.append(final(world))
        assert world.board.get(world.conference_id).status is ConferenceStatus.ENDED
    return results


@st.composite
def lifecycles(draw: st.DrawFn) -> tuple[int, list[str], int, list[int]]:
    extra = draw(st.integers(0, 2))
    fates = draw(st.lists(st.sampled_from(FATES), min_size=extra + 1, max_size=extra + 1))
    toggles = draw(st.integers(0, 3))
    legs = extra + 2
    # Enough slots for every step of every leg, in a random interleaving.
    order = draw(st.permutations([leg for leg in range(legs) for _ in range(toggles + 6)]))
    return extra, fates, toggles, list(order)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(life=lifecycles(), data=st.data())
def test_any_order_with_duplicates_ends_the_same(
    life: tuple[int, list[str], int, list[int]], data: st.DataObject
) -> None:
    def shuffle(reports: list[Report]) -> list[Report]:
        dupes = data.draw(st.lists(st.sampled_from(reports), max_size=len(reports)))
        return list(data.draw(st.permutations(reports + dupes)))

    in_order, shuffled = run(*life, shuffle)
    assert shuffled == in_order


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(
        [
            [CallStatus.INITIATED, CallStatus.RINGING, IN, CallStatus.COMPLETED],
            [CallStatus.INITIATED, CallStatus.RINGING, CallStatus.BUSY],
            [CallStatus.RINGING, CallStatus.NO_ANSWER],
            [CallStatus.INITIATED, CallStatus.CANCELED],
            [CallStatus.RINGING, IN, CallStatus.FAILED],
        ]
    ),
    data=st.data(),
)
def test_a_call_lifecycle_in_any_order_ends_in_the_same_status(
    path: list[CallStatus], data: st.DataObject
) -> None:
    """Also for unfinished lifecycles: the furthest status reported wins."""
    cut = data.draw(st.integers(1, len(path)))
    reports = [
        CallReport(s, 100.0 + i, provider_call_id="CA0001", sequence=i, duration=7.0)
        for i, s in enumerate(path[:cut])
    ]
    outcomes = []
    for batch in (reports, data.draw(st.permutations(reports + reports[: cut // 2]))):
        board = Switchboard(MemoryStore(), FakeProvider(), clock=Clock(), run_effect=lambda w: w())
        conf = board.dial("client:alice", "client:bob")
        for report in batch:
            board.apply(report)
        call = board.get(conf.id).caller
        outcomes.append((call.status, call.end_reason, call.duration))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is path[cut - 1]


@settings(max_examples=200, deadline=None)
@given(
    flags=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=8), data=st.data()
)
def test_participant_flags_follow_the_newest_report(
    flags: list[tuple[bool, bool]], data: st.DataObject
) -> None:
    world = setup_room(0)
    bob = "CA0002"
    world.board.apply(CallReport(IN, world.clock.tick(), provider_call_id=bob, sequence=1))
    reports = [
        ParticipantReport(
            ParticipantChange.JOINED if i == 0 else ParticipantChange.MODIFIED,
            world.clock.tick(),
            conference_id=world.conference_id,
            provider_call_id=bob,
            sequence=10 + i,
            muted=muted,
            on_hold=held,
        )
        for i, (muted, held) in enumerate(flags)
    ]
    for report in data.draw(st.permutations(reports + reports[:2])):
        world.board.apply(report)
    member = world.board.get(world.conference_id).participants[1]
    assert (member.muted, member.on_hold) == flags[-1]
    assert member.is_joined
