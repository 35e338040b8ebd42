"""The analytics projections: counters kept up to date by rules on the bus.

Every rule here runs inside the unit of work of the command that raised its event, so
a counter commits or rolls back with the booking, payment or group it counts, on every
adapter alike. The rules add to a buffer of the unit of work; :func:`flush`, a finisher
on the bus, writes each counter once at the end, in key order. Counters are JSON
documents of kind :data:`COUNTERS`, one per ``(family, dimension value, UTC day)``,
holding one cell per UTC hour of that day::

    key   "lesson.course|math|1772668800000000"
    doc   {"h": {"9": {"offered": 12, "booked": 10}}, "m": {...}}
    index {"lesson.course": <day micros>}

A query over a period scans the family's index over the period's days (O(log N + days
x dimension values)) and reads only those documents; cells are kept hourly so weekday
and hour of day can be read in any time zone whose offset is a whole number of hours.

**Why a document per day and not per hour**: a month is 30 documents per course rather
than 720, which is what keeps a dashboard query fast at a million bookings. **Hot
counters**: a booking locks the counter of its slot's (course, day) and of the booking's
(course, day); bookings of different courses never wait for each other's counter, and a
course's bookings already share much (the same students, tutors and slots). Student
counters (registrations, stage moves) are spread over :data:`SHARDS` documents by
student, so sign-ups across the school do not queue on one row.

Families, with the instant each is bucketed by:

========================  ===================  =====================================
family                    bucketed by          cells
========================  ===================  =====================================
``lesson.course|tutor``   slot start           slots, offered, booked, released,
                                               attended, no_show
``activity.course``       when it happened     bookings, lead_s, cancel:<reason>
``group.course|campaign|  group opened         opened, formed, failed, cancelled,
opener``                                       orders, new_students (+ money "value")
``students``              when it happened     registered, entered:<stage>,
                                               churn:<reason>, referred
``cohort``                registration         reached:<stage>
``fp_cohort``             first purchase       first_purchase, renewed
``levels``                level-up             level_ups, level_s (dimension: level)
========================  ===================  =====================================

**A counter never refuses a command.** Sums of money are kept as decimal strings in the
documents; an index value (a signed 64-bit column) is clamped to :data:`INDEX_MAX`. A rule
that still fails (a bug, a value no one foresaw) is logged and skipped, and the command it
counts commits without that count (``school.analytics.rebuild()`` recounts what stored
documents allow); only a failure of the store itself, which the command could not survive
anyway, is raised.
"""

from __future__ import annotations

import functools
import logging
import weakref
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from eduengine.booking import events as ev
from eduengine.deals.events import GroupFailed, GroupFormed, GroupOpened, MemberJoined, RefundIssued
from eduengine.deals.records import CAMPAIGNS, GROUPS
from eduengine.errors import PersistenceError
from eduengine.kernel.codec import dt_in, micros
from eduengine.kernel.money import Money
from eduengine.levels.events import LevelUp
from eduengine.pricing.events import OrderPaid, ReferralRewarded
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as rec

COUNTERS = "analytics_counter"
#: one document per (student, UTC hour) the student was active in
ACTIVE = "analytics_active"
#: one document per student: stage reached, first purchase, spend (segments read its indexes)
PROFILES = "analytics_student"

log = logging.getLogger("eduengine.analytics")

#: the largest value an index holds (a signed 64-bit column in SQL); a spend beyond it
#: (92 233 720 368 547 758 units of a currency) is filed at it, in the top band
INDEX_MAX = 2**63 - 1

HOUR = 3_600_000_000
DAY = 24 * HOUR
#: student counters are spread over this many documents
SHARDS = 8
#: the funnel's steps, in order (churn is a state, not a step)
FUNNEL = ("registered", "trial", "first_purchase", "renewed")

LESSON_COURSE = "lesson.course"
LESSON_TUTOR = "lesson.tutor"
ACTIVITY = "activity.course"
GROUP_FAMILIES = {"course": "group.course", "campaign": "group.campaign", "opener": "group.opener"}
STUDENTS = "students"
COHORT = "cohort"
FP_COHORT = "fp_cohort"
LEVELS = "levels"


def hour_of(at: datetime) -> int:
    """The UTC hour bucket (micros) ``at`` falls in."""
    return micros(at) // HOUR * HOUR


def clamp_index(value: int) -> int:
    """``value`` within what an index column holds (see :data:`INDEX_MAX`).

    >>> clamp_index(10**19) == INDEX_MAX, clamp_index(-(10**19)) == -INDEX_MAX
    (True, True)
    """
    return max(-INDEX_MAX, min(INDEX_MAX, value))


def never_refuse(rule: Handler) -> Handler:
    """``rule``, but a failure to count is logged instead of refusing the command.

    A store failure is still raised: the command's transaction cannot commit after it.
    """

    @functools.wraps(rule)
    def counting(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        _guarded(lambda: rule(event, uow), f"{type(event).__name__} by {rule.__name__}")

    return counting


def _guarded(count: Callable[[], None], what: str) -> None:
    try:
        count()
    except PersistenceError:
        raise
    except Exception:
        # a counter is a projection: losing one count beats refusing a paid order
        log.exception("analytics could not count %s; the command goes on without it", what)


def shard(student_id: str) -> str:
    return f"s{zlib.crc32(student_id.encode()) % SHARDS}"


@attrs.define
class Pending:
    """The counter increments of one unit of work, written by :func:`flush` at its end."""

    counts: dict[tuple[str, str, int], dict[str, dict[str, int]]] = attrs.field(factory=dict)
    money: dict[tuple[str, str, int], dict[str, dict[str, Decimal]]] = attrs.field(factory=dict)
    active: set[tuple[str, int]] = attrs.field(factory=set)


_PENDING: weakref.WeakKeyDictionary[UnitOfWork, Pending] = weakref.WeakKeyDictionary()


def _pending(uow: UnitOfWork) -> Pending:
    found = _PENDING.get(uow)
    if found is None:
        found = _PENDING[uow] = Pending()
    return found


def bump(
    uow: UnitOfWork,
    family: str,
    dim: str,
    hour: int,
    counts: Mapping[str, int],
    money: Money | None = None,
) -> None:
    """Add ``counts`` (and ``money`` to the ``value`` sum) to one hour's cell, at the end
    of the unit of work (see :func:`flush`)."""
    day = hour // DAY * DAY
    cell_key = str((hour - day) // HOUR)
    cell = _pending(uow).counts.setdefault((family, dim, day), {}).setdefault(cell_key, {})
    for name, delta in counts.items():
        cell[name] = cell.get(name, 0) + delta
    if money is not None:
        sums = _pending(uow).money.setdefault((family, dim, day), {}).setdefault(cell_key, {})
        sums[money.currency] = sums.get(money.currency, Decimal(0)) + money.amount


def mark_active(uow: UnitOfWork, student_id: str, at: datetime) -> None:
    """The student did something that counts as active (booked, attended, paid)."""
    _pending(uow).active.add((student_id, hour_of(at)))


def flush(uow: UnitOfWork) -> None:
    """Write the unit of work's counters, once each, in key order (a bus finisher).

    Counters are locked last and in one global order, so two commands that touch the
    same counters (a series booking and a booking of the same course) never deadlock,
    and each holds them only from here to its commit.
    """
    pending = _PENDING.pop(uow, None)
    if pending is None:
        return
    for family, dim, day in sorted(pending.counts.keys() | pending.money.keys()):
        _guarded(
            functools.partial(_write_counter, uow, pending, family, dim, day),
            f"counter {family}|{dim}|{day}",
        )
    for student_id, hour in sorted(pending.active):
        # a blind write: the marker holds nothing but its key
        uow.records.put(ACTIVE, f"{student_id}|{hour}", {}, index={"hour": hour})


def _write_counter(uow: UnitOfWork, pending: Pending, family: str, dim: str, day: int) -> None:
    key = f"{family}|{dim}|{day}"
    doc = uow.records.get(COUNTERS, key) or {
        "f": family,
        "d": dim,
        "day": day,
        "h": {},
        "m": {},
    }
    for cell_key, deltas in pending.counts.get((family, dim, day), {}).items():
        cell: dict[str, int] = doc["h"].setdefault(cell_key, {})
        for name, delta in deltas.items():
            if delta:
                cell[name] = cell.get(name, 0) + delta
    for cell_key, amounts in pending.money.get((family, dim, day), {}).items():
        sums: dict[str, str] = doc["m"].setdefault(cell_key, {})
        for currency, amount in amounts.items():
            sums[currency] = str(Decimal(sums.get(currency, "0")) + amount)
    uow.records.put(COUNTERS, key, doc, index={family: day})


# --- lessons ----------------------------------------------------------------------------


def _lesson(uow: UnitOfWork, slot_id: str, counts: Mapping[str, int]) -> None:
    slot = uow.slots.get(slot_id)
    hour = hour_of(slot.start)
    bump(uow, LESSON_COURSE, slot.course_id, hour, counts)
    if slot.tutor_id is not None:
        bump(uow, LESSON_TUTOR, slot.tutor_id, hour, counts)


def on_slot_created(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SlotCreated)
    _lesson(uow, event.slot_id, {"slots": 1, "offered": event.capacity})


def on_capacity_changed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.CapacityChanged)
    _lesson(uow, event.slot_id, {"offered": event.capacity - event.old_capacity})


def on_slot_cancelled(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A cancelled session offers no seat (its released seats are counted one by one)."""
    assert isinstance(event, ev.SlotCancelled)
    _lesson(uow, event.slot_id, {"slots": -1, "offered": -event.capacity})


def on_seat_taken(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
    slot = uow.slots.get(event.slot_id)
    _lesson(uow, event.slot_id, {"booked": 1})
    lead = max(0, int((slot.start - event.occurred_at).total_seconds()))
    bump(uow, ACTIVITY, slot.course_id, hour_of(event.occurred_at), {"bookings": 1, "lead_s": lead})
    mark_active(uow, event.student_id, event.occurred_at)


def cancel_label(reason: str, reason_code: str | None) -> str:
    """The reason a released seat is counted under: the school's code, else how it was
    released (a student's cancellation without a code is ``unspecified``)."""
    if reason_code is not None:
        return reason_code
    return "unspecified" if reason == "cancelled" else reason


def on_seat_released(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SeatReleased)
    slot = uow.slots.get(event.slot_id)
    _lesson(uow, event.slot_id, {"released": 1})
    label = cancel_label(event.reason, event.reason_code)
    bump(uow, ACTIVITY, slot.course_id, hour_of(event.occurred_at), {f"cancel:{label}": 1})


def on_attendance(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.AttendanceMarked)
    counts = {event.status: 1}
    if event.previous in ("attended", "no_show"):
        counts[event.previous] = -1  # a corrected mark moves the seat, never counts it twice
    _lesson(uow, event.slot_id, counts)
    if event.status == "attended":
        mark_active(uow, event.student_id, event.occurred_at)


# --- group deals ------------------------------------------------------------------------


def _group_dims(uow: UnitOfWork, group_id: str) -> tuple[int, dict[str, str]] | None:
    group = uow.records.get(GROUPS, group_id)
    if group is None:
        return None
    campaign = uow.records.get(CAMPAIGNS, group["campaign_id"]) or {}
    dims = {
        "course": str(campaign.get("course_id", "?")),
        "campaign": str(group["campaign_id"]),
        "opener": str(group["initiator"]),
    }
    return hour_of(dt_in(group["opened_at"])), dims


def _group(
    uow: UnitOfWork, group_id: str, counts: Mapping[str, int], money: Money | None = None
) -> None:
    found = _group_dims(uow, group_id)
    if found is None:
        return
    hour, dims = found
    for by, family in GROUP_FAMILIES.items():
        bump(uow, family, dims[by], hour, counts, money)


def on_group_event(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    if isinstance(event, GroupOpened):
        _group(uow, event.group_id, {"opened": 1})
    elif isinstance(event, GroupFormed):
        _group(uow, event.group_id, {"formed": 1})
    elif isinstance(event, GroupFailed):
        _group(uow, event.group_id, {"cancelled" if event.cancelled else "failed": 1})
    elif isinstance(event, MemberJoined):
        new = event.new_student and not event.is_initiator
        _group(uow, event.group_id, {"orders": 1, "new_students": int(new)}, event.amount)
        _spend(uow, event.student_id, event.amount, event.occurred_at)
        mark_active(uow, event.student_id, event.occurred_at)
    elif isinstance(event, RefundIssued):
        _spend(uow, event.student_id, -event.amount, event.occurred_at)


# --- students ---------------------------------------------------------------------------


def _profile(uow: UnitOfWork, student_id: str) -> dict[str, Any] | None:
    """The student's analytics document, made from their record the first time (so a
    student registered before analytics counts from their real registration)."""
    doc = uow.records.get(PROFILES, student_id)
    if doc is not None:
        return doc
    record = uow.records.get(rec.STUDENTS, student_id)
    if record is None:
        return None
    return {
        "registered": micros(dt_in(record["facts"]["registered_at"])),
        "stage": "registered",
        "since": micros(dt_in(record["facts"]["registered_at"])),
        "reached": 0,
        "trial": False,
        "first_purchase": None,
        "level_at": None,
        "spend": {},
    }


def put_profile(uow: UnitOfWork, student_id: str, doc: dict[str, Any]) -> None:
    index = {f"stage:{doc['stage']}": doc["since"]}
    for currency, amount in doc["spend"].items():
        # spend in hundredths of the currency unit: segments count bands of it
        index[f"spend:{currency}"] = clamp_index(int(Decimal(amount) * 100))
    uow.records.put(PROFILES, student_id, doc, index=index)


def _spend(uow: UnitOfWork, student_id: str, amount: Money, at: datetime) -> None:
    doc = _profile(uow, student_id)
    if doc is None:
        return
    total = Decimal(doc["spend"].get(amount.currency, "0")) + amount.amount
    doc["spend"][amount.currency] = str(total)
    put_profile(uow, student_id, doc)


def on_registered(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, rec.StudentRegistered)
    hour = hour_of(event.occurred_at)
    bump(uow, STUDENTS, shard(event.student_id), hour, {"registered": 1})
    bump(uow, COHORT, shard(event.student_id), hour, {"reached:registered": 1})
    doc = _profile(uow, event.student_id)
    if doc is not None:
        put_profile(uow, event.student_id, doc)


def on_stage_changed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, rec.StageChanged)
    sid = event.student_id
    counts = {f"entered:{event.stage}": 1}
    if event.stage == "churned":
        counts[f"churn:{event.reason_code or 'unspecified'}"] = 1
    bump(uow, STUDENTS, shard(sid), hour_of(event.occurred_at), counts)
    doc = _profile(uow, sid)
    if doc is None:
        return
    now = micros(event.occurred_at)
    if event.stage in FUNNEL:
        rank = FUNNEL.index(event.stage)
        cohort_hour = doc["registered"] // HOUR * HOUR
        # the trial step counts real trials only, whenever one comes (a purchase without
        # a trial is not one); a profile kept before this was recorded counted its trial
        # step with any later step
        had_trial = doc.get("trial", doc["reached"] >= 1)
        if event.stage == "trial" and not had_trial:
            bump(uow, COHORT, shard(sid), cohort_hour, {"reached:trial": 1})
        doc["trial"] = had_trial or event.stage == "trial"
        # a renewal without a recorded first purchase reached both purchase steps
        for step in range(doc["reached"] + 1, rank + 1):
            if FUNNEL[step] == "trial":
                continue
            bump(uow, COHORT, shard(sid), cohort_hour, {f"reached:{FUNNEL[step]}": 1})
            if FUNNEL[step] == "first_purchase":
                doc["first_purchase"] = now
                bump(uow, FP_COHORT, shard(sid), now // HOUR * HOUR, {"first_purchase": 1})
            elif FUNNEL[step] == "renewed":
                first = doc["first_purchase"] if doc["first_purchase"] is not None else now
                bump(uow, FP_COHORT, shard(sid), first // HOUR * HOUR, {"renewed": 1})
        doc["reached"] = max(doc["reached"], rank)
    doc["stage"], doc["since"] = event.stage, now
    put_profile(uow, sid, doc)


def on_order_paid(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, OrderPaid)
    _spend(uow, event.student_id, event.total, event.occurred_at)
    mark_active(uow, event.student_id, event.occurred_at)


def on_referral(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ReferralRewarded)
    bump(uow, STUDENTS, shard(event.referred_id), hour_of(event.occurred_at), {"referred": 1})


def on_level_up(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """Time to level up: from the previous level-up, or registration for the first."""
    assert isinstance(event, LevelUp)
    doc = _profile(uow, event.student_id)
    if doc is None:
        return
    now = micros(event.occurred_at)
    since = doc["level_at"] if doc["level_at"] is not None else doc["registered"]
    seconds = max(0, (now - since) // 1_000_000)
    bump(uow, LEVELS, str(event.to_level), now // HOUR * HOUR, {"level_ups": 1, "level_s": seconds})
    doc["level_at"] = now
    put_profile(uow, event.student_id, doc)


def analytics_rules() -> dict[type[ev.DomainEvent], list[Handler]]:
    """The projections' rules, for :func:`eduengine.bootstrap.school_rules` (they run
    after the school's own rules for the event, so they count what those let through)."""
    table: dict[type[ev.DomainEvent], list[Handler]] = {
        ev.SlotCreated: [on_slot_created],
        ev.CapacityChanged: [on_capacity_changed],
        ev.SlotCancelled: [on_slot_cancelled],
        ev.SeatBooked: [on_seat_taken],
        ev.WaitlistPromoted: [on_seat_taken],
        ev.OfferAccepted: [on_seat_taken],
        ev.SeatReleased: [on_seat_released],
        ev.AttendanceMarked: [on_attendance],
        GroupOpened: [on_group_event],
        GroupFormed: [on_group_event],
        GroupFailed: [on_group_event],
        MemberJoined: [on_group_event],
        RefundIssued: [on_group_event],
        rec.StudentRegistered: [on_registered],
        rec.StageChanged: [on_stage_changed],
        OrderPaid: [on_order_paid],
        ReferralRewarded: [on_referral],
        LevelUp: [on_level_up],
    }
    return {event: [never_refuse(rule) for rule in rules] for event, rules in table.items()}
