"""Debian's chromium, driven by Playwright's Python package, for the browser test suites.

``playwright install`` cannot download browsers on our machines, so the tests launch the
system's ``/usr/bin/chromium`` (the test command installs it with apt-get when it is missing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: No sandbox (we run as root), and nothing that reaches for the network on its own: this
#: machine's network is closed, and those attempts only slow chromium down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless chromium; skips the test when it is not installed.

    Playwright's sync API keeps an asyncio loop marked as running on this thread while it is
    started, which breaks ``asyncio.run()`` in any test that runs later: use it from fixtures
    of module scope at most, so that it ends as soon as those tests are done.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (the test command installs Debian's chromium with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
