#!/usr/bin/env python3
"""Find (installing it if needed) the headless browser of the web example's tests (stdlib only).

    python3 scripts/browser.py    # prints the browser's path as the last line of stdout

The tests drive Debian's ``chromium`` through Playwright's Python API pointed at that
executable (never ``playwright install``, which would download a browser build of its
own). If no chromium is on the PATH and we are root with apt-get, the Debian package
``chromium`` is installed first (non-interactively: CI runs with no stdin). Exit status 1
when there is no browser and it cannot be installed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

NAMES = ("chromium", "chromium-browser")


def log(message: str) -> None:
    print(f"[browser] {message}", file=sys.stderr, flush=True)


def find() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def install() -> None:
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return
    log("chromium not found: installing the Debian package 'chromium'")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(
        ["apt-get", "update", "-qq"],
        check=True,
        env=env,
        stdout=sys.stderr,
        stdin=subprocess.DEVNULL,
    )
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
        stdout=sys.stderr,
        stdin=subprocess.DEVNULL,
    )


def main() -> int:
    path = find()
    if path is None:
        try:
            install()
        except subprocess.CalledProcessError as exc:
            log(f"installing chromium failed: {exc}")
        path = find()
    if path is None:
        log("chromium is not available (not installed, and cannot install it here)")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
