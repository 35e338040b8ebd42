#!/usr/bin/env python3
"""Project tasks that set themselves up: ``python3 dev.py example`` and ``python3 dev.py test``.

Each task creates ``.venv`` beside this file (stdlib ``venv``) and installs into it what
it needs the first time, or again whenever ``pyproject.toml`` changes, so the two README
commands work on a fresh machine that has only Python 3.11+ and pip: ``example`` the
package alone (its runtime dependencies), ``test`` also the PostgreSQL extra and the
PEP 735 ``dev`` dependency group (after upgrading pip to one that reads groups, >= 25.1).

A full ``test`` run (no pytest arguments) then runs the money, calendar and storage tests
again in ``.venv-lowest``, which holds the lowest version of every runtime dependency
that ``pyproject.toml`` allows (``constraints/lowest.txt``), so a floor that lies fails.
It is reinstalled whenever ``pyproject.toml`` or the constraints change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".eduengine-installed"

LOWEST = ROOT / ".venv-lowest"
LOWEST_PY = LOWEST / PY.relative_to(VENV)
LOWEST_CONSTRAINTS = ROOT / "constraints" / "lowest.txt"
#: what the dependencies' floors must pass: money (and the event codec, cattrs),
#: calendars (icalendar, dateutil) and storage (the contract suite on every adapter)
LOWEST_TESTS = (
    "tests/pricing",
    "tests/availability",
    "tests/adapters_sql",
    "tests/events/test_event_contract.py",
    "tests/contract/test_booking_behaviour.py",
    "tests/contract/test_full_slot_refusal.py",
    "tests/contract/test_read_only.py",
    "tests/contract/test_record_index.py",
    "tests/contract/test_refusals_change_nothing.py",
    # imports every module, django's adapter too, which this venv does not have
    "--deselect",
    "tests/events/test_event_contract.py::"
    "test_every_event_class_of_the_library_has_a_stable_type_name",
)
#: the tools those tests need, at their newest (the constraints pin only eduengine's own)
LOWEST_TOOLS = (
    "pytest>=8",
    "pytest-xdist>=3.5",
    "hypothesis>=6.100",
    "jsonschema>=4.18",
    "recurring-ical-events>=3.3",
)


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(*, dev: bool) -> None:
    """Install the package (and with ``dev`` the test toolchain) unless the stamp says this
    ``pyproject.toml`` was installed already at that level."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() and PY.exists() else []
    if installed[:1] == [wanted] and (not dev or "dev" in installed):
        return
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if dev:
        # dependency groups (PEP 735) need pip >= 25.1
        _run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
        _run(PY, "-m", "pip", "install", "--quiet", "-e", ".[postgres]", "--group", "dev")
    else:
        _run(PY, "-m", "pip", "install", "--quiet", "-e", ".")
    STAMP.write_text(f"{wanted} {'dev' if dev else 'base'}")


def ensure_lowest_venv() -> None:
    """(Re)create ``.venv-lowest`` with the package at the floors of its dependencies,
    unless its stamp says this ``pyproject.toml`` and these constraints are in it."""
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + LOWEST_CONSTRAINTS.read_bytes()
    ).hexdigest()
    stamp = LOWEST / ".eduengine-installed"
    if LOWEST_PY.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    # from scratch: a newer version left from before would hide a floor that lies
    print(f"creating virtual environment in {LOWEST} (lowest allowed versions)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(LOWEST)
    _run(LOWEST_PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    install = ("-m", "pip", "install", "--quiet", "-c", LOWEST_CONSTRAINTS, "-e", ".[postgres]")
    _run(LOWEST_PY, *install, *LOWEST_TOOLS)
    stamp.write_text(wanted)


def example() -> None:
    ensure_venv(dev=False)
    _run(PY, "examples/quickstart.py")


def test() -> None:
    ensure_venv(dev=True)
    full = not sys.argv[2:]
    if full:
        ensure_lowest_venv()
    env = dict(os.environ)
    pg = ROOT / "scripts" / "postgres.py"
    if pg.exists():
        # Starts a throwaway PostgreSQL cluster (installing the server if needed) and
        # exports EDUENGINE_PG_DSN for the contract suite; stopped again at the end.
        from_pg = subprocess.run(
            [str(PY), str(pg), "start"], cwd=ROOT, capture_output=True, text=True
        )
        sys.stderr.write(from_pg.stderr)
        if from_pg.returncode == 0 and from_pg.stdout.strip():
            env["EDUENGINE_PG_DSN"] = from_pg.stdout.strip().splitlines()[-1]
        elif env.get("CI") == "true":
            print("PostgreSQL could not be started, and CI must run its tests", flush=True)
            sys.exit(1)
    browser = ROOT / "scripts" / "browser.py"
    if browser.exists():
        # Finds (as root with apt-get: installs) Debian's chromium for the web example's
        # browser test, and tells the test where it is; in CI a missing one is an error.
        found = subprocess.run(
            [str(PY), str(browser)], cwd=ROOT, capture_output=True, text=True
        )
        sys.stderr.write(found.stderr)
        if found.returncode == 0 and found.stdout.strip():
            env["EDUENGINE_BROWSER"] = found.stdout.strip().splitlines()[-1]
        elif env.get("CI") == "true":
            print("No browser for the web tests, and CI must run them", flush=True)
            sys.exit(1)
    try:
        _run(PY, "-m", "ruff", "check", ".", env=env)
        _run(PY, "-m", "mypy", env=env)
        # A full run spreads the tests over the cores (at most four workers: each test
        # that starts processes of its own, a stampede or a server, wants some left).
        spread = ("--numprocesses=auto", "--maxprocesses=4") if full else ()
        _run(PY, "-m", "pytest", *spread, *sys.argv[2:], env=env)
        if full:
            print("again at the lowest versions pyproject.toml allows:", flush=True)
            _run(LOWEST_PY, "-m", "pytest", *spread, *LOWEST_TESTS, env=env)
    finally:
        if pg.exists() and "EDUENGINE_PG_DSN" in env:
            subprocess.run([str(PY), str(pg), "stop"], cwd=ROOT)


TASKS = {"example": example, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(f"usage: python3 dev.py {{{'|'.join(TASKS)}}} [pytest args]", file=sys.stderr)
        sys.exit(2)
    TASKS[sys.argv[1]]()
