"""How the learning record is stored: one JSON document per course curriculum, per
student's work, per baseline and per archive line, with the indexes its reads use.

A student's works are filed under ``student:<id>`` (assigned time); each archive line
under ``student:<id>`` and ``student:<id>|course:<course>`` (its time), so a page of one
student's archive, of a period or a course, reads only that page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from eduengine.errors import InvalidInput, WorkNotFound
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.learning.model import (
    AbilityDimension,
    ArchiveEntry,
    Attempt,
    Curriculum,
    KnowledgePoint,
    Unit,
    Work,
    WorkKind,
    WorkState,
)
from eduengine.service_layer.ports import IndexEntries, RecordRepository, UnitOfWork

DIMENSIONS = "learning_dimensions"
CURRICULA = "learning_curriculum"
WORKS = "learning_work"
BASELINES = "learning_baseline"
SETTINGS = "learning_student"
ARCHIVE = "learning_archive"
#: students erased: the archive projection writes nothing more for them
ERASED = "learning_erased"
#: each graded attempt mastery learnt from (its points' mastery before and after), filed
#: under ``student:<id>`` by when it was applied: applied once, even in a rebuild
OBSERVED = "learning_observed"
#: each student's learning report per period, filed under ``student:<id>`` by its start
REPORTS = "learning_report"
#: periods whose reports were all sent by the periodic job
REPORT_RUNS = "learning_report_run"
#: each student with the time of her latest archive line, filed under ``active``
ACTIVE = "learning_active"


def by_student(student_id: str) -> str:
    return f"student:{student_id}"


def by_course(student_id: str, course_id: str) -> str:
    return f"student:{student_id}|course:{course_id}"


# --- curriculum ------------------------------------------------------------------------


def dimensions_out(dimensions: list[AbilityDimension]) -> dict[str, Any]:
    return {"dimensions": [{"id": d.id, "name": d.name} for d in dimensions]}


def dimensions_in(doc: dict[str, Any] | None) -> list[AbilityDimension]:
    return [AbilityDimension(**d) for d in (doc or {"dimensions": []})["dimensions"]]


def curriculum_out(c: Curriculum) -> dict[str, Any]:
    return {
        "title": c.title,
        "points": [
            {"id": p.id, "name": p.name, "prerequisites": list(p.prerequisites)} for p in c.points
        ],
        "units": [
            {"id": u.id, "name": u.name, "points": list(u.points), "dimensions": list(u.dimensions)}
            for u in c.units
        ],
    }


def curriculum_in(course_id: str, doc: dict[str, Any]) -> Curriculum:
    return Curriculum(
        course_id=course_id,
        title=doc["title"],
        points=tuple(KnowledgePoint(**p) for p in doc["points"]),
        units=tuple(Unit(**u) for u in doc["units"]),
    )


# --- work ------------------------------------------------------------------------------


def _attempt_out(a: Attempt) -> dict[str, Any]:
    return {
        "number": a.number,
        "submitted_at": dt_out(a.submitted_at),
        "late": a.late,
        "content": a.content,
        "score": None if a.score is None else str(a.score),
        "rubric": [[d, str(v)] for d, v in a.rubric],
        "comment": a.comment,
        "graded_by": a.graded_by,
        "returned": a.returned,
    }


def _attempt_in(d: dict[str, Any]) -> Attempt:
    return Attempt(
        number=d["number"],
        submitted_at=dt_in(d["submitted_at"]),
        late=d["late"],
        content=d["content"],
        score=None if d["score"] is None else Decimal(d["score"]),
        rubric=tuple((k, Decimal(v)) for k, v in d["rubric"]),
        comment=d["comment"],
        graded_by=d["graded_by"],
        returned=d["returned"],
    )


def work_out(w: Work) -> dict[str, Any]:
    return {
        "assignment_id": w.assignment_id,
        "student_id": w.student_id,
        "kind": w.kind.value,
        "course_id": w.course_id,
        "unit_id": w.unit_id,
        "title": w.title,
        "points": list(w.points),
        "dimensions": list(w.dimensions),
        "teacher_id": w.teacher_id,
        "assigned_at": dt_out(w.assigned_at),
        "due_at": None if w.due_at is None else dt_out(w.due_at),
        "late_window_us": w.late_window // timedelta(microseconds=1),
        "max_attempts": w.max_attempts,
        "state": w.state.value,
        "attempts": [_attempt_out(a) for a in w.attempts],
    }


def work_in(work_id: str, d: dict[str, Any]) -> Work:
    return Work(
        id=work_id,
        assignment_id=d["assignment_id"],
        student_id=d["student_id"],
        kind=WorkKind(d["kind"]),
        course_id=d["course_id"],
        unit_id=d["unit_id"],
        title=d["title"],
        points=tuple(d["points"]),
        dimensions=tuple(d["dimensions"]),
        teacher_id=d["teacher_id"],
        assigned_at=dt_in(d["assigned_at"]),
        due_at=None if d["due_at"] is None else dt_in(d["due_at"]),
        late_window=timedelta(microseconds=d["late_window_us"]),
        max_attempts=d["max_attempts"],
        state=WorkState(d["state"]),
        attempts=[_attempt_in(a) for a in d["attempts"]],
    )


def load_work(uow: UnitOfWork, work_id: str) -> Work:
    doc = uow.records.get(WORKS, work_id)
    if doc is None:
        raise WorkNotFound(work_id)
    return work_in(work_id, doc)


def put_work(uow: UnitOfWork, work: Work) -> None:
    uow.records.put(
        WORKS,
        work.id,
        work_out(work),
        index={by_student(work.student_id): micros(work.assigned_at)},
    )


# --- archive ---------------------------------------------------------------------------


def put_entry(uow: UnitOfWork, key: str, entry: ArchiveEntry) -> None:
    """File one archive line (a line of the same key is replaced: a corrected mark)."""
    at = micros(entry.at)
    index = {by_student(entry.student_id): at}
    if entry.course_id is not None:
        index[by_course(entry.student_id, entry.course_id)] = at
    # the report sweep finds students active since a period began without a scan
    seen = uow.records.get(ACTIVE, entry.student_id)
    if seen is None or seen["last"] < at:
        uow.records.put(ACTIVE, entry.student_id, {"last": at}, index={"active": at})
    uow.records.put(ARCHIVE, key, entry_out(entry), index=index)


def entry_out(entry: ArchiveEntry) -> dict[str, Any]:
    return {
        "student_id": entry.student_id,
        "at": dt_out(entry.at),
        "kind": entry.kind,
        "course_id": entry.course_id,
        "ref": entry.ref,
        "detail": dict(entry.detail),
    }


def entry_in(d: dict[str, Any]) -> ArchiveEntry:
    return ArchiveEntry(
        student_id=d["student_id"],
        at=dt_in(d["at"]),
        kind=d["kind"],
        course_id=d["course_id"],
        ref=d["ref"],
        detail=d["detail"],
    )


def cursor_out(value: int, key: str) -> str:
    return f"{value}/{key}"


def cursor_in(text: object) -> tuple[int, str]:
    if isinstance(text, str):
        value, sep, key = text.partition("/")
        try:
            if sep and key:
                return int(value), key
        except ValueError:
            pass
    raise InvalidInput(f"not a cursor of the learning archive: {text!r}")


def page(
    records: RecordRepository,
    kind: str,
    index: str,
    *,
    lo: int | None,
    hi: int | None,
    limit: int,
    after: tuple[int, str] | None,
    descending: bool,
) -> tuple[IndexEntries, tuple[int, str] | None]:
    """Up to ``limit`` ``(key, value)`` of ``index`` within ``[lo, hi]`` past the cursor
    ``after`` (keyset paging by ``(value, key)``), and the cursor of the next page."""
    if after is not None:
        value = after[0]
        if descending:
            hi = value if hi is None else min(hi, value)
        else:
            lo = value if lo is None else max(lo, value)
    want = limit + 1
    while True:
        rows = records.scan(kind, index, lo=lo, hi=hi, limit=want, descending=descending)
        if after is None:
            fresh = rows
        elif descending:
            fresh = [(k, v) for k, v in rows if (v, k) < after]
        else:
            fresh = [(k, v) for k, v in rows if (v, k) > after]
        # rows sharing the cursor's value come first: read on until a page is past them
        if len(fresh) > limit or len(rows) < want:
            break
        want *= 2
    more = len(fresh) > limit
    fresh = fresh[:limit]
    return fresh, (fresh[-1][1], fresh[-1][0]) if more and fresh else None


def erased(uow: UnitOfWork, student_id: str) -> bool:
    return uow.records.get(ERASED, student_id) is not None


def mark_erased(uow: UnitOfWork, student_id: str, now: datetime) -> None:
    uow.records.put(ERASED, student_id, {"at": dt_out(now)})
