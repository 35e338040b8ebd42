"""Recounting the analytics from stored documents (a one-off upgrade step) and refiling
them under their indexes (part of :class:`eduengine.analytics.AnalyticsService`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from eduengine.analytics import projection as pj
from eduengine.analytics.queries import AnalyticsQueries
from eduengine.booking import events as ev
from eduengine.booking.model import BookingStatus, SlotStatus
from eduengine.deals.events import GroupFailed, GroupFormed, GroupOpened, MemberJoined
from eduengine.deals.records import CAMPAIGNS, GROUPS
from eduengine.kernel.codec import dt_in
from eduengine.kernel.inputs import check_int
from eduengine.kernel.money import Money
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as rec


class AnalyticsRebuild(AnalyticsQueries):
    """Rebuild and reindex."""

    def rebuild(self, *, batch: int = 500) -> dict[str, int]:
        """Recount every projection from the stored documents (a one-off upgrade step, in
        batches like :meth:`eduengine.School.reindex`; it reads every slot, group and
        student). Returns documents replayed per source.

        Stored documents keep less than the events did: cancelled seats (and their
        reasons), corrected attendance marks, refunds, referrals and level-ups are not
        recovered; booked seats count from their booking time.
        """
        check_int(batch, "batch", low=1)
        for kind in (pj.COUNTERS, pj.ACTIVE, pj.PROFILES):
            keys = self._keys(kind)
            for n in range(0, len(keys), batch):

                def drop(
                    uow: UnitOfWork,
                    now: datetime,
                    k: str = kind,
                    c: list[str] = keys[n : n + batch],
                ) -> None:
                    for key in c:
                        uow.records.delete(k, key)

                self._run_batch(drop)
        slot_ids = self._read(lambda uow: uow.slots.list_ids())
        students = self._keys(rec.STUDENTS)
        groups = self._keys(GROUPS)
        sources = (
            ("slots", slot_ids, _replay_slot),
            ("students", students, _replay_student),
            ("groups", groups, _replay_group),
        )
        done: dict[str, int] = {}
        for name, keys, replay in sources:
            for n in range(0, len(keys), batch):
                chunk = keys[n : n + batch]

                def command(
                    uow: UnitOfWork,
                    now: datetime,
                    c: list[str] = chunk,
                    r: Callable[[UnitOfWork, str], None] = replay,
                ) -> None:
                    for key in c:
                        r(uow, key)

                self._run_batch(command)
            done[name] = len(keys)
        return done

    def reindex(self) -> int:
        """File every analytics document under its index again (part of
        :meth:`eduengine.School.reindex`); returns how many were refiled."""

        def counter(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.COUNTERS, key, doc, index={str(doc["f"]): int(str(doc["day"]))})

        def marker(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.ACTIVE, key, doc, index={"hour": int(key.rpartition("|")[2])})

        return (
            self._refile_all(pj.COUNTERS, counter)
            + self._refile_all(pj.ACTIVE, marker)
            + self._refile_all(pj.PROFILES, pj.put_profile)
        )


def _replay(uow: UnitOfWork, events: Sequence[ev.DomainEvent]) -> None:
    rules = pj.analytics_rules()
    for event in events:
        for handler in rules.get(type(event), ()):
            handler(event, uow)
    pj.flush(uow)


def _replay_slot(uow: UnitOfWork, slot_id: str) -> None:
    slot = uow.slots.get(slot_id)
    sid, cap, left = slot.id, slot.capacity, slot.seats_left
    events: list[ev.DomainEvent] = [
        ev.SlotCreated(
            occurred_at=slot.start,
            slot_id=sid,
            capacity=cap,
            seats_left=left,
            course_id=slot.course_id,
            start=slot.start,
            end=slot.end,
        )
    ]
    for booking in sorted(slot.bookings.values(), key=lambda b: (b.created_at, b.id)):
        events.append(
            ev.SeatBooked(
                occurred_at=booking.created_at,
                slot_id=sid,
                capacity=cap,
                seats_left=left,
                booking_id=booking.id,
                student_id=booking.student_id,
            )
        )
        if booking.status in (BookingStatus.ATTENDED, BookingStatus.NO_SHOW):
            events.append(
                ev.AttendanceMarked(
                    occurred_at=slot.start,
                    slot_id=sid,
                    capacity=cap,
                    seats_left=left,
                    booking_id=booking.id,
                    student_id=booking.student_id,
                    status=booking.status.value,
                )
            )
    if slot.status is SlotStatus.CANCELLED:
        events.append(
            ev.SlotCancelled(occurred_at=slot.start, slot_id=sid, capacity=cap, seats_left=left)
        )
    _replay(uow, events)


def _replay_student(uow: UnitOfWork, student_id: str) -> None:
    doc = uow.records.get(rec.STUDENTS, student_id)
    if doc is None:
        return
    events: list[ev.DomainEvent] = [
        rec.StudentRegistered(
            occurred_at=dt_in(doc["facts"]["registered_at"]), student_id=student_id
        )
    ]
    for h in doc.get("stage_history", []):
        events.append(
            rec.StageChanged(
                occurred_at=dt_in(h["at"]),
                student_id=student_id,
                stage=h["stage"],
                previous=h["from"],
                reason=h["reason"],
                reason_code=h.get("reason_code"),
            )
        )
    _replay(uow, events)


def _replay_group(uow: UnitOfWork, group_id: str) -> None:
    doc = uow.records.get(GROUPS, group_id)
    if doc is None or uow.records.get(CAMPAIGNS, doc["campaign_id"]) is None:
        return
    opened = dt_in(doc["opened_at"])
    events: list[ev.DomainEvent] = [
        GroupOpened(
            occurred_at=opened,
            group_id=group_id,
            campaign_id=doc["campaign_id"],
            initiator=doc["initiator"],
            share_code="",
            deadline=opened,
        )
    ]
    price = Money.from_record(doc["price"])
    for m in doc["members"]:
        if m["status"] in ("paid", "refund_due", "refunded"):
            events.append(
                MemberJoined(
                    occurred_at=dt_in(m["joined_at"]),
                    group_id=group_id,
                    student_id=m["student_id"],
                    amount=price,
                    members=0,
                    still_needed=0,
                    seconds_left=0,
                    new_student=False,
                    is_initiator=m["student_id"] == doc["initiator"],
                )
            )
    if doc["state"] == "formed":
        events.append(GroupFormed(occurred_at=opened, group_id=group_id, members=(), forced=False))
    elif doc["state"] in ("failed", "cancelled"):
        events.append(
            GroupFailed(
                occurred_at=opened,
                group_id=group_id,
                members=(),
                cancelled=doc["state"] == "cancelled",
            )
        )
    _replay(uow, events)
