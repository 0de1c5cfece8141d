"""The README's library example: a switchboard, a provider adapter, events.

Run it with ``python examples/library_example.py``. The provider here only prints what it is
asked to do and the script plays the provider's part by feeding reports back, the way the
Twilio adapter's webhooks or the local provider's browsers do in a real deployment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from talkbox import CallStatus, Switchboard, events
from talkbox.model import Call, Conference
from talkbox.providers.base import CallReport, Credentials, LiveView, ParticipantChange
from talkbox.providers.base import ParticipantReport, Provider
from talkbox.store import SQLiteStore


class PrintingProvider(Provider):
    """A provider adapter in 20 lines: every command is printed and given a leg id."""

    name = "printing"
    legs = 0

    def _leg(self, what: str, call: Call) -> str:
        self.legs += 1
        print(f"  provider: {what} {call.endpoint} -> leg L{self.legs}")
        return f"L{self.legs}"

    def place_call(self, conference: Conference, call: Call) -> str:
        return self._leg("dial", call)

    def add_participant(self, conference: Conference, call: Call) -> str:
        return self._leg("dial into the room", call)

    def hangup(self, call: Call) -> None:
        print(f"  provider: hang up {call.provider_id}")

    def remove_participant(self, conference: Conference, call: Call) -> None: ...
    def set_muted(self, conference: Conference, call: Call, muted: bool) -> None: ...
    def set_on_hold(self, conference: Conference, call: Call, on_hold: bool) -> None: ...
    def end_conference(self, conference: Conference) -> None: ...

    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        return Credentials(self.name, identity, "no-token", 0.0)

    def live(self) -> LiveView:
        return LiveView()


def on_event(sender: object, event: events.Event, **extra: object) -> None:
    print(f"event #{extra['event_id']}: {event.name}")


def main() -> None:
    events.event_published.connect(on_event)  # module-level function: kept alive
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "talkbox.db")
        board = Switchboard(store, PrintingProvider(), run_effect=lambda work: work())

        room = board.dial("client:alice", "+14155552671")  # alice's leg is placed first
        board.apply(CallReport(CallStatus.IN_PROGRESS, provider_call_id="L1"))
        board.apply(
            ParticipantReport(ParticipantChange.JOINED, conference_id=room.id, provider_call_id="L1")
        )  # alice joined: talkbox dials the callee
        board.apply(CallReport(CallStatus.BUSY, provider_call_id="L2"))  # ... who is busy
        board.apply(CallReport(CallStatus.COMPLETED, provider_call_id="L1"))

        (last,) = board.history("client:alice", limit=1)
        print(f"history: {last.owner} -> {last.party}: {last.reason}")
        store.close()


if __name__ == "__main__":
    main()
