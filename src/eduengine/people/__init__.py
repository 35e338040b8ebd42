"""People and access (issue #24): guardians as accounts linked to children, the staff
registry with roles, scopes, field sets and temporary grants, the one access check
every read of personal data goes through, and the school's audit log."""

from eduengine.people.access import AccessGate
from eduengine.people.events import (
    GrantIssued,
    GrantsRevoked,
    GuardianAdded,
    GuardianChanged,
    GuardianLinked,
    GuardianRemoved,
    GuardianUnlinked,
    StaffRegistered,
)
from eduengine.people.model import (
    DEFAULT_ROLES,
    MASKED,
    NOTHING,
    PROSPECT_STAGES,
    SYSTEM,
    WHOLE,
    FieldSet,
    Grant,
    GuardianAccount,
    GuardianRole,
    RoleRule,
    Scope,
    StaffMember,
    StaffRole,
)
from eduengine.people.service import AuditPage, PeopleService

__all__ = [
    "DEFAULT_ROLES",
    "MASKED",
    "NOTHING",
    "PROSPECT_STAGES",
    "SYSTEM",
    "WHOLE",
    "AccessGate",
    "AuditPage",
    "FieldSet",
    "Grant",
    "GrantIssued",
    "GrantsRevoked",
    "GuardianAccount",
    "GuardianAdded",
    "GuardianChanged",
    "GuardianLinked",
    "GuardianRemoved",
    "GuardianRole",
    "GuardianUnlinked",
    "PeopleService",
    "RoleRule",
    "Scope",
    "StaffMember",
    "StaffRegistered",
    "StaffRole",
]
