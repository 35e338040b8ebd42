"""Copying a store while the school runs.

>>> import tempfile
>>> from pathlib import Path
>>> from eduengine.adapters.sqlite import SqliteStore
>>> folder = Path(tempfile.mkdtemp())
>>> store = SqliteStore(folder / "school.sqlite3")
>>> store.migrate()
>>> backup(store, folder / "copy.sqlite3")
>>> (folder / "copy.sqlite3").exists()
True
>>> store.close()
"""

from __future__ import annotations

from pathlib import Path

from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import InvalidInput, PersistenceError
from eduengine.ops.stores import Store


def backup(store: Store, target: str | Path) -> None:
    """Copy a SQLite store to ``target`` while it is in use (SQLite's online backup).

    PostgreSQL is backed up with its own tools (``pg_dump``), which this raises
    :class:`PersistenceError` to say, as for the in-memory store."""
    if isinstance(store, SqliteStore):
        if _same_file(store.path, target):
            raise InvalidInput(
                f"backup target {str(target)!r} is the store's own database file "
                f"{store.path!r}: name another file"
            )
        store.backup(target)
        return
    if isinstance(store, InMemoryStore):
        raise PersistenceError("an in-memory store cannot be backed up: it lives in one process")
    schema = f" --schema={store.schema}" if store.schema else ""
    raise PersistenceError(
        "eduengine does not copy PostgreSQL databases: use the server's tools, e.g. "
        f"`pg_dump --format=custom{schema} --file=backup.dump <your DSN>` "
        "(consistent while the school runs) and `pg_restore` to restore"
    )


def _same_file(path: str, target: str | Path) -> bool:
    if path == ":memory:":
        return False
    mine, theirs = Path(path).resolve(), Path(target).resolve()
    if mine == theirs:
        return True
    try:  # another name for the same file (a hard link)
        return theirs.exists() and mine.samefile(theirs)
    except OSError:
        return False
