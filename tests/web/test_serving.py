"""Serving concerns: health endpoints, Twilio webhooks mounted with the Twilio provider, and
two server processes sharing Redis (a stream on one sees events committed by the other)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from talkbox import events
from talkbox.config import Settings
from talkbox.model import CallStatus
from talkbox.providers.base import CallReport
from talkbox.providers.local import LocalProvider
from talkbox.store import MemoryStore, Store
from talkbox.store.redis_store import RedisStore
from talkbox.web import create_app, talkbox_of
from tests.fakes import ManualTimers
from tests.store.redis_fixture import redis_client, scratch_prefix
from tests.web.conftest import inline


def local_app(store: Store) -> Flask:
    provider = LocalProvider(ring_timeout=30, grace=5, loopback_only=True, schedule=ManualTimers())
    return create_app(
        Settings(store="memory"),
        store=store,
        provider=provider,
        run_effect=inline,
        TESTING=True,
        SECRET_KEY="test",
    )


def test_healthz_and_readyz() -> None:
    app = local_app(MemoryStore())
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"store": "ok", "provider": "local"}}
    talkbox_of(app).close()


def test_readyz_says_why_it_is_not_ready(tmp_path: object) -> None:
    class BrokenStore(MemoryStore):
        def history(self, **kw: object) -> list:  # type: ignore[override]
            raise OSError("disk on fire")

    app = local_app(BrokenStore())
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["store"] == "error: disk on fire"  # type: ignore[index]
    assert app.test_client().get("/healthz").status_code == 200  # alive, just not ready
    talkbox_of(app).close()


def test_the_twilio_provider_brings_its_webhooks() -> None:
    settings = Settings.from_env(
        {
            "TALKBOX_PROVIDER": "twilio",
            "TALKBOX_PUBLIC_URL": "https://talk.example.com",
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_CALLER_ID": "+14155552671",
        }
    )
    app = create_app(settings, store=MemoryStore(), TESTING=True, SECRET_KEY="test")
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/twilio/voice", "/twilio/call-status", "/twilio/conference-status"} <= rules
    unsigned = app.test_client().post("/twilio/call-status", data={"CallSid": "CA1"})
    assert unsigned.status_code == 400  # the blueprint checks signatures
    talkbox_of(app).close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with scratch_prefix() as prefix:
        yield prefix


def test_two_processes_on_redis_share_calls_and_events(redis_prefix: str) -> None:
    """A call placed through process A is seen by a device stream held by process B."""
    a = local_app(RedisStore(redis_client(), prefix=redis_prefix))
    b = local_app(RedisStore(redis_client(), prefix=redis_prefix))
    tb_a, tb_b = talkbox_of(a), talkbox_of(b)
    assert tb_a.bridge is not None
    assert tb_b.bridge is not None
    assert b.test_client().get("/readyz").json["checks"]["bridge"] == "ok"  # type: ignore[index]
    bobs_tab = tb_b.hub.open("bob", "tab1")
    # A telephone call comes in through process A (a webhook hit A) for bob ...
    room = tb_a.switchboard.incoming("+14155552671", "client:bob", provider_call_id="PSTN1")
    # ... and the caller gives up before anyone answered.
    tb_a.switchboard.apply(CallReport(CallStatus.CANCELED, provider_call_id="PSTN1"))
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "conference-ended" not in seen:
        try:
            item = bobs_tab.messages.get(timeout=0.1)
        except Exception:
            continue
        if item is not None and item[0] == "call":
            seen.append(item[1]["type"])
    assert seen[0] == "conference-created"
    assert "call-ended" in seen
    assert seen[-1] == "conference-ended"
    assert tb_b.switchboard.get(room.id).status.value == "ended"  # same state on B
    tb_a.close()
    tb_b.close()


def test_start_up_reconciles_with_the_provider_in_the_background() -> None:
    from talkbox.providers.base import LiveCall, LiveConference, LiveParticipant, LiveView
    from tests.fakes import FakeProvider

    class Remote(FakeProvider):
        """A provider that keeps state itself (like Twilio): a room survived our restart."""

        def live(self) -> LiveView:
            return LiveView(
                calls=(LiveCall("CA1", CallStatus.IN_PROGRESS, "client:bob", "+14155552671"),),
                conferences=(LiveConference("CF1", "conf_survivor", (LiveParticipant("CA1"),)),),
            )

    app = create_app(
        Settings(store="memory"), store=MemoryStore(), provider=Remote(), SECRET_KEY="test"
    )
    tb = talkbox_of(app)
    assert tb.reconciled.wait(5)
    assert tb.switchboard.get("conf_survivor").calls[0].provider_id == "CA1"
    tb.close()


def test_the_local_provider_is_not_reconciled_at_start_up() -> None:
    app = local_app(MemoryStore())
    tb = talkbox_of(app)
    tb.reconcile_in_background()
    assert tb.reconciled.is_set()  # at once: nothing was asked of the provider
    tb.close()


def test_a_stream_gets_one_rooms_events_in_log_order_whichever_process_committed_them(
    redis_prefix: str,
) -> None:
    """B commits a room's first events, A the next ones. A publishes its own at once, but its
    streams must not see them before B's, or a reconnect ("after id N") could skip B's."""
    a = local_app(RedisStore(redis_client(), prefix=redis_prefix))
    b = local_app(RedisStore(redis_client(), prefix=redis_prefix))
    tb_a, tb_b = talkbox_of(a), talkbox_of(b)
    assert tb_a.bridge is not None
    tb_a.bridge.stop()  # A hears of no commit until the test hands it one
    bobs_tab = tb_a.hub.open("bob", "tab1")
    tb_b.switchboard.incoming("+14155552671", "client:bob", provider_call_id="PSTN2")
    tb_a.switchboard.apply(CallReport(CallStatus.CANCELED, provider_call_id="PSTN2"))

    def call_ids() -> list[int]:
        ids = []
        while not bobs_tab.messages.empty():
            item = bobs_tab.messages.get_nowait()
            if item is not None and item[0] == "call":
                ids.append(item[2])
        return ids

    assert call_ids() == []  # A's own events wait for the log order
    origin, last = tb_a.store.raw_events(0)[-1]
    message = {
        "id": last.id,
        "origin": origin,
        "parties": sorted(last.parties),
        "event": events.to_dict(last.event),
    }
    tb_a.bridge.receive(json.dumps(message))  # the last commit arrives first
    assert call_ids() == list(range(1, last.id + 1))  # B's first, then A's, in order
    tb_a.close()
    tb_b.close()
