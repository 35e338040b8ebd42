"""The ``eduengine`` console script, run in a subprocess as cron or systemd would run it,
against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from eduengine import School, SystemClock, WaitlistMode, ops, store_from_url
from eduengine.adapters.sqlite import SCHEMA_VERSION, SqliteStore
from eduengine.events.webhooks import SIGNATURE_HEADER, verify_signature
from eduengine.ops.stores import Store
from eduengine.people import SYSTEM
from tests.adapters import PG_DSN

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("eduengine")
SQL_ADAPTERS = ["sqlite"]
if PG_DSN or os.environ.get("CI") == "true":
    SQL_ADAPTERS.append("postgres")


def command() -> list[str]:
    # The console script the install made; a venv whose editable install predates the
    # script or its entry point eduengine.ops.cli:main (a shared development venv, whose
    # script would import the deprecated eduengine.cli and warn) runs the same entry
    # point through -m.
    if SCRIPT.exists() and "eduengine.ops.cli" in SCRIPT.read_text(errors="replace"):
        return [str(SCRIPT)]
    if os.environ.get("CI") == "true":
        raise AssertionError(f"the install made no console script at {SCRIPT}")
    return [sys.executable, "-m", "eduengine"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def cli(
    *args: str, url: str | None = None, timeout: float = 60, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    store = ["--store", url] if url is not None else []
    return subprocess.run(
        [*command(), *store, *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
        cwd=cwd,
    )


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture(params=SQL_ADAPTERS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, not yet migrated store, named by URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'school.sqlite3'}"
        return
    if not PG_DSN:
        raise RuntimeError("CI must test PostgreSQL but EDUENGINE_PG_DSN is not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    # sealed, as a deployment should be: the key file in the test's folder
    keys = f"keys=local:{tmp_path / 'pg.keys'}"
    yield f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}schema={schema}&{keys}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def open_school(url: str) -> tuple[Store, School]:
    store = store_from_url(url)
    return store, School.build(store, clock=SystemClock())


def seed_due_work(school: School) -> str:
    """An offer that has expired and reminders that are due, at the real time now."""
    now = datetime.now(UTC)
    soon = school.booking.create_slot(
        "math", now + timedelta(minutes=30), now + timedelta(minutes=90), capacity=1
    )
    school.booking.book(soon.id, "ann")  # its confirmation is due at once
    later = school.booking.create_slot(
        "art",
        now + timedelta(days=2),
        now + timedelta(days=2, hours=1),
        capacity=1,
        waitlist_mode=WaitlistMode.OFFER,
        offer_ttl=timedelta(milliseconds=1),
    )
    seat = school.booking.book(later.id, "bob")
    school.booking.join_waitlist(later.id, "cat")
    school.booking.cancel(seat.id)  # cat is offered the seat for 1 ms
    school.projections.flush()  # what this process defers, applied before the operator looks
    time.sleep(0.01)
    return later.id


def test_an_operators_round_migrate_status_run_due_export_and_backup(
    url: str, tmp_path: Path
) -> None:
    # one test, one command after another, as an operator would (each run of the console
    # script costs a Python start and an import)
    before = cli("status", "--json", url=url)
    assert before.returncode == 1
    assert lines(before.stdout)[0]["status"]["problem"].startswith("not migrated")
    migrated = cli("migrate", url=url)
    assert migrated.returncode == 0, migrated.stderr
    # each adapter numbers its own migrations (SQLite's version 6 is a trigger of its own)
    version = SCHEMA_VERSION
    if not url.startswith("sqlite"):
        from eduengine.adapters import postgres  # psycopg: only where PostgreSQL is tested

        version = postgres.SCHEMA_VERSION
    assert lines(migrated.stdout) == [{"migrate": {"schema_version": version}}]

    store, school = open_school(url)
    slot_id = seed_due_work(school)
    status = lines(cli("status", "--json", url=url).stdout)[0]["status"]
    assert status["schema_version"] == version
    assert (status["counts"]["slots"], status["counts"]["bookings"]) == (2, 2)
    assert status["pending"]["offers"] == 1
    assert status["pending"]["reminders"] == 1  # ann's confirmation

    done = cli("run-due", url=url)
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    reminders = [line["reminder"] for line in out if "reminder" in line]
    assert [(r["student_id"], r["kind"], r["slot_id"]) for r in reminders] == [
        ("ann", "confirmation", school.booking.bookings_for_student("ann", actor=SYSTEM)[0].slot_id)
    ]
    summary = [line["run_due"] for line in out if "run_due" in line]
    assert len(summary) == 1
    assert summary[0]["done"] == {
        "projections": 0,  # the test's own school applied its reactions at once
        "offers": 1,
        "rush": 0,
        "deals": 0,
        "fees": 0,
        "payments": 0,
        "notice plans": 0,
        "alerts": 0,
        "desk": 0,
        "learning reports": 0,
        "segments": 0,
        "journeys": 0,
        "idempotency": 0,
        "reminders": 1,
    }
    assert not school.booking.get_slot(
        slot_id, actor=SYSTEM
    ).offers  # the expired offer was withdrawn
    assert not school.booking.get_slot(slot_id, actor=SYSTEM).holds_seat("cat")
    assert ops.pending(store, datetime.now(UTC))["offers"] == 0
    assert school.reminders.due_reminders(actor=SYSTEM) == []  # each reminder is taken once

    calendar = cli("export-ics", "--student", "ann", url=url)
    assert calendar.returncode == 0, calendar.stderr
    assert calendar.stdout.startswith("BEGIN:VCALENDAR")
    assert school.booking.bookings_for_student("ann", actor=SYSTEM)[0].id in calendar.stdout

    target = tmp_path / "backup.sqlite3"
    copied = cli("backup", str(target), url=url)
    if isinstance(store, SqliteStore):
        assert copied.returncode == 0, copied.stderr
        copy = SqliteStore(target)
        assert copy.schema_version() == SCHEMA_VERSION
        assert copy.snapshot() == store.snapshot()
        copy.close()
    else:  # PostgreSQL is backed up with its own tools: the command says how
        assert copied.returncode == 1
        assert "pg_dump" in copied.stderr
        assert not target.exists()
    store.close()


def test_run_due_from_a_plain_store_url_writes_its_events_to_the_feed(url: str) -> None:
    # issue #22: a run-due process built from a URL without any flag committed slot
    # events that never reached the feed, so live pages missed them
    store, school = open_school(url)
    ops.migrate(store)
    slot_id = seed_due_work(school)
    head = school.feed.head()
    done = cli("run-due", url=url)
    assert done.returncode == 0, done.stderr
    news = school.feed.events_since(head, limit=1000)
    assert ("booking.offer_expired", f"slot:{slot_id}") in [(e.type, e.stream) for e in news]
    # numbered on from what this process committed to the slot: no gap for a live page
    sequences = [
        e.sequence for e in school.feed.events_since(0, limit=1000) if e.stream == f"slot:{slot_id}"
    ]
    assert sequences == list(range(1, len(sequences) + 1))
    store.close()


def test_run_due_every_interval_stops_cleanly_on_sigterm(url: str) -> None:
    store = store_from_url(url)
    ops.migrate(store)
    store.close()
    worker = subprocess.Popen(
        [*command(), "--store", url, "--log-level", "info", "run-due", "--every", "100ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        assert worker.stdout is not None
        passes = [json.loads(worker.stdout.readline()) for _ in range(2)]  # it repeats
        assert all("run_due" in p for p in passes)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "stopped by signal, shut down cleanly" in err
    assert "Traceback" not in err


def test_python_dash_m_runs_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eduengine", "--version"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=30,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == "eduengine 0.2.0"


def test_a_store_in_a_missing_directory_is_reported_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    done = cli("migrate", url=f"sqlite:///{tmp_path / 'nowhere' / 'school.sqlite3'}")
    assert done.returncode == 1
    assert "StoreNotFound" in done.stderr
    assert "does not exist" in done.stderr
    assert time.monotonic() - started < 8  # not a lock timeout's 10 s wait


def test_without_a_store_the_command_says_how_to_name_one(tmp_path: Path) -> None:
    environment = env()
    environment.pop("EDUENGINE_STORE", None)
    done = subprocess.run(
        [*command(), "status"], capture_output=True, text=True, env=environment, timeout=30
    )
    assert done.returncode == 1
    assert "EDUENGINE_STORE" in done.stderr
    environment["EDUENGINE_STORE"] = f"sqlite:///{tmp_path / 'school.sqlite3'}"
    migrated = subprocess.run(
        [*command(), "migrate"], capture_output=True, text=True, env=environment, timeout=30
    )
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "school.sqlite3").exists()


def test_relay_prints_the_feed_as_json_lines_and_resumes_after_its_cursor(url: str) -> None:
    store, school = open_school(url)  # a plain URL: every store keeps the feed
    ops.migrate(store)
    seed_due_work(school)
    relayed = cli("relay", url=url)
    assert relayed.returncode == 0, relayed.stderr
    envelopes = lines(relayed.stdout)
    positions = [e["position"] for e in envelopes]
    assert positions == sorted(set(positions))  # commit order, each once
    assert [e["type"] for e in envelopes[:2]] == ["booking.slot_created", "booking.seat_booked"]
    assert envelopes[1]["data"]["student_id"] == "ann"
    assert len(envelopes) == len(school.feed.events_since(0, limit=1000))
    again = cli("relay", url=url)  # the consumer's cursor was saved
    assert (again.returncode, again.stdout) == (0, "")
    school.booking.cancel(school.booking.bookings_for_student("ann", actor=SYSTEM)[0].id)
    news = lines(cli("relay", url=url).stdout)
    assert [e["type"] for e in news][:1] == ["booking.seat_released"]
    assert min(e["position"] for e in news) > positions[-1]
    replay = lines(cli("relay", "--cursor", "0", "--consumer", "audit", url=url).stdout)
    assert [e["position"] for e in replay] == positions + [e["position"] for e in news]
    store.close()


def test_relay_posts_pages_to_a_webhook(tmp_path: Path) -> None:
    import http.server
    import threading

    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            # signed with the secret the relay was given in its environment
            verify_signature("s3cret", body, self.headers[SIGNATURE_HEADER], now=time.time())
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"sqlite:///{tmp_path / 'school.sqlite3'}"
        store, school = open_school(url)
        ops.migrate(store)
        seed_due_work(school)
        refused = cli("relay", "--webhook", "http://127.0.0.1:9/nobody", url=url)
        assert refused.returncode == 1
        assert "webhook" in refused.stderr  # and the cursor did not move:
        hook = f"http://127.0.0.1:{server.server_port}/events"
        os.environ["EDUENGINE_WEBHOOK_SECRET"] = "s3cret"
        try:
            done = cli("relay", "--webhook", hook, "--limit", "3", url=url)
        finally:
            del os.environ["EDUENGINE_WEBHOOK_SECRET"]
        assert done.returncode == 0, done.stderr
        assert [len(page["events"]) for page in received][:1] == [3]  # pages of --limit
        sent = [e["position"] for page in received for e in page["events"]]
        assert sent == [e.position for e in school.feed.events_since(0, limit=1000)]
        store.close()
    finally:
        server.shutdown()


def test_report_prints_the_dashboard_of_a_period_as_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'school.sqlite3'}"
    store, school = open_school(url)
    ops.migrate(store)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=4)
    school.booking.book(slot.id, "ann")
    school.booking.book(slot.id, "bob")
    other = school.booking.create_slot(
        "art", start + timedelta(days=1), start + timedelta(days=1, hours=1), capacity=2
    )
    school.booking.book(other.id, "cat")  # the day after: outside the period
    school.close()
    store.close()

    done = cli("report", "--from", day.isoformat(), "--days", "1", "--zone", "UTC", url=url)
    assert done.returncode == 0, done.stderr
    report = lines(done.stdout)[0]["report"]
    assert report["period"]["start"] == start.replace(hour=0).isoformat()
    assert [(r["key"], r["offered"], r["booked"]) for r in report["fill_rate"]] == [("math", 4, 2)]
    assert Decimal(report["fill_rate"][0]["rate"]) == Decimal("0.5")
    by_hour = cli("report", "--from", day.isoformat(), "--days", "2", "--by", "hour", url=url)
    assert {r["key"] for r in lines(by_hour.stdout)[0]["report"]["fill_rate"]} == {"10:00"}


def test_a_signal_landing_while_the_loop_holds_its_stop_lock_still_stops_it() -> None:
    # SIGTERM can land on the main thread at the instant it holds the Event's lock inside
    # stop.wait(); setting the Event from the handler then waited for itself forever.
    from eduengine.ops.cli import request_stop

    stop = threading.Event()
    landed = threading.Event()

    def main_thread_inside_wait() -> None:
        with stop._cond:  # type: ignore[attr-defined]  # as Event.wait holds it
            request_stop(stop)
            landed.set()

    inside = threading.Thread(target=main_thread_inside_wait, daemon=True)
    inside.start()
    assert landed.wait(5), "the handler blocked on the lock its own thread holds"
    assert stop.wait(5)
