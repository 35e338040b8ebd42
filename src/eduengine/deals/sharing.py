"""Share links and attribution (part of :class:`eduengine.deals.DealService`).

A share link carries its sharer: whoever registers, opens or joins a group through it
is attributed to her. Each student keeps her **first touch** (for good) and her **last
touch**; a touch repeated as it stands (a retried registration or join) changes nothing
and announces nothing. The first touch of a student who has no paid order yet also
makes the sharer her referrer (if nobody referred her before), so her first paid order
earns the sharer the referral reward (:mod:`eduengine.pricing.referrals`).

Links are stored by token (:data:`~eduengine.deals.records.SHARE_LINKS`); the same sharer
sharing the same campaign or group again gets the same link, so one sharer's reach is
one token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eduengine.deals.events import JoinAttributed, RegistrationAttributed, ShareLinkCreated
from eduengine.deals.model import (
    VIA_OPEN,
    VIA_REGISTRATION,
    Attribution,
    ShareLink,
    Touch,
)
from eduengine.deals.records import (
    ATTRIBUTION,
    SHARE_LINKS,
    SHARERS,
    _campaign,
    _group,
)
from eduengine.errors import InvalidInput, ShareCodeUnavailable, ShareLinkNotFound
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id, check_optional_id
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor, mask_name
from eduengine.pricing import referrals
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

#: a random 128-bit token collides about never; several in a row mean a broken source
TOKEN_TRIES = 5


class ShareLinks(ServiceBase):
    """Share links: make one, find one, attribute registrations, opens and joins."""

    _new_token: Callable[[], str]
    #: the access check of the attribution reads (School.build passes the school's)
    gate: AccessGate = AccessGate()

    def share_link(
        self, sharer_id: str, campaign_id: str, *, group_id: str | None = None
    ) -> ShareLink:
        """The sharer's link to ``campaign_id`` (or to its group ``group_id``): made the
        first time (``ShareLinkCreated``), the same link every time after."""
        check_id(sharer_id, "sharer_id")
        check_id(campaign_id, "campaign_id")
        check_optional_id(group_id, "group_id")

        def command(uow: UnitOfWork, now: datetime) -> ShareLink:
            _campaign(uow, campaign_id)
            if group_id is not None and _group(uow, group_id).campaign_id != campaign_id:
                raise InvalidInput(f"group {group_id!r} is not a group of {campaign_id!r}")
            key = f"{campaign_id}|{group_id or '-'}|{sharer_id}"
            mine = uow.records.get(SHARERS, key)
            if mine is not None:
                return _link(uow, mine["token"])
            link = ShareLink(
                token=self._draw_token(uow, campaign_id),
                sharer_id=sharer_id,
                campaign_id=campaign_id,
                group_id=group_id,
                created_at=now,
            )
            uow.records.put(SHARE_LINKS, link.token, link.to_record())
            uow.records.put(SHARERS, key, {"token": link.token})
            uow.record_events(
                [
                    ShareLinkCreated(
                        occurred_at=now,
                        token=link.token,
                        sharer_id=sharer_id,
                        campaign_id=campaign_id,
                        group_id=group_id,
                    )
                ]
            )
            return link

        return self._run(
            command,
            ids={"sharer_id": sharer_id, "campaign_id": campaign_id, "group_id": group_id},
        )

    def link_by_token(self, token: str) -> ShareLink:
        """The share link a token names (``ShareLinkNotFound`` if none)."""
        check_id(token, "token")
        return self._run(lambda uow, now: _link(uow, token), write=False)

    def registered_via(self, token: str, student_id: str) -> Attribution | None:
        """Attribute ``student_id``'s registration to the sharer of the link ``token``
        (call it when a student signs up through a link); returns her attribution, or
        ``None`` when she followed her own link. Calling it again changes nothing."""
        check_id(token, "token")
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> Attribution | None:
            self._touch(uow, token, student_id, VIA_REGISTRATION, None, now)
            return _attribution(uow, student_id)

        return self._run(command, ids={"student_id": student_id})

    def attribution(
        self, student_id: str, *, actor: Actor | None = None
    ) -> Attribution | None:
        """Whom ``student_id`` is attributed to (first and last touch), if anyone, read
        as ``actor``: refused unless the actor may see the student; audited (fields
        ``attribution``; docs/privacy.md). The sharers are named by id, as on their
        links. Without an actor (deprecated) it is read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Attribution | None:
            shown(look, student_id)
            return _attribution(uow, student_id)

        return self.gate.read(
            self._run,
            actor,
            ("attribution",),
            query,
            ids={"student_id": student_id},
            records=True,
        )

    def referral_debts(
        self, referrer_id: str, *, actor: Actor | None = None
    ) -> list[dict[str, Any]]:
        """The referral rewards clawed back from ``referrer_id`` after she had used them,
        oldest first: ``{"referrer", "referred", "coupon", "order", "amount", "at"}``
        (``amount`` a money record, ``None`` for a percentage coupon). Settling a debt is
        the school's business; this lists what is owed.

        Read as ``actor``: refused unless the actor may see the referrer; a referred
        student the actor may not see is shown by a masked id (``b**``) and her order
        left out (``None``). Audited (fields ``referrals``) for the referrer and each
        referred student shown. Without an actor (deprecated) it is read as before."""
        check_id(referrer_id, "referrer_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[dict[str, Any]]:
            shown(look, referrer_id)
            found = []
            for key, _ in uow.records.scan(
                referrals.REFERRAL_DEBTS, referrals.debtor_index(referrer_id)
            ):
                doc = uow.records.get(referrals.REFERRAL_DEBTS, key)
                if doc is None or doc["referrer"] != referrer_id:
                    continue
                referred = doc.get("referred")
                if isinstance(referred, str) and look(referred).refused:
                    doc = {**doc, "referred": mask_name(referred) or "*", "order": None}
                found.append(doc)
            return found

        return self.gate.read(
            self._run,
            actor,
            ("referrals",),
            query,
            ids={"referrer_id": referrer_id},
            records=True,
        )

    def _touch(
        self,
        uow: UnitOfWork,
        token: str,
        student_id: str,
        via: str,
        group_id: str | None,
        now: datetime,
    ) -> None:
        """Attribute a registration, an open or a join (``via``) to the link's sharer,
        in the command's unit of work (a refused join attributes nothing)."""
        link = _link(uow, token)
        if link.sharer_id == student_id:
            return  # her own link brings nobody
        doc = uow.records.get(ATTRIBUTION, student_id)
        before = None if doc is None else Attribution.from_record(doc)
        touch = Touch(
            token=token,
            sharer_id=link.sharer_id,
            campaign_id=link.campaign_id,
            group_id=group_id or link.group_id,
            via=via,
            at=now,
        )
        if before is not None and _same(before.last, touch):
            return  # the same touch again: a retried registration or join
        customer = uow.records.get(referrals.CUSTOMERS, student_id)
        new_student = customer is None or customer["paid_orders"] == 0
        referred = (
            before is None
            and new_student
            and uow.records.get(referrals.REFERRALS, student_id) is None
        )
        if referred:
            referrals.register(uow, link.sharer_id, student_id)
        attribution = Attribution(
            student_id=student_id,
            first=touch if before is None else before.first,
            last=touch,
            touches=1 if before is None else before.touches + 1,
            referrer=(
                link.sharer_id if referred else (None if before is None else before.referrer)
            ),
        )
        uow.records.put(ATTRIBUTION, student_id, attribution.to_record())
        event: DomainEvent
        if via == VIA_REGISTRATION:
            event = RegistrationAttributed(
                occurred_at=now,
                student_id=student_id,
                sharer_id=link.sharer_id,
                token=token,
                campaign_id=link.campaign_id,
                group_id=touch.group_id,
                first_touch=before is None,
                new_student=new_student,
                referred=referred,
            )
        else:
            assert group_id is not None
            event = JoinAttributed(
                occurred_at=now,
                student_id=student_id,
                sharer_id=link.sharer_id,
                token=token,
                campaign_id=link.campaign_id,
                group_id=group_id,
                first_touch=before is None,
                new_student=new_student,
                referred=referred,
                opened=via == VIA_OPEN,
            )
        uow.record_events([event])

    def _draw_token(self, uow: UnitOfWork, campaign_id: str) -> str:
        token = ""
        for _ in range(TOKEN_TRIES):
            token = self._new_token()
            check_id(token, "token")
            if uow.records.get(SHARE_LINKS, token) is None:
                return token
        raise ShareCodeUnavailable(campaign_id, TOKEN_TRIES, token)


def _same(a: Touch, b: Touch) -> bool:
    return (a.token, a.via, a.group_id) == (b.token, b.via, b.group_id)


def _link(uow: UnitOfWork, token: str) -> ShareLink:
    doc = uow.records.get(SHARE_LINKS, token) if isinstance(token, str) else None
    if doc is None:
        raise ShareLinkNotFound(str(token))
    return ShareLink.from_record(doc)


def _attribution(uow: UnitOfWork, student_id: str) -> Attribution | None:
    doc = uow.records.get(ATTRIBUTION, student_id)
    return None if doc is None else Attribution.from_record(doc)


__all__ = ["TOKEN_TRIES", "ShareLinks"]
