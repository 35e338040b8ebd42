"""The events of students: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(StudentRegistered).name
'students.registered'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "ClassAssigned",
    "CreditConsumed",
    "CreditForfeited",
    "CreditReturned",
    "PackageBought",
    "StageChanged",
    "StudentEnrolled",
    "StudentErased",
    "StudentRegistered",
    "TagsChanged",
]


@event_type("students.registered", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StudentRegistered(DomainEvent):
    student_id: str


@event_type("students.credit_consumed", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class CreditConsumed(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    credits_left: int


@event_type("students.credit_returned", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class CreditReturned(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    credits_left: int


@event_type("students.credit_forfeited", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class CreditForfeited(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    reason: str


@event_type("students.class_assigned", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class ClassAssigned(DomainEvent):
    student_id: str
    class_id: str
    from_class_id: str | None


@event_type("students.tags_changed", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class TagsChanged(DomainEvent):
    student_id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    stage: str


@event_type("students.stage_changed", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StageChanged(DomainEvent):
    """The lifecycle stage moved (kept in the student's dated stage history)."""

    student_id: str
    stage: str
    previous: str
    reason: str
    #: why a student churned: the school's code given to ``churn``, or ``inactivity``
    reason_code: str | None = None


@event_type("students.enrolled", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StudentEnrolled(DomainEvent):
    student_id: str
    course_id: str
    source: str
    package_id: str | None


@event_type("students.package_bought", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class PackageBought(DomainEvent):
    """A package was sold; ``payer_id`` is the guardian who paid on the student's
    behalf (``None``: the student paid)."""

    student_id: str
    package_id: str
    credits: int
    course_id: str | None = None
    payer_id: str | None = None


@event_type("students.erased", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StudentErased(DomainEvent):
    student_id: str
    removed: tuple[tuple[str, int], ...] = ()
