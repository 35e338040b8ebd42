"""The periodic work of a school and the state of its store, as functions a host can call
from its own scheduler.

:func:`migrate` brings any store to this library's schema, :func:`status` reports the
schema, counts and due work, :func:`run_due` runs every periodic job of a school once,
:func:`check_reachable` tells at once (within :data:`CONNECT_TIMEOUT`) that a database
server cannot be reached. The notifiers hand due reminders to a host as JSON lines or
webhooks (:func:`post_json`).

>>> from eduengine import InMemoryStore, School
>>> store = InMemoryStore()
>>> school = School.build(store)
>>> done = run_due(school)
>>> list(done)
['projections', 'offers', 'rush', 'deals', 'fees', 'payments', 'notice plans', 'alerts', 'desk', \
'learning reports', 'segments', 'journeys', 'idempotency']
>>> sum(done.values())
0
>>> status(store)["pending"]["offers"]
0
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.bootstrap import School
from eduengine.deals.model import DUE as GROUP_DUE
from eduengine.deals.model import REFUND_DUE
from eduengine.deals.records import GROUPS
from eduengine.desk.records import SLA_DUE
from eduengine.desk.records import TICKETS as DESK_TICKETS
from eduengine.errors import EduEngineError, PersistenceError, StoreNotFound
from eduengine.events.webhooks import SIGNATURE_HEADER, sign_payload
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.codec import micros
from eduengine.notices.plan import Notifier, Reminder
from eduengine.notices.planning import DUE as NOTICES_DUE
from eduengine.notices.planning import NOTICES
from eduengine.notices.planning import REMINDER_DUE as CLASS_REMINDER_DUE
from eduengine.notices.reminding import DUE as REMINDER_DUE
from eduengine.notices.reminding import KIND as REMINDERS
from eduengine.ops.stores import Store, _without_password
from eduengine.payments.intents import INTENTS
from eduengine.payments.intents import OPEN as INTENTS_OPEN
from eduengine.policies.records import DUE as FEE_DUE
from eduengine.policies.records import LATE_FEES
from eduengine.rush.service import KIND as RUSH_QUEUES
from eduengine.rush.service import OPENS
from eduengine.service_layer.ports import open_read_only
from eduengine.version import __version__

log = logging.getLogger("eduengine.ops")

#: how long :func:`check_reachable` waits for a database server (libpq counts whole
#: seconds, and 2 is its least)
CONNECT_TIMEOUT = 2


def check_reachable(store: Store, *, timeout: int = CONNECT_TIMEOUT) -> None:
    """Raise :class:`StoreNotFound` at once if the store's database server cannot be
    reached, rather than let the pool retry until ``lock_timeout`` (a one-shot program
    such as the command line calls it first). Files and memory need no server.

    >>> from eduengine import InMemoryStore
    >>> check_reachable(InMemoryStore())
    """
    if isinstance(store, SqliteStore | InMemoryStore):
        return
    import psycopg  # present: a PostgresStore was made

    try:
        psycopg.connect(store.dsn, connect_timeout=timeout).close()
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())
        raise StoreNotFound(
            f"cannot connect to PostgreSQL at {_without_password(store.dsn)}: {detail}"
        ) from exc


def migrate(store: Store) -> int | None:
    """Bring ``store`` to this library's schema (idempotent, safe while others run);
    returns the schema version, ``None`` for a store without one (memory)."""
    if isinstance(store, InMemoryStore):
        return None
    store.migrate()
    return store.schema_version()


def _table_counts(store: Store) -> dict[str, Any]:
    if isinstance(store, InMemoryStore):
        with store.unit_of_work():  # the store's lock: a consistent count
            return {
                "slots": len(store.slots),
                "bookings": len(store.bookings),
                "documents": {kind: len(docs) for kind, docs in sorted(store.records.items())},
            }
    count_slots = "SELECT COUNT(*) AS n FROM slots"
    count_bookings = "SELECT COUNT(*) AS n FROM bookings"
    by_kind = "SELECT kind, COUNT(*) AS n FROM records GROUP BY kind ORDER BY kind"
    if isinstance(store, SqliteStore):
        conn = store.connection()
        return {
            "slots": conn.execute(count_slots).fetchone()["n"],
            "bookings": conn.execute(count_bookings).fetchone()["n"],
            "documents": {row["kind"]: row["n"] for row in conn.execute(by_kind)},
        }
    with store.connection() as pg:
        return {
            "slots": (pg.execute(count_slots).fetchone() or {})["n"],
            "bookings": (pg.execute(count_bookings).fetchone() or {})["n"],
            "documents": {row["kind"]: row["n"] for row in pg.execute(by_kind).fetchall()},
        }


def pending(store: Store, now: datetime) -> dict[str, int]:
    """How much work each periodic job would find due at ``now`` (read through the due
    indexes in one read-only snapshot: no lock, no growing scan)."""
    uow = open_read_only(store.unit_of_work)
    hi = micros(now)
    with uow:
        records = uow.records
        return {
            "offers": len(uow.slots.ids_with_offers_due(now)),
            "rush": records.count(RUSH_QUEUES, OPENS, hi=hi),
            "deals": records.count(GROUPS, GROUP_DUE, hi=hi)
            + records.count(GROUPS, REFUND_DUE, hi=hi),
            "fees": records.count(LATE_FEES, FEE_DUE, hi=hi),
            # reminders in class documents, and in documents of their own written before
            "reminders": records.count(NOTICES, CLASS_REMINDER_DUE, hi=hi)
            + records.count(REMINDERS, REMINDER_DUE, hi=hi),
            # open payment intents of any age (reconcile settles the older ones)
            "payments": records.count(INTENTS, INTENTS_OPEN),
            "notices": records.count(NOTICES, NOTICES_DUE, hi=hi),
            "desk": records.count(DESK_TICKETS, SLA_DUE, hi=hi),
        }


def status(store: Store, clock: Clock | None = None) -> dict[str, Any]:
    """The store's schema version (and the one this library needs), its row counts and
    the work due now, as plain data (JSON-ready)."""
    now = (clock or SystemClock()).now()
    found = None if isinstance(store, InMemoryStore) else store.schema_version()
    wanted = None if isinstance(store, InMemoryStore) else store.library_schema_version
    report: dict[str, Any] = {
        "library": __version__,
        "store": type(store).__name__,
        "schema_version": found,
        "library_schema_version": wanted,
    }
    if found is not None and wanted is not None and found < wanted:
        report["problem"] = "not migrated: run `eduengine migrate`"
        return report
    if found is not None and wanted is not None and found > wanted:
        report["problem"] = "migrated by a newer eduengine: upgrade eduengine here"
    report["counts"] = _table_counts(store)
    report["pending"] = pending(store, now)
    return report


def run_due(
    school: School,
    notifier: Notifier | None = None,
    *,
    jobs: set[str] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Run each periodic job of ``school`` once (only those named in ``jobs``, if given)
    and return how much each did. A job that fails is logged and reported as ``-1``; the
    others still run. ``stop()`` is asked between jobs (a shutdown was requested)."""
    done: dict[str, int] = {}
    for name, job in school.periodic_jobs(notifier).items():
        if jobs is not None and name not in jobs:
            continue
        if stop():
            break
        started = time.monotonic()
        try:
            done[name] = job()
        except EduEngineError as exc:
            level = logging.WARNING if isinstance(exc, PersistenceError) else logging.ERROR
            log.log(
                level,
                "periodic job %s failed: %s: %s",
                name,
                type(exc).__name__,
                exc,
                extra={"job": name, "error": type(exc).__name__},
            )
            done[name] = -1
            continue
        log.debug(
            "periodic job %s: %d in %.1f ms",
            name,
            done[name],
            (time.monotonic() - started) * 1000,
            extra={"job": name, "done": done[name]},
        )
    return done


def reminder_json(reminder: Reminder) -> dict[str, Any]:
    """A reminder as JSON-ready data (times as ISO 8601 with their offset)."""
    data = attrs.asdict(reminder)
    data["due_at"] = reminder.due_at.isoformat()
    data["start"] = reminder.start.isoformat()
    data["channel"] = reminder.channel.value
    return data


@attrs.define
class JsonLinesNotifier:
    """A notifier that writes each reminder as one JSON line through ``write`` (a host
    pipes them to its own sender)."""

    write: Callable[[str], object]

    def send(self, reminder: Reminder) -> None:
        self.write(json.dumps({"reminder": reminder_json(reminder)}, sort_keys=True) + "\n")


@attrs.define
class WebhookNotifier:
    """A notifier that POSTs each reminder as JSON to ``url`` (a failed POST raises, so
    the job reports it; the reminder was already taken, so the receiver should be
    reliable, or use the JSON lines output and a queue)."""

    url: str
    timeout: float = 10.0

    def send(self, reminder: Reminder) -> None:
        post_json(self.url, {"reminder": reminder_json(reminder)}, self.timeout)


def post_json(
    url: str, payload: Mapping[str, Any], timeout: float, *, secret: str | None = None
) -> None:
    """POST ``payload`` as JSON; raises :class:`PersistenceError` unless answered 2xx.

    With ``secret`` the body is signed as :class:`~eduengine.events.webhooks.WebhookRelay`
    signs its deliveries (an ``Eduengine-Signature: t=<unix time>,v1=<HMAC-SHA256>``
    header), so a receiver checks it with ``verify_signature``."""
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign_payload(secret, body, timestamp=int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            if not 200 <= answer.status < 300:
                raise PersistenceError(f"webhook {url!r} answered {answer.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise PersistenceError(f"webhook {url!r} failed: {exc}") from exc
