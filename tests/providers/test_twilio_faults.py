"""Twilio failing: 429, 500, 503, a slow answer (read timeout), an unreachable API (connect
timeout) and a dropped connection, for every kind of request the adapter makes.

The rules checked, per request kind and fault:

* a create (``calls.create``, ``participants.create``) is repeated only after a 429, which
  Twilio documents as "not processed"; after a 5xx or a connection failure it may have rung
  somebody already, so it is never sent twice;
* a repeatable request (updates to a fixed state, deletes, reads) is retried, a bounded number
  of times with backoff, after a 429, a 5xx or a connection failure, but not after a read
  timeout (Twilio is slow, not unreachable: retrying would hold the caller for minutes);
* whatever happens, the caller gets a typed ``ProviderError`` with Twilio's status and code.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from talkbox.errors import ProviderError
from talkbox.model import Call, CallStatus, Conference, ConferenceStatus, Endpoint, EndReason, Role
from talkbox.providers.twilio import RetryPolicy, TwilioProvider
from talkbox.providers.twilio.errors import provider_error
from tests.twilio_sim import (
    FakeTwilio,
    Reply,
    call_sid,
    conference_sid,
    provider,
    raising,
    server_error,
    too_many_requests,
)

CONF = "conf_00112233aabbccdd"
CF = conference_sid(CONF)


def leg(call_id: str, endpoint: str, status: CallStatus, sid: str | None) -> Call:
    return Call(
        id=call_id,
        conference_id=CONF,
        endpoint=Endpoint.parse(endpoint),
        role=Role.CALLER if call_id.endswith("1") else Role.CALLEE,
        status=status,
        created_at=0.0,
        provider_id=sid,
    )


ALICE = leg("call_a11ce00000000001", "client:alice", CallStatus.IN_PROGRESS, call_sid(1))
BOB = leg("call_b0b0000000000002", "client:bob", CallStatus.IN_PROGRESS, call_sid(2))
CAROL = leg("call_ca20100000000003", "+14155552673", CallStatus.QUEUED, None)


def room() -> Conference:
    conf = Conference(
        id=CONF,
        owner=ALICE.endpoint,
        status=ConferenceStatus.ACTIVE,
        created_at=0.0,
        provider_id=CF,
    )
    for call in (ALICE, BOB, CAROL):
        conf = conf.with_call(call)
    return conf


@dataclass(frozen=True)
class Kind:
    """One kind of request: how to make it, and where it goes."""

    method: str
    path: str  # a regex over the path after /Accounts/{AccountSid}
    run: Callable[[TwilioProvider], object]
    create: bool = False


KINDS: dict[str, Kind] = {
    "place": Kind("POST", r"/Calls\.json", lambda a: a.place_call(room(), CAROL), create=True),
    "add-participant": Kind(
        "POST",
        rf"/Conferences/{CONF}/Participants\.json",
        lambda a: a.add_participant(room(), CAROL),
        create=True,
    ),
    "hangup": Kind("POST", r"/Calls/CA\w+\.json", lambda a: a.hangup(BOB)),
    "mute": Kind(
        "POST",
        rf"/Conferences/{CF}/Participants/CA\w+\.json",
        lambda a: a.set_muted(room(), BOB, True),
    ),
    "hold": Kind(
        "POST",
        rf"/Conferences/{CF}/Participants/CA\w+\.json",
        lambda a: a.set_on_hold(room(), BOB, True),
    ),
    "kick": Kind(
        "DELETE",
        rf"/Conferences/{CF}/Participants/CA\w+\.json",
        lambda a: a.remove_participant(room(), BOB),
    ),
    "end-room": Kind("POST", rf"/Conferences/{CF}\.json", lambda a: a.end_conference(room())),
    "farewell": Kind("POST", r"/Calls/CA\w+\.json", lambda a: a.farewell(BOB, EndReason.NO_ANSWER)),
    "live": Kind("GET", r"/Calls\.json", lambda a: a.live()),
    "live-rooms": Kind("GET", r"/Conferences\.json", lambda a: a.live()),
}


@dataclass(frozen=True)
class Fault:
    reply: Callable[[], Reply] | Reply
    status: int | None
    message: str
    transient: bool = True  # worth retrying a repeatable request after
    unprocessed: bool = False  # Twilio says it did nothing: even a create may be repeated


FAULTS: dict[str, Fault] = {
    "429": Fault(too_many_requests(), 429, "Too Many Requests", unprocessed=True),
    "500": Fault(server_error(500), 500, "HTTP 500 from Twilio"),
    "503": Fault(server_error(503), 503, "HTTP 503 from Twilio"),
    "slow": Fault(
        raising(requests.ReadTimeout("read timed out")),
        None,
        "timed out waiting for an answer from Twilio",
        transient=False,
    ),
    "unreachable": Fault(
        raising(requests.ConnectTimeout("connect timed out")),
        None,
        "timed out connecting to Twilio",
    ),
    "dropped": Fault(
        raising(
            requests.ConnectionError(
                "Connection aborted.", http.client.RemoteDisconnected("closed")
            )
        ),
        None,
        "could not connect to Twilio",
    ),
}

ATTEMPTS = RetryPolicy().attempts


def retried(kind: Kind, fault: Fault) -> bool:
    return fault.unprocessed or (fault.transient and not kind.create)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio().running() as fake:
        yield fake


@pytest.mark.parametrize("fault_name", sorted(FAULTS))
@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_a_lasting_fault_is_a_typed_error_after_bounded_tries(
    twilio: FakeTwilio, kind_name: str, fault_name: str
) -> None:
    kind, fault = KINDS[kind_name], FAULTS[fault_name]
    for _ in range(ATTEMPTS + 2):
        twilio.fail(kind.method, kind.path, fault.reply)
    sleeps: list[float] = []
    with pytest.raises(ProviderError) as caught:
        kind.run(provider(sleeps))
    error = caught.value
    assert (error.provider, error.status) == ("twilio", fault.status)
    assert fault.message in str(error)
    tries = ATTEMPTS if retried(kind, fault) else 1
    assert len(twilio.requests(kind.method, kind.path)) == tries
    assert sleeps == [0.5, 1.0, 2.0][: tries - 1]  # exponential backoff, never unbounded


@pytest.mark.parametrize("fault_name", sorted(FAULTS))
@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_a_passing_fault_is_ridden_out_only_where_that_is_safe(
    twilio: FakeTwilio, kind_name: str, fault_name: str
) -> None:
    kind, fault = KINDS[kind_name], FAULTS[fault_name]
    twilio.fail(kind.method, kind.path, fault.reply)
    adapter = provider()
    if retried(kind, fault):
        kind.run(adapter)
        first, second = twilio.requests(kind.method, kind.path)[:2]
        assert (first.method, first.path, first.form) == (second.method, second.path, second.form)
    else:
        with pytest.raises(ProviderError):
            kind.run(adapter)
        # a create that may have rung somebody is not repeated, nor is a slow request
        assert len(twilio.requests(kind.method, kind.path)) == 1


@pytest.mark.parametrize("fault_name", sorted(FAULTS))
def test_final_report_under_a_fault_is_unknown_not_an_error(
    twilio: FakeTwilio, fault_name: str
) -> None:
    """Recovery asks how a finished leg ended; when Twilio cannot say, it falls back on what
    the store knows rather than failing the whole reconciliation."""
    fault = FAULTS[fault_name]
    for _ in range(ATTEMPTS + 2):
        twilio.fail("GET", r"/Calls/CA\w+\.json", fault.reply)
    assert provider().final_report(call_sid(2)) is None
    assert len(twilio.sent) == (ATTEMPTS if fault.transient else 1)


def test_a_twilio_service_exception_is_typed_too() -> None:
    from twilio.base.exceptions import TwilioServiceException

    error = provider_error(TwilioServiceException("about:blank", "Unavailable", 503, 20503, "x"))
    assert error is not None
    assert (error.status, error.code, error.retryable) == (503, 20503, True)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ('{"code": 20003, "message": "Authenticate", "status": 401}', "Authenticate", 20003),
        ("<html>Bad Gateway</html>", "HTTP 401 from Twilio", None),
        ('["not", "an", "object"]', "HTTP 401 from Twilio", None),
    ],
)
def test_a_failed_listing_carries_twilios_status(body: str, message: str, code: int | None) -> None:
    """Listing raises a bare TwilioException holding the response; its status still counts."""
    from twilio.base.exceptions import TwilioException
    from twilio.http.response import Response

    error = provider_error(TwilioException("Unable to fetch page", Response(401, body)))
    assert error is not None
    assert (error.status, error.code, error.message, error.retryable) == (401, code, message, False)


# -- a real slow server --------------------------------------------------------------------------
@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = server.getsockname()
    try:
        yield f"http://{host}:{port}", accepted
    finally:
        stop.set()
        thread.join(1)
        server.close()
        for conn in accepted:
            conn.close()


def test_the_client_timeout_really_cuts_a_silent_twilio_short(
    silent_server: tuple[str, list[socket.socket]],
) -> None:
    """No ``responses`` here: the twilio package's own HTTP client, built with our timeout,
    against a socket that never answers. The hangup fails fast with a typed error, once."""
    from twilio.http.http_client import TwilioHttpClient

    base, accepted = silent_server

    class Loopback(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(
                method, url.replace("https://api.twilio.com", base), *args, **kwargs
            )

    adapter = provider(timeout=0.2)
    adapter.client.http_client = Loopback(timeout=0.2)
    with pytest.raises(ProviderError, match="timed out waiting for an answer") as caught:
        adapter.hangup(BOB)
    assert caught.value.status is None
    assert len(accepted) == 1  # sent once: a slow Twilio is not asked again
