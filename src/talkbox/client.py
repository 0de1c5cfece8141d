"""A small client for the talkbox server's JSON API and event stream (what the CLI talks to).

It uses the standard library's :mod:`urllib.request` rather than ``requests``: the CLI imports
it on every server command, the standard library costs no extra import time or dependency, and
the few things needed (JSON bodies, a bearer token, reading a server-sent event stream line by
line) are a page of code. Failures become :class:`ServerError` (the server answered with an
error) or :class:`ServerUnreachable` (it did not answer), each with a hint a user can act on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from talkbox.errors import TalkboxError

DEFAULT_SERVER = "http://127.0.0.1:8000"

#: What to try next, by the API's error code (see ``talkbox.web.api``).
HINTS = {
    "unauthorized": "create a token with 'talkbox users token NAME' and set TALKBOX_API_TOKEN",
    "forbidden": "the API token's user must be a party of that call",
    "not-found": "list live calls with 'talkbox calls'; ids look like call_... or conf_...",
    "offline": "caller and callee each need a device (a browser) connected to the server",
    "conflict": "check the call's state with 'talkbox show CALL'",
    "provider-error": "the provider refused; 'talkbox doctor' checks its settings",
    "invalid-endpoint": "use a user name, client:NAME or a number such as +14155550100",
}


class ServerError(TalkboxError):
    """The server answered a request with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.input_error = status == 400  # the request was malformed: the user's input
        self.hint = HINTS.get(code)


class ServerUnreachable(TalkboxError):
    """No answer from the server: not running, wrong URL, or the network."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"cannot reach the talkbox server at {url}: {reason}")
        self.hint = "start it with 'talkbox serve', or set --server / TALKBOX_SERVER"


@dataclass(frozen=True)
class Message:
    """One server-sent event: its ``event:`` name, JSON ``data:`` and ``id:`` if any."""

    event: str
    data: dict[str, Any]
    id: int | None = None


class ServerClient:
    """The JSON API at ``base_url`` (the server's root; routes live under ``/api``)."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"server URL {base_url!r} must be http(s)://host[:port]")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> urllib.request.Request:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(
            f"{self.base_url}/api{path}", data=data, headers=headers, method=method
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON answer (None for an empty one)."""
        request = self._request(method, path, body)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerUnreachable(self.base_url, reason) from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def stream(
        self, device: str, last_event_id: int | None = None, *, observe: bool = False
    ) -> Iterator[Message]:
        """The user's event stream, message by message, until the server closes it.

        The stream registers ``device`` as one of the user's devices; with ``observe`` it only
        watches (never rung, not counted as online). Keep-alive comments are skipped.
        """
        path = f"/stream?device={quote(device)}" + ("&observe=1" if observe else "")
        if last_event_id is not None:
            path += f"&last_event_id={last_event_id}"
        request = self._request("GET", path)
        request.add_header("Accept", "text/event-stream")
        try:
            # Keep-alives arrive every few seconds, so a long read timeout only catches a
            # server that died without closing the connection.
            response = urllib.request.urlopen(request, timeout=max(self.timeout, 60.0))
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnreachable(self.base_url, getattr(exc, "reason", exc)) from None
        with response:
            yield from parse_sse(response)


def parse_sse(lines: Any) -> Iterator[Message]:
    """Server-sent events from an iterable of byte lines (the parts of the format we send)."""
    event, data, event_id = "message", "", None
    for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield Message(event, json.loads(data), event_id)
            event, data, event_id = "message", "", None
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data = f"{data}\n{value}" if data else value
            elif name == "id" and value.isdigit():
                event_id = int(value)


def _error(exc: urllib.error.HTTPError) -> ServerError:
    try:
        payload = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = str(payload.get("error") or f"http-{exc.code}")
    message = str(payload.get("message") or exc.reason or f"HTTP {exc.code}")
    return ServerError(exc.code, code, message)
