"""Run a school's commands inside Django's transaction, on Django's own connection.

``with school_transaction(store, school.bus):`` opens (or joins) ``transaction.atomic()``
on Django's connection and makes ``store``'s units of work join it (see
:mod:`eduengine.adapters.joined`): a payment row written by the view and the seat booked
by the library commit together, and a rollback (an exception out of the outermost
``atomic()``) undoes both. The commands' events are published through
``transaction.on_commit``, so nothing is announced that a rollback took back.

``store_for_django()`` makes the store that matches a ``DATABASES`` entry (the same
SQLite file, or the same PostgreSQL database), for the work done outside a request
(migrations, periodic jobs), which runs on the store's own connections.

For SQLite set ``"OPTIONS": {"transaction_mode": "IMMEDIATE"}`` (Django 5.1+): Django's
default deferred ``BEGIN`` takes the write lock only at the first write, and under
concurrent requests a deferred transaction that has read may be refused the lock at once
(``database is locked``) instead of waiting for it. See ``docs/embedding.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from django.db import connections, transaction

from eduengine.adapters.joined import Joined
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import InvalidInput
from eduengine.service_layer.messagebus import MessageBus


@contextmanager
def school_transaction(
    store: Any, bus: MessageBus | None = None, *, using: str = "default"
) -> Iterator[Joined[Any]]:
    """Commands in this block run in Django's transaction on database ``using``.

    ``store`` must be the store of that database (``store_for_django(using)``); ``bus``
    (``school.bus``) gets the commands' events after Django commits.
    """
    connection = connections[using]
    vendor = connection.vendor
    if vendor == "sqlite" and not isinstance(store, SqliteStore):
        raise InvalidInput(f"database {using!r} is SQLite: pass its SqliteStore")
    if vendor == "postgresql" and type(store).__name__ != "PostgresStore":
        raise InvalidInput(f"database {using!r} is PostgreSQL: pass its PostgresStore")
    if vendor not in {"sqlite", "postgresql"}:
        raise InvalidInput(f"database {using!r} is {vendor}: eduengine supports sqlite, postgresql")
    with transaction.atomic(using=using):
        connection.ensure_connection()
        with store.joined(connection.connection) as tx:
            yield tx
        if bus is not None:
            transaction.on_commit(lambda: tx.publish(bus), using=using)


def store_for_django(using: str = "default", **options: Any) -> Any:
    """A store on the database Django knows as ``using``; ``options`` go to the store
    (``lock_timeout=...``; it keeps the event feed without being asked). Call ``migrate()``
    on it once, e.g. from the ``eduengine_migrate`` management command of
    ``examples/web/django_app``."""
    settings = connections[using].settings_dict
    engine = settings["ENGINE"]
    if engine.endswith("sqlite3"):
        return SqliteStore(settings["NAME"], **options)
    if engine.endswith("postgresql"):
        # here, not at the top: psycopg is the optional ``postgres`` extra, and a SQLite
        # site runs without it
        from eduengine.adapters.postgres import PostgresStore

        user = quote(settings.get("USER") or "")
        password = settings.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings.get("HOST") or ""
        port = f":{settings['PORT']}" if settings.get("PORT") else ""
        dsn = f"postgresql://{auth}{host}{port}/{quote(settings['NAME'])}"
        search_path = _search_path(settings.get("OPTIONS", {}).get("options", ""))
        if search_path and "schema" not in options:
            options["schema"] = search_path
        return PostgresStore(dsn, **options)
    raise InvalidInput(f"database {using!r} uses {engine}: eduengine supports sqlite, postgresql")


def _search_path(pg_options: str) -> str | None:
    # "-c search_path=school" in OPTIONS["options"]: the store uses the same schema
    for part in pg_options.split():
        if part.startswith("search_path="):
            return part.removeprefix("search_path=")
    return None
