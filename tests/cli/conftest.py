"""A real talkbox server on 127.0.0.1 (werkzeug in a thread, local provider, memory store) and
devices driven through its HTTP API, so the CLI is tested end to end without a browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result
from werkzeug.serving import make_server

from talkbox.cli import cli
from talkbox.client import ServerClient, ServerUnreachable
from talkbox.config import Settings
from talkbox.providers.local import LocalProvider
from talkbox.store import MemoryStore
from talkbox.web import Talkbox, create_app, talkbox_of

USERS = ("alice", "bob", "carol")


@dataclass
class LiveServer:
    url: str
    tb: Talkbox
    tokens: dict[str, str]

    def client(self, user: str) -> ServerClient:
        return ServerClient(self.url, self.tokens[user], timeout=5)

    def invoke(self, user: str, *args: str, **kw: Any) -> Result:
        """Run ``talkbox ARGS`` as ``user`` (their API token) against this server."""
        env = {"TALKBOX_SERVER": self.url, "TALKBOX_API_TOKEN": self.tokens[user]}
        env.update(kw.pop("env", {}))
        return CliRunner().invoke(cli, list(args), env=env, **kw)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    provider = LocalProvider(ring_timeout=30, grace=5, loopback_only=True)
    app = create_app(
        Settings(store="memory"),
        store=MemoryStore(),
        provider=provider,
        SECRET_KEY="test",
        TALKBOX_KEEPALIVE=0.2,
    )
    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"  # fast: these passwords guard nothing
    tokens = {}
    for name in USERS:
        tb.accounts.create_user(name, f"secret-{name}-pw")
        tokens[name] = tb.accounts.issue_token(name, "tests")[1]
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{http.server_port}", tb, tokens)
    tb.close()  # ends the event streams, so their threads finish
    http.shutdown()
    thread.join(5)


class Device(threading.Thread):
    """A user's device on the server's event stream, as a browser would be: it acknowledges
    invites (ringing), and answers them if ``answer`` says so; ``after_answer`` runs then."""

    def __init__(
        self,
        server: LiveServer,
        user: str,
        *,
        answer: bool = True,
        after_answer: Callable[[Device, str], None] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.server, self.user, self.answer = server, user, answer
        self.device_id = f"test-{user}-device"
        self.after_answer = after_answer
        self.api = server.client(user)
        self.signals: list[dict[str, Any]] = []
        self.answered: list[str] = []

    def run(self) -> None:
        try:
            for message in self.api.stream(self.device_id):
                if message.event != "signal":
                    continue
                self.signals.append(message.data)
                if message.data["type"] == "invite":
                    self.on_invite(str(message.data["call_id"]))
        except ServerUnreachable:
            return  # the server went away at the end of the test

    def on_invite(self, call_id: str) -> None:
        body = {"device": self.device_id}
        self.api.post(f"/calls/{call_id}/ringing", body)
        if self.answer:
            time.sleep(0.05)
            self.api.post(f"/calls/{call_id}/accept", body)
            self.answered.append(call_id)
            if self.after_answer is not None:
                self.after_answer(self, call_id)

    def hang_up(self, call_id: str) -> None:
        self.api.post(f"/calls/{call_id}/hangup")

    def online(self) -> Device:
        """Start and wait until the server counts the device as connected."""
        self.start()
        wait_for(lambda: self.device_id in self.server.tb.hub.devices(self.user))
        return self


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def live_room(server: LiveServer, user: str) -> dict[str, Any]:
    """The user's one live room, once all of its legs have joined."""

    def joined() -> dict[str, Any] | None:
        calls = server.client(user).get("/calls")["calls"]
        if len(calls) == 1 and all(leg["joined"] for leg in calls[0]["legs"]):
            return dict(calls[0])
        return None

    wait_for(joined)
    room = joined()
    assert room is not None
    return room


def legs(room: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {leg["endpoint"]: leg for leg in room["legs"]}
