"""Twilio's failures as :class:`~talkbox.errors.ProviderError`, in exactly one place, and the
retry policy that decides which of them may be tried again.

The ``twilio`` package raises :class:`~twilio.base.exceptions.TwilioRestException` for API
errors, :class:`~twilio.base.exceptions.TwilioServiceException` (not a subclass of the former)
for RFC 9457 problem documents, and lets ``requests`` exceptions (timeouts, refused
connections) escape untouched. Everything above this module sees only ``ProviderError``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.response import Response

from talkbox.errors import ProviderError
from talkbox.model import EndReason

log = logging.getLogger("talkbox.providers.twilio")

PROVIDER = "twilio"

#: Twilio error codes that mean "this number cannot be dialled": the leg ends as
#: ``invalid-number`` rather than a generic failure, so a user interface can say why.
#: 21211 invalid 'To' number, 21214 'To' cannot be reached, 21217 number does not appear
#: valid, 21401 invalid phone number, 13223/13224 <Dial> invalid number format / number.
INVALID_NUMBER_CODES = frozenset({13223, 13224, 21211, 21214, 21217, 21401})

#: "Too many concurrent requests": Twilio did not process the request, so repeating it
#: after backing off cannot do anything twice.
TOO_MANY_REQUESTS = 20429

#: Twilio-side failures that are usually over in a moment. Twilio may or may not have acted
#: on the request, so only a request that is harmless to repeat is tried again.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def provider_error(exc: BaseException) -> ProviderError | None:
    """The ProviderError for anything the twilio package or its HTTP layer raises; ``None`` for
    an exception that is not a provider failure (a bug of ours must stay visible)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = _int(getattr(exc, "status", None))
        code = _int(getattr(exc, "code", None))
        if isinstance(exc, TwilioRestException):
            message = str(exc.msg or f"HTTP {status} from Twilio")
        else:
            message = str(exc.detail or exc.title or f"HTTP {status} from Twilio")
        return ProviderError(
            message,
            provider=PROVIDER,
            status=status,
            code=code,
            reason=EndReason.INVALID_NUMBER if code in INVALID_NUMBER_CODES else None,
            retryable=status in TRANSIENT_STATUSES or code == TOO_MANY_REQUESTS,
        )
    if isinstance(exc, TwilioException):
        response = next((a for a in exc.args if isinstance(a, Response)), None)
        if response is not None:
            return _page_error(response)
        return ProviderError(str(exc) or type(exc).__name__, provider=PROVIDER)
    if isinstance(exc, requests.Timeout):
        # A connect timeout never reached Twilio; a read timeout may have been processed.
        connect = isinstance(exc, requests.ConnectTimeout)
        what = "connecting to" if connect else "waiting for an answer from"
        return ProviderError(f"timed out {what} Twilio", provider=PROVIDER, retryable=connect)
    if isinstance(exc, requests.ConnectionError):
        return ProviderError("could not connect to Twilio", provider=PROVIDER, retryable=True)
    if isinstance(exc, requests.RequestException):
        return ProviderError(f"request to Twilio failed: {exc}", provider=PROVIDER)
    return None


def _page_error(response: Response) -> ProviderError:
    """Listing (``calls.list``, ``conferences.list`` ...) does not raise TwilioRestException:
    it raises a bare ``TwilioException("Unable to fetch page", response)``. Read the status
    and Twilio's error body from that response, so that a 429 or a 503 while listing is
    typed, and retried, like any other."""
    status = _int(response.status_code)
    try:
        body = json.loads(response.text or "{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = _int(body.get("code"))
    return ProviderError(
        str(body.get("message") or f"HTTP {status} from Twilio"),
        provider=PROVIDER,
        status=status,
        code=code,
        retryable=status in TRANSIENT_STATUSES or code == TOO_MANY_REQUESTS,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``attempts`` tries in all, sleeping ``base``, ``2*base`` ...
    (never more than ``cap``) between them. ``sleep`` is injectable so tests do not wait."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 4.0
    sleep: Callable[[float], None] = time.sleep

    def run(self, what: str, request: Callable[[], T], *, repeatable: bool) -> T:
        """Run ``request``; map its failure to ProviderError; retry what is safe to retry.

        ``repeatable`` requests (reads, updates to a fixed state, deletes) are retried on 429,
        5xx and connection errors: doing them twice leaves the same result as doing them once.
        A read timeout is not retried even then: Twilio is slow rather than unreachable, and
        waiting ``attempts`` times the client's timeout would hold the caller far too long.
        Other requests (creating a call or a participant) are retried only on 429/20429,
        which Twilio documents as "not processed". A connection error or a 5xx on a create
        is *not* retried: the request may have reached Twilio and rung somebody already, and
        ringing them twice is worse than reporting a failure.
        """
        delay = self.base
        attempt = 1
        while True:
            try:
                return request()
            except Exception as exc:
                error = provider_error(exc)
                if error is None:
                    raise
                throttled = error.status == 429 or error.code == TOO_MANY_REQUESTS
                may_retry = error.retryable and (repeatable or throttled)
                if not may_retry or attempt >= self.attempts:
                    if error is exc:
                        raise
                    raise error from exc
                log.info("%s failed (%s); retry %d in %.1fs", what, error, attempt, delay)
                self.sleep(min(delay, self.cap))
                delay *= 2
                attempt += 1
