"""What eduengine logs: commands at DEBUG, refusals at INFO, retries and lock timeouts at
WARNING, each with the ids it works on in ``extra``; nothing configured on import."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryStore, School, ServiceBase
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import LockTimeout, RetryableConflict, SlotFull
from eduengine.service_layer.ports import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]


def test_importing_eduengine_configures_no_logging() -> None:
    code = (
        "import logging, eduengine, eduengine.ops.cli;"
        "root = logging.getLogger('eduengine');"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers;"
        "assert [type(h).__name__ for h in root.handlers] == ['NullHandler'];"
        "assert root.level == logging.NOTSET;"
        "assert all(not logging.getLogger(n).handlers for n in logging.root.manager.loggerDict"
        "           if n.startswith('eduengine.'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_booking_a_refusal_and_a_lock_timeout_are_logged_with_their_ids(
    tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3", lock_timeout=0.2)
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    caplog.set_level(logging.DEBUG, logger="eduengine")

    svc.book("s1", "ann")
    booked = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.name for r in booked] == ["eduengine.booking"]
    assert booked[0].command == "BookingService.book"  # type: ignore[attr-defined]
    assert (booked[0].slot_id, booked[0].student_id) == ("s1", "ann")  # type: ignore[attr-defined]
    assert "committed" in booked[0].getMessage()

    caplog.clear()
    with pytest.raises(SlotFull):
        svc.book("s1", "bob")
    refused = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(refused) == 1
    assert refused[0].error == "SlotFull"  # type: ignore[attr-defined]
    assert refused[0].student_id == "bob"  # type: ignore[attr-defined]
    assert "refused" in refused[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    other = BookingService(SqliteStore(store.path, lock_timeout=0.2).unit_of_work, clock=clock)
    with store.unit_of_work(), pytest.raises(LockTimeout):  # the first holds the write lock
        other.cancel("no-such-booking")
    timed_out = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(timed_out) == 1
    assert timed_out[0].error == "LockTimeout"  # type: ignore[attr-defined]
    assert timed_out[0].booking_id == "no-such-booking"  # type: ignore[attr-defined]
    assert "lock timeout" in timed_out[0].getMessage()
    store.close()


class Flaky(ServiceBase):
    """A service whose command meets a transient conflict ``conflicts`` times."""

    def __init__(self, conflicts: int) -> None:
        super().__init__(InMemoryStore().unit_of_work)
        self.conflicts = conflicts

    def touch(self, slot_id: str) -> str:
        def command(uow: UnitOfWork, now: datetime) -> str:
            if self.conflicts:
                self.conflicts -= 1
                raise RetryableConflict(f"slot {slot_id!r} changed")
            return slot_id

        return self._run(command, ids={"slot_id": slot_id})


def test_each_retry_is_a_warning_and_so_is_running_out_of_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="eduengine")
    assert Flaky(conflicts=2).touch("s1") == "s1"
    retried = [r.getMessage() for r in caplog.records]
    assert len(retried) == 2
    assert all("conflict, retrying" in m for m in retried)
    assert all(r.slot_id == "s1" for r in caplog.records)  # type: ignore[attr-defined]
    caplog.clear()
    with pytest.raises(RetryableConflict):
        Flaky(conflicts=3).touch("s1")
    assert "retries exhausted" in caplog.records[-1].getMessage()
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 3


def test_a_hosts_own_service_logs_under_its_module(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    Flaky(conflicts=0).touch("s1")
    assert [r.name for r in caplog.records] == [__name__]


def test_payments_and_calendars_log_under_their_packages() -> None:
    """Each package logs under its own name: the services that moved into ``payments`` and
    ``booking`` log there (earlier ``eduengine.payment_service`` and ``eduengine.ical``)."""
    school = School.build(InMemoryStore())
    assert school.payments.log.name == "eduengine.payments"
    assert school.calendar.log.name == "eduengine.booking"
