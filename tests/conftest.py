from __future__ import annotations

from collections.abc import Iterator

import pytest

from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Recorder


def inline(work):  # type: ignore[no-untyped-def]
    """Run effects at once, in the calling thread: deterministic tests."""
    work()


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def board(provider: FakeProvider, clock: Clock) -> Iterator[Switchboard]:
    sb = Switchboard(MemoryStore(), provider, clock=clock, run_effect=inline)
    yield sb
    sb.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    with rec.listening():
        yield rec
