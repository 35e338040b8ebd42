"""Read models of student records that other modules consult inside their own unit of
work (levels asks which class a student is in when XP is earned)."""

from __future__ import annotations

from eduengine.service_layer.ports import UnitOfWork

STUDENTS = "student"


def class_of(uow: UnitOfWork, student_id: str) -> str | None:
    """The class the student is a member of now, or ``None`` (also for unknown students)."""
    doc = uow.records.get(STUDENTS, student_id)
    if doc is None:
        return None
    found = doc.get("class_id")
    return found if isinstance(found, str) else None
