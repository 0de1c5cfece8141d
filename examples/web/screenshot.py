"""Regenerate ``docs/softphone.png`` (the README's screenshot): bob's tab during a call.

Run: ``python examples/web/screenshot.py`` (needs Playwright and /usr/bin/chromium).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from talkbox.config import Settings
from talkbox.providers.local import LocalProvider
from talkbox.store import MemoryStore
from talkbox.web import talkbox_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.web.app import build_app
from tests.e2e.conftest import FLAGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "softphone.png"


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    provider = LocalProvider(loopback_only=True)
    app = build_app(
        Settings(store="memory"), store=MemoryStore(), provider=provider, SECRET_KEY="shot"
    )
    tb = talkbox_of(app)
    for name in ("alice", "bob", "carol"):
        tb.accounts.create_user(name, "screenshot")
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_port}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        pages = {}
        for name in ("alice", "bob", "carol"):
            context = browser.new_context(
                permissions=["microphone"], viewport={"width": 640, "height": 720}, bypass_csp=True
            )
            page = context.new_page()
            page.goto(url)
            page.fill("#login-name", name)
            page.fill("#login-password", "screenshot")
            page.click("#login-submit")
            page.wait_for_selector("#phone", state="visible")
            pages[name] = page
        pages["alice"].wait_for_selector("text=bob (online)")
        pages["alice"].fill("#dial-to", "bob")
        pages["alice"].click("#dial")
        pages["bob"].click("#accept")
        pages["bob"].wait_for_function("window.talkbox.media.connected()")
        pages["bob"].wait_for_timeout(2200)
        pages["bob"].screenshot(path=str(OUT))
        browser.close()
    http.shutdown()
    tb.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
