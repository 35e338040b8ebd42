"""Idempotency keys: a command sent again with the same key gives the first answer.

A client that lost the answer to ``book`` or ``cancel`` (a timeout, a dropped
connection) sends the command again with the same ``idempotency_key=``: the library
returns the answer it gave the first time instead of booking twice or refusing the
cancel as ``invalid_transition``. The answer is filed under the key in the SAME unit of
work as the command's effects, so a crash cannot keep one without the other; a refused
command files nothing (its retry runs afresh). The key is read (and, on PostgreSQL,
locked, even while absent) before anything else, so concurrent sends of one key run one
after the other and all but the first replay its answer.

Keys are school-wide (one namespace for every command): the same key sent to another
command, or with other arguments, raises :class:`~eduengine.errors.IdempotencyKeyReused`
(409). A key is kept for :data:`KEY_TTL` (24 hours, as payment APIs do); after that it is
forgotten (lazily when met again, and by the ``idempotency`` periodic job) and a send
with it runs as new.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import BookingService, FixedClock, InMemoryStore
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
>>> slot = svc.create_slot("math", clock.now() + timedelta(days=1),
...                        clock.now() + timedelta(days=1, hours=1), capacity=1)
>>> first = svc.book(slot.id, "ann", idempotency_key="k1")
>>> svc.book(slot.id, "ann", idempotency_key="k1") == first
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from eduengine.errors import IdempotencyKeyReused
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import check_int, check_optional_id
from eduengine.service_layer.ports import JsonValue, UnitOfWork
from eduengine.service_layer.runner import ServiceBase

__all__ = [
    "KEYS",
    "KEY_TTL",
    "IdempotencyKeys",
    "check_key",
    "erase_keys",
    "forget",
    "forget_expired",
    "once",
]

T = TypeVar("T")

#: the record kind the keys are filed under, and the index of their expiry
KEYS = "idempotency_keys"
EXPIRES = "expires"

#: how long a key is kept after its first answer
KEY_TTL = timedelta(hours=24)


def check_key(key: str | None) -> None:
    """Refuse (``InvalidId``) a key that is not a valid id (``None``: no key)."""
    check_optional_id(key, "idempotency_key")


def once(
    uow: UnitOfWork,
    now: datetime,
    key: str | None,
    request: Mapping[str, JsonValue],
    run: Callable[[], T],
    *,
    encode: Callable[[T], JsonValue],
    decode: Callable[[JsonValue], T],
    ttl: timedelta = KEY_TTL,
) -> T:
    """``run()``, unless ``key`` already holds an answer: then that answer, decoded.

    ``request`` names the command and its arguments (JSON); a key filed with another
    request raises ``IdempotencyKeyReused``. Call it first in the command, so the key is
    locked before the command's aggregates. In a read-only unit of work a stored answer
    is replayed but a new one is not filed.
    """
    if key is None:
        return run()
    doc = uow.records.get(KEYS, key)
    if doc is not None and dt_in(doc["expires_at"]) > now:
        if doc["request"] != dict(request):
            raise IdempotencyKeyReused(key, _difference(doc["request"], request), order=False)
        return decode(doc["answer"])
    answer = run()
    if not uow.read_only:
        expires = now + ttl
        encoded = encode(answer)
        index = {EXPIRES: micros(expires)}
        student = request.get("student_id") or (
            encoded.get("student_id") if isinstance(encoded, dict) else None
        )
        if isinstance(student, str):  # so an erasure finds the student's keys
            index[f"student:{student}"] = micros(expires)
        uow.records.put(
            KEYS,
            key,
            {"request": dict(request), "answer": encoded, "expires_at": dt_out(expires)},
            index=index,
        )
    return answer


def forget(uow: UnitOfWork, key: str) -> None:
    """Drop ``key``: a command whose later step failed (a declined charge) is then run
    afresh by its retry, as if it had been refused."""
    uow.records.delete(KEYS, key)


def forget_expired(uow: UnitOfWork, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` keys past their expiry; returns how many."""
    rows = uow.records.scan(KEYS, EXPIRES, hi=micros(now), limit=limit)
    for key, _ in rows:
        uow.records.delete(KEYS, key)
    return len(rows)


def erase_keys(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: the keys of a student's commands (their requests and answers name the
    student); a replay after the erasure runs as a new command."""
    rows = uow.records.scan(KEYS, f"student:{student_id}")
    for key, _ in rows:
        uow.records.delete(KEYS, key)
    return len(rows)


class IdempotencyKeys(ServiceBase):
    """The school's idempotency keys (``school.idempotency``): the periodic sweep.

    >>> from eduengine import InMemoryStore
    >>> IdempotencyKeys(InMemoryStore().unit_of_work).forget_expired()
    0
    """

    def forget_expired(self, *, batch_size: int = 500) -> int:
        """Delete every key past its expiry, ``batch_size`` per unit of work (the
        ``idempotency`` periodic job); returns how many. A key past its expiry is
        ignored anyway: this only reclaims the space."""
        check_int(batch_size, "batch_size", low=1)
        done = 0
        while True:
            batch = self._run_batch(lambda uow, now: forget_expired(uow, now, batch_size))
            done += batch
            if batch < batch_size:
                return done


def _difference(stored: dict[str, Any], sent: Mapping[str, JsonValue]) -> str:
    if stored.get("command") != sent.get("command"):
        return f"it was sent to {stored.get('command')!r}"
    names = sorted(k for k in stored.keys() | sent.keys() if stored.get(k) != sent.get(k))
    return f"with other {', '.join(names)}"
