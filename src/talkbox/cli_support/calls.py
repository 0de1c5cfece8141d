"""What the call commands do (``dial``, ``hangup``, ``calls``, ``show``, ``conference ...``,
``transfer``, ``watch``); :mod:`talkbox.cli` only declares them, so that ``talkbox --help``
neither imports nor compiles this."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from talkbox.cli_support import render
from talkbox.cli_support.backends import Backend, DirectBackend, Room, ServerBackend
from talkbox.cli_support.errors import CliError


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, separators=(",", ":")))


def check_endpoint(text: str) -> None:
    """Refuse a malformed number or identity here (exit 2, with the reason) rather than after
    a round trip to the server or the provider; user names are resolved by the backend."""
    import os

    from talkbox.cli_support.backends import client_if_name
    from talkbox.model import Endpoint

    if text in ("-", "me"):
        return
    Endpoint.parse(client_if_name(text), os.environ.get("TALKBOX_DEFAULT_REGION") or "US")


def dial(backend: Backend, from_: str, to: str, wait: bool, interval: float, as_json: bool) -> None:
    check_endpoint(from_)
    check_endpoint(to)
    room = backend.dial(from_, to)
    if as_json and not wait:
        emit_json(room)
    elif not as_json:
        click.echo(
            f"calling {to} from {from_}: call {room['call_id']} in room {room['conference_id']}"
        )
    if wait:
        follow(backend, room, interval, as_json)
    elif isinstance(backend, DirectBackend):
        # Nobody else will dial the callee once the caller answers: wait until that happened.
        follow(backend, room, interval, as_json=True, until_placed=True, quiet=True)


def follow(
    backend: Backend,
    room: Room,
    interval: float,
    as_json: bool,
    *,
    until_placed: bool = False,
    quiet: bool = False,
) -> Room:
    """Print each leg's progress until the room ends (or, ``until_placed``, until no leg waits
    to be dialled); Ctrl-C offers to hang up our leg."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    my_call = room["call_id"]
    try:
        while True:
            changed = False
            for leg in room["legs"]:
                if seen.get(leg["call_id"]) != leg["status"]:
                    seen[leg["call_id"]] = leg["status"]
                    changed = True
                    if not as_json and not quiet:
                        elapsed = render.duration(time.monotonic() - started)
                        click.echo(
                            f"[{elapsed}] {leg['endpoint']}: {render.status_words(leg['status'])}"
                        )
            if changed and as_json and not quiet:
                emit_json(room)
            if room["status"] == "ended":
                if not as_json:
                    talk = render.duration(render.talk_time(room))
                    click.echo(f"ended: {room['end_reason']}, talk time {talk}")
                return room
            if until_placed and all(leg["status"] != "queued" for leg in room["legs"]):
                return room
            time.sleep(interval)
            backend.poll()
            room = backend.show(my_call)
    except KeyboardInterrupt:
        click.echo("", err=True)
        if click.confirm(f"hang up {my_call}?", default=True, err=True):
            backend.hangup(my_call)
            click.echo(f"hang-up requested for {my_call}", err=True)
        raise click.exceptions.Exit(130) from None


def list_calls(backend: Backend, show_all: bool, limit: int, as_json: bool) -> None:
    backend.poll()
    if show_all:
        ended = backend.history(limit)
        if as_json:
            emit_json(ended)
            return
        click.echo(render.HISTORY_HEADER)
        for item in ended:
            click.echo(render.history_line(item))
        return
    rooms = backend.live()
    if as_json:
        emit_json(rooms)
        return
    if not rooms:
        click.echo("no live calls")
        return
    click.echo(render.ROOM_HEADER)
    for room in rooms:
        click.echo(render.room_line(room))


def show(backend: Backend, ident: str, as_json: bool) -> None:
    room = room_of(backend, ident)
    if as_json:
        emit_json(room)
        return
    for line in render.room_block(room):
        click.echo(line)


def room_of(backend: Backend, ident: str) -> Room:
    backend.poll()
    return backend.show(ident)


def list_rooms(backend: Backend, as_json: bool) -> None:
    backend.poll()
    rooms = backend.live()
    if as_json:
        emit_json(rooms)
        return
    if not rooms:
        click.echo("no live rooms")
    for room in rooms:
        for line in render.room_block(room):
            click.echo(line)


def add(backend: Backend, room: str, to: str, as_json: bool) -> None:
    conf_id = room_of(backend, room)["conference_id"]
    result = backend.add(conf_id, to)
    if as_json:
        emit_json(result)
        return
    click.echo(f"dialling {to} into {conf_id}: call {result['added_call_id']}")


def leg_command(backend: Backend, name: str, call: str) -> None:
    """``mute``, ``unmute``, ``hold``, ``unhold`` or ``remove`` one leg of a room."""
    conf_id = room_of(backend, call)["conference_id"]
    if name in ("mute", "unmute"):
        backend.mute(conf_id, call, name == "mute")
    elif name in ("hold", "unhold"):
        backend.hold(conf_id, call, name == "hold")
    else:
        backend.remove(conf_id, call)
    click.echo(f"{name} requested for {call}")


def end(backend: Backend, room: str) -> None:
    conf_id = room_of(backend, room)["conference_id"]
    backend.end(conf_id)
    click.echo(f"end requested for {conf_id}")


def transfer(backend: Backend, call: str, to: str, warm: bool, as_json: bool) -> None:
    room = backend.transfer(call, to, warm)
    if as_json:
        emit_json(room)
        return
    kind = "warm" if warm else "cold"
    click.echo(f"{kind} transfer of {call} to {to}: call {room['target_call_id']}")
    if warm:
        click.echo(f"finish with: talkbox transfer {call} --complete (or --cancel)")


def finish_transfer(backend: Backend, call: str, complete: bool) -> None:
    conf_id = room_of(backend, call)["conference_id"]
    backend.finish_transfer(conf_id, complete)
    click.echo(f"transfer {'completion' if complete else 'cancel'} requested for {conf_id}")


def watch(
    backend: Backend, as_json: bool, count: int | None, until: str | None, device: str | None
) -> None:
    shown = 0
    try:
        for data in events(backend, device):
            if as_json:
                emit_json(data)
            else:
                click.echo(render.event_line(data))
            sys.stdout.flush()
            shown += 1
            if (count is not None and shown >= count) or data.get("type") == until:
                return
    except KeyboardInterrupt:
        return


def events(backend: Backend, device: str | None) -> Iterator[dict[str, Any]]:
    """Call events and presence: the server's stream, or what polling Twilio finds."""
    import secrets

    if isinstance(backend, ServerBackend):
        # Without --device an observer: the user's events, but not rung and not "online".
        observe = device is None
        device = device or f"cli-watch-{secrets.token_hex(4)}"
        for message in backend.client.stream(device, observe=observe):
            if message.event in ("call", "presence"):
                yield message.data
        raise CliError("the server closed the event stream", "is it shutting down?")
    yield from polled_events(backend, period=2.0)


def polled_events(backend: Backend, period: float) -> Iterator[dict[str, Any]]:
    """The events the switchboard publishes while polling applies what the provider says."""
    import queue

    from talkbox import events as ev

    found: queue.Queue[dict[str, Any]] = queue.Queue()

    def receiver(sender: object, **kwargs: Any) -> None:
        found.put(ev.to_dict(kwargs["event"]))

    ev.event_published.connect(receiver)  # ``receiver`` lives as long as this generator
    try:
        while True:
            backend.poll()
            while not found.empty():
                yield found.get()
            time.sleep(period)
    finally:
        ev.event_published.disconnect(receiver)
