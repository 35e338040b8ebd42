"""People and access, pure: who acts (:class:`Actor`), what they may see of a student
(:class:`FieldSet`, decided from staff roles, scopes and grants), masking (脱敏), the
audit entry (审计), and guardians as accounts linked to children.

>>> mask_phone("13812341234"), mask_email("alice@example.com"), mask_name("王小明")
('138****1234', 'a***@example.com', '王**')

A role's scope and field set decide what a member of staff sees of a student; outsourced
sales see prospects only, their contacts masked:

>>> from datetime import datetime, timezone
>>> now = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> rule = DEFAULT_ROLES[StaffRole.OUTSOURCED_SALES]
>>> prospect = StudentFacts(student_id="s1", class_id=None, stage="trial")
>>> customer = StudentFacts(student_id="s2", class_id="c1", stage="renewed")
>>> member = StaffMember(id="u1", role=StaffRole.OUTSOURCED_SALES)
>>> decide(member, rule, (), prospect, now).contacts, decide(
...     member, rule, (), customer, now).contacts
(<Access.MASKED: 'masked'>, <Access.NONE: 'none'>)
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
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


#: the actor the library reads as when it needs personal data itself (delivery,
#: reconciliation, risk rules run by a host's job): sees everything, audited as such
SYSTEM = Actor(id="system", role="system")


class GuardianRole(enum.Enum):
    """What a guardian may do for one child (each link has its own set)."""

    SEE_REPORTS = "see_reports"
    RECEIVE_REMINDERS = "receive_reminders"
    PAY = "pay"
    MANAGE_LOGIN = "manage_login"
    SPEAK_TO_TEACHERS = "speak_to_teachers"


@attrs.frozen(kw_only=True)
class GuardianAccount:
    """A guardian with a stable id, linked to one or more children
    (``children``: student id -> the roles held for that child)."""

    id: str
    name: str
    phone: str | None = None
    email: str | None = None
    children: Mapping[str, frozenset[GuardianRole]] = attrs.field(factory=dict)
    removed: bool = False


class StaffRole(enum.Enum):
    ACADEMIC = "academic"  # 教务
    HEAD_TEACHER = "head_teacher"  # 班主任
    TUTOR = "tutor"
    SUPPORT = "support"  # 客服
    SALES = "sales"
    OUTSOURCED_SALES = "outsourced_sales"
    OPERATIONS = "operations"
    ADMIN = "admin"


class Scope(enum.Enum):
    """Which students a role or grant reaches."""

    ALL = "all"
    MY_CLASSES = "my_classes"
    MY_STUDENTS = "my_students"
    #: students not yet customers, by lifecycle stage (:data:`PROSPECT_STAGES`)
    PROSPECTS = "prospects"


#: the lifecycle stages of a student who has not bought yet
PROSPECT_STAGES = frozenset({"registered", "trial"})

_ORDER = (Access.NONE, Access.MASKED, Access.FULL)


@attrs.frozen(kw_only=True)
class FieldSet:
    """What of a student's personal data a reader sees: contacts (names, phones,
    e-mails, the guardians') whole, masked or not at all; the birth date; payment
    accounts, devices and IPs."""

    contacts: Access = Access.NONE
    birth_date: bool = False
    payments: bool = False

    @property
    def refused(self) -> bool:
        return self.contacts is Access.NONE and not (self.birth_date or self.payments)

    @property
    def whole(self) -> bool:
        """Shows some personal value unmasked (so the read is audited)."""
        return self.contacts is Access.FULL or self.birth_date or self.payments

    def union(self, other: FieldSet) -> FieldSet:
        return FieldSet(
            contacts=max(self.contacts, other.contacts, key=_ORDER.index),
            birth_date=self.birth_date or other.birth_date,
            payments=self.payments or other.payments,
        )

    @classmethod
    def of(cls, access: Access) -> FieldSet:
        """The field set an :class:`AccessPolicy`'s answer stands for."""
        return WHOLE if access is Access.FULL else MASKED if access is Access.MASKED else NOTHING


WHOLE = FieldSet(contacts=Access.FULL, birth_date=True, payments=True)
MASKED = FieldSet(contacts=Access.MASKED)
NOTHING = FieldSet()


@attrs.frozen(kw_only=True)
class RoleRule:
    """A staff role's reach: the students (``scope``) and what of them (``fields``)."""

    scope: Scope
    fields: FieldSet


DEFAULT_ROLES: Mapping[StaffRole, RoleRule] = {
    StaffRole.ACADEMIC: RoleRule(scope=Scope.ALL, fields=WHOLE),
    StaffRole.ADMIN: RoleRule(scope=Scope.ALL, fields=WHOLE),
    StaffRole.HEAD_TEACHER: RoleRule(
        scope=Scope.MY_CLASSES, fields=FieldSet(contacts=Access.FULL, birth_date=True)
    ),
    StaffRole.TUTOR: RoleRule(scope=Scope.MY_STUDENTS, fields=MASKED),
    StaffRole.SUPPORT: RoleRule(scope=Scope.ALL, fields=MASKED),
    StaffRole.SALES: RoleRule(scope=Scope.PROSPECTS, fields=FieldSet(contacts=Access.FULL)),
    StaffRole.OUTSOURCED_SALES: RoleRule(scope=Scope.PROSPECTS, fields=MASKED),
    StaffRole.OPERATIONS: RoleRule(
        scope=Scope.ALL, fields=FieldSet(contacts=Access.MASKED, payments=True)
    ),
}


@attrs.frozen(kw_only=True)
class StaffMember:
    """A member of staff in the registry: a role, the classes they teach or lead and
    the students assigned to them; ``active`` is false once they left."""

    id: str
    role: StaffRole
    class_ids: frozenset[str] = frozenset()
    student_ids: frozenset[str] = frozenset()
    active: bool = True


@attrs.frozen(kw_only=True)
class Grant:
    """A temporary widening for one person: ``scope`` (with ``student_ids`` for
    :attr:`Scope.MY_STUDENTS`, ``class_ids`` for :attr:`Scope.MY_CLASSES`) and
    ``fields``, from ``starts_at`` until ``ends_at`` (or until revoked)."""

    id: str
    person_id: str
    scope: Scope
    fields: FieldSet
    starts_at: datetime
    ends_at: datetime
    student_ids: frozenset[str] = frozenset()
    class_ids: frozenset[str] = frozenset()
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        end = self.ends_at if self.revoked_at is None else min(self.ends_at, self.revoked_at)
        return self.starts_at <= now < end


@attrs.frozen(kw_only=True)
class StudentFacts:
    """What a scope looks at: the student's class and lifecycle stage."""

    student_id: str
    class_id: str | None
    stage: str


def in_scope(
    scope: Scope, class_ids: frozenset[str], student_ids: frozenset[str], student: StudentFacts
) -> bool:
    if scope is Scope.ALL:
        return True
    if scope is Scope.MY_CLASSES:
        return student.class_id is not None and student.class_id in class_ids
    if scope is Scope.MY_STUDENTS:
        return student.student_id in student_ids
    return student.stage in PROSPECT_STAGES


def decide(
    member: StaffMember | None,
    rule: RoleRule | None,
    grants: Sequence[Grant],
    student: StudentFacts,
    now: datetime,
) -> FieldSet:
    """What ``member`` (acting under ``rule``, with ``grants``) sees of ``student``: the
    union of the role's field set (when the student is in its scope) and every grant
    active at ``now`` whose scope holds the student."""
    seen = NOTHING
    if (
        member is not None
        and member.active
        and rule is not None
        and in_scope(rule.scope, member.class_ids, member.student_ids, student)
    ):
        seen = seen.union(rule.fields)
    for grant in grants:
        if grant.active(now) and in_scope(grant.scope, grant.class_ids, grant.student_ids, student):
            seen = seen.union(grant.fields)
    return seen
