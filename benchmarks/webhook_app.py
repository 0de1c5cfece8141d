"""The app the webhook benchmark serves under gunicorn: talkbox with the Twilio provider and a
memory store holding ``BENCH_LEGS`` inbound legs (ringing), plus ``POST /bare``, a bare Flask
route answering the same empty 204, as the baseline on the same server."""

from __future__ import annotations

import os

from flask import Flask, Response

from talkbox.config import Settings
from talkbox.store import MemoryStore
from talkbox.web import create_app, talkbox_of

PUBLIC = "https://bench.example.com"
AUTH_TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "1" * 32


def leg_sid(i: int) -> str:
    return f"CA{i:032x}"


def create() -> Flask:
    settings = Settings.from_env(
        {
            "TALKBOX_PROVIDER": "twilio",
            "TALKBOX_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_CALLER_ID": "+14155552671",
        }
    )
    app = create_app(settings, store=MemoryStore(), SECRET_KEY="bench", TESTING=True)
    board = talkbox_of(app).switchboard
    for i in range(int(os.environ.get("BENCH_LEGS", "1000"))):
        board.incoming("+14155552671", "client:bob", provider_call_id=leg_sid(i))

    @app.post("/bare")
    def bare() -> Response:
        return Response(status=204)

    return app
