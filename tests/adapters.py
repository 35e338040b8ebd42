"""How the contract suite builds a fresh store per adapter.

A user writing their own adapter adds a branch here (or calls the contract tests with
their own ``store`` fixture) and runs the same suite.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.ports import UnitOfWork

ADAPTERS: list[str] = ["memory", "sqlite"]


@attrs.define
class StoreHandle:
    """A store under test: its unit-of-work factory, a snapshot, and clean-up."""

    name: str
    unit_of_work: Callable[[], UnitOfWork]
    snapshot: Callable[[], dict[str, Any]]
    close: Callable[[], None] = lambda: None
    #: something another process can use to open the same store (None: in-process only)
    location: str | None = None


def make_store(name: str, tmp: Path) -> StoreHandle:
    if name == "memory":
        mem = InMemoryStore()
        return StoreHandle(name, mem.unit_of_work, mem.snapshot)
    if name == "sqlite":
        path = tmp / "eduengine.sqlite3"
        lite = SqliteStore(path)
        lite.migrate()
        return StoreHandle(name, lite.unit_of_work, lite.snapshot, lite.close, str(path))
    raise ValueError(
        f"unknown adapter {name!r} (EDUENGINE_PG_DSN={os.environ.get('EDUENGINE_PG_DSN')})"
    )


def reopen(name: str, location: str) -> StoreHandle:
    """Open, from another process, the store a parent made with :func:`make_store`."""
    if name == "sqlite":
        lite = SqliteStore(location)
        return StoreHandle(name, lite.unit_of_work, lite.snapshot, lite.close, location)
    raise ValueError(f"adapter {name!r} cannot be reopened from another process")
