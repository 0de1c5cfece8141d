"""The two ways the CLI reaches calls, behind one small interface.

* :class:`ServerBackend`: a running talkbox server's JSON API with an API token. It works with
  every provider (the local one included) and acts as the token's user.
* :class:`DirectBackend`: a switchboard in this process on Twilio and the configured store, for
  when no server runs (see :mod:`talkbox.cli_support.direct`).

Both hand back rooms in the API's ``room`` shape (see the README's JSON API section), so the
commands render one format whichever way the call was reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from talkbox.errors import TalkboxError

if TYPE_CHECKING:
    from talkbox.client import ServerClient
    from talkbox.switchboard import Switchboard

Room = dict[str, Any]


class BadUsage(TalkboxError):
    """The command line asks for something this backend cannot do (exit code 2)."""

    input_error = True

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def open_backend(server: str | None, api_token: str | None, timeout: float) -> Backend:
    """A server when one is named; else Twilio directly when its credentials are set; else
    the default local server."""
    from talkbox.client import DEFAULT_SERVER, ServerClient

    if not server:
        from talkbox.config import Settings

        settings = Settings.from_env()
        if settings.twilio is not None:
            from talkbox.cli_support.direct import direct_switchboard

            return DirectBackend(direct_switchboard(settings))
    try:
        client = ServerClient(server or DEFAULT_SERVER, api_token, timeout)
    except ValueError as exc:
        raise BadUsage(str(exc), "e.g. --server http://127.0.0.1:8000") from None
    return ServerBackend(client)


def client_if_name(text: str) -> str:
    """A bare user name means that user's browser client (the server's API does the same)."""
    text = text.strip()
    if text and ":" not in text and not any(ch.isdigit() for ch in text[:1] + text[-1:]):
        return f"client:{text}"
    return text


class Backend(Protocol):
    """What the commands need; ids are talkbox's (``call_...`` legs, ``conf_...`` rooms)."""

    name: str

    def dial(self, from_: str, to: str) -> Room: ...
    def show(self, ident: str) -> Room: ...
    def live(self) -> list[Room]: ...
    def history(self, limit: int) -> list[dict[str, Any]]: ...
    def hangup(self, call_id: str) -> None: ...
    def add(self, room_id: str, to: str) -> Room: ...
    def mute(self, room_id: str, call_id: str, muted: bool) -> None: ...
    def hold(self, room_id: str, call_id: str, on_hold: bool) -> None: ...
    def remove(self, room_id: str, call_id: str) -> None: ...
    def end(self, room_id: str) -> None: ...
    def transfer(self, call_id: str, to: str, warm: bool) -> Room: ...
    def finish_transfer(self, room_id: str, complete: bool) -> None: ...
    def poll(self) -> None: ...


class ServerBackend:
    """A talkbox server; every command acts as the API token's user."""

    name = "server"

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self._me: str | None = None

    @property
    def me(self) -> str:
        if self._me is None:
            self._me = str(self.client.get("/me")["user"])
        return self._me

    def dial(self, from_: str, to: str) -> Room:
        if from_ not in ("-", "me", self.me, f"client:{self.me}"):
            raise BadUsage(
                f"the server dials as {self.me} (the API token's user), not {from_}",
                f"use 'talkbox dial {self.me} {to}', or a token of {from_}",
            )
        room: Room = self.client.post("/calls", {"to": to})
        return room

    def show(self, ident: str) -> Room:
        path = f"/rooms/{ident}" if ident.startswith("conf_") else f"/calls/{ident}"
        room: Room = self.client.get(path)
        return room

    def live(self) -> list[Room]:
        return list(self.client.get("/calls")["calls"])

    def history(self, limit: int) -> list[dict[str, Any]]:
        return list(self.client.get(f"/history?limit={limit}")["calls"])

    def hangup(self, call_id: str) -> None:
        self.client.post(f"/calls/{call_id}/hangup")

    def add(self, room_id: str, to: str) -> Room:
        room: Room = self.client.post(f"/rooms/{room_id}/participants", {"to": to})
        return room

    def mute(self, room_id: str, call_id: str, muted: bool) -> None:
        self.client.post(f"/rooms/{room_id}/participants/{call_id}/mute", {"muted": muted})

    def hold(self, room_id: str, call_id: str, on_hold: bool) -> None:
        self.client.post(f"/rooms/{room_id}/participants/{call_id}/hold", {"on_hold": on_hold})

    def remove(self, room_id: str, call_id: str) -> None:
        self.client.post(f"/rooms/{room_id}/participants/{call_id}/remove")

    def end(self, room_id: str) -> None:
        self.client.post(f"/rooms/{room_id}/end")

    def transfer(self, call_id: str, to: str, warm: bool) -> Room:
        room: Room = self.client.post(f"/calls/{call_id}/transfer", {"to": to, "warm": warm})
        return room

    def finish_transfer(self, room_id: str, complete: bool) -> None:
        self.client.post(f"/rooms/{room_id}/transfer/{'complete' if complete else 'cancel'}")

    def poll(self) -> None:
        """Nothing to do: the server hears from the provider itself."""


class DirectBackend:
    """A switchboard in this process (Twilio, direct); rooms are seen as their owner sees them."""

    name = "direct"

    def __init__(self, board: Switchboard) -> None:
        self.board = board

    def _view(self, conference_id: str) -> Room:
        from talkbox.web.api import room_view

        conf = self.board.get(conference_id)
        return room_view(conf, str(conf.owner))

    def dial(self, from_: str, to: str) -> Room:
        return self._view(self.board.dial(client_if_name(from_), client_if_name(to)).id)

    def show(self, ident: str) -> Room:
        if ident.startswith("conf_"):
            return self._view(ident)
        conf, call = self.board.find_call(ident)
        room = self._view(conf.id)
        room["call_id"] = call.id
        return room

    def live(self) -> list[Room]:
        return [self._view(c.id) for c in self.board.live()]

    def history(self, limit: int) -> list[dict[str, Any]]:
        from talkbox import events as ev

        return [ev.to_dict(e) for e in self.board.history(limit=limit)]

    def hangup(self, call_id: str) -> None:
        self.board.hangup(call_id)

    def _leg_of(self, room_id: str, call_id: str) -> str:
        self.board.get(room_id).call(call_id)  # NotFound unless the leg is in that room
        return call_id

    def add(self, room_id: str, to: str) -> Room:
        call = self.board.add_participant(room_id, client_if_name(to))
        room = self._view(room_id)
        room["added_call_id"] = call.id
        return room

    def mute(self, room_id: str, call_id: str, muted: bool) -> None:
        self.board.mute(self._leg_of(room_id, call_id), muted)

    def hold(self, room_id: str, call_id: str, on_hold: bool) -> None:
        self.board.hold(self._leg_of(room_id, call_id), on_hold)

    def remove(self, room_id: str, call_id: str) -> None:
        self.board.remove(self._leg_of(room_id, call_id))

    def end(self, room_id: str) -> None:
        self.board.end_conference(room_id)

    def transfer(self, call_id: str, to: str, warm: bool) -> Room:
        leg = self.board.transfer(call_id, client_if_name(to), warm=warm)
        room = self._view(leg.conference_id)
        room["target_call_id"] = leg.id
        return room

    def finish_transfer(self, room_id: str, complete: bool) -> None:
        if complete:
            self.board.complete_transfer(room_id)
        else:
            self.board.cancel_transfer(room_id)

    def poll(self) -> None:
        """Ask Twilio what is live and apply the differences (no webhook reaches us)."""
        self.board.reconcile()
