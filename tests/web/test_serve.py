"""The quick start: demo users exist only when serving on loopback."""

from __future__ import annotations

import pytest
from flask import Flask

from talkbox.web import Talkbox, serve
from talkbox.web.app import is_loopback


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "werkzeug.serving.run_simple",
        lambda host, port, app, **kw: calls.append((host, port)),
    )
    return calls


def test_demo_users_on_loopback(
    app: Flask, tb: Talkbox, no_server: list[tuple[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    tb.store.delete_user("alice")
    serve(app, "127.0.0.1", 8123)
    out = capsys.readouterr().out
    assert no_server == [("127.0.0.1", 8123)]
    password = out.split("alice")[1].split("password")[1].split()[0]
    assert tb.accounts.authenticate("alice", password).name == "alice"


def test_no_demo_users_elsewhere(
    app: Flask, tb: Talkbox, no_server: list[tuple[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    tb.store.delete_user("alice")
    serve(app, "0.0.0.0", 8123)
    assert "no demo users" in capsys.readouterr().out
    assert tb.store.get_user("alice") is None


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("example.com")


def test_app_settings_from_the_environment() -> None:
    from talkbox.errors import ConfigError
    from talkbox.web.app import settings_from_env

    found = settings_from_env(
        {"TALKBOX_GRACE": "2.5", "TALKBOX_LOOPBACK_ONLY": "1", "HOME": "/root"}
    )
    assert found == {"TALKBOX_GRACE": 2.5, "TALKBOX_LOOPBACK_ONLY": True}
    bad_values = (
        {"TALKBOX_GRACE": "soon"},
        {"TALKBOX_RING_TIMEOUT": "0"},
        {"TALKBOX_RING_TIMEOUT": "inf"},
        {"TALKBOX_LOOPBACK_ONLY": "y"},
    )
    for bad in bad_values:
        with pytest.raises(ConfigError):
            settings_from_env(bad)
