"""The personal data in the desk's documents under the school's one access check.

A ticket's subject and messages, a lead's contact and a survey's free text belong to the
person they concern: the student (a ticket about her, her survey, the lead she became)
or, before there is one, the lead or guardian who asked (``lead:<id>``,
``guardian:<id>``). The desk's own rules say who may read a document at all (the asker,
the holder, support staff ...); the school's :class:`~eduengine.people.AccessGate`
(staff registry, grants, :class:`AccessPolicy`) says how its contact data is shown:
whole, or masked (phone numbers and e-mail addresses starred out of free text). Each
document shown whole to someone other than the person herself gets one ``read`` row in
the audit log under that person; a refused read gets a ``denied`` row.

>>> mask_text("call me on 13812345678 or ann@example.com")
'call me on 138****5678 or a***@example.com'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from eduengine.desk.model import Party
from eduengine.errors import AccessDenied
from eduengine.people.access import AccessGate, check_actor, write_audit
from eduengine.people.model import WHOLE, Actor, FieldSet, mask_email, mask_phone
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["DeskLook", "Refused", "mask_text", "read_personal", "subject_of"]

T = TypeVar("T")

_PHONE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

#: ``look(subject, whole=False)``: the reader's field set for a person (``whole``: the
#: desk's own rule shows it whole, e.g. to a lead's consultant; still audited)
DeskLook = Callable[..., FieldSet]


class Refused(Exception):
    """Raised by a query when the access check refuses the person it reads."""


def mask_text(text: str) -> str:
    """``text`` with mobile numbers and e-mail addresses masked as contacts are."""
    text = _PHONE.sub(lambda m: mask_phone(m.group()) or "", text)
    return _EMAIL.sub(lambda m: mask_email(m.group()) or "", text)


def subject_of(student_id: str | None, asker: Party) -> str:
    """Whose personal data a document holds: the student, else ``<kind>:<id>`` of
    the lead or guardian who asked."""
    return student_id if student_id is not None else f"{asker.kind}:{asker.id}"


def read_personal(
    run: Callable[..., Any],
    gate: AccessGate,
    actor: Actor,
    what: Sequence[str],
    query: Callable[[UnitOfWork, datetime, DeskLook], T],
    *,
    ids: Mapping[str, str | None] | None = None,
) -> T:
    """Run ``query(uow, now, look)`` read-only through ``run`` (a service's ``_run``),
    then audit: one ``read`` row (fields ``what``) per person ``look`` found shown
    whole; if the query raised :class:`Refused`, a ``denied`` row per person refused,
    and :class:`AccessDenied`."""
    check_actor(actor)
    seen: dict[str, FieldSet] = {}

    def command(uow: UnitOfWork, now: datetime) -> tuple[T | None, bool]:
        known: dict[str, FieldSet] = {}  # the gate's answer per person, asked once

        def look(subject: str, whole: bool = False) -> FieldSet:
            if whole:
                found = WHOLE
            else:
                found = known.get(subject) or gate.fields(uow, actor, subject, now)
                known[subject] = found
            seen[subject] = seen[subject].union(found) if subject in seen else found
            return found

        seen.clear()  # a retried unit of work looks again
        try:
            return query(uow, now, look), False
        except Refused:
            return None, True

    result, refused = run(command, write=False, ids=ids)
    rows = (
        [(s, "denied", ()) for s, f in seen.items() if f.refused]
        if refused
        else [(s, "read", tuple(what)) for s, f in seen.items() if f.whole]
    )
    if rows:

        def audit(uow: UnitOfWork, now: datetime) -> None:
            for subject, action, fields in rows:
                write_audit(uow, actor, subject, action, fields, now)

        run(audit, ids=ids)
    if refused:
        raise AccessDenied(
            f"{actor.role} {actor.id!r} may not read {', '.join(what)} of "
            f"{', '.join(repr(s) for s in seen)}"
        )
    return cast(T, result)  # None only when refused
