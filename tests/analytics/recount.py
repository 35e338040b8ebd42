"""The brute-force side of the analytics tests: every metric recounted from the full
event history a publisher recorded, with none of the projection's code.

It follows docs/analytics.md: a session counts in a period when the UTC hour its start
falls in starts inside the period; an activity (booking, cancellation, payment, stage
move) by the UTC hour it happened in; a group by the hour it opened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from eduengine.analytics import (
    AttendanceRow,
    CountRow,
    FillRow,
    FunnelRow,
    GroupRow,
    LeadTimeRow,
    Period,
    RateRow,
    ReasonRow,
)
from eduengine.analytics.model import WEEKDAYS, rate
from eduengine.booking import events as ev
from eduengine.deals import GroupFailed, GroupFormed, GroupOpened, MemberJoined
from eduengine.deals.events import JoinAttributed, RefundIssued, RegistrationAttributed
from eduengine.pricing import Money
from eduengine.pricing.events import OrderPaid
from eduengine.referrals import ReferralRewarded
from eduengine.students.events import StageChanged, StudentErased, StudentRegistered

TAKEN = (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted)
STEPS = ("registered", "trial", "first_purchase", "renewed")


def hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def inside(at: datetime, period: Period) -> bool:
    return period.start <= hour(at) < period.end


def key(by: str, dim: str | None, at: datetime, period: Period) -> str | None:
    if by == "school":
        return "all"
    if by == "weekday":
        return WEEKDAYS[hour(at).astimezone(period.tz).weekday()]
    if by == "hour":
        return f"{hour(at).astimezone(period.tz):%H:%M}"
    return dim


class Recount:
    """Feed it the recorded events, the tutor of each slot and the course of each
    campaign."""

    def __init__(
        self,
        events: Sequence[ev.DomainEvent],
        tutors: dict[str, str | None],
        courses: dict[str, str],
    ) -> None:
        self.events = list(events)
        self.tutors = tutors
        self.courses = courses
        self.slots: dict[str, ev.SlotCreated] = {}
        for e in self.events:
            if isinstance(e, ev.SlotCreated):
                self.slots[e.slot_id] = e

    # --- lessons --------------------------------------------------------------------

    def _lesson_key(self, slot_id: str, by: str, period: Period) -> str | None:
        slot = self.slots[slot_id]
        if not inside(slot.start, period):
            return None
        dim = self.tutors[slot_id] if by == "tutor" else slot.course_id
        return key(by, dim, slot.start, period)

    def _lessons(self, period: Period, by: str) -> dict[str, dict[str, int]]:
        t: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        capacity: dict[str, int] = {}
        cancelled: set[str] = set()
        status: dict[str, tuple[str, str]] = {}
        for e in self.events:
            if not isinstance(e, ev.SlotEvent):
                continue
            k = self._lesson_key(e.slot_id, by, period)
            if isinstance(e, ev.SlotCreated | ev.CapacityChanged):
                capacity[e.slot_id] = e.capacity
            elif isinstance(e, ev.SlotCancelled):
                cancelled.add(e.slot_id)
            if k is None:
                continue
            if isinstance(e, TAKEN):
                t[k]["booked"] += 1
            elif isinstance(e, ev.SeatReleased):
                t[k]["booked"] -= 1
            elif isinstance(e, ev.AttendanceMarked):
                status[e.booking_id] = (k, e.status)
        for slot_id, cap in capacity.items():
            k = self._lesson_key(slot_id, by, period)
            if k is not None and slot_id not in cancelled:
                t[k]["offered"] += cap
        for k, st in status.values():
            t[k][st] += 1
        return t

    def fill_rate(self, period: Period, by: str) -> list[FillRow]:
        return [
            FillRow(
                key=k,
                offered=v["offered"],
                booked=v["booked"],
                rate=rate(v["booked"], v["offered"]),
            )
            for k, v in sorted(self._lessons(period, by).items())
            if v["offered"] or v["booked"]
        ]

    def attendance(self, period: Period, by: str) -> list[AttendanceRow]:
        rows = []
        for k, v in sorted(self._lessons(period, by).items()):
            marked = v["attended"] + v["no_show"]
            if v["booked"] or marked:
                rows.append(
                    AttendanceRow(
                        key=k,
                        booked=v["booked"],
                        attended=v["attended"],
                        no_show=v["no_show"],
                        unmarked=v["booked"] - marked,
                        attendance_rate=rate(v["attended"], marked),
                        no_show_rate=rate(v["no_show"], marked),
                    )
                )
        return rows

    def cancellation_reasons(self, period: Period, by: str) -> list[ReasonRow]:
        n: dict[tuple[str, str], int] = defaultdict(int)
        for e in self.events:
            if isinstance(e, ev.SeatReleased) and inside(e.occurred_at, period):
                label = e.reason_code or ("unspecified" if e.reason == "cancelled" else e.reason)
                k = key(by, self.slots[e.slot_id].course_id, e.occurred_at, period)
                assert k is not None
                n[k, label] += 1
        rows = [ReasonRow(key=k, reason=r, count=c) for (k, r), c in n.items()]
        return sorted(rows, key=lambda r: (r.key, -r.count, r.reason))

    def lead_time(self, period: Period, by: str) -> list[LeadTimeRow]:
        n: dict[str, int] = defaultdict(int)
        s: dict[str, int] = defaultdict(int)
        for e in self.events:
            if isinstance(e, TAKEN) and inside(e.occurred_at, period):
                slot = self.slots[e.slot_id]
                k = key(by, slot.course_id, e.occurred_at, period)
                assert k is not None
                n[k] += 1
                s[k] += max(0, int((slot.start - e.occurred_at).total_seconds()))
        return [
            LeadTimeRow(key=k, bookings=n[k], mean_hours=rate(s[k], n[k] * 3600)) for k in sorted(n)
        ]

    def peak_hours(self, period: Period) -> list[CountRow]:
        n: dict[str, int] = defaultdict(int)
        for e in self.events:
            if isinstance(e, TAKEN) and inside(e.occurred_at, period):
                k = key("hour", None, e.occurred_at, period)
                assert k is not None
                n[k] += 1
        return sorted(
            (CountRow(key=k, count=c) for k, c in n.items()), key=lambda r: (-r.count, r.key)
        )

    # --- groups ---------------------------------------------------------------------

    def group_metrics(self, period: Period, by: str) -> list[GroupRow]:
        erased = {e.student_id for e in self.events if isinstance(e, StudentErased)}
        opened = {e.group_id: e for e in self.events if isinstance(e, GroupOpened)}
        t: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        money: dict[str, Decimal] = defaultdict(Decimal)
        currency: dict[str, set[str]] = defaultdict(set)

        def group_key(group_id: str) -> str | None:
            g = opened[group_id]
            if not inside(g.occurred_at, period):
                return None
            if by == "opener":
                return "erased" if g.initiator in erased else g.initiator
            if by == "campaign":
                return g.campaign_id
            if by == "school":
                return "all"
            return self.courses[g.campaign_id]

        for e in self.events:
            if (
                isinstance(e, RegistrationAttributed | JoinAttributed)
                and e.first_touch
                and e.new_student
            ):
                # as DealMetrics counts her: the link's campaign, its sharer as opener,
                # the course of her group; in the hour her group opened
                g = opened.get(e.group_id) if e.group_id is not None else None
                if not inside(e.occurred_at if g is None else g.occurred_at, period):
                    continue
                if by == "opener":
                    brought = "erased" if e.sharer_id in erased else e.sharer_id
                elif by == "campaign":
                    brought = e.campaign_id
                elif by == "school":
                    brought = "all"
                elif g is None:
                    continue
                else:
                    brought = self.courses[g.campaign_id]
                t[brought]["attributed"] += 1
            if isinstance(e, GroupOpened | GroupFormed | GroupFailed | MemberJoined):
                k = group_key(e.group_id)
                if k is None:
                    continue
                if isinstance(e, GroupOpened):
                    t[k]["opened"] += 1
                elif isinstance(e, GroupFormed):
                    t[k]["formed"] += 1
                elif isinstance(e, GroupFailed):
                    t[k]["cancelled" if e.cancelled else "failed"] += 1
                else:
                    t[k]["orders"] += 1
                    t[k]["new"] += int(e.new_student and not e.is_initiator)
                    money[k] += e.amount.amount
                    currency[k].add(e.amount.currency)
        rows = []
        for k, v in sorted(t.items()):
            settled = v["formed"] + v["failed"]
            avg = None
            if v["orders"] and len(currency[k]) == 1:
                avg = Money(money[k] / v["orders"], next(iter(currency[k])))
            rows.append(
                GroupRow(
                    key=k,
                    opened=v["opened"],
                    formed=v["formed"],
                    failed=v["failed"],
                    cancelled=v["cancelled"],
                    still_open=v["opened"] - settled - v["cancelled"],
                    success_rate=rate(v["formed"], settled),
                    formed_share=rate(v["formed"], v["opened"]),
                    orders=v["orders"],
                    average_order_value=avg,
                    new_students=v["new"],
                    attributed_students=v["attributed"],
                    viral_coefficient=rate(v["attributed"], v["opened"]),
                    first_payment_coefficient=rate(v["new"], v["opened"]),
                )
            )
        return rows

    # --- students -------------------------------------------------------------------

    def new_students(self, period: Period) -> int:
        return sum(
            1
            for e in self.events
            if isinstance(e, StudentRegistered) and inside(e.occurred_at, period)
        )

    def churn_reasons(self, period: Period) -> list[CountRow]:
        n: dict[str, int] = defaultdict(int)
        for e in self.events:
            if (
                isinstance(e, StageChanged)
                and e.stage == "churned"
                and inside(e.occurred_at, period)
            ):
                n[e.reason_code or "unspecified"] += 1
        return sorted(
            (CountRow(key=k, count=c) for k, c in n.items()), key=lambda r: (-r.count, r.key)
        )

    def _reached(self) -> dict[str, dict[str, datetime]]:
        """For each registered student, when each funnel step was first reached."""
        reached: dict[str, dict[str, datetime]] = {}
        for e in self.events:
            if isinstance(e, StudentRegistered):
                reached[e.student_id] = {"registered": e.occurred_at}
            elif isinstance(e, StageChanged) and e.stage in STEPS and e.student_id in reached:
                steps = reached[e.student_id]
                for step in STEPS[: STEPS.index(e.stage) + 1]:
                    if step != "trial" or e.stage == "trial":  # real trials only
                        steps.setdefault(step, e.occurred_at)
        return reached

    def funnel(self, cohort: Period) -> list[FunnelRow]:
        counts = [0] * len(STEPS)
        for steps in self._reached().values():
            if inside(steps["registered"], cohort):
                for i, step in enumerate(STEPS):
                    counts[i] += step in steps
        return [
            FunnelRow(
                stage=s,
                students=counts[i],
                of_registered=rate(counts[i], counts[0]),
                of_previous=rate(counts[i], counts[i - 1]) if i else None,
            )
            for i, s in enumerate(STEPS)
        ]

    def renewal_rate(self, period: Period) -> RateRow:
        first = renewed = 0
        for steps in self._reached().values():
            if "first_purchase" in steps and inside(steps["first_purchase"], period):
                first += 1
                renewed += "renewed" in steps
        return RateRow(key="all", numerator=renewed, denominator=first, rate=rate(renewed, first))

    def referral_rate(self, period: Period) -> RateRow:
        referred = sum(
            1
            for e in self.events
            if isinstance(e, ReferralRewarded) and inside(e.occurred_at, period)
        )
        first = sum(
            1
            for e in self.events
            if isinstance(e, StageChanged)
            and e.stage == "first_purchase"
            and inside(e.occurred_at, period)
        )
        return RateRow(key="all", numerator=referred, denominator=first, rate=rate(referred, first))

    def active_students(self, period: Period) -> int:
        active = set()
        for e in self.events:
            if not inside(e.occurred_at, period):
                continue
            if isinstance(e, (*TAKEN, OrderPaid, MemberJoined)) or (
                isinstance(e, ev.AttendanceMarked) and e.status == "attended"
            ):
                active.add(e.student_id)
        return len(active)

    def stages_now(self) -> dict[str, int]:
        stage: dict[str, str] = {}
        for e in self.events:
            if isinstance(e, StudentRegistered):
                stage[e.student_id] = "registered"
            elif isinstance(e, StageChanged) and e.student_id in stage:
                stage[e.student_id] = e.stage
        counts: dict[str, int] = defaultdict(int)
        for s in stage.values():
            counts[s] += 1
        return counts

    def spend_now(self) -> dict[str, Decimal]:
        registered: set[str] = set()
        spend: dict[str, Decimal] = defaultdict(Decimal)
        for e in self.events:
            if isinstance(e, StudentRegistered):
                registered.add(e.student_id)
            elif isinstance(e, OrderPaid) and e.student_id in registered:
                spend[e.student_id] += e.total.amount
            elif isinstance(e, MemberJoined) and e.student_id in registered:
                spend[e.student_id] += e.amount.amount
            elif isinstance(e, RefundIssued) and e.student_id in registered:
                spend[e.student_id] -= e.amount.amount
        return {s: spend.get(s, Decimal(0)) for s in registered}
