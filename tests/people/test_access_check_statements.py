"""What the access check costs a read in statements (issue #24): where a statement is a
round trip (PostgreSQL) a read-only profile read with the check runs no more statements
than without it, the person's access revision read along with the student's document;
on SQLite a read-only read runs one ``PRAGMA data_version`` instead of the revision's
point read while nothing was committed since the gate read the person (after another
connection's commit the revision is read again, and the next few reads read it without
asking); nothing more on either."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import UNMARKED_AFTER_A_COMMIT, SqliteStore
from eduengine.people import StaffRole
from eduengine.people.access import AccessGate, Look, Runner
from eduengine.people.model import MASKED, WHOLE
from eduengine.service_layer.ports import UnitOfWork, open_read_only
from eduengine.students import Actor, Guardian, GuardianRole
from eduengine.students import records as rec
from eduengine.students.profiles import _profile
from tests.adapters import StoreHandle

T = TypeVar("T")
HELPDESK = Actor(id="u-help", role="support")
OFFICE = Actor(id="u-office", role="academic")
DAY = timedelta(days=1)


class _Unchecked(AccessGate):
    """The same read with no check: every student seen masked, nothing read."""

    def read(
        self,
        run: Runner,
        actor: Actor | None,
        what: Sequence[str],
        query: Callable[[UnitOfWork, datetime, Look], T],
        *,
        ids: Mapping[str, str | None] | None = None,
        records: bool = False,
        stacklevel: int = 3,
        ahead: Sequence[tuple[str, str]] = (),
    ) -> T:
        result: T = run(lambda uow, now: query(uow, now, lambda sid: MASKED), write=False)
        return result


@contextmanager
def _statements(store: StoreHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements the store runs meanwhile (BEGIN and the transaction's end aside,
    which every unit of work runs once)."""
    seen: list[str] = []
    if store.name == "sqlite":
        conn = store.store.connection()
        conn.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            conn.set_trace_callback(None)
        seen[:] = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
        return
    from eduengine.adapters.postgres import PostgresDialect

    real = PostgresDialect.executors

    def counted(self: PostgresDialect, uow: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        execute, executemany = real(self, uow)

        def run(sql: str, params: Any = None) -> Any:
            seen.append(f"{sql} -- {params!r}")
            return execute(sql, params)

        return run, executemany

    with monkeypatch.context() as patch:
        patch.setattr(PostgresDialect, "executors", counted)
        yield seen


def _school(store: StoreHandle, clock: FixedClock, audit: str) -> School:
    school = School.build(store, clock=clock, audit=audit)
    guardian = Guardian(name="王芳", phone="13900001111", roles=frozenset(GuardianRole))
    school.students.register("ann", name="王小明", phone="13812341234", guardians=[guardian])
    school.people.register_staff(HELPDESK.id, StaffRole.SUPPORT)
    school.people.register_staff(OFFICE.id, StaffRole.ACADEMIC)
    return school


def _counted(
    store: StoreHandle,
    monkeypatch: pytest.MonkeyPatch,
    checked: Callable[[], object],
    plain: Callable[[], object],
) -> tuple[list[str], list[str]]:
    checked(), plain()  # what is read once (the person, the schema) is read
    with _statements(store, monkeypatch) as with_check:
        checked()
    with _statements(store, monkeypatch) as without:
        plain()
    return with_check, without


def _revision_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if "access_revision" in s]


@pytest.mark.parametrize("audit", ["synchronous", "buffered"])
def test_a_masked_read_runs_the_statements_of_the_read_without_the_check(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, audit: str
) -> None:
    if store.name == "memory":
        pytest.skip("no statements")
    school = _school(store, clock, audit)
    unchecked = copy.copy(school.students)
    unchecked.gate = _Unchecked()
    shown = school.students.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK)
    assert shown == unchecked.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK)
    assert shown[0].phone == "139****1111"
    with_check, without = _counted(
        store,
        monkeypatch,
        lambda: school.students.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK),
        lambda: unchecked.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK),
    )
    if store.name == "sqlite":
        # nothing committed since the gate read the person: whether anything was is one
        # PRAGMA, and nothing else is read
        _only_the_mark(with_check, without)
    else:
        [revision] = _revision_reads(with_check)
        # read along with her document, in the statement that reads it anyway
        assert len(with_check) == len(without)
        assert "UNION ALL" in revision and "'student'" in revision


def test_a_buffered_profile_read_runs_the_statements_of_the_read_without_the_check(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.name == "memory":
        pytest.skip("no statements")
    school = _school(store, clock, "buffered")
    run = school.students._run

    def plain() -> object:
        return run(lambda uow, now: _profile("ann", rec.student(uow, "ann"), WHOLE), write=False)

    assert school.students.view(OFFICE, "ann") == plain()
    with_check, without = _counted(
        store, monkeypatch, lambda: school.students.view(OFFICE, "ann"), plain
    )
    if store.name == "sqlite":
        _only_the_mark(with_check, without)
    else:
        [revision] = _revision_reads(with_check)
        assert len(with_check) == len(without)
        assert "UNION ALL" in revision and "'student'" in revision


def _only_the_mark(with_check: list[str], without: list[str]) -> None:
    assert _revision_reads(with_check) == []
    assert with_check[0] == "PRAGMA data_version"
    assert with_check[1:] == without


@pytest.mark.parametrize("audit", ["synchronous", "journal"])
def test_on_sqlite_a_commit_by_another_connection_makes_the_next_check_read_the_revision(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, audit: str
) -> None:
    if store.name != "sqlite":
        pytest.skip("SQLite's commit mark")
    assert store.location is not None
    school = _school(store, clock, audit)

    def masked() -> object:
        return school.students.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK)

    masked()
    other = SqliteStore(store.location)  # another connection to the same file
    try:
        with other.unit_of_work() as uow:  # a commit that touches no access data
            uow.records.put("note", "n1", {"text": "hello"})
            uow.commit()
        with _statements(store, monkeypatch) as after_theirs:
            masked()
        unmarked = []
        for _ in range(UNMARKED_AFTER_A_COMMIT):
            with _statements(store, monkeypatch) as seen:
                masked()
            unmarked.append(seen)
        with _statements(store, monkeypatch) as marked_again:
            masked()
    finally:
        other.close()
    # the mark changed: the revision is read (the same token: what was read of the
    # person holds), and the next few reads read it without asking (where others commit
    # that often, asking would only add a statement); then the mark alone again
    assert after_theirs[0] == "PRAGMA data_version"
    assert len(_revision_reads(after_theirs)) == 1
    for seen in unmarked:
        assert "PRAGMA data_version" not in seen
        assert len(_revision_reads(seen)) == 1
        assert len(seen) == len(after_theirs) - 1
    assert marked_again[0] == "PRAGMA data_version"
    assert _revision_reads(marked_again) == []
    assert len(marked_again) == len(unmarked[0])


def test_on_sqlite_each_connection_keeps_its_own_mark(
    store: StoreHandle, clock: FixedClock
) -> None:
    if store.name != "sqlite":
        pytest.skip("SQLite's commit mark")
    school = _school(store, clock, "synchronous")

    def masked() -> list[str]:
        """The statements of one masked read on this thread's connection."""
        seen: list[str] = []
        conn = store.store.connection()
        conn.set_trace_callback(seen.append)
        try:
            school.students.guardians_with("ann", GuardianRole.PAY, actor=HELPDESK)
        finally:
            conn.set_trace_callback(None)
        return seen

    def in_a_thread() -> list[str]:
        found: list[list[str]] = []
        thread = threading.Thread(target=lambda: found.append(masked()))
        thread.start()
        thread.join(timeout=60)
        [seen] = found
        return seen

    reader = ThreadPoolExecutor(max_workers=1)  # one thread: one other connection
    try:
        for _ in range(2):  # each connection reads the person once, then marks alone
            masked()
            reader.submit(masked).result(timeout=60)
        ours, theirs = masked(), reader.submit(masked).result(timeout=60)
    finally:
        reader.shutdown()
    for seen in (ours, theirs):
        assert "PRAGMA data_version" in seen
        assert _revision_reads(seen) == []
    assert _revision_reads(in_a_thread()) != []  # a new connection reads the person


def test_a_read_ahead_reads_only_where_it_saves_a_round_trip_and_hands_each_document_once(
    store: StoreHandle,
) -> None:
    if store.name == "memory":
        pytest.skip("no statements")
    with store.unit_of_work() as uow:
        uow.records.put("student", "ann", {"name": "Ann"})
        uow.commit()
    wanted = {"student": ["ann", "nobody"], "access_revision": ["u1"]}
    with store.unit_of_work() as uow:  # a write: a get locks (PostgreSQL) or it is SQLite
        records: Any = uow.records
        assert records.reads_ahead is False
        assert records.read_ahead(wanted) is False
    with open_read_only(store.unit_of_work) as uow:
        records = uow.records
        assert records.reads_ahead is (store.name != "sqlite")
        assert records.read_ahead(wanted) is records.reads_ahead
        for _ in range(2):  # from the read ahead, then from the store: the same
            assert records.get("student", "ann") == {"name": "Ann"}
            assert records.get("student", "nobody") is None
            assert records.peek("access_revision", "u1") is None


@pytest.mark.parametrize("audit", ["synchronous", "buffered"])
def test_a_checked_read_of_bookings_makes_no_document_repository_on_sqlite(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, audit: str
) -> None:
    # the commit mark is asked of the unit of work: a read that touches no document
    # does not make (and, sealed, wrap) a document repository only to ask for it
    if store.name != "sqlite":
        pytest.skip("SQLite's commit mark")
    from eduengine.adapters.sql import SqlRecordRepository

    school = _school(store, clock, audit)
    slot = school.booking.create_slot("math", clock.now() + DAY, clock.now() + 2 * DAY, 3)
    school.booking.book(slot.id, "ann")
    checked = school.booking.bookings_for_student("ann", actor=OFFICE)
    made: list[object] = []
    real = SqlRecordRepository.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(SqlRecordRepository, "__init__", counted)
    with _statements(store, monkeypatch) as seen:
        again = school.booking.bookings_for_student("ann", actor=OFFICE)
    assert again == checked and len(again) == 1
    if audit == "buffered":  # a read-only unit of work: the mark, then the bookings
        assert seen[0] == "PRAGMA data_version"
        assert _revision_reads(seen) == []
        assert made == []
    else:  # the audit row is written at once: a write unit of work, which has no mark
        assert "PRAGMA data_version" not in seen
