"""Lesson packages (课时包) tied to bookings, and enrolments.

A booking that consumes a credit and the seat it takes are written in the same unit of
work, so a credit is never spent without a seat, nor a seat taken without a credit, and
concurrent requests never drive credits negative or return one twice. The reports on
packages read the ``expires`` and ``pending_activation`` indexes (see
:mod:`eduengine.students.records`), never every package.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import Any, Unpack

from eduengine.booking.model import Booking, BookingStatus, check_reason_code
from eduengine.booking.seats import booking_in, booking_out
from eduengine.errors import InvalidInput, InvalidTransition, NoCredit, QuoteRefused
from eduengine.kernel.codec import dt_out, micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_duration, check_id, check_int, check_optional_id
from eduengine.people.access import AccessGate, Look, check_payer, shown
from eduengine.people.model import Actor
from eduengine.pricing.catalogue import ItemKind
from eduengine.pricing.shop import get_quote, take_quote
from eduengine.service_layer.idempotency import check_key, once
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import handlers
from eduengine.students import records as rec
from eduengine.students.events import PackageBought
from eduengine.students.records import (
    ENROLMENTS,
    EXPIRES,
    PACKAGES,
    PENDING_ACTIVATION,
    PackageView,
    ServiceOptions,
)

#: how long before the start a cancellation gives the credit back, unless told otherwise
FREE_CANCEL_BEFORE = timedelta(hours=24)
#: what a read of packages shows of a student (the audit rows' fields)
PACKAGE_FIELDS = ("packages",)
#: what a read of a student's enrolments shows of her (the audit rows' fields)
ENROLMENT_FIELDS = ("enrolments",)


#: what the deprecated credit commands say (one booking and one cancel command, issue #27)
BOOK_WITH_CREDIT_MOVED = (
    "students.book_with_credit is deprecated: use school.book(slot_id, student_id, "
    "require_credit=True) (a service built alone: book_paid_by_credit); it will be "
    "removed in 0.5"
)
CANCEL_WITH_CREDIT_MOVED = (
    "students.cancel_with_credit is deprecated: use school.cancel(booking_id), whose "
    "outcome says whether the credit came back; it will be removed in 0.5"
)


class PackageService(ServiceBase):
    """Lesson packages: selling, activating, spending credits on seats, and the reports
    on them; enrolments.

    ``free_cancel_before`` is how long before the start a cancellation still gives the
    credit back. Built alone (no ``bus``), it puts the student records' rules (the credit
    ledger among them) on a bus of its own. The other arguments are :class:`ServiceBase`'s.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.students import ProfileService
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> ProfileService(store.unit_of_work, clock=clock).register("s1", name="王小明")
    >>> packages = PackageService(store.unit_of_work, clock=clock)
    >>> pid = packages.buy_package("s1", credits=10, valid_for=timedelta(days=90))
    >>> office = Actor(id="u1", role="academic")
    >>> [p.id for p in packages.never_activated(actor=office)] == [pid]
    True
    >>> packages.activate_package(pid)
    >>> [(p.status, p.credits_left)
    ...  for p in packages.expiring_soon(timedelta(days=90), actor=office)]
    [('active', 10)]
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        free_cancel_before: timedelta = FREE_CANCEL_BEFORE,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self._init_packages(free_cancel_before, alone=base.get("bus") is None)

    def _init_packages(self, free_cancel_before: timedelta, *, alone: bool) -> None:
        # apart from ServiceBase.__init__ so that StudentService sets up all four once
        if alone:
            # a school's bus already carries these rules; a second copy would run twice
            handlers.subscribe(self.bus, free_cancel_before=free_cancel_before)
        self.free_cancel_before = free_cancel_before
        # a StudentService's comes from its profiles (the school's policy)
        self.gate: AccessGate = getattr(self, "gate", None) or AccessGate()

    def buy_package(
        self,
        student_id: str,
        *,
        quote_id: str | None = None,
        credits: int | None = None,
        valid_for: timedelta | None = None,
        package_id: str | None = None,
        activate: bool = False,
        course_id: str | None = None,
        idempotency_key: str | None = None,
        payer: str | None = None,
    ) -> str:
        """Sell a package of ``credits`` lessons, valid for ``valid_for`` from activation
        (pending activation until :meth:`activate_package`, unless ``activate``).

        With ``quote_id`` (a quote of one catalogue package, from
        ``school.catalogue.quote``, given to this student and not expired) the credits,
        validity and course come from the catalogue item as quoted, and the package keeps
        the quoted price (``PackageView.price``); the same quote sent again answers with
        the same package (it buys one); without it, the terms are the
        caller's and the package has no price (a gift, a migration). With ``course_id``
        the package covers that course only, and any seat the student takes in it, on
        any path, spends one of its credits. With ``idempotency_key`` a retry returns the
        first package's id instead of selling a second package.

        ``payer`` is a guardian paying on the student's behalf (recorded on the package
        and its ``PackageBought``); one without the "pay" role on a link to the student
        is refused (``PayerNotAllowed``).
        """
        check_id(student_id, "student_id")
        if quote_id is not None:
            check_id(quote_id, "quote_id")
            if (credits, valid_for, course_id) != (None, None, None):
                raise InvalidInput("a quote carries the package's credits, validity and course")
            check_optional_id(payer, "payer")
            return self._buy_quoted(
                student_id, quote_id, package_id, activate, idempotency_key, payer
            )
        if credits is None or valid_for is None:
            raise InvalidInput("buy_package needs a quote_id, or credits and valid_for")
        check_int(credits, "credits", low=1)
        check_duration(valid_for, "valid_for", low=timedelta(microseconds=1))
        check_optional_id(package_id, "package_id")
        check_optional_id(course_id, "course_id")
        check_optional_id(payer, "payer")
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
            raise InvalidInput(f"credits must be a positive int, got {credits!r}")
        if not isinstance(valid_for, timedelta) or valid_for <= timedelta(0):
            raise InvalidInput(f"valid_for must be a positive timedelta, got {valid_for!r}")
        if course_id is not None and (not isinstance(course_id, str) or not course_id):
            raise InvalidInput(f"course_id must be a non-empty string, got {course_id!r}")

        check_key(idempotency_key)
        request = {
            "command": "buy_package",
            "student_id": student_id,
            "credits": credits,
            "valid_for_us": valid_for // timedelta(microseconds=1),
            "package_id": package_id,
            "activate": activate,
            "course_id": course_id,
        }
        if payer is not None:
            request["payer"] = payer

        def command(uow: UnitOfWork, now: datetime) -> str:
            return once(
                uow, now, idempotency_key, request, lambda: sell(uow, now), encode=str, decode=str
            )

        def sell(uow: UnitOfWork, now: datetime) -> str:
            check_payer(uow, payer, student_id)
            pid = rec.add_package(
                uow,
                student_id,
                package_id=package_id or self._new_id(),
                credits=credits,
                valid_for=valid_for,
                course_id=course_id,
                activate=activate,
                now=now,
                payer_id=payer,
            )
            handlers.record_purchase(uow, student_id, f"package:{pid}", now)
            uow.record_events(
                [
                    PackageBought(
                        occurred_at=now,
                        student_id=student_id,
                        package_id=pid,
                        credits=credits,
                        course_id=course_id,
                        payer_id=payer,
                    )
                ]
            )
            return pid

        return self._run(
            command,
            ids={
                "student_id": student_id,
                "package_id": package_id,
                "course_id": course_id,
                "quote_id": quote_id,
            },
        )

    def _buy_quoted(
        self,
        student_id: str,
        quote_id: str,
        package_id: str | None,
        activate: bool,
        idempotency_key: str | None,
        payer: str | None = None,
    ) -> str:
        check_optional_id(package_id, "package_id")
        check_key(idempotency_key)
        pid = package_id or self._new_id()
        request = {
            "command": "buy_package",
            "student_id": student_id,
            "quote_id": quote_id,
            "package_id": package_id,
            "activate": activate,
        }
        if payer is not None:
            request["payer"] = payer

        def sell(uow: UnitOfWork, now: datetime) -> str:
            # the quote buys one package: sent again, it answers with that package
            first, doc = get_quote(uow, quote_id)
            used = doc.get("used_by")
            if (
                first.student_id == student_id
                and isinstance(used, str)
                and used.startswith("package:")
                and package_id in (None, used.removeprefix("package:"))
            ):
                return used.removeprefix("package:")
            check_payer(uow, payer, student_id)
            given = take_quote(
                uow,
                quote_id,
                now,
                kinds={ItemKind.PACKAGE},
                use=f"package:{pid}",
                student_id=student_id,
            )
            if len(given.items) != 1:
                raise QuoteRefused(quote_id, "a package purchase takes a quote of one package")
            item = given.items[0].item
            assert item.credits is not None and item.valid_for is not None
            rec.add_package(
                uow,
                student_id,
                package_id=pid,
                credits=item.credits,
                valid_for=item.valid_for,
                course_id=item.course_id,
                activate=activate,
                now=now,
                payer_id=payer,
            )
            pkg = rec.package(uow, pid)
            pkg.update(item_id=item.id, quote_id=quote_id, price=given.total.to_record())
            rec.put_package(uow, pid, pkg)
            handlers.record_purchase(uow, student_id, f"package:{pid}", now)
            uow.record_events(
                [
                    PackageBought(
                        occurred_at=now,
                        student_id=student_id,
                        package_id=pid,
                        credits=item.credits,
                        course_id=item.course_id,
                        payer_id=payer,
                    )
                ]
            )
            return pid

        def command(uow: UnitOfWork, now: datetime) -> str:
            return once(
                uow, now, idempotency_key, request, lambda: sell(uow, now), encode=str, decode=str
            )

        return self._run(
            command,
            ids={"student_id": student_id, "quote_id": quote_id, "package_id": package_id},
        )

    def activate_package(self, package_id: str) -> None:
        """Start a package's validity now (it moves from pending to active)."""
        check_id(package_id, "package_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            pkg = rec.package(uow, package_id)
            if pkg["activated_at"] is not None:
                raise InvalidTransition(f"package {package_id!r} is already active")
            pkg["activated_at"] = dt_out(now)
            rec.put_package(uow, package_id, pkg)

        self._run(command, ids={"package_id": package_id})

    def packages_of(self, student_id: str, *, actor: Actor | None = None) -> list[PackageView]:
        """A student's packages in the order bought, read as ``actor`` (refused unless
        the actor may see her; audited: docs/privacy.md). Without an actor
        (deprecated) they are read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[PackageView]:
            shown(look, student_id)
            doc = rec.student(uow, student_id)
            return [rec.package_view(p, rec.package(uow, p), now) for p in doc["packages"]]

        return self.gate.read(
            self._run, actor, PACKAGE_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def expiring_soon(
        self, within: timedelta, *, actor: Actor | None = None
    ) -> list[PackageView]:
        """Active packages with credits left that expire within ``within``, soonest
        first (ties by package id), of the students ``actor`` may see (audited)."""
        check_duration(within, "within")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[PackageView]:
            # active means not yet expired: expiry strictly after now
            due = uow.records.scan(PACKAGES, EXPIRES, lo=micros(now) + 1, hi=micros(now + within))
            views = (rec.package_view(pid, rec.package(uow, pid), now) for pid, _ in due)
            return [v for v in views if v.credits_left > 0 and not look(v.student_id).refused]

        return self.gate.read(self._run, actor, PACKAGE_FIELDS, query, records=True)

    def never_activated(
        self, older_than: timedelta = timedelta(0), *, actor: Actor | None = None
    ) -> list[PackageView]:
        """Purchased but not yet activated (待激活) packages bought at least
        ``older_than`` ago, oldest first (ties by package id), of the students ``actor``
        may see (audited)."""
        check_duration(older_than, "older_than")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[PackageView]:
            pending = uow.records.scan(PACKAGES, PENDING_ACTIVATION, hi=micros(now - older_than))
            views = (rec.package_view(pid, rec.package(uow, pid), now) for pid, _ in pending)
            return [v for v in views if not look(v.student_id).refused]

        return self.gate.read(self._run, actor, PACKAGE_FIELDS, query, records=True)

    def reindex_packages(self) -> int:
        """File packages written before packages were indexed (a one-off upgrade step:
        it reads every package); returns how many."""
        return self._refile_all(rec.PACKAGES, rec.put_package)

    def book_with_credit(self, slot_id: str, student_id: str) -> Booking:
        """Deprecated alias of ``school.book(slot_id, student_id, require_credit=True)``:
        a seat and a credit in one unit of work (no credit, ``NoCredit``: no seat)."""
        warnings.warn(BOOK_WITH_CREDIT_MOVED, EduEngineDeprecationWarning, stacklevel=2)
        return self.book_paid_by_credit(slot_id, student_id)

    def book_paid_by_credit(
        self, slot_id: str, student_id: str, *, idempotency_key: str | None = None
    ) -> Booking:
        """Book a seat and consume a credit in one unit of work (all or nothing); what
        ``school.book(..., require_credit=True)`` runs.

        Any active package covering the slot's course (or no course) pays, the one
        expiring first; with none, ``NoCredit`` and nothing is booked.
        """
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        check_key(idempotency_key)
        request = {"command": "book_with_credit", "slot_id": slot_id, "student_id": student_id}

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: take(uow, now),
                encode=booking_out,
                decode=booking_in,
            )

        def take(uow: UnitOfWork, now: datetime) -> Booking:
            doc = rec.student(uow, student_id)
            slot = uow.slots.get(slot_id)
            if not rec.usable_packages(uow, doc, now, slot.course_id, scoped_only=False):
                raise NoCredit(student_id)
            booking = slot.book(student_id, now=now, new_id=self._new_id)
            rec.consume_credit(
                uow, doc, student_id, booking.id, now, course_id=slot.course_id, scoped_only=False
            )
            return booking

        return self._run(command, ids={"slot_id": slot_id, "student_id": student_id})

    def credit_paying(self, booking_id: str) -> str | None:
        """The package whose credit paid for ``booking_id`` (``None``: no credit did, or
        the student is not registered)."""
        check_id(booking_id, "booking_id")

        def query(uow: UnitOfWork, now: datetime) -> str | None:
            booking = uow.bookings.get(booking_id)
            doc = uow.records.get(rec.STUDENTS, booking.student_id)
            found = None if doc is None else rec.package_of_booking(uow, doc, booking_id)
            return None if found is None else found[0]

        return self._run(query, write=False, ids={"booking_id": booking_id})

    def cancel_with_credit(self, booking_id: str, *, reason_code: str | None = None) -> bool:
        """Deprecated alias of ``school.cancel(booking_id)`` for a booking paid with a
        credit: returns whether the credit came back (cancelled ``free_cancel_before``
        the start or earlier), ``InvalidTransition`` if no credit paid for it."""
        warnings.warn(CANCEL_WITH_CREDIT_MOVED, EduEngineDeprecationWarning, stacklevel=2)
        check_id(booking_id, "booking_id")
        check_reason_code(reason_code)

        def command(uow: UnitOfWork, now: datetime) -> bool:
            booking = uow.bookings.get(booking_id)
            if booking.status is not BookingStatus.CONFIRMED:
                raise InvalidTransition(f"booking {booking_id!r} is {booking.status.value}")
            self._credit_of(uow, booking)
            slot = uow.slots.get(booking.slot_id)
            slot.cancel(
                booking_id,
                now=now,
                new_id=self._new_id,
                student_id=booking.student_id,
                reason_code=reason_code,
            )
            return now <= slot.start - self.free_cancel_before

        return self._run(command, ids={"booking_id": booking_id})

    def mark_no_show_with_credit(self, booking_id: str) -> None:
        """A no-show forfeits the credit the booking consumed."""
        check_id(booking_id, "booking_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            booking = uow.bookings.get(booking_id)
            self._credit_of(uow, booking)
            slot = uow.slots.get(booking.slot_id)
            slot.mark_attendance(booking_id, BookingStatus.NO_SHOW, now=now)

        self._run(command, ids={"booking_id": booking_id})

    def enrolments(self, student_id: str, *, actor: Actor | None = None) -> list[str]:
        """Courses the student is enrolled in (by a paid order or a formed group), read
        as ``actor`` (refused unless the actor may see her; audited: docs/privacy.md).
        Without an actor (deprecated) they are read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[str]:
            shown(look, student_id)
            keys = uow.records.scan(ENROLMENTS, f"student:{student_id}")
            return sorted(key.partition(":")[2] for key, _ in keys)

        return self.gate.read(
            self._run,
            actor,
            ENROLMENT_FIELDS,
            query,
            ids={"student_id": student_id},
            records=True,
        )

    def _credit_of(self, uow: UnitOfWork, booking: Booking) -> tuple[str, dict[str, Any]]:
        found = rec.package_of_booking(uow, rec.student(uow, booking.student_id), booking.id)
        if found is None:
            raise InvalidTransition(f"booking {booking.id!r} did not consume a package credit")
        return found
