"""The Django integration: commands on Django's own connection, in its transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django
import pytest
from django.conf import settings
from django.db import connections, transaction

from eduengine import FixedClock, School, SeatBooked
from eduengine.errors import InvalidInput
from eduengine.people import SYSTEM
from eduengine.web.django import school_transaction, store_for_django

PG_DSN = os.environ.get("EDUENGINE_PG_DSN")
SCHEMA = f"dj_{uuid.uuid4().hex[:12]}"
SQLITE_FILE = Path(os.environ.get("TMPDIR", "/tmp")) / f"eduengine-dj-{uuid.uuid4().hex}.sqlite3"


def _databases() -> dict[str, Any]:
    dbs: dict[str, Any] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(SQLITE_FILE),
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }
    }
    if PG_DSN:
        url = urlsplit(PG_DSN)
        dbs["pg"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
            "OPTIONS": {"options": f"-c search_path={SCHEMA}"},
        }
    return dbs


if not settings.configured:
    settings.configure(DATABASES=_databases(), INSTALLED_APPS=[], USE_TZ=True)
    django.setup()

ALIASES = ["default"] + (["pg"] if "pg" in settings.DATABASES else [])


class Seen:
    def __init__(self) -> None:
        self.booked: list[str] = []

    def publish(self, events: Any) -> None:
        self.booked += [e.student_id for e in events if isinstance(e, SeatBooked)]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    using: str = request.param
    with connections[using].cursor() as cur:
        if using == "pg":
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        cur.execute("DROP TABLE IF EXISTS payments")
        cur.execute("CREATE TABLE payments (ref TEXT)")
    yield using
    connections[using].close()


def _school(using: str, clock: FixedClock) -> tuple[Any, School, Seen, str]:
    store = store_for_django(using)
    store.migrate()
    seen = Seen()
    school = School.build(store, clock=clock, reminders=None, publisher=seen)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=3
    )
    return store, school, seen, slot.id


def _payments(using: str) -> int:
    with connections[using].cursor() as cur:
        cur.execute("SELECT count(*) FROM payments")
        row = cur.fetchone()
    return int(row[0])


class PaymentDeclined(Exception):
    pass


def test_a_rolled_back_django_transaction_undoes_the_seat(alias: str, clock: FixedClock) -> None:
    store, school, seen, slot_id = _school(alias, clock)
    with pytest.raises(PaymentDeclined), transaction.atomic(using=alias):
        with connections[alias].cursor() as cur:
            cur.execute("INSERT INTO payments VALUES ('p-1')")
        with school_transaction(store, school.bus, using=alias):
            school.booking.book(slot_id, "ann")
            school.booking.book(slot_id, "bob")  # two commands in one transaction
        raise PaymentDeclined
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 3
    assert _payments(alias) == 0
    assert seen.booked == []  # nothing announced that the rollback took back
    store.close()


def test_a_committed_django_transaction_keeps_seat_and_payment_then_publishes(
    alias: str, clock: FixedClock
) -> None:
    store, school, seen, slot_id = _school(alias, clock)
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cur:
            cur.execute("INSERT INTO payments VALUES ('p-1')")
        with school_transaction(store, school.bus, using=alias):
            school.booking.book(slot_id, "ann")
        assert seen.booked == []  # Django has not committed yet
    assert seen.booked == ["ann"]
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 2
    assert _payments(alias) == 1
    store.close()


def test_the_store_must_match_the_database(clock: FixedClock, tmp_path: Path) -> None:
    from eduengine import InMemoryStore

    with pytest.raises(InvalidInput, match="SQLite"), school_transaction(InMemoryStore()):
        pass
