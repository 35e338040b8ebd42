"""Who may see which student data, masking (脱敏) and the audit trail (审计), pure parts.

>>> mask_phone("13812341234"), mask_email("alice@example.com"), mask_name("王小明")
('138****1234', 'a***@example.com', '王**')

A masked value never shows the value whole: a value too short to keep a character of,
or one already made of what a mask shows, is hidden entirely, with a mask character
it does not contain.

>>> mask_name("王"), mask_email("alice"), mask_name("a*")
('*', 'a****', '••')
"""

from __future__ import annotations

import enum
import itertools
from datetime import datetime
from typing import Protocol

import attrs

#: what a mask shows in place of hidden characters, in order of preference
MASKS = "*•#x"


def _never_whole(value: str, masked: str) -> str:
    """``masked``, unless it would show ``value`` whole (equal to it, or holding it):
    then every character hidden, with a mask character ``value`` does not contain (so
    the result can neither equal nor contain it)."""
    if masked != value and (len(value) < 2 or value not in masked):
        return masked
    star = next(
        c for c in itertools.chain(MASKS, map(chr, itertools.count(0x2460))) if c not in value
    )
    return star * max(1, len(value))


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        masked = digits[:1] + "*" * (len(digits) - 1)
    else:
        masked = digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return _never_whole(phone, _never_whole(digits, masked))


def mask_email(email: str | None) -> str | None:
    """``a***@example.com``; a value without an ``@`` is masked like a name."""
    if not email:
        return email
    user, at, domain = email.partition("@")
    if not at:
        return mask_name(email)
    return _never_whole(email, f"{user[:1]}***@{domain}")


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return _never_whole(name, name[:1] + "*" * (len(name) - 1))


class Access(enum.Enum):
    NONE = "none"
    MASKED = "masked"
    FULL = "full"


@attrs.frozen(kw_only=True)
class Actor:
    """A staff member acting on records: ``role`` (academic, teacher, support, admin ...)
    and, for teachers, the classes they teach; for a guardian (role ``guardian``), the
    students (their children) whose learning record they may read, ``student_ids``."""

    id: str
    role: str
    class_ids: frozenset[str] = frozenset()
    student_ids: frozenset[str] = frozenset()


class AccessPolicy(Protocol):
    def access(self, actor: Actor, student_class: str | None, granted: bool) -> Access: ...


@attrs.frozen
class RoleBasedPolicy:
    """Academic staff and admins see everything; a class teacher sees the students of
    their own classes; support sees contact data masked; a temporary grant (until it
    expires or is revoked) gives full access; everyone else sees nothing."""

    full_roles: frozenset[str] = frozenset({"academic", "admin"})
    masked_roles: frozenset[str] = frozenset({"support"})

    def access(self, actor: Actor, student_class: str | None, granted: bool) -> Access:
        if granted or actor.role in self.full_roles:
            return Access.FULL
        if (
            actor.role == "teacher"
            and student_class is not None
            and student_class in actor.class_ids
        ):
            return Access.FULL
        if actor.role in self.masked_roles:
            return Access.MASKED
        return Access.NONE


@attrs.frozen(kw_only=True)
class AuditEntry:
    """Who read or changed which student record, when (no personal values inside)."""

    at: datetime
    actor_id: str
    role: str
    student_id: str
    action: str  # read | update | erase | denied
    fields: tuple[str, ...] = ()
