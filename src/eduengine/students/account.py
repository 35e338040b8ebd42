"""A student's account page: their orders, packages and credits (issue #27).

Read-only queries over indexes: orders are filed under ``student:<id>`` at their creation
time, packages under ``student:<id>`` at their purchase time, so a page reads the
student's own rows, never every order or package. Pages are newest first, keyset paged
(``after=page.next``), so a page never repeats or skips a row while orders come in.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> now = datetime(2026, 3, 2, tzinfo=timezone.utc)
>>> clock = FixedClock(now)
>>> school = School.build(InMemoryStore(), clock=clock)
>>> school.students.register("ann", name="Ann")
>>> for n in (10, 5, 20):
...     _ = school.students.buy_package("ann", credits=n, valid_for=timedelta(days=90),
...                                     package_id=f"p{n}", activate=True)
...     _ = clock.advance(timedelta(hours=1))
>>> from eduengine.students import Actor
>>> office = Actor(id="u-office", role="academic")
>>> page = school.purchases.packages("ann", limit=2, actor=office)
>>> [p.id for p in page]
['p20', 'p5']
>>> [p.id for p in school.purchases.packages("ann", after=page.next, actor=office)]
['p10']
>>> [(c.course_id, c.credits_left) for c in school.purchases.credits("ann", actor=office)]
[(None, 35)]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import attrs

from eduengine.booking.timetable import Page, decode_cursor, encode_cursor
from eduengine.kernel.inputs import check_id, check_int
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.pricing.orders import ORDERS, Order, _order_from
from eduengine.pricing.service import ORDER_FIELDS
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import records as rec
from eduengine.students.packages import PACKAGE_FIELDS

#: the most rows one page may ask for
MAX_PAGE = 500

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class CreditBalance:
    """The credits a student can spend now on one scope: a course (``course_id``) or
    any course (``None``), over their active packages; ``expires_at`` is when the first
    of them runs out."""

    course_id: str | None
    credits_left: int
    packages: int
    expires_at: datetime


def newest_first(
    uow: UnitOfWork, kind: str, index: str, cursor: tuple[int, str] | None, want: int
) -> list[tuple[str, int]]:
    """Up to ``want`` entries of ``index`` before ``cursor`` in ``(value, key)``
    descending order: index pages one after another, a page of ties read whole."""
    out: list[tuple[str, int]] = []
    last, batch = cursor, want
    while len(out) < want:
        entries = uow.records.scan(
            kind, index, hi=None if last is None else last[0], limit=batch, descending=True
        )
        fresh = [(k, v) for k, v in entries if last is None or (v, k) < last]
        if not fresh:
            if len(entries) < batch:
                break
            batch *= 2  # every entry read ties with the cursor: read more of them
            continue
        out.extend(fresh)
        last = (fresh[-1][1], fresh[-1][0])
        if len(entries) < batch:
            break
    return out[:want]


def _paged(
    uow: UnitOfWork,
    kind: str,
    index: str,
    after: str | None,
    limit: int,
    read: Callable[[str], T | None],
) -> Page[T]:
    cursor = None if after is None else decode_cursor(after)
    entries = newest_first(uow, kind, index, cursor, limit + 1)
    items = []
    for key, _ in entries[:limit]:
        found = read(key)
        if found is not None:
            items.append(found)
    more = len(entries) > limit
    key, value = entries[limit - 1] if more else ("", 0)
    return Page(items=tuple(items), next=encode_cursor(value, key) if more else None)


class PurchaseQueries(ServiceBase):
    """A student's orders, packages and credits (see the module's docs), each read as an
    actor under the school's access check: refused unless the actor may see the student;
    audited (docs/privacy.md). Without an actor (deprecated) they are read as before."""

    # the school's access check (School.build sets its own)
    gate: AccessGate = AccessGate()

    def orders(
        self,
        student_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        actor: Actor | None = None,
    ) -> Page[Order]:
        """The student's orders, newest first, any status, read as ``actor`` (fields
        ``orders``)."""
        check_id(student_id, "student_id")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Page[Order]:
            shown(look, student_id)

            def read(key: str) -> Order | None:
                doc = uow.records.get(ORDERS, key)
                return None if doc is None else _order_from(key, doc)

            return _paged(uow, ORDERS, f"student:{student_id}", after, limit, read)

        return self.gate.read(
            self._run, actor, ORDER_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def packages(
        self,
        student_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        actor: Actor | None = None,
    ) -> Page[rec.PackageView]:
        """The student's lesson packages, newest purchase first, any status, read as
        ``actor`` (fields ``packages``)."""
        check_id(student_id, "student_id")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Page[rec.PackageView]:
            shown(look, student_id)

            def read(key: str) -> rec.PackageView | None:
                doc = uow.records.get(rec.PACKAGES, key)
                return None if doc is None else rec.package_view(key, doc, now)

            return _paged(uow, rec.PACKAGES, f"student:{student_id}", after, limit, read)

        return self.gate.read(
            self._run, actor, PACKAGE_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def credits(self, student_id: str, *, actor: Actor | None = None) -> list[CreditBalance]:
        """The credits the student can spend now, by scope (any course first, then by
        course id): active packages with credits left only; read as ``actor`` (fields
        ``packages``)."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[CreditBalance]:
            shown(look, student_id)
            scopes: dict[str | None, list[rec.PackageView]] = {}
            for key, _ in uow.records.scan(rec.PACKAGES, f"student:{student_id}"):
                doc = uow.records.get(rec.PACKAGES, key)
                if doc is None:
                    continue
                view = rec.package_view(key, doc, now)
                if view.status == "active" and view.credits_left > 0:
                    scopes.setdefault(view.course_id, []).append(view)
            out = []
            for scope in sorted(scopes, key=lambda c: (c is not None, c or "")):
                views = scopes[scope]
                out.append(
                    CreditBalance(
                        course_id=scope,
                        credits_left=sum(v.credits_left for v in views),
                        packages=len(views),
                        expires_at=min(v.expires_at for v in views if v.expires_at is not None),
                    )
                )
            return out

        return self.gate.read(
            self._run, actor, PACKAGE_FIELDS, query, ids={"student_id": student_id}, records=True
        )


__all__ = ["MAX_PAGE", "CreditBalance", "PurchaseQueries", "newest_first"]
