"""Notices as rules on the bus: each handler plans (or voids) notices in the unit of work
of the command that raised the event, so a notice exists exactly when its cause
committed. Sending happens later, in :meth:`NoticeService.deliver_due`.

Every seat taken, on any path (timetable, series, waitlist, offer, 1-on-1, credits, rush,
reschedule) gets a confirmation and the plan's reminders; a freed seat voids its pending
ones; a class never gets a notice at or after its start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eduengine.booking import events as ev
from eduengine.booking.model import Slot
from eduengine.booking.rooms import ROOMS, room_of
from eduengine.deals.events import GroupFailed, GroupFormed, MemberJoined, RefundIssued
from eduengine.deals.model import GroupDeal, GroupState
from eduengine.deals.records import CAMPAIGNS, GROUPS
from eduengine.kernel.envelope import Envelope
from eduengine.levels.events import BadgeAwarded, LevelUp
from eduengine.notices.model import (
    BADGE_AWARDED,
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    CLASS_REMINDER,
    GROUP_CLOSING_SOON,
    GROUP_FAILED,
    GROUP_FORMED,
    GROUP_JOINED,
    LEVEL_UP,
    ORDER_PAID,
    PENDING,
    REFUND_ISSUED,
    SEAT_OFFERED,
    WAITLIST_PROMOTED,
    NoticePolicy,
    class_doc_id,
)
from eduengine.notices.plan import ReminderPlan, offset_label
from eduengine.notices.planning import (
    NOTICES,
    PREFS,
    Step,
    attach_reminders,
    booking_subject,
    head_teacher,
    local,
    plan,
    plan_class_steps,
    reach,
    refresh,
    student_index,
    void,
)
from eduengine.notices.reminding import PREFS as REMINDER_PREFS
from eduengine.notices.reminding import announce, reminders_of, schedule
from eduengine.notices.reminding import void as void_booking
from eduengine.people.access import GUARDIANS
from eduengine.people.service import child_index
from eduengine.policies.events import BookingRescheduled
from eduengine.policies.records import RESCHEDULES
from eduengine.pricing.events import OrderPaid
from eduengine.service_layer.crypto import DATA_KEYS
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students.records import STUDENTS

#: reasons a seat is released for which the student hears nothing: the seat moved (a
#: reschedule notice goes out), or was withdrawn before they could know of it
SILENT_RELEASES = frozenset({"rescheduled", "refused"})


def class_context(
    slot: Slot, booking_id: str, room: str | None = None
) -> Callable[[ZoneInfo], dict[str, Any]]:
    def context(zone: ZoneInfo) -> dict[str, Any]:
        return {
            "booking_id": booking_id,
            "slot_id": slot.id,
            "course": slot.course_id,
            "tutor": slot.tutor_id,
            "start": local(slot.start, zone),
            "end": local(slot.end, zone),
            "seats_left": slot.seats_left,
            # the join link of a 1-on-1 lesson (None for a class without one)
            "room": room,
        }

    return context


def _with(
    context: Callable[[ZoneInfo], dict[str, Any]], **more: Any
) -> Callable[[ZoneInfo], dict[str, Any]]:
    return lambda zone: {**context(zone), **more}


def plan_class(
    uow: UnitOfWork,
    policy: NoticePolicy,
    kind: str | None,
    slot: Slot,
    booking_id: str,
    student_id: str,
    now: datetime,
    reminder: dict[str, Any] | None = None,
) -> None:
    """A seat's first notice (``kind``, if any) and its reminders, as one class document
    per recipient (see :func:`~eduengine.notices.planning.plan_class_steps`); the
    student's also holds ``reminder``, the reminders :class:`ReminderService` hands out."""
    steps: list[Step] = [] if kind is None else [(kind, kind, None, now)]
    for offset in sorted(set(policy.reminders), reverse=True):
        if slot.start - offset < now:
            continue  # its time has passed: a "one day before" an hour before is wrong
        label = offset_label(offset)
        steps.append((CLASS_REMINDER, f"{CLASS_REMINDER}.{label}", label, slot.start - offset))
    if not steps or now >= slot.start:
        if reminder is not None:
            attach_reminders(uow, booking_id, student_id, reminder, now)
        return
    audience = reach(uow, student_id, CLASS_REMINDER, policy)
    copied = policy.guardian_kinds
    # one look-up of the recipients serves every notice of the seat, unless the school
    # copies the first notice to guardians but not the reminders (or the other way)
    if kind is not None and (kind in copied) != (CLASS_REMINDER in copied):
        known = {r.id for r, _ in audience}
        audience += [(r, p) for r, p in reach(uow, student_id, kind, policy) if r.id not in known]
    room = reminder["room"] if reminder is not None else room_of(uow, slot.id)
    context = class_context(slot, booking_id, room)
    for recipient, prefs in audience:
        theirs = [s for s in steps if recipient.role != "guardian" or s[0] in copied]
        if theirs:
            plan_class_steps(
                uow,
                booking_id=booking_id,
                recipient=recipient,
                prefs=prefs,
                steps=theirs,
                context=context,
                now=now,
                not_after=slot.start,
                reminder=reminder if recipient.id == student_id else None,
            )


def on_seat_taken(policy: NoticePolicy, reminders: ReminderPlan | None = None) -> Handler:
    """Plan a seat's notices, and the ``reminders`` plan's reminders for
    :class:`ReminderService` with them: one system, one write per recipient."""

    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
        slot = uow.slots.get(event.slot_id)
        booking = slot.bookings.get(event.student_id)
        if booking is None or booking.id != event.booking_id:
            return  # released again in this unit of work (e.g. a restricted student)
        if isinstance(event, ev.OfferAccepted):
            void(uow, f"offer:{event.offer_id}")
        kind: str | None = BOOKING_CONFIRMED
        if isinstance(event, ev.WaitlistPromoted):
            kind = WAITLIST_PROMOTED
        elif uow.records.get(RESCHEDULES, booking.id) is not None:
            kind = None  # a moved seat: its reschedule notice confirms it
        now = event.occurred_at
        part = None
        if reminders is not None:
            part = reminders_of(uow, reminders, booking.id, event.student_id, slot, now)
        plan_class(uow, policy, kind, slot, booking.id, event.student_id, now, part)
        if part is not None:
            announce(uow, part, now)

    return handle


#: the events whose handler plans a seat's notices (:func:`on_seat_taken`)
SEAT_TAKEN = (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted)


def read_ahead(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """Read, in one query per kind, the documents :func:`on_seat_taken` reads for each seat
    of a batch (the student's profile and preferences, a reschedule, the class document,
    the lesson's room, her data key where the store remembers reads, the guardian accounts
    linked to her by index), and the seats' slots and bookings (``slots.read_seats``,
    where the store has it), so a catch-up of a
    rush reads them per batch, not per seat: a SQLite unit of work answers the handlers'
    reads from what it read here, a PostgreSQL one holds their locks already. Where the
    store reads several kinds at once (``records.get_across``) it is one query for all; a
    single seat is read ahead only where the unit of work remembers what it read
    (SQLite).

    >>> from eduengine import InMemoryStore
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     read_ahead(uow, [])
    """
    seats = [e.event for e in envelopes if isinstance(e.event, SEAT_TAKEN)]
    get_many = getattr(uow.records, "get_many", None)
    get_across = getattr(uow.records, "get_across", None)
    if not seats or get_many is None:
        return
    remembers = get_across is not None and getattr(uow.records, "remembers", False)
    if len(seats) < 2 and not remembers:
        return  # one seat: where reads are not remembered, reading ahead saves nothing
    read_seats = getattr(uow.slots, "read_seats", None)
    if read_seats is not None:
        # each seat's slot and booking (the handler checks it is still held): one query
        # for the slots and one for the seats, not two per seat
        read_seats([(e.slot_id, e.student_id) for e in seats])
    students = {e.student_id for e in seats}
    wanted = {
        RESCHEDULES: {e.booking_id for e in seats},
        NOTICES: {class_doc_id(e.booking_id, e.student_id) for e in seats},
        ROOMS: {e.slot_id for e in seats},
        STUDENTS: students,
        PREFS: students,
        REMINDER_PREFS: students,
    }
    if remembers:
        # the data keys that seal the students' notices (and open their documents),
        # remembered with the rest; read unlocked (no store that remembers locks them)
        wanted[DATA_KEYS] = students
    scan_ahead = getattr(uow.records, "scan_ahead", None)
    if scan_ahead is not None:
        # the guardian accounts linked to each student, by index: one query
        scan_ahead(GUARDIANS, [child_index(s) for s in sorted(students)])
    if get_across is not None:
        # every kind in one query; held unparsed where the store can (the handlers parse
        # what they read)
        getattr(uow.records, "hold_across", get_across)(wanted)
        return
    for kind, keys in sorted(wanted.items()):
        get_many(kind, keys)


def on_seat_offered(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatOffered)
        slot = uow.slots.get(event.slot_id)
        if event.student_id not in slot.offers:
            return  # withdrawn again in this unit of work
        base = class_context(slot, "")
        plan(
            uow,
            policy,
            kind=SEAT_OFFERED,
            key=event.offer_id,
            student_id=event.student_id,
            context=lambda zone: {
                **base(zone),
                "offer_id": event.offer_id,
                "expires_at": local(event.expires_at, zone),
            },
            now=event.occurred_at,
            not_after=min(event.expires_at, slot.start),
            subject=f"offer:{event.offer_id}",
        )

    return handle


def on_offer_closed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """An offer declined or expired keeps no pending offer notice."""
    assert isinstance(event, ev.OfferDeclined | ev.OfferExpired)
    void(uow, f"offer:{event.offer_id}")


def on_seat_released(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatReleased)
        void_booking(uow, event.booking_id, event.occurred_at, notices=True)
        if event.reason in SILENT_RELEASES:
            return
        slot = uow.slots.get(event.slot_id)
        base = class_context(slot, event.booking_id)
        plan(
            uow,
            policy,
            kind=BOOKING_CANCELLED,
            key=event.booking_id,
            student_id=event.student_id,
            context=lambda zone: {**base(zone), "reason": event.reason},
            now=event.occurred_at,
            not_after=slot.start,
        )

    return handle


def on_attendance(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """Attendance is marked once the class has begun: nothing more to remind of (its
    notices and the reminders :class:`ReminderService` hands out are voided)."""
    assert isinstance(event, ev.AttendanceMarked)
    void_booking(uow, event.booking_id, event.occurred_at, notices=True)


def on_rescheduled(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, BookingRescheduled)
        # the new seat's own confirmation gives way to the reschedule notice
        void(uow, booking_subject(event.new_booking_id), kinds=[BOOKING_CONFIRMED])
        old, new = uow.slots.get_many([event.from_slot_id, event.to_slot_id])
        base = class_context(new, event.new_booking_id)
        plan(
            uow,
            policy,
            kind=BOOKING_RESCHEDULED,
            key=event.new_booking_id,
            student_id=event.student_id,
            context=lambda zone: {
                **base(zone),
                "from_slot_id": old.id,
                "from_start": local(old.start, zone),
            },
            now=event.occurred_at,
            not_after=new.start,
            subject=booking_subject(event.new_booking_id),
        )

    return handle


def _group(uow: UnitOfWork, group_id: str) -> tuple[GroupDeal, str | None]:
    doc = uow.records.get(GROUPS, group_id)
    assert doc is not None, f"group {group_id!r} raised an event but is not stored"
    group = GroupDeal.from_record(doc)
    campaign = uow.records.get(CAMPAIGNS, group.campaign_id)
    return group, None if campaign is None else campaign["course_id"]


def group_subject(group_id: str) -> str:
    return f"group:{group_id}"


def on_member_joined(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, MemberJoined)
        group, course = _group(uow, event.group_id)
        now = event.occurred_at
        progress = {
            "group_id": group.id,
            "course": course,
            "members": event.members,
            "still_needed": event.still_needed,
        }
        if event.still_needed > 0:  # a group that formed gets its formed notice instead
            for member in group.paid:
                plan(
                    uow,
                    policy,
                    kind=GROUP_JOINED,
                    key=f"{group.id}:{event.student_id}",
                    student_id=member.student_id,
                    context=lambda zone: {
                        **progress,
                        "joined": event.student_id,
                        "seconds_left": event.seconds_left,
                        "deadline": local(group.deadline, zone),
                    },
                    now=now,
                    not_after=group.deadline,
                )
        if event.joined_formed:
            # no GroupFormed follows for a member who joined a formed group: this is
            # their "the group is formed, you are in" notice (the formed members had theirs)
            plan(
                uow,
                policy,
                kind=GROUP_FORMED,
                key=group.id,
                student_id=event.student_id,
                context={
                    **progress,
                    "amount": str(group.price),
                    "cancelled": False,
                    "joined_formed": True,
                },
                now=now,
            )
        if group.state is not GroupState.OPEN:
            return
        for threshold in sorted(set(policy.closing_soon), reverse=True):
            label = offset_label(threshold)
            plan(
                uow,
                policy,
                kind=GROUP_CLOSING_SOON,
                key=f"{group.id}:{label}",
                template=f"{GROUP_CLOSING_SOON}.{label}",
                student_id=event.student_id,
                context=_with(
                    lambda zone: {**progress, "deadline": local(group.deadline, zone)},
                    time_left=label,
                ),
                now=now,
                due_at=group.deadline - threshold,
                not_after=group.deadline,
                subject=group_subject(group.id),
            )
        # nudges planned by earlier joiners carry the numbers of now
        refresh(
            uow,
            group_subject(group.id),
            GROUP_CLOSING_SOON,
            {"members": event.members, "still_needed": event.still_needed},
        )

    return handle


def on_group_closed(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, GroupFormed | GroupFailed)
        void(uow, group_subject(event.group_id))
        group, course = _group(uow, event.group_id)
        formed = isinstance(event, GroupFormed)
        for student_id in event.members:
            plan(
                uow,
                policy,
                kind=GROUP_FORMED if formed else GROUP_FAILED,
                key=event.group_id,
                student_id=student_id,
                context={
                    "group_id": event.group_id,
                    "course": course,
                    "members": len(event.members),
                    "amount": str(group.price),
                    "cancelled": getattr(event, "cancelled", False),
                    "joined_formed": False,
                },
                now=event.occurred_at,
            )

    return handle


def on_refund(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, RefundIssued)
        plan(
            uow,
            policy,
            kind=REFUND_ISSUED,
            key=event.refund_id,
            student_id=event.student_id,
            context={
                "group_id": event.group_id,
                "refund_id": event.refund_id,
                "amount": str(event.amount),
            },
            now=event.occurred_at,
        )

    return handle


def upcoming(
    uow: UnitOfWork, student_id: str, now: datetime, limit: int = 5
) -> list[dict[str, Any]]:
    """The student's next classes, from their pending confirmations and reminders (the
    latest 50 notices: bounded, whatever the student's history)."""
    seen: dict[str, dict[str, Any]] = {}
    for key, _ in uow.records.scan(NOTICES, student_index(student_id), limit=50, descending=True):
        doc = uow.records.get(NOTICES, key)
        if doc is None or doc["recipient"]["id"] != student_id:
            continue
        if doc["kind"] not in (
            BOOKING_CONFIRMED,
            CLASS_REMINDER,
            WAITLIST_PROMOTED,
            BOOKING_RESCHEDULED,
        ):
            continue
        if not any(c["state"] == PENDING for c in doc["channels"].values()):
            continue
        ctx = doc["context"]
        seen.setdefault(
            ctx["booking_id"],
            {"course": ctx["course"], "tutor": ctx["tutor"], "start": ctx["start"]},
        )
    return sorted(seen.values(), key=lambda c: str(c["start"]))[:limit]


def on_order_paid(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, OrderPaid)
        teacher = head_teacher(uow, event.student_id)
        plan(
            uow,
            policy,
            kind=ORDER_PAID,
            key=event.order_id,
            student_id=event.student_id,
            context={
                "order_id": event.order_id,
                "amount": str(event.total),
                "courses": list(event.course_ids),
                "schedule": upcoming(uow, event.student_id, event.occurred_at),
                "head_teacher": teacher,
            },
            now=event.occurred_at,
        )

    return handle


def on_progress(policy: NoticePolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        if isinstance(event, LevelUp):
            kind, key = LEVEL_UP, f"{event.to_level}"
            context: dict[str, Any] = {
                "from_level": event.from_level,
                "level": event.to_level,
                "title": event.title,
            }
        else:
            assert isinstance(event, BadgeAwarded)
            kind, key = BADGE_AWARDED, event.badge_id
            context = {"badge_id": event.badge_id, "badge": event.name}
        plan(
            uow,
            policy,
            kind=kind,
            key=key,
            student_id=event.student_id,
            context=context,
            now=event.occurred_at,
        )

    return handle


def notice_rules(
    policy: NoticePolicy, reminders: ReminderPlan | None = None
) -> dict[type[ev.DomainEvent], list[Handler]]:
    """What plans notices: for each event, the handler (run after the school's rules).
    ``reminders``: the plan of the reminders :class:`ReminderService` hands out, planned
    with each seat's notices (then :func:`reminder_rules` must not plan them too)."""
    taken = on_seat_taken(policy, reminders)
    closed = on_group_closed(policy)
    progress = on_progress(policy)
    return {
        ev.SeatBooked: [taken],
        ev.OfferAccepted: [taken],
        ev.WaitlistPromoted: [taken],
        ev.SeatOffered: [on_seat_offered(policy)],
        ev.OfferDeclined: [on_offer_closed],
        ev.OfferExpired: [on_offer_closed],
        ev.SeatReleased: [on_seat_released(policy)],
        ev.AttendanceMarked: [on_attendance],
        BookingRescheduled: [on_rescheduled(policy)],
        MemberJoined: [on_member_joined(policy)],
        GroupFormed: [closed],
        GroupFailed: [closed],
        RefundIssued: [on_refund(policy)],
        OrderPaid: [on_order_paid(policy)],
        LevelUp: [progress],
        BadgeAwarded: [progress],
    }


def subscribe(bus: MessageBus, policy: NoticePolicy, reminders: ReminderPlan | None = None) -> None:
    """Put the notice rules on ``bus`` (with the reminder plan, see :func:`notice_rules`)."""
    bus.subscribe_many(notice_rules(policy, reminders))


# --- a school without notices: its reminders alone ----------------------------------


def plan_reminders(plan: ReminderPlan) -> Handler:
    """Plan a seat's reminders alone (a school built with ``notices=None``): still one
    row, the student's class document of the booking, holding no notice."""

    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
        slot = uow.slots.get(event.slot_id)
        booking = slot.bookings.get(event.student_id)
        if booking is None or booking.id != event.booking_id:
            return  # already released again in this unit of work (e.g. restricted)
        schedule(uow, plan, event.booking_id, event.student_id, slot, event.occurred_at)

    return handle


def void_reminders(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A freed seat, or one whose attendance is marked (the class has begun), keeps no
    pending reminder."""
    assert isinstance(event, ev.SeatReleased | ev.AttendanceMarked)
    void_booking(uow, event.booking_id, event.occurred_at)


def reminder_rules(plan: ReminderPlan) -> dict[type[ev.DomainEvent], list[Handler]]:
    """What plans and voids a school's reminders when it plans no notices (with notices,
    :func:`notice_rules` plans them with each seat's notices instead: never both)."""
    planner = plan_reminders(plan)
    return {
        ev.SeatBooked: [planner],
        ev.OfferAccepted: [planner],
        ev.WaitlistPromoted: [planner],
        ev.SeatReleased: [void_reminders],
        ev.AttendanceMarked: [void_reminders],
    }
