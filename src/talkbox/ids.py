"""Talkbox's own ids: a short type prefix and 16 random hex digits (``call_3f9a...``).

Providers' ids (Twilio's ``CA...``/``CF...``) are kept beside ours, never used in their place,
so that the same room keeps its id whichever provider carries it.
"""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_call_id() -> str:
    return new_id("call")


def new_conference_id() -> str:
    return new_id("conf")
