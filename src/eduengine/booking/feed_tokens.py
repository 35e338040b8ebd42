"""Secret tokens for .ics feed URLs, one per student and per tutor.

A calendar app fetches a feed by URL without logging in, so the URL carries the secret:
``secrets.token_urlsafe(32)`` (256 random bits). The store keeps only each token's
SHA-256 digest, so a leaked database or backup gives no working feed URL, and a lookup is
one keyed read (no comparison of secrets that could leak timing). Issuing a new token for
an owner revokes the old one (rotation); revoking leaves the owner without one; erasing
a student revokes theirs (``school.students.erase``).

>>> from eduengine import InMemoryStore
>>> store = InMemoryStore()
>>> with store.unit_of_work() as uow:
...     token = issue(uow, STUDENT, "ann")
...     uow.commit()
>>> with store.unit_of_work() as uow:
...     owner_of(uow, token)
('student', 'ann')
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from eduengine.errors import CalendarTokenNotFound, InvalidInput
from eduengine.service_layer.ports import UnitOfWork

#: the record kinds: a token's owner by the token's digest, an owner's digest by owner
TOKENS = "ics_token"
OWNERS = "ics_token_owner"
STUDENT = "student"
TUTOR = "tutor"
_KINDS = (STUDENT, TUTOR)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _owner_key(kind: str, owner_id: str) -> str:
    if kind not in _KINDS:
        raise InvalidInput(f"a calendar feed belongs to a student or a tutor, not {kind!r}")
    return f"{kind}:{owner_id}"


def issue(uow: UnitOfWork, kind: str, owner_id: str) -> str:
    """A new token for the feed of ``kind`` (``"student"`` or ``"tutor"``) ``owner_id``;
    the owner's previous token stops working."""
    key = _owner_key(kind, owner_id)
    revoke(uow, kind, owner_id)
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    uow.records.put(TOKENS, digest, {"kind": kind, "owner_id": owner_id})
    uow.records.put(OWNERS, key, {"digest": digest})
    return token


def revoke(uow: UnitOfWork, kind: str, owner_id: str) -> bool:
    """Make the owner's token stop working; whether there was one."""
    key = _owner_key(kind, owner_id)
    held = uow.records.get(OWNERS, key)
    if held is None:
        return False
    uow.records.delete(TOKENS, str(held["digest"]))
    uow.records.delete(OWNERS, key)
    return True


def owner_of(uow: UnitOfWork, token: str) -> tuple[str, str]:
    """``(kind, owner id)`` of a live token, or :class:`CalendarTokenNotFound`."""
    if not isinstance(token, str) or not 16 <= len(token) <= 200:
        raise CalendarTokenNotFound()
    found = uow.records.get(TOKENS, _digest(token))
    if found is None:
        raise CalendarTokenNotFound()
    return str(found["kind"]), str(found["owner_id"])


def erase_student_token(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """The erasure step: the student's feed URL stops working (1 if it existed)."""
    return int(revoke(uow, STUDENT, student_id))


__all__ = [
    "OWNERS",
    "STUDENT",
    "TOKENS",
    "TUTOR",
    "erase_student_token",
    "issue",
    "owner_of",
    "revoke",
]
