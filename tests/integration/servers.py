"""Real talkbox servers under gunicorn for the integration tests, and signed webhooks to them."""

from __future__ import annotations

from typing import Any

import requests
from benchmarks.gunicorn import Gunicorn

from tests.twilio_sim import Delivery, sign


class Server(Gunicorn):
    """One gunicorn process serving ``talkbox.web:create_app()``, which takes signed webhooks."""

    def deliver(self, delivery: Delivery) -> requests.Response:
        """POST a Twilio webhook to this server, signed over the public URL as Twilio would."""
        return requests.post(
            f"{self.url}{delivery.path}" + (f"?{delivery.query}" if delivery.query else ""),
            data=delivery.params,
            headers={"X-Twilio-Signature": sign(delivery.url, delivery.params)},
            timeout=10,
        )


def twilio_env(store: str, **extra: Any) -> dict[str, str]:
    from tests.twilio_sim import ACCOUNT_SID, AUTH_TOKEN, CALLER_ID, PUBLIC_URL

    return {
        "TALKBOX_STORE": store,
        "TALKBOX_PROVIDER": "twilio",
        "TALKBOX_PUBLIC_URL": PUBLIC_URL,
        "TALKBOX_SECRET_KEY": "integration",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_CALLER_ID": CALLER_ID,
        **{k: str(v) for k, v in extra.items()},
    }
