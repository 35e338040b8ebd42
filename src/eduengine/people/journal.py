"""The audit journal (issue #24): an unmasked read's audit rows appended to a file of this
process before the values leave the library, and moved into the store in batches.

A read costs one ``os.write`` of a few short lines (no transaction, no fsync): once it
returned, the rows are in the kernel, so they outlive the process being killed, as a
commit of SQLite in WAL mode with ``synchronous=NORMAL`` does (a power loss may drop the
last of either). The rows are moved into the store (each under the key and with the
content the synchronous writer gives it, so moving a row twice files it once) when
``rows`` are queued, at the first audited read after the oldest waited ``wait``, before
every audit query, at ``School.close()`` and at the interpreter's exit; then the file
holding them is emptied.

A journal is two files ``<pid>-<token>-a.journal`` and ``-b.journal`` in one directory
(``<database>.audit/`` beside a SQLite database), mode 0600, on which its process holds
an exclusive ``flock`` (reads append to one while the other's batch is moved).
:func:`recover_journals` (run by ``School.build`` and ``eduengine run-due --every``)
moves every journal file whose lock it can take (a dead process's) into the store and
deletes it; a live process's lock keeps it out.

>>> import tempfile
>>> from datetime import datetime, timezone
>>> from pathlib import Path
>>> from eduengine import InMemoryStore
>>> from eduengine.people import SYSTEM
>>> store, folder = InMemoryStore(), Path(tempfile.mkdtemp()) / "school.db.audit"
>>> def run(command, **_):
...     with store.unit_of_work() as uow:
...         command(uow, None)
...         uow.commit()
>>> journal = AuditJournal(run, folder, rows=10)
>>> journal.add(SYSTEM, [("ann", "read", ("profile",))],
...             datetime(2026, 3, 1, tzinfo=timezone.utc))
>>> len(journal), len(list(folder.glob("*.journal")))
(1, 2)
>>> journal.close()
>>> len(journal), list(folder.glob("*.journal"))
(0, [])
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.people.access import (
    AUDIT,
    AUDIT_BATCH,
    AUDIT_WAIT,
    AuditBuffer,
    Runner,
    audit_index,
    audit_key,
)
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["JOURNAL_SUFFIX", "AuditJournal", "file_rows", "recover_journals"]

#: the suffix of a journal file (two per school object per process)
JOURNAL_SUFFIX = ".journal"
#: a file created but not yet named a journal (its lock is taken before it is)
_NEW_SUFFIX = ".new"
#: how old a ``.new`` file left by a process killed while naming it must be to be removed
_STALE_NEW = 60.0
#: how many rows of a dead process's journal one transaction files
_RECOVERED_PER_BATCH = 1000

_log = logging.getLogger(__name__)

#: a journaled row: key, instant (as stored), actor id, role, student id, action, fields
Line = tuple[str, str, str, str, str, str, tuple[str, ...]]

#: every journal alive, so a forked child lets go of its parent's files
_JOURNALS: weakref.WeakSet[AuditJournal] = weakref.WeakSet()


_TAB = "\t"


def _encode(row: Line) -> str:
    # tab-separated: ids are printable (no tab, no line break: check_id), so this is the
    # common line, at a tenth of json's cost; anything else is written as a JSON list
    key, at, actor_id, role, student_id, action, fields = row
    if (
        key.isprintable()
        and at.isprintable()
        and actor_id.isprintable()
        and role.isprintable()
        and student_id.isprintable()
        and action.isprintable()
        and all(map(str.isprintable, fields))
    ):
        # the common row, checked part by part (no tab or line break is printable) and
        # written in one format: the line the general case below writes
        line = f"{key}\t{at}\t{actor_id}\t{role}\t{student_id}\t{action}"
        return f"{line}\t{_TAB.join(fields)}\n" if fields else f"{line}\n"
    text = "\t".join((*row[:6], *row[6]))
    if "\n" in text or "\r" in text or text.count("\t") != 5 + len(row[6]):
        text = json.dumps([*row[:6], list(row[6])])
    return text + "\n"


def _decode(text: str) -> Line:
    if text.startswith("["):
        key, at, actor_id, role, student_id, action, fields = json.loads(text)
        parts = [key, at, actor_id, role, student_id, action]
        if not all(isinstance(p, str) for p in parts) or not all(
            isinstance(f, str) for f in fields
        ):
            raise ValueError("not a journal row")
        return key, at, actor_id, role, student_id, action, tuple(fields)
    key, at, actor_id, role, student_id, action, *fields = text.split("\t")
    return key, at, actor_id, role, student_id, action, tuple(fields)


def file_rows(uow: UnitOfWork, rows: Iterable[Line]) -> None:
    """File journaled rows in ``uow``: each under its key, with the document and index
    entries :func:`~eduengine.people.access.audit_row` gives it (so filing one twice
    leaves one row)."""
    for key, at, actor_id, role, student_id, action, fields in rows:
        doc: dict[str, Any] = {
            "at": at,
            "actor_id": actor_id,
            "role": role,
            "student_id": student_id,
            "action": action,
            "fields": list(fields),
        }
        n = micros(dt_in(at))
        uow.records.put(AUDIT, key, doc, index=audit_index(doc, n, at=n))


def _release(fds: list[int]) -> None:
    # the journal was dropped without close(): its files stay, unlocked, for the next
    # School.build on the store to file
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


class AuditJournal(AuditBuffer):
    """The journaled audit writer (``School.build(audit="journal")``): an
    :class:`~eduengine.people.access.AuditBuffer` whose queued rows are also appended,
    one ``os.write`` per read, to this journal's file in ``folder``.

    A journal holds two files (created at its first audited read, locked while it
    lives): reads append to one; moving a batch switches the reads to the other, files
    the batch through ``run`` in one transaction, then empties the first (a truncation:
    no file is created or deleted per batch). :meth:`close` deletes both. The module's
    docstring shows it at work."""

    def __init__(
        self,
        run: Runner,
        folder: str | os.PathLike[str],
        *,
        rows: int = AUDIT_BATCH,
        wait: timedelta = AUDIT_WAIT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(run, rows=rows, wait=wait, monotonic=monotonic)
        self.folder = Path(folder)
        self._pending: list[Line] = []
        #: the journal's two files (none until the first audited read), and which one
        #: reads append to; every row in either is filed or queued, and a file is
        #: emptied only once every row it holds is filed
        self._files: list[tuple[int, Path]] = []
        self._current = 0
        #: every descriptor held, closed if the journal is dropped unclosed
        self._fds: list[int] = []
        self._finalizer = weakref.finalize(self, _release, self._fds)
        _JOURNALS.add(self)

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def path(self) -> Path | None:
        """The file reads append to now (``None`` before the first audited read)."""
        return self._files[self._current][1] if self._files else None

    def add(
        self,
        actor: Actor,
        rows: Iterable[tuple[str, str, tuple[str, ...]]],
        now: datetime,
    ) -> None:
        """Append a read's rows (student, action, fields) filed at ``now`` to the
        journal, in one write; move the batch if it is full or its oldest row waited
        long enough."""
        at = micros(now)
        text = dt_out(now)
        lines = [
            (audit_key(at), text, actor.id, actor.role, sid, action, tuple(fields))
            for sid, action, fields in rows
        ]
        data = (_encode(lines[0]) if len(lines) == 1 else "".join(map(_encode, lines))).encode()
        with self._lock:
            try:
                if not self._files:
                    self._open()
                fd = self._files[self._current][0]
                sent = os.write(fd, data)
                if sent < len(data):  # a short write (a signal, a full disk): the rest
                    view = memoryview(data)[sent:]
                    while view:
                        view = view[os.write(fd, view) :]
            except OSError:
                written = False
            else:
                written = True
                due = self._queue(self._pending, lines)
        if not written:
            # no room on the disk (or no folder): the read's rows go to the store at once,
            # as the synchronous writer files them, rather than not at all
            _log.warning(
                "the audit journal in %s cannot be written: filing %d rows at once",
                self.folder,
                len(lines),
                exc_info=True,
            )
            self._file(lines)
        elif due:
            self.flush()

    def _open(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        opened: list[tuple[int, Path]] = []
        try:
            for half in "ab":
                new = self.folder / f".{name}-{half}{_NEW_SUFFIX}"
                fd = os.open(new, flags, 0o600)
                self._fds.append(fd)
                # locked before it is named a journal, so no recovery takes a live one
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path = self.folder / f"{name}-{half}{JOURNAL_SUFFIX}"
                os.rename(new, path)
                opened.append((fd, path))
        except BaseException:
            for _, path in opened:
                with contextlib.suppress(OSError):
                    path.unlink()
            _release(self._fds)
            raise
        self._files, self._current = opened, 0

    def _file(self, batch: Sequence[Line]) -> None:
        def file_audit_rows(uow: UnitOfWork, now: datetime) -> None:
            file_rows(uow, batch)

        file_audit_rows.__qualname__ = "AuditJournal.flush"
        self.run(file_audit_rows)

    def flush(self) -> int:
        """Move every queued row into the store in one transaction, then empty the
        journal file that held them; returns how many. A move that fails leaves them
        queued and journaled (and raises)."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
                done: int | None = None
                if self._files:
                    # reads append to the other file (emptied by the last move): this one
                    # holds only rows of the batch, or filed already
                    done = self._files[self._current][0]
                    self._current = 1 - self._current
            if batch:
                try:
                    self._file(batch)
                except BaseException:
                    with self._lock:
                        self._pending[:0] = batch
                    raise
            if done is not None:
                os.ftruncate(done, 0)
            return len(batch)

    def close(self) -> None:
        """Move every queued row into the store and delete the journal's files
        (``School.close()``); the next audited read starts new ones."""
        while True:
            self.flush()
            with self._writing, self._lock:
                if self._pending:
                    continue  # a read appended meanwhile: move it too
                files, self._files = self._files, []
                for fd, path in files:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()  # still locked: no recovery reads it meanwhile
                    if fd in self._fds:
                        self._fds.remove(fd)
                    os.close(fd)
                return

    def _lost_at_exit(self) -> None:
        files = ", ".join(str(p) for _, p in self._files) or str(self.folder)
        _log.warning(
            "%d audit rows could not be moved into the store at exit; they stay in %s, "
            "which the next School.build on this store (or eduengine run-due) files",
            len(self),
            files,
        )
        self._forget()

    def _forget(self) -> None:
        """Let go of the files without deleting them (their rows stay for recovery)."""
        with self._lock:
            self._files = []
            self._pending.clear()
            _release(self._fds)


def _after_fork_in_child() -> None:
    # a forked child must not append to, delete or hold locked its parent's files: it
    # starts its own at its first read; the rows it inherited queued are its parent's,
    # filed by the parent (and keyed, so filing them here too would add nothing)
    for journal in list(_JOURNALS):
        # a lock another thread of the parent held at the fork is never released here
        journal._lock = threading.Lock()
        journal._writing = threading.Lock()
        journal._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def recover_journals(run: Runner, folder: str | os.PathLike[str]) -> int:
    """Move the rows of every journal in ``folder`` whose lock can be taken (its process
    died, or dropped it unclosed) into the store through ``run``, then delete it;
    returns how many rows were filed. A journal a live process holds is left alone; two
    processes recovering at once file each row once (the lock decides, and a row is
    keyed).

    >>> import tempfile
    >>> from pathlib import Path
    >>> recover_journals(lambda command, **_: None, Path(tempfile.mkdtemp()) / "none")
    0
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    filed = 0
    for path in sorted(folder.iterdir()):
        if path.name.endswith(JOURNAL_SUFFIX):
            filed += _recover(run, path)
        elif path.name.endswith(_NEW_SUFFIX):
            _remove_stale(path)
    return filed


def _recover(run: Runner, path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # its owner or another recovery filed it meanwhile
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a live process's journal
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
        rows: list[Line] = []
        *lines, tail = data.split(b"\n")
        bad = 1 if tail else 0  # a last line cut short (no line break): never trusted
        for raw in lines:
            try:
                row = _decode(raw.decode())
                dt_in(row[1])
            except Exception:  # a line that is not one of ours: the others still count
                bad += 1
            else:
                rows.append(row)
        if bad:
            _log.warning("audit journal %s: %d lines could not be read, skipped", path, bad)
        for start in range(0, len(rows), _RECOVERED_PER_BATCH):
            run(_filing(rows[start : start + _RECOVERED_PER_BATCH]))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if rows:
            _log.info("audit journal %s: %d rows filed", path, len(rows))
        return len(rows)
    finally:
        os.close(fd)


def _filing(batch: Sequence[Line]) -> Callable[[UnitOfWork, datetime], None]:
    def file_recovered(uow: UnitOfWork, now: datetime) -> None:
        file_rows(uow, batch)

    file_recovered.__qualname__ = "recover_journals"
    return file_recovered


def _remove_stale(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime < _STALE_NEW:
            return  # a process may be naming it now
        path.unlink()
    except FileNotFoundError:
        pass
