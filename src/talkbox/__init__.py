"""talkbox: browser telephony with a provider-neutral model of calls and conferences.

The public API::

    from talkbox import Switchboard, Endpoint, events
    from talkbox.store import open_store, MemoryStore, SQLiteStore
    from talkbox.providers import load, Provider
"""

from __future__ import annotations

__version__ = "0.1.0"

from talkbox.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidEndpoint,
    NotFound,
    ProviderError,
    TalkboxError,
    Unauthorized,
)
from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    Endpoint,
    EndReason,
    Participant,
    ParticipantState,
)
from talkbox.switchboard import Applied, Switchboard

__all__ = [
    "Applied",
    "Call",
    "CallStatus",
    "Conference",
    "ConferenceStatus",
    "ConfigError",
    "Conflict",
    "EndReason",
    "Endpoint",
    "Forbidden",
    "IllegalTransition",
    "InvalidEndpoint",
    "NotFound",
    "Participant",
    "ParticipantState",
    "ProviderError",
    "Switchboard",
    "TalkboxError",
    "Unauthorized",
    "__version__",
]
