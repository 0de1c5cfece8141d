from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from talkbox.config import Settings
from talkbox.providers.local import LocalProvider
from talkbox.store import MemoryStore, SQLiteStore, Store
from talkbox.web import Talkbox, create_app, talkbox_of
from talkbox.web.stream import DeviceStream
from tests.fakes import ManualTimers

PASSWORDS = {name: f"secret-{name}-pw" for name in ("alice", "bob", "carol")}


def inline(work):  # type: ignore[no-untyped-def]
    work()


@pytest.fixture
def timers() -> ManualTimers:
    return ManualTimers()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every web test runs on both stores: the quick start uses SQLite, the tests memory."""
    store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "web.db")
    yield store
    store.close()


@pytest.fixture
def app(timers: ManualTimers, store: Store) -> Iterator[Flask]:
    provider = LocalProvider(ring_timeout=30, grace=5, loopback_only=True, schedule=timers)
    app = create_app(
        Settings(store="memory"),
        store=store,
        provider=provider,
        run_effect=inline,
        TESTING=True,
        SECRET_KEY="test",
        TALKBOX_KEEPALIVE=0.05,
    )
    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"  # fast: these passwords guard nothing
    for name, password in PASSWORDS.items():
        tb.accounts.create_user(name, password)
    yield app
    tb.close()


@pytest.fixture
def tb(app: Flask) -> Talkbox:
    return talkbox_of(app)


class Device:
    """A device registered straight on the hub (no HTTP stream), to read what it is sent."""

    def __init__(self, tb: Talkbox, user: str, device_id: str) -> None:
        self.tb, self.user, self.id = tb, user, device_id
        self.stream: DeviceStream = tb.hub.open(user, device_id)
        self.received: list[tuple[str, dict[str, Any]]] = []

    def read(self) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(self.tb.provider, LocalProvider):
            self.tb.provider.drain()
        while True:
            try:
                item = self.stream.messages.get_nowait()
            except queue.Empty:
                return self.received
            if item is not None:
                self.received.append(
                    (item[0], (item[2] and {**item[1], "_id": item[2]}) or item[1])
                )

    def signals(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for k, m in self.read() if k == "signal" and kind in (None, m["type"])]

    def events(self) -> list[str]:
        return [m["type"] for k, m in self.read() if k == "call"]

    def close(self) -> None:
        self.tb.hub.close(self.stream)


class User:
    """A logged-in browser: a test client with the session's CSRF token."""

    def __init__(self, app: Flask, name: str) -> None:
        self.name = name
        self.client: FlaskClient = app.test_client()
        response = self.client.post("/api/login", json={"name": name, "password": PASSWORDS[name]})
        assert response.status_code == 200, response.json
        self.csrf = response.json["csrf_token"]  # type: ignore[index]

    def post(self, url: str, json: Any = None, **kw: Any) -> TestResponse:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=json, headers=headers, **kw)

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, **kw)

    def settle(self, tb: Talkbox) -> None:
        if isinstance(tb.provider, LocalProvider):
            tb.provider.drain()


@pytest.fixture
def alice(app: Flask) -> User:
    return User(app, "alice")


@pytest.fixture
def bob(app: Flask) -> User:
    return User(app, "bob")


@pytest.fixture
def carol(app: Flask) -> User:
    return User(app, "carol")
