"""The embedded provider (entry point ``local``): browsers are the telephones, the server is
the exchange. See :mod:`talkbox.providers.local.provider` for how device actions become reports.
"""

from talkbox.providers.local.devices import DeviceHub, is_loopback_candidate, thread_timer
from talkbox.providers.local.provider import DTMF_RE, MESH_LIMIT, LocalProvider, endpoint_of

__all__ = [
    "DTMF_RE",
    "MESH_LIMIT",
    "DeviceHub",
    "LocalProvider",
    "endpoint_of",
    "is_loopback_candidate",
    "thread_timer",
]
