"""Opening, joining, leaving and cancelling groups, the deadline sweep and the group
queries (part of :class:`eduengine.deals.DealService`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from eduengine.deals.events import GroupOpened, MemberLeft
from eduengine.deals.model import (
    DUE,
    REFUND_DUE,
    VIA_JOIN,
    VIA_OPEN,
    GroupDeal,
    GroupDealCampaign,
    GroupState,
    Member,
    normalise_share_code,
)
from eduengine.deals.records import (
    CODES,
    GROUPS,
    PARTICIPATION,
    RISK_LOG,
    SIGHTINGS,
    _campaign,
    _group,
    _participation,
    put_risk_entry,
    save_group,
)
from eduengine.deals.risk import JoinAttempt, Peer
from eduengine.deals.screening import RiskScreen, refile_sighting
from eduengine.deals.settlement import DealPayments
from eduengine.deals.sharing import ShareLinks
from eduengine.errors import (
    DealLimitReached,
    GroupClosed,
    GroupFull,
    GroupNotFound,
    InvalidInput,
    InvalidTransition,
    PaymentFailed,
    QuoteRefused,
    ShareCodeUnavailable,
)
from eduengine.kernel.codec import dt_in, micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import (
    MAX_ID_LENGTH,
    check_duration,
    check_id,
    check_int,
    check_optional_id,
    check_text,
)
from eduengine.kernel.money import Money
from eduengine.payments.methods import paying_method
from eduengine.people.access import check_payer
from eduengine.pricing import referrals
from eduengine.pricing.catalogue import CatalogueQuote, ItemKind
from eduengine.pricing.shop import ITEMS, price_in_effect, take_quote
from eduengine.service_layer.idempotency import check_key, forget, once
from eduengine.service_layer.ports import UnitOfWork

#: A random share code collides with a live one about never (see ``SHARE_CODE_LENGTH``);
#: several collisions in a row mean the code source is broken, not unlucky.
SHARE_CODE_TRIES = 5


#: Groups settled per unit of work by ``expire_due``: a join waits at most one batch.
SWEEP_BATCH = 100


class GroupService(ShareLinks, RiskScreen, DealPayments):
    """Groups: open, join, leave, cancel, expire; lookups and referrals."""

    _new_code: Callable[[], str]

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

    def reindex(self) -> int:
        """File groups, risk-log entries, anti-abuse sightings and referral debts written
        before indexes existed under them (a one-off migration: it reads every such
        document, in batches); returns how many documents it rewrote. Running it again
        changes nothing."""

        now = self.clock.now()  # when outstanding refunds are first filed as due

        def refile_group(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            save_group(uow, GroupDeal.from_record(doc), now)

        def refile_risk(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            put_risk_entry(uow.records, key, doc)

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            refile_sighting(uow.records, key, doc)

        def refile_debt(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            uow.records.put(
                referrals.REFERRAL_DEBTS,
                key,
                doc,
                index={referrals.debtor_index(doc["referrer"]): micros(dt_in(doc["at"]))},
            )

        return (
            self._refile_all(GROUPS, refile_group, SWEEP_BATCH)
            + self._refile_all(RISK_LOG, refile_risk, SWEEP_BATCH)
            + self._refile_all(SIGHTINGS, refile, SWEEP_BATCH)
            + self._refile_all(referrals.REFERRAL_DEBTS, refile_debt, SWEEP_BATCH)
        )

    def register_referral(self, referrer_id: str, referred_id: str) -> None:
        """Record that ``referrer_id`` brought ``referred_id`` (老带新); first one wins."""
        check_id(referrer_id, "referrer_id")
        check_id(referred_id, "referred_id")
        self._run(
            lambda uow, now: referrals.register(uow, referrer_id, referred_id),
            ids={"referrer_id": referrer_id, "referred_id": referred_id},
        )

    def open_group(
        self,
        campaign_id: str,
        initiator: str,
        *,
        account: str | None = None,
        method_id: str | None = None,
        quote_id: str | None = None,
        device_id: str | None = None,
        ip: str | None = None,
        course_id: str | None = None,
        via: str | None = None,
        payer: str | None = None,
    ) -> GroupDeal:
        """Open a group (开团) and pay the group price as its first member, with the
        opener's payment method (``method_id``, or their default on file).

        The group's price is the campaign's catalogue price now when the campaign is a
        catalogue item (``NotForSale`` when no price list prices it in the campaign's
        currency), else the campaign's ``group_price``; with ``quote_id`` (a quote of
        this campaign given to the opener) it is the quote's total, which every member
        then pays. ``account=`` (deprecated) names the provider account instead.

        ``course_id`` is the course the opener takes, one the campaign covers (by
        default its ``course_id``); ``via`` the token of the share link she came
        through (the open is attributed to its sharer, ``JoinAttributed``).

        ``payer`` is a guardian paying for the opener's place on her behalf (recorded on
        the member and the opener's ``MemberJoined``), as in :meth:`join_group`: one
        without the "pay" role on a link to the opener is refused (``PayerNotAllowed``)
        and no group is opened.

        Raises ``PaymentOutcomeUnknown`` when the provider's answer is lost: the group
        stays open with the opener ``pending``; calling ``open_group`` again resumes that
        group's payment (same idempotency key) instead of opening another.
        """
        check_id(campaign_id, "campaign_id")
        check_id(initiator, "initiator")
        _check_payer(account, method_id, device_id, ip, "open_group")
        check_optional_id(quote_id, "quote_id")
        check_optional_id(payer, "payer")
        charged = account or ""
        check_optional_id(course_id, "course_id")
        check_optional_id(via, "via")

        def reserve(uow: UnitOfWork, now: datetime) -> str:
            nonlocal charged
            charged = account or paying_method(uow, initiator, method_id).account
            part = _participation(uow, campaign_id, initiator)
            for gid in part["groups"]:
                mine = _group(uow, gid)
                me = mine.member(initiator)
                if mine.initiator == initiator and me is not None and me.status == "pending":
                    # a retry of an open whose payment is under way or unknown: resume it
                    self._file_charge(uow, mine, me, charged, now)
                    return str(gid)
            check_payer(uow, payer, initiator)
            campaign = _campaign(uow, campaign_id)
            if not campaign.starts_at <= now < campaign.ends_at:
                raise GroupClosed(campaign_id, "the campaign is not running")
            if part["opened"] >= campaign.max_opened_per_student:
                raise DealLimitReached(
                    f"student {initiator!r} already opened {part['opened']} group(s) "
                    f"in campaign {campaign_id!r}"
                )
            self._ensure_not_in_open_group(uow, campaign_id, initiator, part)
            course = campaign.course_for(course_id)
            attempt = JoinAttempt(
                student_id=initiator, account=charged, device_id=device_id, ip=ip, at=now
            )
            group_id = self._new_id()
            self._check_risk(uow, attempt, None, [], now, campaign_id=campaign_id, seen_in=group_id)
            group = GroupDeal(
                id=group_id,
                campaign_id=campaign_id,
                initiator=initiator,
                share_code=self._draw_share_code(uow, campaign_id),
                opened_at=now,
                deadline=min(now + campaign.duration, campaign.ends_at),
                price=self._group_price(uow, campaign, quote_id, initiator, now),
                required_size=campaign.required_size,
                capacity=campaign.capacity,
                members=[
                    Member(
                        student_id=initiator,
                        status="pending",
                        joined_at=now,
                        account=charged,
                        device_id=device_id,
                        ip=ip,
                        payer_id=payer,
                        course_id=course,
                    )
                ],
            )
            self._file_charge(uow, group, group.members[0], charged, now)
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
                        course_id=course,
                    )
                ]
            )
            if via is not None:
                self._touch(uow, via, initiator, VIA_OPEN, group.id, now)
            return group.id

        group_id = self._guarded(
            reserve,
            initiator,
            {
                "campaign_id": campaign_id,
                "student_id": initiator,
                "device_id": device_id,
                "method_id": method_id,
                "quote_id": quote_id,
                "course_id": course_id,
            },
        )
        return self._pay(group_id, initiator, charged)

    def _group_price(
        self,
        uow: UnitOfWork,
        campaign: GroupDealCampaign,
        quote_id: str | None,
        student_id: str,
        now: datetime,
    ) -> Money:
        """The price a new group of ``campaign`` charges each member (see open_group)."""
        price = campaign.group_price
        if uow.records.get(ITEMS, campaign.id) is not None:
            price = price_in_effect(uow, campaign.id, price.currency, now)[1]
        if quote_id is None:
            return price
        given = take_quote(
            uow,
            quote_id,
            now,
            kinds={ItemKind.CAMPAIGN},
            use=f"group:{campaign.id}:{student_id}",
            student_id=student_id,
        )
        _quotes_campaign(given, campaign.id)
        return given.total

    def join_group(
        self,
        group_id: str,
        student_id: str,
        *,
        account: str | None = None,
        method_id: str | None = None,
        quote_id: str | None = None,
        device_id: str | None = None,
        ip: str | None = None,
        idempotency_key: str | None = None,
        payer: str | None = None,
        course_id: str | None = None,
        via: str | None = None,
    ) -> GroupDeal:
        """Join a group (参团) at the group price: an open one, or a formed one with room
        left below the campaign's ``max_size`` before its deadline (the joiner is
        confirmed and given access at once; ``MemberJoined.joined_formed``).

        ``payer`` is a guardian paying for the place on the student's behalf (recorded
        on the member and its ``MemberJoined``); one without the "pay" role on a link to
        the student is refused (``PayerNotAllowed``) and takes no place.

        Raises ``PaymentOutcomeUnknown`` when the provider's answer is lost: the student
        keeps a ``pending`` place, and joining again resumes the payment with the same
        idempotency key (if the group failed meanwhile, the provider is asked instead and
        a charge that went through is refunded).

        With ``idempotency_key`` a join sent again with the same key (the client lost the
        answer) takes no second place and is never refused as "already a member": it
        resumes a payment still pending, and returns the group as it stands; the key
        sent with other arguments raises ``IdempotencyKeyReused``.

        The joiner pays the group's price with their payment method (``method_id``, or
        their default on file). A ``quote_id`` (a quote of the group's campaign given to
        the joiner) must quote exactly the group's price, else ``QuoteRefused``.
        ``account=`` (deprecated) names the provider account instead.
        ``course_id`` is the course the joiner takes, one the campaign covers (members
        of different courses of one price band form one group); ``via`` the token of
        the share link she came through (attributed to its sharer, ``JoinAttributed``).
        """
        check_id(group_id, "group_id")
        check_id(student_id, "student_id")
        _check_payer(account, method_id, device_id, ip, "join_group")
        check_optional_id(quote_id, "quote_id")
        check_key(idempotency_key)
        check_optional_id(payer, "payer")
        check_optional_id(course_id, "course_id")
        check_optional_id(via, "via")
        request = {
            "command": "join_group",
            "group_id": group_id,
            "student_id": student_id,
            "account": account,
            "device_id": device_id,
            "ip": ip,
        }
        if payer is not None:
            request["payer"] = payer
        if method_id is not None or quote_id is not None:
            request.update(method_id=method_id, quote_id=quote_id)
        charged = account or ""
        # only when given: a key stored before these existed still matches its replay
        request.update({k: v for k, v in (("course_id", course_id), ("via", via)) if v})

        def reserve(uow: UnitOfWork, now: datetime) -> str:
            nonlocal charged
            charged = account or paying_method(uow, student_id, method_id).account
            # a replay reaches _pay, which resumes a pending payment and otherwise
            # returns the group: the place was taken once, by the first send
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: take_place(uow, now),
                encode=str,
                decode=str,
            )

        def take_place(uow: UnitOfWork, now: datetime) -> str:
            group = _group(uow, group_id)
            if quote_id is not None:
                given = take_quote(
                    uow,
                    quote_id,
                    now,
                    kinds={ItemKind.CAMPAIGN},
                    use=f"group:{group_id}:{student_id}",
                    student_id=student_id,
                )
                _quotes_campaign(given, group.campaign_id)
                if given.total != group.price:
                    raise QuoteRefused(
                        quote_id, f"group {group_id!r} costs {group.price}, not {given.total}"
                    )
            pending = group.member(student_id)
            if pending is not None and pending.status == "pending":
                self._file_charge(uow, group, pending, charged, now)  # resume the payment
                return group_id
            check_payer(uow, payer, student_id)
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
            course = campaign.course_for(course_id)
            peers: list[Peer] = [
                (m.student_id, m.account, m.device_id, m.ip) for m in group.members if m.counts
            ]
            attempt = JoinAttempt(
                student_id=student_id, account=charged, device_id=device_id, ip=ip, at=now
            )
            self._check_risk(
                uow, attempt, group_id, peers, now, campaign_id=campaign.id, seen_in=group_id
            )
            joiner = Member(
                student_id=student_id,
                status="pending",
                joined_at=now,
                account=charged,
                device_id=device_id,
                ip=ip,
                payer_id=payer,
                course_id=course,
            )
            group.members.append(joiner)
            self._file_charge(uow, group, joiner, charged, now)
            part["joined"] += 1
            part["groups"].append(group_id)
            uow.records.put(PARTICIPATION, f"{campaign.id}:{student_id}", part)
            save_group(uow, group, now)
            if via is not None:
                self._touch(uow, via, student_id, VIA_JOIN, group_id, now)
            return group_id

        self._guarded(
            reserve,
            student_id,
            {
                "group_id": group_id,
                "student_id": student_id,
                "device_id": device_id,
                "method_id": method_id,
                "quote_id": quote_id,
                "course_id": course_id,
            },
        )
        try:
            return self._pay(group_id, student_id, charged)
        except PaymentFailed:
            if idempotency_key is not None:
                # declined: the place was given back, so a retry with the key joins afresh
                # (as after any refusal) rather than replaying a place no longer held
                key = idempotency_key
                self._run(
                    lambda uow, now: forget(uow, key),
                    ids={
                        "group_id": group_id,
                        "student_id": student_id,
                        "device_id": device_id,
                        "method_id": method_id,
                        "quote_id": quote_id,
                        "course_id": course_id,
                    },
                )
            raise

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

        self._run(command, ids={"group_id": group_id, "student_id": student_id})
        self._refund_due(group_id)
        return self._read_group(group_id)

    def cancel_group(self, group_id: str) -> GroupDeal:
        """Operator cancels an open group; every paid member is refunded."""
        check_id(group_id, "group_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            group = _group(uow, group_id)
            if group.state is not GroupState.OPEN:
                raise GroupClosed(group_id, f"the group is already {group.state.value}")
            self._fail(uow, group, now, cancelled=True)

        self._run(command, ids={"group_id": group_id})
        self._refund_due(group_id)
        return self._read_group(group_id)

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


def _check_payer(
    account: object, method_id: object, device_id: object, ip: object, command: str
) -> None:
    """The input rule for who pays: a payment method id (or none: the default), or the
    deprecated account id; a device and IP when given."""
    if account is not None:
        warnings.warn(
            f"{command}(account=...) is deprecated: file a payment method with "
            "school.payments.add_method and pass method_id= (or none: the default)",
            EduEngineDeprecationWarning,
            stacklevel=3,
        )
        check_id(account, "account")
        if method_id is not None:
            raise InvalidInput("pass a payment method_id or an account, not both")
    check_optional_id(method_id, "method_id")
    check_optional_id(device_id, "device_id")
    check_optional_id(ip, "ip")


def _quotes_campaign(given: CatalogueQuote, campaign_id: str) -> None:
    if [q.item.id for q in given.items] != [campaign_id]:
        raise QuoteRefused(given.id, f"it does not quote campaign {campaign_id!r} alone")
