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

Each charge and refund is also filed as a payment intent (:mod:`eduengine.payments.intents`) in the
reservation's unit of work. A charge whose answer is lost leaves the member ``pending``
(holding the place): opening or joining again resumes it with the same key, and
:meth:`eduengine.payments.service.PaymentService.reconcile` settles it (paid, or the place
released when the provider never charged). A charge that lands after its place was
released is refunded under ``refund:<charge key>``.

Sweeps and queries read indexes, never every group: ``expire_due`` scans ``"due"``
(open groups by deadline) and ``"refund_due"`` (groups with a refund outstanding), and a
group leaves both once it is closed and its refunds confirmed (see
:meth:`GroupDeal.index_entries`); risk-log entries are filed under ``"student:<id>"``.

The service is composed of one mixin per concern: :mod:`~eduengine.deals.campaigns`,
:mod:`~eduengine.deals.groups` (open, join, leave, sweep), :mod:`~eduengine.deals.screening`
(risk rules), :mod:`~eduengine.deals.settlement` (charges and refunds); records and
indexes are in :mod:`~eduengine.deals.records`, events in :mod:`~eduengine.deals.events`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Unpack

from eduengine.deals.campaigns import CampaignService
from eduengine.deals.events import (
    AccessGranted,
    GroupFailed,
    GroupFormed,
    GroupOpened,
    MemberJoined,
    MemberLeft,
    RefundIssued,
    RiskDecisionRecorded,
)
from eduengine.deals.groups import SHARE_CODE_TRIES, SWEEP_BATCH, GroupService
from eduengine.deals.model import GroupDealCampaign, new_share_code, new_share_token
from eduengine.deals.records import (
    ACTIVITY,
    CAMPAIGNS,
    CODES,
    DEAL_OWNER,
    GROUPS,
    PARTICIPATION,
    RISK_LOG,
    put_risk_entry,
    risk_index,
    save_group,
)
from eduengine.deals.risk import DEFAULT_ACROSS_GROUPS, DEFAULT_RULES, AcrossGroups, RiskRule
from eduengine.errors import InvalidInput
from eduengine.payments import PaymentGateway
from eduengine.pricing import referrals
from eduengine.pricing.events import ReferralRewarded
from eduengine.service_layer.ports import UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceOptions


class DealService(GroupService, CampaignService):
    """Campaigns, groups, payments, refunds, risk rules and referral rewards.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.payments import FakePaymentGateway
    >>> from eduengine.payments.service import PaymentService
    >>> from eduengine.pricing import Money
    >>> clock = FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> store, gateway = InMemoryStore(), FakePaymentGateway()
    >>> deals = DealService(store.unit_of_work, gateway=gateway, clock=clock)
    >>> payments = PaymentService(store.unit_of_work, gateway=gateway, clock=clock)
    >>> _ = payments.add_method("ann", "acct-ann")  # what a place charges: a method on file
    >>> _ = payments.add_method("bob", "acct-bob")
    >>> deals.create_campaign(GroupDealCampaign(id="spring", course_id="python-101",
    ...     list_price=Money("199", "CNY"), group_price=Money("99", "CNY"), required_size=2,
    ...     starts_at=clock.now(), ends_at=clock.now() + timedelta(days=30)))
    >>> group = deals.open_group("spring", "ann")
    >>> deals.join_group(group.id, "bob").state.value
    'formed'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        gateway: PaymentGateway,
        risk_rules: Sequence[RiskRule] = DEFAULT_RULES,
        referral_reward: referrals.ReferralReward = referrals.DEFAULT_REFERRAL_REWARD,
        new_code: Callable[[], str] | None = None,
        across_groups: AcrossGroups | None = DEFAULT_ACROSS_GROUPS,
        new_token: Callable[[], str] | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.gateway = gateway
        #: draws share codes (:func:`~eduengine.deals.model.new_share_code` by default)
        self._new_code: Callable[[], str] = new_code or new_share_code
        #: draws share-link tokens (:func:`~eduengine.deals.model.new_share_token`)
        self._new_token: Callable[[], str] = new_token or new_share_token
        self.risk_rules = tuple(risk_rules)
        if across_groups is not None and not isinstance(across_groups, AcrossGroups):
            raise InvalidInput(f"across_groups must be AcrossGroups or None, got {across_groups!r}")
        self.across_groups = across_groups
        #: the coupon a referrer is issued when the student they brought first pays
        self.referral_reward = referrals.referral_reward(referral_reward)


__all__ = [
    "ACTIVITY",
    "CAMPAIGNS",
    "CODES",
    "DEAL_OWNER",
    "GROUPS",
    "PARTICIPATION",
    "RISK_LOG",
    "SHARE_CODE_TRIES",
    "SWEEP_BATCH",
    "AccessGranted",
    "DealService",
    "GroupDealCampaign",
    "GroupFailed",
    "GroupFormed",
    "GroupOpened",
    "MemberJoined",
    "MemberLeft",
    "ReferralRewarded",
    "RefundIssued",
    "RiskDecisionRecorded",
    "put_risk_entry",
    "risk_index",
    "save_group",
]
