"""How the learning record is stored: one JSON document per course curriculum, per
student's work, per baseline and per archive line, with the indexes its reads use.

A student's works are filed under ``student:<id>`` (assigned time); each archive line
under ``student:<id>`` and ``student:<id>|course:<course>`` (its time), so a page of one
student's archive, of a period or a course, reads only that page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eduengine.errors import InvalidInput, WorkNotFound
from eduengine.kernel.codec import dt_out, micros
from eduengine.kernel.records import override, reader, writer
from eduengine.learning.model import (
    AbilityDimension,
    ArchiveEntry,
    Curriculum,
    Work,
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


_dimension_out = writer(AbilityDimension)
_dimension_in = reader(AbilityDimension)
# a curriculum's course and a work's id are their documents' keys, not in them
_curriculum_out = writer(Curriculum, course_id=override(omit=True))
_curriculum_in = reader(Curriculum)


def dimensions_out(dimensions: list[AbilityDimension]) -> dict[str, Any]:
    return {"dimensions": [_dimension_out(d) for d in dimensions]}


def dimensions_in(doc: dict[str, Any] | None) -> list[AbilityDimension]:
    return [_dimension_in(d) for d in (doc or {"dimensions": []})["dimensions"]]


def curriculum_out(c: Curriculum) -> dict[str, Any]:
    return _curriculum_out(c)


def curriculum_in(course_id: str, doc: dict[str, Any]) -> Curriculum:
    return _curriculum_in({**doc, "course_id": course_id})


# --- work ------------------------------------------------------------------------------


_LATE_WINDOW = override(rename="late_window_us")
_work_out = writer(Work, id=override(omit=True), late_window=_LATE_WINDOW)
_work_in = reader(Work, late_window=_LATE_WINDOW)


def work_out(w: Work) -> dict[str, Any]:
    return _work_out(w)


def work_in(work_id: str, d: dict[str, Any]) -> Work:
    return _work_in({**d, "id": work_id})


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


# a line's detail is JSON as the projection wrote it
_DETAIL = override(unstruct_hook=dict, struct_hook=lambda detail, _: detail)
_entry_out = writer(ArchiveEntry, detail=_DETAIL)
_entry_in = reader(ArchiveEntry, detail=_DETAIL)


def entry_out(entry: ArchiveEntry) -> dict[str, Any]:
    return _entry_out(entry)


def entry_in(d: dict[str, Any]) -> ArchiveEntry:
    return _entry_in(d)


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
