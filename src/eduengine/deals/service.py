"""Group deals through units of work and a payment gateway.

Order of operations for joining (the gateway is outside any database transaction):

1. one unit of work reserves a place (member ``pending``) after every check — open, before
   the deadline, not full (pending places count), limits, risk rules — under the group
   document's lock, so concurrent joins can never overfill a group;
2. the gateway charges with the idempotency key ``charge:<group>:<student>``;
3. a second unit of work confirms the member (``paid``) and forms the group when enough
   members have paid, granting access to every paid member exactly once. A declined charge
   removes the reservation instead. A formed group keeps taking joins up to the campaign's
   ``max_size`` until its deadline; such a member is given access as soon as they paid.
   If this unit of work fails after the provider charged, the caller gets
   ``PaymentOutcomeUnknown`` (the place stays reserved; the same call resumes it).

Refunds (a member leaving, a failed or cancelled group) first mark the member
``refund_due`` in a unit of work, then call the gateway with ``refund:<group>:<student>``
and mark ``refunded``. A refund the gateway failed to confirm stays ``refund_due`` and
``expire_due`` retries it; the key makes sure no member is ever refunded twice.

Each charge and refund is also filed as a payment intent (:mod:`eduengine.intents`) in the
reservation's unit of work. A charge whose answer is lost leaves the member ``pending``
(holding the place): opening or joining again resumes it with the same key, and
:meth:`eduengine.payment_service.PaymentService.reconcile` settles it (paid, or the place
released when the provider never charged). A charge that lands after its place was
released is refunded under ``refund:<charge key>``.

Sweeps and queries read indexes, never every group: ``expire_due`` scans ``"due"``
(open groups by deadline) and ``"refund_due"`` (groups with a refund outstanding), and a
group leaves both once it is closed and its refunds confirmed (see
:meth:`GroupDeal.index_entries`); risk-log entries are filed under ``"student:<id>"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine import referrals
from eduengine.booking.events import DomainEvent
from eduengine.booking.model import IdFactory
from eduengine.clock import Clock
from eduengine.codec import dt_in, dt_out, micros
from eduengine.deals.model import (
    DUE,
    REFUND_DUE,
    GroupDeal,
    GroupDealCampaign,
    GroupState,
    Member,
    new_share_code,
    normalise_share_code,
)
from eduengine.deals.risk import DEFAULT_RULES, JoinAttempt, Peer, RiskDecision, RiskRule
from eduengine.errors import (
    AbuseSuspected,
    CampaignNotFound,
    DealLimitReached,
    DuplicateId,
    GroupClosed,
    GroupFull,
    GroupNotFound,
    InvalidInput,
    InvalidTransition,
    PaymentFailed,
    PaymentOutcomeUnknown,
    PersistenceError,
    ShareCodeUnavailable,
)
from eduengine.inputs import (
    MAX_ID_LENGTH,
    check_duration,
    check_id,
    check_int,
    check_optional_id,
    check_text,
)
from eduengine.intents import (
    PaymentIntent,
    close,
    get_intent,
    note_unknown,
    record_charge,
    record_refund,
)
from eduengine.messagebus import MessageBus
from eduengine.payments import Charge, PaymentGateway, PaymentState, Refund
from eduengine.ports import (
    EventPublisher,
    RecordRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from eduengine.pricing.money import Money
from eduengine.referrals import ReferralRewarded
from eduengine.service import ServiceBase

CAMPAIGNS = "deal_campaign"
GROUPS = "group_deal"
CODES = "deal_share_code"
PARTICIPATION = "deal_participation"
ACTIVITY = "deal_activity"
RISK_LOG = "deal_risk_log"
#: the owner name of group deals' payment intents
DEAL_OWNER = "deal"

#: A random share code collides with a live one about never (see ``SHARE_CODE_LENGTH``);
#: several collisions in a row mean the code source is broken, not unlucky.
SHARE_CODE_TRIES = 5
#: Groups settled per unit of work by ``expire_due``: a join waits at most one batch.
SWEEP_BATCH = 100


def risk_index(student_id: str) -> str:
    """The index that files a student's risk-log entries by time."""
    return f"student:{student_id}"


# --- events -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class GroupOpened(DomainEvent):
    group_id: str
    campaign_id: str
    initiator: str
    share_code: str
    deadline: datetime


@attrs.frozen(kw_only=True)
class MemberJoined(DomainEvent):
    """A member's payment was confirmed (the opener's too, with ``is_initiator``).

    ``new_student`` is true when the group brought the school a new student: a member
    other than the opener whose payment is their first paid order. The opener is never
    a new student of their own group (before this was settled the opener's first order
    counted too, which made a group nobody joined score 1 in the viral coefficient).
    """

    group_id: str
    student_id: str
    amount: Money
    members: int
    still_needed: int
    seconds_left: int
    new_student: bool
    is_initiator: bool = False
    #: the member joined a group that had formed already (a place between
    #: ``required_size`` and ``max_size``): no ``GroupFormed`` follows for them, so this
    #: event carries their "you are in" notice and their access comes with it
    joined_formed: bool = False


@attrs.frozen(kw_only=True)
class MemberLeft(DomainEvent):
    group_id: str
    student_id: str


@attrs.frozen(kw_only=True)
class GroupFormed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    forced: bool


@attrs.frozen(kw_only=True)
class GroupFailed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    cancelled: bool = False


@attrs.frozen(kw_only=True)
class AccessGranted(DomainEvent):
    group_id: str
    student_id: str
    course_id: str


@attrs.frozen(kw_only=True)
class RefundIssued(DomainEvent):
    group_id: str
    student_id: str
    amount: Money
    refund_id: str


@attrs.frozen(kw_only=True)
class RiskDecisionRecorded(DomainEvent):
    student_id: str
    group_id: str | None
    level: str
    reasons: tuple[str, ...]


# --- the service ----------------------------------------------------------------------


class DealService(ServiceBase):
    """Campaigns, groups, payments, refunds, risk rules and referral rewards.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.payments import FakePaymentGateway
    >>> from eduengine.pricing import Money
    >>> clock = FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> deals = DealService(InMemoryStore().unit_of_work, gateway=FakePaymentGateway(),
    ...                     clock=clock)
    >>> deals.create_campaign(GroupDealCampaign(id="spring", course_id="python-101",
    ...     list_price=Money("199", "CNY"), group_price=Money("99", "CNY"), required_size=2,
    ...     starts_at=clock.now(), ends_at=clock.now() + timedelta(days=30)))
    >>> group = deals.open_group("spring", "ann", account="acct-ann")
    >>> deals.join_group(group.id, "bob", account="acct-bob").state.value
    'formed'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        gateway: PaymentGateway,
        risk_rules: Sequence[RiskRule] = DEFAULT_RULES,
        referral_reward: referrals.ReferralReward = referrals.DEFAULT_REFERRAL_REWARD,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        new_code: Callable[[], str] | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
        self.gateway = gateway
        #: draws share codes (:func:`~eduengine.deals.model.new_share_code` by default)
        self._new_code: Callable[[], str] = new_code or new_share_code
        self.risk_rules = tuple(risk_rules)
        #: the coupon a referrer is issued when the student they brought first pays
        self.referral_reward = referrals.referral_reward(referral_reward)

    # --- campaigns and queries ---------------------------------------------------------

    def create_campaign(self, campaign: GroupDealCampaign) -> None:
        if not isinstance(campaign, GroupDealCampaign):
            raise InvalidInput(f"expected a GroupDealCampaign, got {campaign!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CAMPAIGNS, campaign.id) is not None:
                raise DuplicateId(f"campaign {campaign.id!r} already exists")
            uow.records.put(CAMPAIGNS, campaign.id, campaign.to_record())

        self._run(command)

    def get_group(self, group_id: str) -> GroupDeal:
        check_id(group_id, "group_id")
        return self._run(lambda uow, now: _group(uow, group_id), write=False)

    def group_by_code(self, share_code: str) -> GroupDeal:
        """The group a share code links to, however the student typed it (case, blanks
        and hyphens do not matter)."""
        if not isinstance(share_code, str):
            raise InvalidInput(f"a share code is a string, got {share_code!r}")
        check_text(share_code, "share_code", max_length=MAX_ID_LENGTH)
        code = normalise_share_code(share_code)

        def query(uow: UnitOfWork, now: datetime) -> GroupDeal:
            doc = uow.records.get(CODES, code) if code else None
            if doc is None:
                raise GroupNotFound(f"share code {share_code.strip()}")
            return _group(uow, doc["group_id"])

        return self._run(query, write=False)

    def closing_soon(self, within: timedelta) -> list[GroupDeal]:
        """Open groups whose deadline falls within ``within`` (for "closing soon" nudges),
        by deadline: ``now < deadline <= now + within``. Reads only those groups."""
        check_duration(within, "within")

        def query(uow: UnitOfWork, now: datetime) -> list[GroupDeal]:
            found = []
            for key, _ in uow.records.scan(
                GROUPS, DUE, lo=micros(now) + 1, hi=micros(now + within)
            ):
                doc = uow.records.get(GROUPS, key)
                if doc is None:
                    continue
                group = GroupDeal.from_record(doc)
                # the scan does not lock: the group may have formed since
                if group.state is GroupState.OPEN and now < group.deadline <= now + within:
                    found.append(group)
            return found

        return self._run(query, write=False)

    def risk_decisions(self, student_id: str) -> list[dict[str, Any]]:
        """Every recorded risk decision about ``student_id``, oldest first."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> list[dict[str, Any]]:
            found = []
            for key, _ in uow.records.scan(RISK_LOG, risk_index(student_id)):
                doc = uow.records.get(RISK_LOG, key)
                if doc is not None:
                    found.append(doc)
            return found

        return self._run(query, write=False)

    def reindex(self) -> int:
        """File groups and risk-log entries written before indexes existed under them
        (a one-off migration: it reads every such document, in batches); returns how
        many documents it rewrote. Running it again changes nothing."""

        now = self.clock.now()  # when outstanding refunds are first filed as due

        def refile_group(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            save_group(uow, GroupDeal.from_record(doc), now)

        def refile_risk(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            put_risk_entry(uow.records, key, doc)

        return self._refile_all(GROUPS, refile_group, SWEEP_BATCH) + self._refile_all(
            RISK_LOG, refile_risk, SWEEP_BATCH
        )

    def register_referral(self, referrer_id: str, referred_id: str) -> None:
        """Record that ``referrer_id`` brought ``referred_id`` (老带新); first one wins."""
        check_id(referrer_id, "referrer_id")
        check_id(referred_id, "referred_id")
        self._run(lambda uow, now: referrals.register(uow, referrer_id, referred_id))

    # --- open, join, leave -----------------------------------------------------------

    def open_group(
        self,
        campaign_id: str,
        initiator: str,
        *,
        account: str,
        device_id: str | None = None,
        ip: str | None = None,
    ) -> GroupDeal:
        """Open a group (开团) and pay the group price as its first member.

        Raises ``PaymentOutcomeUnknown`` when the provider's answer is lost: the group
        stays open with the opener ``pending``; calling ``open_group`` again resumes that
        group's payment (same idempotency key) instead of opening another.
        """
        check_id(campaign_id, "campaign_id")
        check_id(initiator, "initiator")
        _check_payer(account, device_id, ip)

        def reserve(uow: UnitOfWork, now: datetime) -> str:
            part = _participation(uow, campaign_id, initiator)
            for gid in part["groups"]:
                mine = _group(uow, gid)
                me = mine.member(initiator)
                if mine.initiator == initiator and me is not None and me.status == "pending":
                    # a retry of an open whose payment is under way or unknown: resume it
                    self._file_charge(uow, mine, me, account, now)
                    return str(gid)
            campaign = _campaign(uow, campaign_id)
            if not campaign.starts_at <= now < campaign.ends_at:
                raise GroupClosed(campaign_id, "the campaign is not running")
            if part["opened"] >= campaign.max_opened_per_student:
                raise DealLimitReached(
                    f"student {initiator!r} already opened {part['opened']} group(s) "
                    f"in campaign {campaign_id!r}"
                )
            self._ensure_not_in_open_group(uow, campaign_id, initiator, part)
            attempt = JoinAttempt(
                student_id=initiator, account=account, device_id=device_id, ip=ip, at=now
            )
            self._check_risk(uow, attempt, None, [], now)
            group = GroupDeal(
                id=self._new_id(),
                campaign_id=campaign_id,
                initiator=initiator,
                share_code=self._draw_share_code(uow, campaign_id),
                opened_at=now,
                deadline=min(now + campaign.duration, campaign.ends_at),
                price=campaign.group_price,
                required_size=campaign.required_size,
                capacity=campaign.capacity,
                members=[
                    Member(
                        student_id=initiator,
                        status="pending",
                        joined_at=now,
                        account=account,
                        device_id=device_id,
                        ip=ip,
                    )
                ],
            )
            self._file_charge(uow, group, group.members[0], account, now)
            part["opened"] += 1
            part["groups"].append(group.id)
            uow.records.put(PARTICIPATION, f"{campaign_id}:{initiator}", part)
            save_group(uow, group, now)
            uow.records.put(CODES, group.share_code, {"group_id": group.id})
            uow.record_events(
                [
                    GroupOpened(
                        occurred_at=now,
                        group_id=group.id,
                        campaign_id=campaign_id,
                        initiator=initiator,
                        share_code=group.share_code,
                        deadline=group.deadline,
                    )
                ]
            )
            return group.id

        group_id = self._guarded(reserve, initiator)
        return self._pay(group_id, initiator, account)

    def join_group(
        self,
        group_id: str,
        student_id: str,
        *,
        account: str,
        device_id: str | None = None,
        ip: str | None = None,
    ) -> GroupDeal:
        """Join a group (参团) at the group price: an open one, or a formed one with room
        left below the campaign's ``max_size`` before its deadline (the joiner is
        confirmed and given access at once; ``MemberJoined.joined_formed``).

        Raises ``PaymentOutcomeUnknown`` when the provider's answer is lost: the student
        keeps a ``pending`` place, and joining again resumes the payment with the same
        idempotency key (if the group failed meanwhile, the provider is asked instead and
        a charge that went through is refunded).
        """
        check_id(group_id, "group_id")
        check_id(student_id, "student_id")
        _check_payer(account, device_id, ip)

        def reserve(uow: UnitOfWork, now: datetime) -> str:
            group = _group(uow, group_id)
            pending = group.member(student_id)
            if pending is not None and pending.status == "pending":
                self._file_charge(uow, group, pending, account, now)  # resume the payment
                return group_id
            campaign = _campaign(uow, group.campaign_id)
            if not group.takes_joins:
                raise GroupClosed(group_id, f"the group is {group.state.value}")
            if now >= group.deadline:
                raise GroupClosed(group_id, f"the deadline {group.deadline} has passed")
            if group.member(student_id) is not None:
                raise GroupClosed(group_id, f"student {student_id!r} is already a member")
            if group.places_taken >= group.capacity:
                raise GroupFull(group_id, group.capacity)
            part = _participation(uow, group.campaign_id, student_id)
            if part["joined"] >= campaign.max_joined_per_student:
                raise DealLimitReached(
                    f"student {student_id!r} already joined {part['joined']} group(s) "
                    f"in campaign {campaign.id!r}"
                )
            self._ensure_not_in_open_group(uow, campaign.id, student_id, part)
            peers: list[Peer] = [
                (m.student_id, m.account, m.device_id, m.ip) for m in group.members if m.counts
            ]
            attempt = JoinAttempt(
                student_id=student_id, account=account, device_id=device_id, ip=ip, at=now
            )
            self._check_risk(uow, attempt, group_id, peers, now)
            joiner = Member(
                student_id=student_id,
                status="pending",
                joined_at=now,
                account=account,
                device_id=device_id,
                ip=ip,
            )
            group.members.append(joiner)
            self._file_charge(uow, group, joiner, account, now)
            part["joined"] += 1
            part["groups"].append(group_id)
            uow.records.put(PARTICIPATION, f"{campaign.id}:{student_id}", part)
            save_group(uow, group, now)
            return group_id

        self._guarded(reserve, student_id)
        return self._pay(group_id, student_id, account)

    def leave_group(self, group_id: str, student_id: str) -> GroupDeal:
        """Leave an open group; the group price is refunded."""
        check_id(group_id, "group_id")
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            group = _group(uow, group_id)
            member = group.member(student_id)
            if member is None or member.status != "paid":
                raise InvalidTransition(
                    f"student {student_id!r} is not a paid member of {group_id!r}"
                )
            if group.state is not GroupState.OPEN:
                raise GroupClosed(group_id, f"the group is {group.state.value}")
            member.status = "refund_due"
            save_group(uow, group, now)
            uow.record_events(
                [MemberLeft(occurred_at=now, group_id=group_id, student_id=student_id)]
            )

        self._run(command)
        self._refund_due(group_id)
        return self.get_group(group_id)

    def cancel_group(self, group_id: str) -> GroupDeal:
        """Operator cancels an open group; every paid member is refunded."""
        check_id(group_id, "group_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            group = _group(uow, group_id)
            if group.state is not GroupState.OPEN:
                raise GroupClosed(group_id, f"the group is already {group.state.value}")
            self._fail(uow, group, now, cancelled=True)

        self._run(command)
        self._refund_due(group_id)
        return self.get_group(group_id)

    def expire_due(self, *, batch_size: int = SWEEP_BATCH) -> int:
        """Settle every open group past its deadline and retry refunds not yet confirmed.

        Reads only due rows: the ``"due"`` index up to now, then ``"refund_due"`` up to
        now, ``batch_size`` groups per unit of work, so a join waits for one batch at
        most. Idempotent and safe to run from several workers at once (each group is
        re-read under its lock and settled only if still open and past its deadline);
        returns how many groups this call settled.
        """
        check_int(batch_size, "batch_size", low=1)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
        settled = 0
        for keys in self._due_batches(GROUPS, DUE, batch_size):
            settled += self._run_batch(self._settle_batch(keys))
        for keys in self._due_batches(GROUPS, REFUND_DUE, batch_size):
            for group_id in keys:
                self._refund_due(group_id)  # the gateway is called outside any transaction
        return settled

    # --- internals -------------------------------------------------------------------

    def _guarded(self, reserve: Any, student_id: str) -> str:
        """Run a reservation; a risk denial is recorded in a unit of work of its own, so
        the refusal itself changes nothing else."""
        try:
            return str(self._run(reserve))
        except _Denied as denied:
            refusal = denied

        def log(uow: UnitOfWork, now: datetime) -> None:
            self._log_risk(uow, refusal.attempt, refusal.group_id, refusal.decision, now)

        self._run(log)
        raise AbuseSuspected(student_id, refusal.decision.reasons)

    def _check_risk(
        self,
        uow: UnitOfWork,
        attempt: JoinAttempt,
        group_id: str | None,
        peers: Sequence[Peer],
        now: datetime,
    ) -> None:
        activity = uow.records.get(ACTIVITY, attempt.student_id) or {"at": []}
        recent = [dt_in(t) for t in activity["at"]]
        decision = RiskDecision.combine(
            [r.evaluate(attempt, peers, recent) for r in self.risk_rules]
        )
        if decision.level == "deny":
            raise _Denied(attempt, group_id, decision)
        if decision.level == "review":
            self._log_risk(uow, attempt, group_id, decision, now)
        activity["at"] = [*activity["at"][-49:], dt_out(now)]
        uow.records.put(ACTIVITY, attempt.student_id, activity)

    def _log_risk(
        self,
        uow: UnitOfWork,
        attempt: JoinAttempt,
        group_id: str | None,
        decision: RiskDecision,
        now: datetime,
    ) -> None:
        put_risk_entry(
            uow.records,
            f"{dt_out(now)}#{self._new_id()}",
            {
                "student_id": attempt.student_id,
                "group_id": group_id,
                "level": decision.level,
                "reasons": list(decision.reasons),
                "at": dt_out(now),
                "account": attempt.account,
                "device_id": attempt.device_id,
                "ip": attempt.ip,
            },
        )
        uow.record_events(
            [
                RiskDecisionRecorded(
                    occurred_at=now,
                    student_id=attempt.student_id,
                    group_id=group_id,
                    level=decision.level,
                    reasons=decision.reasons,
                )
            ]
        )

    def _ensure_not_in_open_group(
        self, uow: UnitOfWork, campaign_id: str, student_id: str, part: dict[str, Any]
    ) -> None:
        for gid in part["groups"]:
            other = _group(uow, gid)
            mine = other.member(student_id)
            if other.state is GroupState.OPEN and mine is not None and mine.counts:
                raise DealLimitReached(
                    f"student {student_id!r} is already in open group {gid!r} of "
                    f"campaign {campaign_id!r}"
                )

    def _draw_share_code(self, uow: UnitOfWork, campaign_id: str) -> str:
        """An unused share code, checked in this unit of work (``get`` locks the code's
        key, so two groups opening at once cannot both take it)."""
        code = ""
        for _ in range(SHARE_CODE_TRIES):
            code = normalise_share_code(self._new_code())
            if not code:
                raise InvalidInput("the share-code source returned an empty code")
            if uow.records.get(CODES, code) is None:
                return code
        raise ShareCodeUnavailable(campaign_id, SHARE_CODE_TRIES, code)

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
        group = self.get_group(group_id)
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
                self._run(lambda uow, now: self._drop_pending(uow, group_id, student_id, now))
            return self.get_group(group_id)
        try:
            charge = self.gateway.charge(key, account, group.price)
        except PaymentFailed:
            self._run(lambda uow, now: self._drop_pending(uow, group_id, student_id, now, "failed"))
            raise
        except Exception as exc:  # a lost answer of any kind: the money may have moved
            self._run(lambda uow, now: note_unknown(uow, key))
            raise PaymentOutcomeUnknown(
                key,
                f"student {student_id!r} holds a pending place in group {group_id!r} "
                f"({PaymentOutcomeUnknown.reason(exc)})",
                group_id=group_id,
            ) from exc
        self._settle_charged(group_id, student_id, key, charge)
        return self.get_group(group_id)

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
                lambda uow, now: self._confirm(uow, group_id, student_id, key, charge, now)
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
                    lambda uow, now: self._mark_refunded(uow, group_id, student_id, refund, now)
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
        first_order, rewards = referrals.order_paid(uow, student_id, now, self.referral_reward)
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
                        course_id=course,
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
        group = self.get_group(group_id)
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

            self._run(mark)

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

    # --- settling payments (PaymentSettler) ----------------------------------------------

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

        self._run(release)

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        group_id, student_id = intent.ref["group_id"], intent.ref["student_id"]
        self._run(lambda uow, now: self._mark_refunded(uow, group_id, student_id, refund, now))


class _Denied(Exception):
    def __init__(self, attempt: JoinAttempt, group_id: str | None, decision: RiskDecision):
        super().__init__(decision.reasons)
        self.attempt = attempt
        self.group_id = group_id
        self.decision = decision


def _campaign(uow: UnitOfWork, campaign_id: str) -> GroupDealCampaign:
    doc = uow.records.get(CAMPAIGNS, campaign_id)
    if doc is None:
        raise CampaignNotFound(str(campaign_id))
    return GroupDealCampaign.from_record(doc)


def _group(uow: UnitOfWork, group_id: str) -> GroupDeal:
    doc = uow.records.get(GROUPS, group_id) if isinstance(group_id, str) else None
    if doc is None:
        raise GroupNotFound(str(group_id))
    return GroupDeal.from_record(doc)


def _check_payer(account: object, device_id: object, ip: object) -> None:
    """The input rule for who pays: an account id, and a device and IP when given."""
    check_id(account, "account")
    check_optional_id(device_id, "device_id")
    check_optional_id(ip, "ip")


def save_group(uow: UnitOfWork, group: GroupDeal, now: datetime) -> None:
    """Store a group with the index entries its state calls for (every put replaces
    them all, so this is the only way a group is written), and file a refund intent for
    each member whose refund is due (so the payment sweep retries it too)."""
    group.note_refunds(now)
    uow.records.put(GROUPS, group.id, group.to_record(), index=group.index_entries())
    for m in group.members:
        if m.status == "refund_due" and m.charge_id is not None:
            record_refund(
                uow,
                f"refund:{group.id}:{m.student_id}",
                owner=DEAL_OWNER,
                ref={"group_id": group.id, "student_id": m.student_id},
                charge_id=m.charge_id,
                amount=group.price,
                now=now,
            )


def _charge_key(group_id: str, member: Member) -> str:
    return member.charge_key or f"charge:{group_id}:{member.student_id}"


def put_risk_entry(records: RecordRepository, key: str, entry: dict[str, Any]) -> None:
    records.put(
        RISK_LOG, key, entry, index={risk_index(entry["student_id"]): micros(dt_in(entry["at"]))}
    )


def _participation(uow: UnitOfWork, campaign_id: str, student_id: str) -> dict[str, Any]:
    return uow.records.get(PARTICIPATION, f"{campaign_id}:{student_id}") or {
        "groups": [],
        "opened": 0,
        "joined": 0,
    }


__all__ = [
    "AccessGranted",
    "DealService",
    "GroupFailed",
    "GroupFormed",
    "GroupOpened",
    "MemberJoined",
    "MemberLeft",
    "ReferralRewarded",
    "RefundIssued",
    "RiskDecisionRecorded",
]
