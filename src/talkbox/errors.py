"""Talkbox's exceptions: one root, a few precise subclasses.

::

    TalkboxError
     ├── InvalidEndpoint        bad telephone number or client identity (input error)
     ├── NotFound               unknown call, conference or user id
     ├── Conflict               the command does not fit the current state
     │    └── IllegalTransition a state change the state machine forbids
     ├── ProviderError          the telephony provider refused or failed (carries its status/code)
     ├── Unauthorized           not authenticated
     │    └── Forbidden         authenticated, but not allowed to do this
     └── ConfigError            settings missing or malformed

Entry points translate them once: the web layer to 400/404/409/502/401/403 with a JSON body,
the CLI to a one-line message with exit code 2 (input) or 1 (runtime).
"""

from __future__ import annotations

from typing import Any


class TalkboxError(Exception):
    """Root of every error talkbox raises on purpose."""

    #: Whether the caller's input is at fault (CLI exit code 2) rather than the world (exit 1).
    input_error: bool = False


class InvalidEndpoint(TalkboxError, ValueError):
    """A telephone number or client identity that cannot be dialled, with the reason why."""

    input_error = True

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r} is not a valid endpoint: {reason}")
        self.text = text
        self.reason = reason


class NotFound(TalkboxError, LookupError):
    """An id that names nothing we know (or nothing the caller may see)."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind = kind
        self.ident = ident


class Conflict(TalkboxError):
    """The command is valid in general but not in the current state (e.g. mute an ended call)."""


class IllegalTransition(Conflict):
    """The state machine forbids moving from one state to another."""

    def __init__(self, subject: str, current: str, target: str) -> None:
        super().__init__(f"{subject} cannot go from {current} to {target}")
        self.subject = subject
        self.current = current
        self.target = target


class ProviderError(TalkboxError):
    """The telephony provider refused or failed a request.

    ``status`` is the HTTP status the provider answered (None when no answer came: timeout,
    connection error), ``code`` the provider's own error code, ``reason`` a provider-neutral
    end reason when the error decides how a call ends (an invalid number, say).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: int | str | None = None,
        reason: Any = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.reason = reason
        self.retryable = retryable

    def __str__(self) -> str:
        details = [f"HTTP {self.status}"] if self.status is not None else []
        details += [f"code {self.code}"] if self.code is not None else []
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{self.provider}: {self.message}{suffix}"


class Unauthorized(TalkboxError):
    """Not authenticated: no session, token or signature, or a wrong one."""


class Forbidden(Unauthorized):
    """Authenticated, but this identity may not do this (act as someone else, see their calls)."""


class ConfigError(TalkboxError):
    """Settings are missing or malformed; the message names the variable and the fix."""

    input_error = True
