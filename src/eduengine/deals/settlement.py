"""Charges and refunds of group deals: the gateway calls, confirming a member, forming
or failing a group, and settling payment intents (part of
:class:`eduengine.deals.DealService`; the order of operations is in
:mod:`eduengine.deals.service`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eduengine.deals.events import (
    AccessGranted,
    GroupFailed,
    GroupFormed,
    MemberJoined,
    RefundIssued,
)
from eduengine.deals.model import GroupDeal, GroupState, Member
from eduengine.deals.records import (
    DEAL_OWNER,
    GROUPS,
    PARTICIPATION,
    _campaign,
    _charge_key,
    _group,
    _participation,
    deal_order,
    save_group,
)
from eduengine.errors import PaymentFailed, PaymentOutcomeUnknown, PersistenceError
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id
from eduengine.payments import Charge, PaymentGateway, PaymentState, Refund
from eduengine.payments.intents import (
    PaymentIntent,
    close,
    get_intent,
    note_unknown,
    record_charge,
    record_refund,
)
from eduengine.people.access import AccessGate, Look
from eduengine.people.model import Actor
from eduengine.pricing import referrals
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase


class DealPayments(ServiceBase):
    """Charges, refunds and their settlement; the ``PaymentSettler`` of group deals."""

    gateway: PaymentGateway
    referral_reward: referrals.ReferralReward

    #: the access check of :meth:`get_group` (School.build passes the school's policy)
    gate: AccessGate = AccessGate()

    # public, but here: paying and refunding answer with the group as it is now
    def get_group(self, group_id: str, *, actor: Actor | None = None) -> GroupDeal:
        """A group as ``actor`` sees it: each member's payment account, device and IP
        only with the payments field set (one audit row per member shown so), else
        ``None``; refused when the actor may see none of its members. Without an actor
        (deprecated) those values are hidden."""
        check_id(group_id, "group_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> GroupDeal:
            group = _group(uow, group_id)
            for member in group.members:
                if not look(member.student_id).payments:
                    member.account = member.device_id = member.ip = None
            return group

        return self.gate.read(self._run, actor, ("payments",), query, ids={"group_id": group_id})

    def _read_group(self, group_id: str) -> GroupDeal:
        """The group whole, for the library's own commands (never handed to a reader
        but as the answer of the caller's own join or payment)."""
        return self._run(
            lambda uow, now: _group(uow, group_id), write=False, ids={"group_id": group_id}
        )

    def _file_charge(
        self, uow: UnitOfWork, group: GroupDeal, member: Member, account: str, now: datetime
    ) -> None:
        """Give a pending member its charge key and file (or refresh) the intent. A key
        whose earlier attempt was released is never reused: a charge landing late for it
        must be refunded, not taken for this attempt's."""
        if member.charge_key is None:
            base = f"charge:{group.id}:{member.student_id}"
            key, attempt = base, 1
            while (earlier := get_intent(uow, key)) is not None and not earlier.is_open:
                attempt += 1
                key = f"{base}:{attempt}"
            member.charge_key = key
            save_group(uow, group, now)
        record_charge(
            uow,
            member.charge_key,
            owner=DEAL_OWNER,
            ref={"group_id": group.id, "student_id": member.student_id},
            account=account,
            amount=group.price,
            now=now,
        )

    def _pay(self, group_id: str, student_id: str, account: str) -> GroupDeal:
        group = self._read_group(group_id)
        member = group.member(student_id)
        if member is None or member.status != "pending":
            return group
        key = _charge_key(group_id, member)
        if group.state in (GroupState.FAILED, GroupState.CANCELLED):
            # a retry after the group failed: learn what happened, never charge anew
            try:
                outcome = self.gateway.lookup(key)
            except Exception as exc:
                raise PaymentOutcomeUnknown(
                    key,
                    f"group {group_id!r} is {group.state.value} "
                    f"({PaymentOutcomeUnknown.reason(exc)})",
                    group_id=group_id,
                ) from exc
            if outcome.state is PaymentState.CHARGED and outcome.charge is not None:
                self._settle_charged(group_id, student_id, key, outcome.charge)
            else:
                self._run(
                    lambda uow, now: self._drop_pending(uow, group_id, student_id, now),
                    ids={"group_id": group_id, "student_id": student_id},
                )
            return self._read_group(group_id)
        try:
            charge = self.gateway.charge(key, account, group.price)
        except PaymentFailed:
            self._run(
                lambda uow, now: self._drop_pending(uow, group_id, student_id, now, "failed"),
                ids={"group_id": group_id, "student_id": student_id},
            )
            raise
        except Exception as exc:  # a lost answer of any kind: the money may have moved
            self._run(
                lambda uow, now: note_unknown(uow, key),
                ids={"group_id": group_id, "student_id": student_id},
            )
            raise PaymentOutcomeUnknown(
                key,
                f"student {student_id!r} holds a pending place in group {group_id!r} "
                f"({PaymentOutcomeUnknown.reason(exc)})",
                group_id=group_id,
            ) from exc
        self._settle_charged(group_id, student_id, key, charge)
        return self._read_group(group_id)

    def _settle_charged(self, group_id: str, student_id: str, key: str, charge: Charge) -> None:
        """Settle a charge the provider confirmed to the caller. If the store fails to
        record it, the money has moved all the same and the place stays reserved: the
        truthful answer is ``PaymentOutcomeUnknown`` (running the same command again, or
        reconcile, settles it under the same key), not a ``PersistenceError`` that says
        nothing was written."""
        self._settle_charge(group_id, student_id, key, charge, lost_if_unrecorded=True)

    def _settle_charge(
        self,
        group_id: str,
        student_id: str,
        key: str,
        charge: Charge,
        *,
        lost_if_unrecorded: bool = False,
    ) -> None:
        try:
            orphan = self._run(
                lambda uow, now: self._confirm(uow, group_id, student_id, key, charge, now),
                ids={"group_id": group_id, "student_id": student_id},
            )
        except PersistenceError as exc:
            if not lost_if_unrecorded:
                raise
            raise PaymentOutcomeUnknown(
                key,
                f"charged ({charge.id}), but confirming student {student_id!r} in group "
                f"{group_id!r} failed: {exc}",
                group_id=group_id,
            ) from exc
        if orphan:
            try:
                refund = self.gateway.refund(f"refund:{key}", charge.id, charge.amount)
            except Exception:  # declined or lost: reconcile retries it
                pass
            else:
                self._run(
                    lambda uow, now: self._mark_refunded(uow, group_id, student_id, refund, now),
                    ids={"group_id": group_id, "student_id": student_id},
                )
        self._refund_due(group_id)  # if the group closed while the charge was under way

    def _drop_pending(
        self,
        uow: UnitOfWork,
        group_id: str,
        student_id: str,
        now: datetime,
        outcome: str = "released",
    ) -> None:
        group = _group(uow, group_id)
        member = group.member(student_id)
        if member is None or member.status != "pending":
            return  # settled already
        close(uow, _charge_key(group_id, member), outcome)
        group.members = [m for m in group.members if m is not member]
        save_group(uow, group, now)
        key = f"{group.campaign_id}:{student_id}"
        part = _participation(uow, group.campaign_id, student_id)
        if group_id in part["groups"]:
            part["groups"].remove(group_id)
            if student_id == group.initiator:
                part["opened"] -= 1
            else:
                part["joined"] -= 1
        uow.records.put(PARTICIPATION, key, part)

    def _confirm(
        self,
        uow: UnitOfWork,
        group_id: str,
        student_id: str,
        key: str,
        charge: Charge,
        now: datetime,
    ) -> bool:
        """Confirm the member a charge paid for; returns ``True`` when the charge pays
        for nothing any more (its place was released) and must be refunded."""
        group = _group(uow, group_id)
        member = group.member(student_id)
        if member is not None and member.charge_id == charge.id:
            return False  # confirmed already (a retried call, a repeated notification)
        if member is None or member.status != "pending" or _charge_key(group_id, member) != key:
            close(uow, key, "charged", settled_id=charge.id)
            record_refund(
                uow,
                f"refund:{key}",
                owner=DEAL_OWNER,
                ref={"group_id": group_id, "student_id": student_id},
                charge_id=charge.id,
                amount=charge.amount,
                now=now,
            )
            return True
        close(uow, key, "charged", settled_id=charge.id)
        member.status = "paid"
        member.charge_id = charge.id
        first_order, rewards = referrals.order_paid(
            uow, student_id, now, self.referral_reward, order=deal_order(group_id, student_id)
        )
        is_initiator = student_id == group.initiator
        joined_formed = group.state is GroupState.FORMED
        events: list[DomainEvent] = [
            MemberJoined(
                occurred_at=now,
                group_id=group_id,
                student_id=student_id,
                amount=group.price,
                members=len(group.paid),
                still_needed=max(0, group.required_size - len(group.paid)),
                seconds_left=max(0, int((group.deadline - now).total_seconds())),
                # the opener is not brought in by their own group (viral coefficient)
                new_student=first_order and not is_initiator,
                is_initiator=is_initiator,
                joined_formed=joined_formed,
                payer_id=member.payer_id,
                course_id=member.course_id or _campaign(uow, group.campaign_id).course_id,
            )
        ]
        events += rewards
        if group.state is GroupState.OPEN and len(group.paid) >= group.required_size:
            group.state = GroupState.FORMED
            events.append(
                GroupFormed(
                    occurred_at=now,
                    group_id=group_id,
                    members=tuple(m.student_id for m in group.paid),
                    forced=False,
                )
            )
        if group.state is GroupState.FORMED:
            events += self._grant_access(uow, group, now)
        elif group.state is not GroupState.OPEN:
            member.status = "refund_due"  # the group closed while the charge was under way
        save_group(uow, group, now)
        uow.record_events(events)
        return False

    def _grant_access(self, uow: UnitOfWork, group: GroupDeal, now: datetime) -> list[DomainEvent]:
        course = _campaign(uow, group.campaign_id).course_id
        events: list[DomainEvent] = []
        for m in group.paid:
            if not m.access:
                m.access = True
                events.append(
                    AccessGranted(
                        occurred_at=now,
                        group_id=group.id,
                        student_id=m.student_id,
                        # a cross-course group: each member gets the course they chose
                        course_id=m.course_id or course,
                    )
                )
        return events

    def _settle_batch(self, keys: list[str]) -> Callable[[UnitOfWork, datetime], int]:
        def command(uow: UnitOfWork, now: datetime) -> int:
            # Lock every group of the batch (in the scan's order, the same for every
            # worker) before any campaign: a join locks its group, then its campaign, so
            # a sweep holding a campaign while waiting for a group could deadlock it.
            docs = [uow.records.get(GROUPS, key) for key in keys]
            return sum(self._settle(uow, doc, now) for doc in docs if doc is not None)

        return command

    def _settle(self, uow: UnitOfWork, doc: dict[str, Any], now: datetime) -> bool:
        """Settle a group read under its lock, if still open and past its deadline."""
        group = GroupDeal.from_record(doc)
        group_id = group.id
        if group.state is not GroupState.OPEN or now < group.deadline:
            return False  # another worker settled it, or it formed meanwhile
        campaign = _campaign(uow, group.campaign_id)
        share = campaign.force_share
        if share is not None and len(group.paid) >= math.ceil(group.required_size * share):
            group.state = GroupState.FORMED
            group.forced = True
            events: list[DomainEvent] = [
                GroupFormed(
                    occurred_at=now,
                    group_id=group_id,
                    members=tuple(m.student_id for m in group.paid),
                    forced=True,
                )
            ]
            events += self._grant_access(uow, group, now)
            save_group(uow, group, now)
            uow.record_events(events)
            return True
        self._fail(uow, group, now, cancelled=False)
        return True

    def _fail(self, uow: UnitOfWork, group: GroupDeal, now: datetime, *, cancelled: bool) -> None:
        group.state = GroupState.CANCELLED if cancelled else GroupState.FAILED
        members = tuple(m.student_id for m in group.paid)
        for m in group.paid:
            m.status = "refund_due"
        save_group(uow, group, now)
        uow.record_events(
            [GroupFailed(occurred_at=now, group_id=group.id, members=members, cancelled=cancelled)]
        )

    def _refund_due(self, group_id: str) -> None:
        group = self._read_group(group_id)
        for member in group.members:
            if member.status != "refund_due" or member.charge_id is None:
                continue
            try:
                refund = self.gateway.refund(
                    f"refund:{group_id}:{member.student_id}", member.charge_id, group.price
                )
            except Exception:  # declined or lost: stays refund_due, retried
                continue  # with the same key by expire_due and reconcile

            def mark(
                uow: UnitOfWork,
                now: datetime,
                student: str = member.student_id,
                made: Refund = refund,
            ) -> None:
                self._mark_refunded(uow, group_id, student, made, now)

            self._run(mark, ids={"group_id": group_id})

    def _mark_refunded(
        self, uow: UnitOfWork, group_id: str, student_id: str, refund: Refund, now: datetime
    ) -> None:
        """A refund went through: close its intent and, if it was a member's refund,
        mark the member ``refunded`` (once)."""
        close(uow, refund.key, "refunded", settled_id=refund.id)
        fresh = _group(uow, group_id)
        m = fresh.member(student_id)
        if m is None or m.status != "refund_due" or m.charge_id != refund.charge_id:
            return  # another worker marked it, or it refunded a charge nobody held
        m.status = "refunded"
        save_group(uow, fresh, now)
        uow.record_events(
            [
                RefundIssued(
                    occurred_at=now,
                    group_id=group_id,
                    student_id=student_id,
                    amount=fresh.price,
                    refund_id=refund.id,
                )
            ]
        )

    def payment_charged(self, intent: PaymentIntent, charge: Charge) -> None:
        self._settle_charge(intent.ref["group_id"], intent.ref["student_id"], intent.key, charge)

    def payment_not_charged(self, intent: PaymentIntent) -> None:
        group_id, student_id = intent.ref["group_id"], intent.ref["student_id"]

        def release(uow: UnitOfWork, now: datetime) -> None:
            member = _group(uow, group_id).member(student_id)
            if member is not None and _charge_key(group_id, member) == intent.key:
                self._drop_pending(uow, group_id, student_id, now)
            else:
                close(uow, intent.key, "released")

        self._run(release, ids={"group_id": group_id, "student_id": student_id})

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        group_id, student_id = intent.ref["group_id"], intent.ref["student_id"]
        self._run(
            lambda uow, now: self._mark_refunded(uow, group_id, student_id, refund, now),
            ids={"group_id": group_id, "student_id": student_id},
        )
