"""Helpers of the ``talkbox`` command: the two ways to reach calls (:mod:`.backends`), direct
Twilio control without a server (:mod:`.direct`) and terminal rendering (:mod:`.render`).

Kept apart from :mod:`talkbox.cli` so that ``talkbox --help`` imports none of it."""
