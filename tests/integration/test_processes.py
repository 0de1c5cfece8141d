"""Real server processes under gunicorn, sharing one Redis: webhooks that hit process A reach a
browser stream held by process B, and the call goes on through B after A is killed (-9).

Twilio path (signed webhooks to the ``/twilio/*`` routes). No request reaches Twilio: the room
ends before any leg would be placed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from talkbox.store.redis_store import RedisStore
from talkbox.web.auth import Accounts
from tests.integration.servers import Server, twilio_env
from tests.store.redis_fixture import REDIS_URL, redis_client, scratch_prefix
from tests.twilio_sim import Leg, inbound_sid, voice


@pytest.fixture
def deployment() -> Iterator[tuple[Server, Server, str]]:
    pytest.importorskip("gunicorn")
    with scratch_prefix() as prefix:
        accounts = Accounts(RedisStore(redis_client(), prefix=prefix))
        accounts.hash_method = "pbkdf2:sha256:1000"
        accounts.create_user("bob", "long-enough-pw")
        _, secret = accounts.issue_token("bob", "test")
        env = twilio_env(f"{REDIS_URL}?prefix={prefix}")
        a, b = Server(env), Server(env)
        yield a, b, secret
        for server in (a, b):
            if server.proc.poll() is None:
                server.kill()  # a graceful stop would wait for the open event stream


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
    stream = f"{b.url}/api/stream?device=bobs-tab-1"
    threading.Thread(target=read_stream, args=(stream, token, events), daemon=True).start()
    time.sleep(0.5)  # the stream is open on B

    # bob's browser calls a telephone; Twilio's voice webhook lands on A.
    answer = a.deliver(voice(inbound_sid(1), "client:bob", "+14155550199"))
    assert answer.status_code == 200
    assert "<Conference" in answer.text
    first = events.get(timeout=10)
    assert first["type"] == "conference-created"

    a.kill()  # process A dies mid-call

    # The next webhook (the caller hangs up before joining) lands on B.
    bob = Leg(inbound_sid(1), "client:bob", "+14155550199")
    done = b.deliver(bob.status("completed", time.time(), duration=0))
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
