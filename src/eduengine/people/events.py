"""The events of the people registry: guardian accounts and their links to children,
staff and grants. No event carries a contact value (the feed outlives erasure).

>>> from eduengine.kernel.events import event_kind
>>> event_kind(GuardianLinked).name
'people.guardian_linked'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "GrantIssued",
    "GrantsRevoked",
    "GuardianAdded",
    "GuardianChanged",
    "GuardianLinked",
    "GuardianRemoved",
    "GuardianUnlinked",
    "StaffRegistered",
]


@event_type("people.guardian_added", aggregate="guardian", field="guardian_id")
@attrs.frozen(kw_only=True)
class GuardianAdded(DomainEvent):
    guardian_id: str


@event_type("people.guardian_changed", aggregate="guardian", field="guardian_id")
@attrs.frozen(kw_only=True)
class GuardianChanged(DomainEvent):
    """Contact fields changed (their names, never their values)."""

    guardian_id: str
    fields: tuple[str, ...]


@event_type("people.guardian_linked", aggregate="guardian", field="guardian_id")
@attrs.frozen(kw_only=True)
class GuardianLinked(DomainEvent):
    """A guardian was linked to a child, or the link's roles changed."""

    guardian_id: str
    student_id: str
    roles: tuple[str, ...]


@event_type("people.guardian_unlinked", aggregate="guardian", field="guardian_id")
@attrs.frozen(kw_only=True)
class GuardianUnlinked(DomainEvent):
    guardian_id: str
    student_id: str


@event_type("people.guardian_removed", aggregate="guardian", field="guardian_id")
@attrs.frozen(kw_only=True)
class GuardianRemoved(DomainEvent):
    """The account was removed: every link ended, its contacts dropped."""

    guardian_id: str


@event_type("people.staff_registered", aggregate="staff", field="person_id")
@attrs.frozen(kw_only=True)
class StaffRegistered(DomainEvent):
    """A member of staff was registered or their role, classes or students changed."""

    person_id: str
    role: str


@event_type("people.grant_issued", aggregate="staff", field="person_id")
@attrs.frozen(kw_only=True)
class GrantIssued(DomainEvent):
    person_id: str
    grant_id: str
    scope: str


@event_type("people.grants_revoked", aggregate="staff", field="person_id")
@attrs.frozen(kw_only=True)
class GrantsRevoked(DomainEvent):
    """Every grant the person held ended at once (and they left the staff)."""

    person_id: str
    grant_ids: tuple[str, ...]
