"""The embedded provider (entry point ``local``): browsers are the telephones, the server is
the exchange. See :mod:`talkbox.providers.local.provider` for how device actions become reports.
"""

from talkbox.providers.local.devices import DeviceHub, is_loopback_candidate, thread_timer
from talkbox.providers.local.provider import LocalProvider

__all__ = ["DeviceHub", "LocalProvider", "is_loopback_candidate", "thread_timer"]
