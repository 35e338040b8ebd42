"""Every event's stable type name and the aggregate whose stream it belongs to.

A type name (``booking.seat_booked``) is the public contract: it names the event in the
feed, in webhooks and in ``docs/events.schema.json``, and it never changes when a class
is renamed or moved. The aggregate names the stream the event is numbered in: every
event of slot ``s1`` carries the next number of the stream ``slot:s1``, so a client can
drop a stale or repeated event and notice a missing one.

>>> from eduengine.booking.events import SeatBooked
>>> kind = event_kind(SeatBooked)
>>> kind.name, kind.aggregate_type, kind.aggregate_field
('booking.seat_booked', 'slot', 'slot_id')

A host that records events of its own (``uow.record_events([...])``) registers them with
:func:`register_event` to have them numbered, stored in the feed and serialised; an
unregistered event still reaches the bus's publishers, but never the feed.
"""

from __future__ import annotations

import re
import threading

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.errors import InvalidInput

__all__ = ["EventKind", "event_kind", "event_kinds", "kind_named", "register_event"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@attrs.frozen
class EventKind:
    """How one event class appears in the contract."""

    #: the stable type name, ``<module>.<what_happened>``
    name: str
    cls: type[DomainEvent]
    #: the kind of aggregate whose stream numbers the event (``slot``, ``group`` ...)
    aggregate_type: str
    #: the event's field holding the aggregate's id
    aggregate_field: str

    def aggregate_id(self, event: DomainEvent) -> str:
        return str(getattr(event, self.aggregate_field))


_by_class: dict[type[DomainEvent], EventKind] = {}
_by_name: dict[str, EventKind] = {}
_lock = threading.Lock()
_load_lock = threading.Lock()
_loaded = False


def register_event(
    cls: type[DomainEvent], name: str, *, aggregate_type: str, aggregate_field: str
) -> EventKind:
    """Give ``cls`` the stable type ``name`` in the stream ``<aggregate_type>:<id>``.

    Names are ``<module>.<what_happened>`` in lower snake case; a name or class is
    registered once (registering the same pair again is a no-op).
    """
    if not _NAME.match(name):
        raise InvalidInput(f"event type name {name!r} must look like 'module.what_happened'")
    fields = {f.name for f in attrs.fields(cls)}
    if aggregate_field not in fields:
        raise InvalidInput(f"{cls.__name__} has no field {aggregate_field!r} for its aggregate")
    kind = EventKind(name, cls, aggregate_type, aggregate_field)
    with _lock:
        for known in (_by_class.get(cls), _by_name.get(name)):
            if known is not None and known != kind:
                raise InvalidInput(
                    f"cannot register {cls.__name__} as {name!r}: "
                    f"{known.cls.__name__} is already registered as {known.name!r}"
                )
        _by_class[cls] = kind
        _by_name[name] = kind
    return kind


def event_kind(cls: type[DomainEvent]) -> EventKind:
    """The registered kind of ``cls``; raises ``InvalidInput`` for an unregistered class."""
    _load()
    kind = _by_class.get(cls)
    if kind is None:
        raise InvalidInput(f"event class {cls.__name__} has no registered type name")
    return kind


def find_kind(cls: type[DomainEvent]) -> EventKind | None:
    """The registered kind of ``cls``, or ``None``."""
    _load()
    return _by_class.get(cls)


def kind_named(name: str) -> EventKind:
    """The kind registered under the type ``name``; raises ``InvalidInput`` if unknown."""
    _load()
    kind = _by_name.get(name)
    if kind is None:
        raise InvalidInput(f"unknown event type {name!r}")
    return kind


def event_kinds() -> list[EventKind]:
    """Every registered kind, sorted by type name."""
    _load()
    return sorted(_by_name.values(), key=lambda k: k.name)


def _load() -> None:
    # The library's own events live in feature modules that import the service layer,
    # which imports this module: registering them on first use avoids the import cycle.
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if not _loaded:
            _register_library_events()
            _loaded = True


def _register_library_events() -> None:
    from eduengine import referrals
    from eduengine.availability import service as availability
    from eduengine.booking import events as booking
    from eduengine.deals import service as deals
    from eduengine.levels import service as levels
    from eduengine.policies import records as policy_records
    from eduengine.policies import service as policies
    from eduengine.pricing import service as pricing
    from eduengine.reminders import service as reminders
    from eduengine.rush import service as rush
    from eduengine.students import records as students

    table: list[tuple[type[DomainEvent], str, str, str]] = [
        (booking.SlotCreated, "booking.slot_created", "slot", "slot_id"),
        (booking.SlotCancelled, "booking.slot_cancelled", "slot", "slot_id"),
        (booking.SeatBooked, "booking.seat_booked", "slot", "slot_id"),
        (booking.SeatReleased, "booking.seat_released", "slot", "slot_id"),
        (booking.WaitlistJoined, "booking.waitlist_joined", "slot", "slot_id"),
        (booking.WaitlistLeft, "booking.waitlist_left", "slot", "slot_id"),
        (booking.WaitlistPromoted, "booking.waitlist_promoted", "slot", "slot_id"),
        (booking.SeatOffered, "booking.seat_offered", "slot", "slot_id"),
        (booking.OfferAccepted, "booking.offer_accepted", "slot", "slot_id"),
        (booking.OfferDeclined, "booking.offer_declined", "slot", "slot_id"),
        (booking.OfferExpired, "booking.offer_expired", "slot", "slot_id"),
        (booking.CapacityChanged, "booking.capacity_changed", "slot", "slot_id"),
        (booking.AttendanceMarked, "booking.attendance_marked", "slot", "slot_id"),
        (booking.SeriesCreated, "booking.series_created", "series", "series_id"),
        (rush.QueueEntered, "rush.queue_entered", "rush", "slot_id"),
        (rush.QueueAdmitted, "rush.queue_admitted", "rush", "slot_id"),
        (reminders.RemindersScheduled, "reminders.scheduled", "reminders", "booking_id"),
        (reminders.RemindersVoided, "reminders.voided", "reminders", "booking_id"),
        (deals.GroupOpened, "deals.group_opened", "group", "group_id"),
        (deals.MemberJoined, "deals.member_joined", "group", "group_id"),
        (deals.MemberLeft, "deals.member_left", "group", "group_id"),
        (deals.GroupFormed, "deals.group_formed", "group", "group_id"),
        (deals.GroupFailed, "deals.group_failed", "group", "group_id"),
        (deals.AccessGranted, "deals.access_granted", "group", "group_id"),
        (deals.RefundIssued, "deals.refund_issued", "group", "group_id"),
        (deals.RiskDecisionRecorded, "deals.risk_decision_recorded", "student", "student_id"),
        (referrals.ReferralRewarded, "referrals.referral_rewarded", "student", "referrer_id"),
        (policy_records.ViolationRecorded, "policies.violation_recorded", "student", "student_id"),
        (policy_records.StudentRestricted, "policies.student_restricted", "student", "student_id"),
        (policy_records.LateFeeDue, "policies.late_fee_due", "late_fee", "booking_id"),
        (policy_records.LateFeeCharged, "policies.late_fee_charged", "late_fee", "booking_id"),
        (policy_records.LateFeeFailed, "policies.late_fee_failed", "late_fee", "booking_id"),
        (policies.BookingRescheduled, "policies.booking_rescheduled", "student", "student_id"),
        (students.StudentRegistered, "students.registered", "student", "student_id"),
        (students.CreditConsumed, "students.credit_consumed", "student", "student_id"),
        (students.CreditReturned, "students.credit_returned", "student", "student_id"),
        (students.CreditForfeited, "students.credit_forfeited", "student", "student_id"),
        (students.ClassAssigned, "students.class_assigned", "student", "student_id"),
        (students.TagsChanged, "students.tags_changed", "student", "student_id"),
        (students.StageChanged, "students.stage_changed", "student", "student_id"),
        (students.StudentEnrolled, "students.enrolled", "student", "student_id"),
        (students.StudentErased, "students.erased", "student", "student_id"),
        (pricing.OrderPaid, "pricing.order_paid", "order", "order_id"),
        (pricing.OrderCancelled, "pricing.order_cancelled", "order", "order_id"),
        (availability.OneOnOneBooked, "availability.one_on_one_booked", "tutor", "tutor_id"),
        (availability.ScheduleChanged, "availability.schedule_changed", "tutor", "tutor_id"),
        (levels.XpAwarded, "levels.xp_awarded", "student", "student_id"),
        (levels.XpRefused, "levels.xp_refused", "student", "student_id"),
        (levels.LevelUp, "levels.level_up", "student", "student_id"),
        (levels.BadgeAwarded, "levels.badge_awarded", "student", "student_id"),
    ]
    for cls, name, aggregate_type, field in table:
        register_event(cls, name, aggregate_type=aggregate_type, aggregate_field=field)
