"""Talkbox wired to a fake Twilio, for webhook and flow tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask.testing import FlaskClient

from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from talkbox.web import twilio_blueprint
from tests.fakes import Clock, Recorder
from tests.twilio_sim import Delivery, FakeTwilio, app_for, post, provider, settings


class World:
    """Talkbox wired to a fake Twilio: a switchboard (effects inline), the webhook blueprint in
    a Flask app, and a clock for the callbacks' timestamps."""

    def __init__(
        self,
        twilio: FakeTwilio,
        routes: Mapping[str, Sequence[str]] | None = None,
        is_online: Callable[[str], bool] | None = None,
        run_effect: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self.twilio = twilio
        self.clock = Clock(1_800_000_000.0)
        self.provider = provider()
        self.board = Switchboard(
            MemoryStore(),
            self.provider,
            clock=self.clock,
            run_effect=run_effect or (lambda work: work()),
        )
        blueprint = twilio_blueprint(
            self.board,
            self.provider,
            settings(),
            routes=routes if routes is not None else {"+14155550100": ["alice", "bob"]},
            is_online=is_online,
        )
        self.app = app_for(blueprint)
        self.client: FlaskClient = self.app.test_client()
        self.conf_id = ""
        self.recorder = Recorder()
        self._t = itertools.count(1)

    def t(self) -> float:
        """The next callback time, one second after the previous one."""
        return self.clock.now + next(self._t)

    def post(self, delivery: Delivery, **kw: Any) -> Any:
        return post(self.client, delivery, **kw)

    def deliver(self, delivery: Delivery) -> None:
        response = self.post(delivery)
        assert response.status_code in (200, 204), (delivery, response.get_data(as_text=True))
