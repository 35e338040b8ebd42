"""A headless chromium for the page tests: Debian's ``chromium``, driven by Playwright.

``scripts/browser.py`` installs it (``dev.py test`` runs it and exports
``EDUENGINE_BROWSER``). Without a browser the page tests skip, except in CI
(``CI=true``), where a missing browser is an error, as a missing PostgreSQL is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_path() -> str | None:
    return os.environ.get("EDUENGINE_BROWSER") or shutil.which("chromium")


@contextmanager
def chromium(tmp: Path) -> Iterator[BrowserContext]:
    """A fresh browser profile in ``tmp`` (never ``playwright install``'s own build)."""
    path = browser_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no chromium: CI must run the browser tests (scripts/browser.py)")
        pytest.skip("no chromium here: run scripts/browser.py (as root it installs one)")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp / "profile"), executable_path=path, headless=True, args=ARGS
        )
        try:
            yield context
        finally:
            context.close()
