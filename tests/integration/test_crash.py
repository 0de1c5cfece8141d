"""kill -9 the single server with 50 live calls, restart it on the same store: no call is lost,
the restarted server carries on applying webhooks to them, and reconciling with Twilio's view
closes the calls that ended while it was down (with Twilio's reason).

SQLite, then Redis. The live calls are driven by signed webhooks (a browser dials a telephone;
its room waits for the caller to join). The reconciliation runs against a fake of Twilio's REST
API in this process, because the server processes cannot reach one; it reads the same store the
killed and restarted servers wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.store import Store, open_store
from talkbox.switchboard import Switchboard
from tests.integration.servers import Server, twilio_env
from tests.store.redis_fixture import REDIS_URL, scratch_prefix
from tests.twilio_sim import CALLER_ID, FakeTwilio, Leg, _call_body, provider, voice

CALLS = 50


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("gunicorn")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/crash.db"
        return
    with scratch_prefix() as prefix:
        yield f"{REDIS_URL}?prefix={prefix}"


def snapshot(store: Store) -> list[tuple[str, str, list[tuple[str, str, str | None]]]]:
    return [
        (c.id, c.status.value, [(str(x.endpoint), x.status.value, x.provider_id) for x in c.calls])
        for c in store.live()
    ]


def test_kill_9_with_50_live_calls_loses_none(store_url: str) -> None:
    env = twilio_env(store_url)
    server = Server(env)
    legs = [Leg(f"CA{i:032x}", f"client:user_{i}", "+14155550199") for i in range(CALLS)]
    for leg in legs:
        response = server.deliver(voice(leg.sid, leg.from_, leg.to))
        assert response.status_code == 200, response.text
        assert server.deliver(leg.status("in-progress", time.time())).status_code == 204
    store = open_store(store_url)
    before = snapshot(store)
    assert len(before) == CALLS
    store.close()

    server.kill()
    restarted = Server(env, port=server.port)
    try:
        store = open_store(store_url)
        assert snapshot(store) == before  # 0 calls lost
        # The restarted server carries on: ten callers hang up, their rooms end.
        for leg in legs[:10]:
            done = restarted.deliver(leg.status("completed", time.time(), duration=3))
            assert done.status_code == 204
        assert len(store.live()) == CALLS - 10
    finally:
        restarted.kill()

    # While it was down again, Twilio ended ten more calls (the callers were busy elsewhere, say);
    # the other thirty are still live. Reconciling closes exactly those ten, with Twilio's status.
    with FakeTwilio().running() as twilio:
        twilio.live_calls["in-progress"] = [
            _call_body(leg.sid, leg.to, leg.from_, "in-progress", "inbound") for leg in legs[20:]
        ]
        for leg in legs[10:20]:
            finished = _call_body(leg.sid, leg.to, CALLER_ID, "failed", "inbound")
            finished.update(duration="0", end_time="Tue, 25 Nov 2026 17:05:00 +0000")
            twilio.fail("GET", rf"/Calls/{leg.sid}\.json", (200, finished))
        board = Switchboard(store, provider(), run_effect=lambda work: work())
        result = board.reconcile()
    ended = {c.calls[0].provider_id: c for c in (store.get(cid) for cid, *_ in before)}
    for leg in legs[10:20]:
        room = ended[leg.sid]
        assert room.calls[0].status is CallStatus.FAILED  # Twilio's final status for the leg
        assert room.calls[0].end_reason is EndReason.FAILED
        assert room.status is ConferenceStatus.ENDED  # its queued callee was never dialled
    assert sorted(result.closed) == sorted(ended[leg.sid].calls[0].id for leg in legs[10:20])
    assert len(store.live()) == CALLS - 20
    store.close()
