"""The audit journal (issue #24), the default on a SQLite database file: a read's rows are
appended to a file of the process (one write, no fsync) and moved into the store in
batches, each under its key, so a process killed after its reads leaves rows the next
``School.build`` files exactly once. On every adapter where a journal directory applies
(a SQLite file's own, or one named for the memory store and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eduengine import FixedClock, InMemoryStore, School, SchoolSettings
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import AccessDenied, InvalidSetting
from eduengine.people.access import AUDIT
from eduengine.people.journal import AuditJournal, _decode, _encode, recover_journals
from eduengine.students import Actor, Guardian, GuardianRole
from tests.adapters import StoreHandle
from tests.people.test_buffered_audit import ACADEMIC, AUDITOR, reads, stored

HOUR = timedelta(hours=1)
#: the environment of the processes a test starts: this checkout's code
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
NAME, PHONE = "王小明", "13812341234"


def folder_of(store: StoreHandle, tmp_path: Path) -> Path:
    """The journals' directory: a SQLite file's own, else one named in ``tmp_path``."""
    own: Path | None = store.audit_journals
    return own if own is not None else tmp_path / "journals"


def journaled(
    store: StoreHandle, tmp_path: Path, clock: FixedClock, *, again: bool = False, **options: Any
) -> School:
    named = None if store.audit_journals is not None else tmp_path / "journals"
    options = {"audit_rows": 1000, "audit_wait": HOUR, **options}
    if named is not None:  # on a SQLite file the journal is the default: nothing names it
        options.update(audit="journal", audit_journal=named)
    school = School.build(store, clock=clock, **options)
    if again:  # a second school on the store: ann is registered
        return school
    school.students.register(
        "ann",
        name=NAME,
        phone=PHONE,
        guardians=[Guardian(name="王强", phone="13900002222", roles=frozenset(GuardianRole))],
    )
    return school


def journal_lines(folder: Path) -> list[str]:
    return [
        line for path in sorted(folder.glob("*.journal")) for line in path.read_text().splitlines()
    ]


def test_each_whole_read_files_one_row_the_synchronous_writer_files_after_a_move(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    assert isinstance(school.audit, AuditJournal)
    reads(school, clock)
    assert stored(school) == []  # journaled, not in the store yet
    folder = folder_of(store, tmp_path)
    assert len(journal_lines(folder)) == 3
    assert school.audit.flush() == 3
    assert school.audit.flush() == 0
    assert journal_lines(folder) == []
    moved = stored(school)
    clock.advance(timedelta(seconds=-3))
    synchronous = School.build(store, clock=clock, audit="synchronous")
    assert synchronous.audit is None
    reads(synchronous, clock)
    assert stored(school) == sorted(moved * 2)
    assert [row[4] for row in moved] == [(), ("guardians",), ("bookings",)]


def test_an_audit_query_sees_the_reads_made_just_before_it_and_close_removes_the_journal(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    reads(school, clock)
    page = school.people.audit_log(actor=AUDITOR, student_id="ann")
    assert [e.fields for e in page.entries] == [(), ("guardians",), ("bookings",)]
    school.students.view(ACADEMIC, "ann")
    trail = school.students.audit_trail("ann", actor=ACADEMIC)
    assert [e.fields for e in trail] == [(), ("guardians",), ("bookings",), ()]
    folder = folder_of(store, tmp_path)
    assert len(journal_lines(folder)) == 1  # the trail's own read
    school.close()
    assert list(folder.glob("*.journal")) == []
    assert [row[4] for row in stored(school)][-1] == ("audit_trail",)
    school.students.view(ACADEMIC, "ann")  # a read after close starts a new journal
    assert len(journal_lines(folder)) == 1
    school.close()
    assert len(stored(school)) == 6


def test_a_journal_left_by_a_school_dropped_unclosed_is_filed_once_by_the_next_build(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    reads(school, clock)
    assert isinstance(school.audit, AuditJournal)
    school.audit._forget()  # as a process that died: its file stays, unlocked
    folder = folder_of(store, tmp_path)
    assert len(journal_lines(folder)) == 3
    again = journaled(store, tmp_path, clock, again=True)
    assert journal_lines(folder) == []
    assert [row[4] for row in stored(again)] == [(), ("guardians",), ("bookings",)]
    assert again.recover_audit() == 0
    assert len(stored(again)) == 3


def test_a_live_schools_journal_is_left_alone_by_another_build(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    reads(school, clock)
    other = journaled(store, tmp_path, clock, again=True)
    assert other.recover_audit() == 0  # its lock is held
    assert stored(other) == []
    assert len(journal_lines(folder_of(store, tmp_path))) == 3
    school.close()
    assert len(stored(other)) == 3


def test_a_refused_read_is_filed_denied_at_once_under_the_journal(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    with pytest.raises(AccessDenied):
        school.students.view(Actor(id="u-x", role="tutor"), "ann")
    assert [row[5] for row in stored(school)] == ["denied"]
    assert journal_lines(folder_of(store, tmp_path)) == []


def test_the_journal_holds_ids_roles_and_fields_never_a_contact_value(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = journaled(store, tmp_path, clock)
    assert school.students.view(ACADEMIC, "ann").phone == PHONE
    folder = folder_of(store, tmp_path)
    assert isinstance(school.audit, AuditJournal)
    path = school.audit.path
    assert path is not None
    for each in folder.glob("*.journal"):
        assert stat.S_IMODE(each.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    text = path.read_text()
    assert NAME not in text and PHONE not in text
    assert text.split("\t")[2:6] == [ACADEMIC.id, ACADEMIC.role, "ann", "read\n"]


def test_the_default_mode_follows_the_store_and_a_journal_needs_a_directory(
    store: StoreHandle, clock: FixedClock, tmp_path: Path
) -> None:
    school = School.build(store, clock=clock)
    if store.name == "sqlite":
        assert isinstance(school.audit, AuditJournal)
        assert school.audit.folder == Path(f"{store.location}.audit")
    else:
        assert school.audit is None  # memory and PostgreSQL: synchronous
        with pytest.raises(InvalidSetting, match="audit_journal"):
            School.build(store, clock=clock, audit="journal")
        named = School.build(store, clock=clock, audit_journal=tmp_path / "j")
        assert isinstance(named.audit, AuditJournal)  # naming a directory turns it on
    assert School.build(store, clock=clock, audit="synchronous").audit is None
    assert School.build(SqliteStore(":memory:"), clock=clock).audit is None


def test_the_journal_is_a_setting(clock: FixedClock, tmp_path: Path) -> None:
    settings = SchoolSettings.from_toml_text(
        f'[school]\naudit = "journal"\naudit_journal = "{tmp_path / "j"}"\n'
    )
    school = School.build(InMemoryStore(), settings, clock=clock)
    assert isinstance(school.audit, AuditJournal) and school.audit.folder == tmp_path / "j"
    env = SchoolSettings.from_env({"EDUENGINE_SCHOOL__AUDIT": "buffered"})
    assert env.wiring.audit == "buffered" and env.wiring.audit_journal is None
    with pytest.raises(InvalidSetting):
        School.build(InMemoryStore(), SchoolSettings.from_toml_text('[school]\naudit = "journal"'))


def _runner(store: InMemoryStore, failing: list[bool]) -> Any:
    def run(command: Any, **_: Any) -> None:
        if failing and failing[0]:
            raise OSError("the store is away")
        with store.unit_of_work() as uow:
            command(uow, None)
            uow.commit()

    return run


def _rows(store: InMemoryStore) -> list[str]:
    with store.unit_of_work() as uow:
        return sorted(key for key, _ in uow.records.list(AUDIT))


AT = datetime.fromisoformat("2026-03-01T00:00Z")


def test_a_failed_move_keeps_the_rows_queued_and_journaled(tmp_path: Path) -> None:
    store, failing = InMemoryStore(), [True]
    journal = AuditJournal(_runner(store, failing), tmp_path, rows=1000)
    journal.add(ACADEMIC, [("ann", "read", ())], AT)
    with pytest.raises(OSError):
        journal.flush()
    journal.add(ACADEMIC, [("bob", "read", ("guardians",))], AT)
    assert len(journal) == 2 and len(journal_lines(tmp_path)) == 2
    failing[0] = False
    assert journal.flush() == 2
    assert len(_rows(store)) == 2
    # the file of the failed move still holds ann's row (filed: recovering it would file
    # it again under its key); the next move empties it
    assert len(journal_lines(tmp_path)) == 1
    assert journal.flush() == 0
    assert journal_lines(tmp_path) == [] and len(_rows(store)) == 2


def test_a_journal_that_cannot_be_written_files_the_rows_at_once(tmp_path: Path) -> None:
    store = InMemoryStore()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    journal = AuditJournal(_runner(store, []), blocked, rows=1000)
    journal.add(ACADEMIC, [("ann", "read", ())], AT)
    assert len(journal) == 0 and len(_rows(store)) == 1


def test_odd_ids_a_cut_line_and_a_foreign_line_are_read_safely(tmp_path: Path) -> None:
    store = InMemoryStore()
    journal = AuditJournal(_runner(store, []), tmp_path, rows=1000)
    odd = Actor(id="u\tx", role="role\nwith break")  # not an id the input rule passes
    journal.add(odd, [("ann", "read", ("a,b", "c"))], AT)
    journal.add(ACADEMIC, [("bob", "read", ())], AT)
    path = journal.path
    assert path is not None
    journal._forget()
    with path.open("a") as f:
        f.write("not one of ours\n" + "0001-cut\t2026-03-01T00:00:00+00:00\tu")
    assert recover_journals(_runner(store, []), tmp_path) == 2
    with store.unit_of_work() as uow:
        docs = {doc["student_id"]: doc for _, doc in uow.records.list(AUDIT)}
    assert (docs["ann"]["actor_id"], docs["ann"]["role"]) == (odd.id, odd.role)
    assert docs["ann"]["fields"] == ["a,b", "c"]
    assert list(tmp_path.iterdir()) == []


def test_each_line_is_the_encoding_of_its_row_whichever_parts_are_printable(
    tmp_path: Path,
) -> None:
    # the common line is built from parts checked once per actor and per list of fields:
    # a read mixing rows of odd parts with common ones writes each as _encode would
    journal = AuditJournal(_runner(InMemoryStore(), []), tmp_path, rows=1000)
    odd = Actor(id="u\tx", role="academic")
    made: list[tuple[Actor, list[tuple[str, str, tuple[str, ...]]]]] = [
        (ACADEMIC, [("ann", "read", ()), ("bob", "read", ("bookings", "orders"))]),
        (ACADEMIC, [("a\nb", "read", ("x",)), ("cy", "denied", ("tab\there",))]),
        (odd, [("ann", "read", ())]),
        (ACADEMIC, [("ann", "read\r", ()), ("ann", "read", ("bookings", "orders"))]),
    ]
    for actor, rows in made:
        journal.add(actor, rows, AT)
    path = journal.path
    assert path is not None
    lines = journal._pending
    assert len(lines) == 7
    assert path.read_text() == "".join(_encode(line) for line in lines)
    assert [_decode(text) for text in path.read_text().splitlines()] == lines
    journal._forget()


# --- other processes -----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from eduengine import School
    from eduengine.adapters.sqlite import SqliteStore
    from eduengine.students import Actor
    store = SqliteStore(sys.argv[1])
    # each school its own journal, as in as many processes
    schools = [School.build(store, audit_wait=timedelta(hours=1)) for _ in sys.argv[3:]]
    for school in schools:
        for _ in range(int(sys.argv[2])):
            school.students.view(Actor(id="u-office", role="academic"), "ann")
    print("read", flush=True)
    time.sleep(60)
    """
)

RECOVER = textwrap.dedent(
    """
    import sys
    from eduengine import School
    from eduengine.adapters.sqlite import SqliteStore
    School.build(SqliteStore(sys.argv[1]))  # files the journals whose lock it takes
    """
)


def _school_file(tmp_path: Path) -> tuple[SqliteStore, Path]:
    path = tmp_path / "school.db"
    store = SqliteStore(path)
    store.migrate()
    School.build(store).students.register("ann", name=NAME, phone=PHONE)
    return store, path


def _killed_after_reads(path: Path, reads: int, schools: int = 1) -> None:
    """A process makes ``reads`` audited reads through each of ``schools`` schools and
    is killed (SIGKILL) before it moved a row into the store."""
    argv = [sys.executable, "-c", CHILD, str(path), str(reads), *["school"] * schools]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert child.stdout is not None and child.stdout.readline() == "read\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def _keys(store: SqliteStore) -> Counter[str]:
    """The audit rows' keys in the store, read without building a school (which would
    file the journals it finds)."""
    with store.unit_of_work() as uow:
        return Counter(key for key, _ in uow.records.list(AUDIT))


def test_a_killed_process_leaves_rows_the_next_build_files_exactly_once(tmp_path: Path) -> None:
    store, path = _school_file(tmp_path)
    _killed_after_reads(path, 5)
    folder = Path(f"{path}.audit")
    assert len(journal_lines(folder)) == 5  # in the file, not in the store
    assert sum(_keys(store).values()) == 0  # (a synchronous school: it files nothing)
    school = School.build(store)  # files the dead process's journal
    assert list(folder.glob("*.journal")) == []
    entries = school.people.audit_log(actor=AUDITOR, actor_id="u-office").entries
    assert [(e.student_id, e.action) for e in entries] == [("ann", "read")] * 5
    assert School.build(store).recover_audit() == 0
    assert set(_keys(store).values()) == {1} and sum(_keys(store).values()) == 5
    store.close()


def test_two_recovering_processes_file_each_row_once(tmp_path: Path) -> None:
    store, path = _school_file(tmp_path)
    _killed_after_reads(path, 40, schools=2)
    folder = Path(f"{path}.audit")
    assert len(list(folder.glob("*.journal"))) == 4  # two schools' two files
    assert len(journal_lines(folder)) == 80
    both = [subprocess.Popen([sys.executable, "-c", RECOVER, str(path)], env=ENV) for _ in range(2)]
    assert [p.wait(timeout=60) for p in both] == [0, 0]
    assert list(folder.glob("*.journal")) == []
    keys = _keys(store)
    assert sum(keys.values()) == 80 and set(keys.values()) == {1}
    store.close()


def test_threads_recovering_the_same_journals_at_once_file_each_row_once(
    tmp_path: Path,
) -> None:
    store = InMemoryStore()
    for n in range(8):
        journal = AuditJournal(_runner(store, []), tmp_path, rows=1000)
        journal.add(ACADEMIC, [(f"s{n}-{i}", "read", ()) for i in range(50)], AT)
        journal._forget()
    filed: list[int] = []

    def recover() -> None:
        filed.append(recover_journals(_runner(store, []), tmp_path))

    threads = [threading.Thread(target=recover) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(filed) >= 400 and list(tmp_path.iterdir()) == []
    assert len(_rows(store)) == 400


def test_a_forked_child_journals_in_a_file_of_its_own_under_keys_of_its_own(
    tmp_path: Path,
) -> None:
    store = InMemoryStore()
    journal = AuditJournal(_runner(store, []), tmp_path, rows=1000)
    journal.add(ACADEMIC, [("ann", "read", ())], AT)
    parent = journal.path
    assert parent is not None
    pid = os.fork()
    if pid == 0:  # the child: a read of its own, then gone without moving it
        code = 1
        try:
            journal.add(ACADEMIC, [("ann", "read", ())], AT)
            code = 0 if journal.path not in (None, parent) and len(journal) == 1 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(list(tmp_path.glob("*.journal"))) == 4  # the parent's two, the child's
    assert len(parent.read_text().splitlines()) == 1  # the child never wrote to it
    assert recover_journals(_runner(store, []), tmp_path) == 1  # the child's: unlocked
    journal.close()
    assert len(_rows(store)) == 2  # the same instant, two keys


def test_run_due_every_files_a_journal_left_while_it_runs(tmp_path: Path) -> None:
    store, path = _school_file(tmp_path)
    url = f"sqlite:///{path}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "eduengine", "--store", url, "run-due", "--every", "100ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert worker.stdout is not None
        assert "run_due" in worker.stdout.readline()  # it runs, before the process dies
        _killed_after_reads(path, 3)
        for _ in range(100):  # passes of 100 ms: the next files the dead one's journal
            if not list(Path(f"{path}.audit").glob("*.journal")):
                break
            worker.stdout.readline()
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    keys = _keys(store)
    assert sum(keys.values()) == 3 and set(keys.values()) == {1}
    store.close()
