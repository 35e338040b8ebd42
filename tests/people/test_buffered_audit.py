"""The opt-in buffered audit writer (issue #24): a read's row is queued in the process and
written in batches, before every audit query and at close, with the row the synchronous
writer would file; refusals are still written at once. On every adapter."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from eduengine import FixedClock, InMemoryStore, School, SchoolSettings
from eduengine.errors import AccessDenied, InvalidInput, InvalidSetting
from eduengine.people import SYSTEM, StaffRole
from eduengine.people.access import AUDIT, STUDENTS, AuditBuffer
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import Actor, Guardian, GuardianRole
from tests.adapters import StoreHandle

ACADEMIC = Actor(id="u-office", role="academic")
SUPPORT = Actor(id="u-help", role="support")
AUDITOR = Actor(id="u-dpo", role="admin")

Row = tuple[str, str, str, str, tuple[str, ...], str]


def stored(school: School) -> list[Row]:
    """Every audit row in the store (not through the audit query, which flushes first),
    in key order, without its key: when, who, which role, which student, what."""

    def rows(uow: UnitOfWork, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        return sorted((key, doc) for key, doc in uow.records.list(AUDIT) if doc is not None)

    return [
        (d["at"], d["actor_id"], d["role"], d["student_id"], tuple(d["fields"]), d["action"])
        for _, d in school.people._run(rows, write=False)
    ]


def reads(school: School, clock: FixedClock) -> None:
    """One whole profile read, one whole guardians read, one records read, one masked
    read (no row), each a second apart."""
    school.students.view(ACADEMIC, "ann")
    clock.advance(timedelta(seconds=1))
    school.students.guardians_with("ann", GuardianRole.PAY, actor=ACADEMIC)
    clock.advance(timedelta(seconds=1))
    school.booking.bookings_for_student("ann", actor=ACADEMIC)
    clock.advance(timedelta(seconds=1))
    school.students.guardians_with("ann", GuardianRole.PAY, actor=SUPPORT)


def build(store: StoreHandle, clock: FixedClock, **options: Any) -> School:
    school = School.build(store, clock=clock, **options)
    school.students.register(
        "ann",
        name="王小明",
        phone="13812341234",
        guardians=[Guardian(name="王强", phone="13900002222", roles=frozenset(GuardianRole))],
    )
    return school


def test_a_buffered_read_files_the_row_the_synchronous_writer_files_after_a_flush(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = build(store, clock, audit="buffered", audit_rows=1000, audit_wait=timedelta(hours=1))
    assert school.audit is not None
    reads(school, clock)
    assert stored(school) == []  # queued, not written
    assert len(school.audit) == 3
    assert school.audit.flush() == 3
    assert school.audit.flush() == 0
    buffered = stored(school)
    # the same reads on a school writing synchronously (the clock set back) file the same
    clock.advance(timedelta(seconds=-3))
    synchronous = School.build(store, clock=clock, audit="synchronous")
    reads(synchronous, clock)
    assert stored(school) == sorted(buffered * 2)
    assert [row[4] for row in buffered] == [(), ("guardians",), ("bookings",)]
    assert {row[5] for row in buffered} == {"read"}


def test_an_audit_query_sees_the_rows_of_reads_made_just_before_it(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = build(store, clock, audit="buffered", audit_rows=1000, audit_wait=timedelta(hours=1))
    reads(school, clock)
    page = school.people.audit_log(actor=AUDITOR, student_id="ann")
    assert [e.fields for e in page.entries] == [(), ("guardians",), ("bookings",)]
    school.students.view(ACADEMIC, "ann")
    trail = school.students.audit_trail("ann", actor=ACADEMIC)
    assert [e.fields for e in trail] == [(), ("guardians",), ("bookings",), ()]
    # the trail's own read is queued after the rows it answered with
    assert school.audit is not None and len(school.audit) == 1
    by_actor = school.people.audit_log(actor=AUDITOR, actor_id=ACADEMIC.id)
    assert [e.fields for e in by_actor.entries][-1] == ("audit_trail",)
    school.close()


def test_close_writes_what_the_buffer_holds(store: StoreHandle, clock: FixedClock) -> None:
    school = build(store, clock, audit="buffered", audit_rows=1000, audit_wait=timedelta(hours=1))
    school.students.view(ACADEMIC, "ann")
    school.students.view(ACADEMIC, "ann")
    assert stored(school) == []
    school.close()
    assert [row[1] for row in stored(school)] == [ACADEMIC.id, ACADEMIC.id]
    school.close()  # nothing left: writes nothing more
    assert len(stored(school)) == 2


def test_a_full_batch_and_a_row_past_its_wait_are_written_at_the_next_read(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = build(store, clock, audit="buffered", audit_rows=3, audit_wait=timedelta(hours=1))
    school.students.view(ACADEMIC, "ann")
    school.students.view(ACADEMIC, "ann")
    assert stored(school) == []
    school.students.view(ACADEMIC, "ann")  # the third row fills the batch
    assert len(stored(school)) == 3
    at_once = School.build(store, clock=clock, audit="buffered", audit_wait=timedelta(0))
    at_once.students.view(ACADEMIC, "ann")
    assert len(stored(at_once)) == 4


def test_a_refused_read_is_audited_denied_at_once_under_a_buffer(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = build(store, clock, audit="buffered", audit_rows=1000, audit_wait=timedelta(hours=1))
    stranger = Actor(id="u-x", role="tutor")
    with pytest.raises(AccessDenied):
        school.students.view(stranger, "ann")
    with pytest.raises(AccessDenied):
        school.booking.bookings_for_student("ann", actor=stranger)
    assert [row[5] for row in stored(school)] == ["denied", "denied"]
    assert school.audit is not None and len(school.audit) == 0


def test_a_buffered_read_of_a_learning_record_and_the_librarys_own_reads(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = build(store, clock, audit="buffered", audit_rows=1000, audit_wait=timedelta(hours=1))
    school.mastery.mastery("ann", actor=ACADEMIC)
    # the library's daily summary row is written with its day marker, as before
    school.booking.bookings_for_student("ann", actor=SYSTEM)
    assert [row[1] for row in stored(school)] == ["system"]
    school.close()
    assert sorted(row[1] for row in stored(school)) == ["system", ACADEMIC.id]


def test_the_audit_mode_is_a_setting_and_a_wrong_one_is_refused(clock: FixedClock) -> None:
    settings = SchoolSettings.from_toml_text('[school]\naudit = "buffered"\n')
    assert School.build(InMemoryStore(), settings, clock=clock).audit is not None
    assert School.build(InMemoryStore(), clock=clock).audit is None
    with pytest.raises(InvalidSetting):
        SchoolSettings.from_toml_text('[school]\naudit = "later"\n')
    with pytest.raises(InvalidSetting):
        School.build(InMemoryStore(), clock=clock, audit="later")


def test_a_failed_write_keeps_the_rows_queued() -> None:
    fail = True

    def run(command: Any, **_: Any) -> None:
        if fail:
            raise OSError("the store is away")
        with store.unit_of_work() as uow:
            command(uow, None)
            uow.commit()

    store = InMemoryStore()
    buffer = AuditBuffer(run, rows=1000)
    buffer.add(ACADEMIC, [("ann", "read", ())], datetime.fromisoformat("2026-03-01T00:00Z"))
    with pytest.raises(OSError):
        buffer.flush()
    assert len(buffer) == 1
    fail = False
    assert buffer.flush() == 1


class CountingRecords:
    """The records of a unit of work, counting the documents read of each kind."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kinds: list[str] = []

    def get(self, kind: str, key: str) -> Any:
        self.kinds.append(kind)
        return self.inner.get(kind, key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_check_reads_a_students_document_only_when_her_class_or_stage_decides(
    clock: FixedClock,
) -> None:
    store = InMemoryStore()
    school = School.build(store, clock=clock)
    school.students.register("ann", name="王小明", phone="13812341234")
    school.people.register_staff("u-help", StaffRole.SUPPORT)
    school.people.register_staff("u-head", StaffRole.HEAD_TEACHER, class_ids={"c1"})
    gate = school.students.gate
    seen = {}
    for actor in (SUPPORT, Actor(id="u-head", role="head_teacher"), Actor(id="u9", role="x")):
        with store.unit_of_work() as uow:
            counting = CountingRecords(uow.records)
            uow.records = counting  # type: ignore[assignment]
            seen[actor.id] = gate.fields(uow, actor, "ann", clock.now()).contacts.value
            kinds = counting.kinds
        assert (STUDENTS in kinds) == (actor.id != "u-help"), (actor, kinds)
    assert seen == {"u-help": "masked", "u-head": "none", "u9": "none"}


def test_an_actor_the_gate_found_valid_is_remembered_and_a_bad_one_refused_every_time(
    clock: FixedClock,
) -> None:
    school = School.build(InMemoryStore(), clock=clock)
    school.students.register("ann", name="王小明", phone="13812341234")
    for _ in range(2):
        assert school.students.guardians_with("ann", GuardianRole.PAY, actor=SUPPORT) == []
        with pytest.raises(InvalidInput):
            school.students.guardians_with(
                "ann", GuardianRole.PAY, actor=Actor(id="bad\nid", role="support")
            )
        # class ids in a list (the input rule takes one) make an unhashable actor:
        # checked each time rather than remembered
        listed = Actor(id="u1", role="support", class_ids=["c1"])  # type: ignore[arg-type]
        assert school.students.guardians_with("ann", GuardianRole.PAY, actor=listed) == []
