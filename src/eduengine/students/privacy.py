"""Who may see which student data, masking (脱敏) and the audit trail (审计), pure parts.

>>> mask_phone("13812341234"), mask_email("alice@example.com"), mask_name("王小明")
('138****1234', 'a***@example.com', '王**')
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol

import attrs


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    user, _, domain = email.partition("@")
    return f"{user[:1]}***@{domain}"


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[:1] + "*" * (len(name) - 1)


class Access(enum.Enum):
    NONE = "none"
    MASKED = "masked"
    FULL = "full"


@attrs.frozen(kw_only=True)
class Actor:
    """A staff member acting on records: ``role`` (academic, teacher, support, admin ...)
    and, for teachers, the classes they teach."""

    id: str
    role: str
    class_ids: frozenset[str] = frozenset()


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
