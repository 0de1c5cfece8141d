"""talkbox: browser telephony with a provider-neutral model of calls and conferences.

The public API::

    from talkbox import Switchboard, Endpoint, events
    from talkbox.store import open_store, MemoryStore, SQLiteStore
    from talkbox.providers import load, Provider

Names are imported on first use, so that ``import talkbox`` (and ``talkbox --help``) stays
fast: the CLI must not pay for phonenumbers, sqlite3 or twilio before it needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "talkbox.errors",
    "Conflict": "talkbox.errors",
    "Forbidden": "talkbox.errors",
    "IllegalTransition": "talkbox.errors",
    "InvalidEndpoint": "talkbox.errors",
    "NotFound": "talkbox.errors",
    "ProviderError": "talkbox.errors",
    "TalkboxError": "talkbox.errors",
    "Unauthorized": "talkbox.errors",
    "Call": "talkbox.model",
    "CallStatus": "talkbox.model",
    "Conference": "talkbox.model",
    "ConferenceStatus": "talkbox.model",
    "EndReason": "talkbox.model",
    "Endpoint": "talkbox.model",
    "Participant": "talkbox.model",
    "ParticipantState": "talkbox.model",
    "Applied": "talkbox.switchboard",
    "Switchboard": "talkbox.switchboard",
    "events": "talkbox.events",
}

if TYPE_CHECKING:
    from talkbox import events as events
    from talkbox.errors import (
        ConfigError as ConfigError,
    )
    from talkbox.errors import (
        Conflict as Conflict,
    )
    from talkbox.errors import (
        Forbidden as Forbidden,
    )
    from talkbox.errors import (
        IllegalTransition as IllegalTransition,
    )
    from talkbox.errors import (
        InvalidEndpoint as InvalidEndpoint,
    )
    from talkbox.errors import (
        NotFound as NotFound,
    )
    from talkbox.errors import (
        ProviderError as ProviderError,
    )
    from talkbox.errors import (
        TalkboxError as TalkboxError,
    )
    from talkbox.errors import (
        Unauthorized as Unauthorized,
    )
    from talkbox.model import (
        Call as Call,
    )
    from talkbox.model import (
        CallStatus as CallStatus,
    )
    from talkbox.model import (
        Conference as Conference,
    )
    from talkbox.model import (
        ConferenceStatus as ConferenceStatus,
    )
    from talkbox.model import (
        Endpoint as Endpoint,
    )
    from talkbox.model import (
        EndReason as EndReason,
    )
    from talkbox.model import (
        Participant as Participant,
    )
    from talkbox.model import (
        ParticipantState as ParticipantState,
    )
    from talkbox.switchboard import Applied as Applied
    from talkbox.switchboard import Switchboard as Switchboard


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'talkbox' has no attribute {name!r}")
    value = importlib.import_module(module)
    return value if name == "events" else getattr(value, name)


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, "__version__"])


__all__ = sorted([*_EXPORTS, "__version__"])
