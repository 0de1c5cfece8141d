"""The "Using Twilio" README example runs as written and serves signed webhooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.twilio_sim import (
    ACCOUNT_SID,
    API_KEY,
    API_SECRET,
    APP_SID,
    AUTH_TOKEN,
    CALLER_ID,
    PUBLIC_URL,
    FakeTwilio,
    joined,
    post,
    voice,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_using_twilio_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.split("## Using Twilio", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    for name, value in {
        "TALKBOX_PROVIDER": "twilio",
        "TALKBOX_STORE": "memory",
        "TALKBOX_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "TWILIO_TWIML_APP_SID": APP_SID,
        "TWILIO_CALLER_ID": CALLER_ID,
        "TWILIO_NUMBER_ROUTES": "+14155550100=alice,bob",
    }.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(snippet, "README.md", "exec"), namespace)
    app, board = namespace["app"], namespace["board"]
    with FakeTwilio().running():
        response = post(app.test_client(), voice("CA" + "e" * 32, "+12125551234", "+14155550100"))  # type: ignore[attr-defined]
        room = joined(response.data).room
        assert [str(c.endpoint) for c in board.get(room).calls] == [  # type: ignore[attr-defined]
            "+12125551234",
            "client:alice",
            "client:bob",
        ]
        assert board.credentials("alice").identity == "alice"  # type: ignore[attr-defined]
    board.close()  # type: ignore[attr-defined]
