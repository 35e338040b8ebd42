"""How the contract suite builds a fresh store per adapter.

A user writing their own adapter adds a branch here (or calls the contract tests with
their own ``store`` fixture) and runs the same suite.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.events.projections import flush_deferred
from eduengine.service_layer.crypto import KeyProvider, LocalKeyProvider
from eduengine.service_layer.ports import UnitOfWork

PG_DSN = os.environ.get("EDUENGINE_PG_DSN")
ADAPTERS: list[str] = ["memory", "sqlite"]
# In CI PostgreSQL must be tested: without a server the postgres fixture fails, never skips.
if PG_DSN or os.environ.get("CI") == "true":
    ADAPTERS.append("postgres")
#: ``EDUENGINE_TEST_SEAL=1`` runs the suite on stores that seal contact fields on every
#: adapter (key files beside the SQLite file, in the temp folder for PostgreSQL, so
#: another process finds them)
SEAL = os.environ.get("EDUENGINE_TEST_SEAL") == "1"
#: SQLite stores seal as users get them (``keys="local"``, the key file beside the
#: database) unless ``EDUENGINE_TEST_SEAL=0`` runs the suite on clear stores
SQLITE_KEYS = "off" if os.environ.get("EDUENGINE_TEST_SEAL") == "0" else "local"


@attrs.define
class StoreHandle:
    """A store under test: its unit-of-work factory, a snapshot, and clean-up."""

    name: str
    unit_of_work: Callable[[], UnitOfWork]
    raw_snapshot: Callable[[], dict[str, Any]]
    close: Callable[[], None] = lambda: None
    #: something another process can use to open the same store (None: in-process only)
    location: str | None = None
    #: the adapter's store object (for what only a store offers, e.g. its event feed)
    store: Any = None

    def snapshot(self) -> dict[str, Any]:
        """Every document and row in the store, once the reactions the process's schools
        defer are applied (``reaction_batch``): what a read through a school would see,
        so "a refused command changes nothing" compares the store before and after it,
        not the earlier commands' reactions that its own unit of work applies first."""
        flush_deferred()
        return self.raw_snapshot()

    def opened_snapshot(self) -> dict[str, Any]:
        """``snapshot()`` with each sealed record as the store's own reads open it (its
        contact values in clear, a crypto-shredded one as it reads: ``None``...), so a
        test can look for a value on a sealed store as on a clear one; a record kind
        whose key is a blind index stays as stored."""
        snap = self.snapshot()
        with self.unit_of_work() as uow:
            records = uow.records
            fields = getattr(getattr(records, "sealer", None), "fields", {})
            for kind in snap["records"]:
                spec = fields.get(kind)
                if spec is not None and not spec.blind_key:
                    snap["records"][kind] = dict(records.list(kind))
            uow.rollback()
        return snap

    # the event feed, so a School built on a handle runs its reactions from it as on the
    # store itself
    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = self.store.read_feed(after, limit)
        return rows

    def feed_head(self) -> int:
        return int(self.store.feed_head())

    @property
    def audit_journals(self) -> Path | None:
        """The store's audit journal folder (a SQLite file's: its default audit mode is
        ``journal``, as on the store itself)."""
        folder: Path | None = getattr(self.store, "audit_journals", None)
        return folder

    def prune_feed(self, before_us: int, limit: int) -> int:
        return int(self.store.prune_feed(before_us, limit))


def each_once(traced: list[str]) -> list[str]:
    """The statements a sqlite3 trace callback saw, each once: Python's callback (3.11)
    reports each row the feed's trigger fires on (schema version 6) as two more calls
    with the text of the statement that fired it, one after the other."""
    return [sql for n, sql in enumerate(traced) if n == 0 or traced[n - 1] != sql]


def make_store(
    name: str,
    tmp: Path,
    *,
    outbox: bool | None = None,
    keys: KeyProvider | None = None,
    region: str | None = None,
) -> StoreHandle:
    """A fresh, empty, migrated store of adapter ``name`` (every store keeps the event
    feed; ``outbox`` is passed on as given, a deprecated no-op; the store object itself
    is ``handle.store``), sealing contact fields with ``keys`` and kept to ``region``
    when given."""
    if name == "memory":
        mem = InMemoryStore(outbox=outbox, keys=keys or _test_keys(None), region=region)
        return StoreHandle(name, mem.unit_of_work, mem.snapshot, store=mem)
    if name == "sqlite":
        path = tmp / "eduengine.sqlite3"
        lite = SqliteStore(path, outbox=outbox, keys=keys or SQLITE_KEYS, region=region)
        lite.migrate()
        return StoreHandle(
            name, lite.unit_of_work, lite.snapshot, lite.close, str(path), store=lite
        )
    if name == "postgres":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        return _postgres_store(
            schema,
            create=True,
            outbox=outbox,
            keys=keys or _test_keys(schema) or "off",
            region=region,
        )
    raise ValueError(f"unknown adapter {name!r}")


def _test_keys(where: Path | str | None) -> KeyProvider | None:
    """The keys of a store under ``EDUENGINE_TEST_SEAL=1`` (none otherwise)."""
    if not SEAL:
        return None
    if where is None:
        return LocalKeyProvider.generate()
    if isinstance(where, Path):
        return LocalKeyProvider.beside(where)
    return LocalKeyProvider.at(Path(tempfile.gettempdir()) / f"eduengine-{where}.keys")


def reopen(name: str, location: str, *, outbox: bool | None = None) -> StoreHandle:
    """Open, from another process, the store a parent made with :func:`make_store`."""
    if name == "sqlite":
        lite = SqliteStore(location, outbox=outbox, keys=SQLITE_KEYS)
        return StoreHandle(
            name, lite.unit_of_work, lite.snapshot, lite.close, location, store=lite
        )
    if name == "postgres":
        schema = location.rpartition("#")[2]
        keys = _test_keys(schema) or "off"
        return _postgres_store(schema, create=False, outbox=outbox, keys=keys)
    raise ValueError(f"adapter {name!r} cannot be reopened from another process")


def _postgres_store(
    schema: str,
    *,
    create: bool,
    outbox: bool | None = None,
    keys: KeyProvider | str | None = None,
    region: str | None = None,
) -> StoreHandle:
    """A store in its own schema of the test server, dropped again on close."""
    if not PG_DSN:
        raise RuntimeError(
            "CI must test PostgreSQL but EDUENGINE_PG_DSN is not set: "
            "run the suite with `python3 dev.py test`, which starts a server"
        )
    import psycopg

    from eduengine.adapters.postgres import PostgresStore

    dsn = PG_DSN
    pg = PostgresStore(dsn, schema=schema, outbox=outbox, keys=keys, region=region)
    if create:
        pg.migrate()

    def close() -> None:
        pg.close()
        if create:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    return StoreHandle(
        "postgres", pg.unit_of_work, pg.snapshot, close, f"{dsn}#{schema}", store=pg
    )
