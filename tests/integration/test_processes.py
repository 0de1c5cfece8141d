"""Real server processes under gunicorn, sharing one Redis: webhooks that hit process A reach a
browser stream held by process B, and the call goes on through B after A is killed (-9).

Twilio path (signed webhooks to the ``/twilio/*`` routes). No request reaches Twilio: the room
ends before any leg would be placed.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from talkbox.store.redis_store import RedisStore
from talkbox.web.auth import Accounts
from tests.store.redis_fixture import REDIS_URL, redis_client

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://talk.example.com"
TOKEN = "integration-auth-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One gunicorn process serving talkbox on 127.0.0.1:<port>."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "talkbox.web:create_app()",
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60  # a loaded CI machine starts gunicorn slowly
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError(f"gunicorn did not start: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)


def signed(path: str, params: dict[str, str]) -> dict[str, Any]:
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", params)
    return {"data": params, "headers": {"X-Twilio-Signature": signature}, "timeout": 5}


@pytest.fixture
def deployment() -> Iterator[tuple[Server, Server, str]]:
    pytest.importorskip("gunicorn")
    client = redis_client()
    prefix = f"tbtest_{secrets.token_hex(4)}"
    store = RedisStore(client, prefix=prefix)
    accounts = Accounts(store)
    accounts.hash_method = "pbkdf2:sha256:1000"
    accounts.create_user("bob", "long-enough-pw")
    _, secret = accounts.issue_token("bob", "test")
    env = {
        "TALKBOX_STORE": f"{REDIS_URL}?prefix={prefix}",
        "TALKBOX_PROVIDER": "twilio",
        "TALKBOX_PUBLIC_URL": PUBLIC,
        "TALKBOX_SECRET_KEY": "integration",
        "TALKBOX_RECONCILE_ON_START": "0",  # Twilio is unreachable from tests
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_CALLER_ID": "+14155552671",
    }
    a, b = Server(env), Server(env)
    yield a, b, secret
    for server in (a, b):
        if server.proc.poll() is None:
            server.kill()  # a graceful stop would wait for the open event stream
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def read_stream(url: str, token: str, into: queue.Queue[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=30) as response:
            assert response.status_code == 200, response.text
            event = None
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "call":
                    into.put(json.loads(line.split(":", 1)[1]))
    except requests.RequestException:
        pass  # the server went away at the end of the test


def test_webhooks_on_a_reach_a_stream_on_b_and_b_carries_on_after_a_dies(
    deployment: tuple[Server, Server, str],
) -> None:
    a, b, token = deployment
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(
        target=read_stream,
        args=(f"{b.url}/api/stream?device=bobs-tab-1", token, events),
        daemon=True,
    ).start()
    time.sleep(0.5)  # the stream is open on B

    # bob's browser calls a telephone; Twilio's voice webhook lands on A.
    voice = {
        "CallSid": "CA" + "a" * 32,
        "From": "client:bob",
        "To": "+14155550100",
        "CallStatus": "ringing",
        "AccountSid": "AC" + "1" * 32,
    }
    answer = requests.post(f"{a.url}/twilio/voice", **signed("/twilio/voice", voice))
    assert answer.status_code == 200
    assert "<Conference" in answer.text
    first = events.get(timeout=10)
    assert first["type"] == "conference-created"

    a.kill()  # process A dies mid-call

    # The next webhook (the caller hangs up before joining) lands on B.
    status = {
        "CallSid": voice["CallSid"],
        "CallStatus": "completed",
        "CallDuration": "0",
        "SequenceNumber": "3",
        "Timestamp": "Tue, 25 Nov 2026 17:05:00 +0000",
        "AccountSid": voice["AccountSid"],
    }
    done = requests.post(f"{b.url}/twilio/call-status", **signed("/twilio/call-status", status))
    assert done.status_code == 204
    seen = [first["type"]]
    deadline = time.monotonic() + 10
    while "conference-ended" not in seen and time.monotonic() < deadline:
        seen.append(events.get(timeout=10)["type"])
    assert seen == [
        "conference-created",
        "call-created",
        "call-created",
        "call-ended",
        "call-ended",
        "conference-ended",
    ]
