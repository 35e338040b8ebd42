"""The access check of the learning record (works, mastery, the path, milestones).

A learning result is not a contact detail: the field sets of :class:`AccessGate` say how
much of a student's personal data a reader sees, and :class:`LearningGate` reads them
for the learning record. A reader who sees her contacts whole (academic staff, a teacher
of her class, a head teacher in scope, a grant, a guardian with ``see_reports``) sees
her learning record whole; so do the student herself (``Actor(role="student")`` with
her id) and a guardian whose actor names her in ``student_ids`` (the archive's rule
since it was built). A reader who sees her masked (support) sees a work without its
answers, scores or comments, and nothing of reads that are all results (``strict``:
mastery, the path, milestones); anyone else is refused. Every whole read is audited.

>>> from datetime import datetime, timezone
>>> from eduengine import InMemoryStore
>>> from eduengine.people.model import Actor
>>> gate = LearningGate()
>>> at = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> with InMemoryStore().unit_of_work() as uow:
...     [gate.fields(uow, Actor(id=a, role=r), "ann", at).contacts.value
...      for a, r in [("ann", "student"), ("u1", "support"), ("bob", "student")]]
['full', 'masked', 'none']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.people.access import AccessGate, Look, Refused, Runner, _Actor
from eduengine.people.model import MASKED, NOTHING, WHOLE, Access, Actor, FieldSet
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["LearningGate"]

T = TypeVar("T")


class LearningGate(AccessGate):
    """:class:`AccessGate` for the learning record: each student is seen whole, masked
    or not at all (``WHOLE``, ``MASKED``, ``NOTHING``)."""

    def fields(
        self,
        uow: UnitOfWork,
        actor: Actor,
        student_id: str,
        now: datetime,
        known: _Actor | None = None,
        *,
        student: Mapping[str, Any] | None = None,
    ) -> FieldSet:
        if actor.role == "student":
            # a student reads her own record, no one else's
            return WHOLE if actor.id == student_id else NOTHING
        if actor.role == "guardian" and student_id in actor.student_ids:
            return WHOLE
        seen = super().fields(uow, actor, student_id, now, known, student=student)
        if seen.contacts is Access.FULL:
            return WHOLE
        return NOTHING if seen.refused else MASKED

    def read_record(
        self,
        run: Runner,
        actor: Actor | None,
        what: Sequence[str],
        query: Callable[[UnitOfWork, datetime, Look], T],
        *,
        ids: Mapping[str, str | None] | None = None,
        strict: bool = False,
        stacklevel: int = 3,
    ) -> T:
        """:meth:`AccessGate.read` for a learning read. ``strict``: the read has no
        masked form (a masked reader is refused and audited ``denied``); without an
        actor (deprecated) it answers as it did before the check, with a
        ``DeprecationWarning`` (``stacklevel``: the caller's frame from here)."""
        if actor is None and strict:
            warnings.warn(
                "reading a learning record without an actor is deprecated: pass actor=",
                EduEngineDeprecationWarning,
                stacklevel=stacklevel,
            )
            unchecked: T = run(
                _named(query, lambda uow, now: query(uow, now, lambda sid: WHOLE)),
                write=False,
                ids=ids,
            )
            return unchecked
        gate: AccessGate = _Strict(self) if strict else self
        return gate.read(run, actor, what, query, ids=ids)

    def read_student(
        self,
        run: Runner,
        actor: Actor | None,
        student_id: str,
        what: str,
        query: Callable[[UnitOfWork, datetime], T],
    ) -> T:
        """``query`` about one student, with no masked form: whole (audited once) or
        refused; the strict :meth:`read_record` of the mastery, path and milestone
        reads."""

        def checked(uow: UnitOfWork, now: datetime, look: Look) -> T:
            if not look(student_id).whole:
                raise Refused()
            return query(uow, now)

        return self.read_record(
            run,
            actor,
            (what,),
            _named(query, checked),
            ids={"student_id": student_id},
            strict=True,
            stacklevel=4,
        )


class _Strict(AccessGate):
    """The learning gate with masked readers refused."""

    def __init__(self, inner: LearningGate) -> None:
        super().__init__(inner.policy, inner.roles)
        self.inner = inner
        self.audit = inner.audit
        # made per read: what the inner gate knows of people (and the field sets it
        # decided) is shared, not read again each time
        self._known = inner._known
        self._checked = inner._checked

    def fields(
        self,
        uow: UnitOfWork,
        actor: Actor,
        student_id: str,
        now: datetime,
        known: _Actor | None = None,
        *,
        student: Mapping[str, Any] | None = None,
    ) -> FieldSet:
        seen = self.inner.fields(uow, actor, student_id, now, known, student=student)
        return seen if seen.whole else NOTHING


R = TypeVar("R")


def _named(query: Callable[..., object], command: Callable[..., R]) -> Callable[..., R]:
    command.__qualname__ = getattr(query, "__qualname__", command.__qualname__)
    return command
