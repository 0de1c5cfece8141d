"""The local provider's room features: the mesh limit, hold both ways, digits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from talkbox import events as ev
from talkbox.errors import Conflict
from talkbox.providers.local import MESH_LIMIT
from tests.fakes import Recorder
from tests.providers.test_local import World


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.provider.close()
    w.board.close()


def full_room(world: World, size: int) -> tuple[str, list[str]]:
    """A room of ``size`` connected people u0..; returns its id and their leg ids."""
    people = [f"u{i}" for i in range(size)]
    for name in people:
        world.online(name, f"{name}-d")
    conf_id, first = world.originate(people[0], f"{people[0]}-d", f"client:{people[1]}")
    legs = [first]
    for name in people[1:]:
        if name != people[1]:
            world.board.add_participant(conf_id, f"client:{name}")
            world.settle()
        invite = world.invite(f"{name}-d")
        legs.append(world.provider.accept(name, f"{name}-d", str(invite["call_id"]))["leg"])
        world.settle()
    return conf_id, legs


def test_a_room_holds_the_documented_number_and_refuses_one_more(
    world: World, recorder: Recorder
) -> None:
    assert MESH_LIMIT >= 5
    conf_id, _ = full_room(world, MESH_LIMIT)
    assert len(world.board.get(conf_id).connected()) == MESH_LIMIT
    world.online("extra", "extra-d")
    world.board.add_participant(conf_id, "client:extra")
    world.settle()
    failed = [e for e in recorder.events if isinstance(e, ev.CommandFailed)]
    assert failed[-1].code == "room-full"
    assert f"at most {MESH_LIMIT} people" in failed[-1].message
    assert "invite" not in world.hub.types("extra-d")


def test_hold_tells_the_held_device_and_every_other_one(world: World) -> None:
    conf_id, legs = full_room(world, 3)
    held = world.board.get(conf_id).calls[1]
    world.board.hold(held.id)
    assert world.hub.to("u1-d")[-1] == {"type": "hold", "leg": legs[1], "on_hold": True}
    for device, leg in (("u0-d", legs[0]), ("u2-d", legs[2])):
        assert world.hub.to(device)[-1] == {
            "type": "peer-hold",
            "leg": leg,
            "from": legs[1],
            "on_hold": True,
        }


def test_digits_go_to_the_others_only_from_the_holding_device(world: World) -> None:
    conf_id, _ = full_room(world, 3)
    call_id = world.board.get(conf_id).calls[0].id
    assert world.provider.digits("u0", "u0-d", call_id, "5*") == 2
    assert world.hub.to("u2-d")[-1]["digits"] == "5*"
    with pytest.raises(Conflict):
        world.provider.digits("u0", "other-device", call_id, "5")
    with pytest.raises(Conflict):
        world.provider.digits("u0", "u0-d", call_id, "5; rm")
