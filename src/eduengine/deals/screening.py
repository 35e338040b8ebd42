"""The anti-abuse screen of joins: risk rules run on each reservation, and each
decision is logged (part of :class:`eduengine.deals.DealService`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eduengine.deals.events import RiskDecisionRecorded
from eduengine.deals.records import ACTIVITY, RISK_LOG, put_risk_entry, risk_index
from eduengine.deals.risk import JoinAttempt, Peer, RiskDecision, RiskRule
from eduengine.errors import AbuseSuspected
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_id
from eduengine.people.access import AccessGate, Look, Refused, audit_system
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase


class RiskScreen(ServiceBase):
    """Runs the risk rules on reservations and keeps their decisions."""

    risk_rules: tuple[RiskRule, ...]
    #: the access check of :meth:`risk_decisions` (School.build passes the school's policy)
    gate: AccessGate = AccessGate()

    def _guarded(self, reserve: Any, student_id: str, ids: Mapping[str, str | None]) -> str:
        """Run a reservation; a risk denial is recorded in a unit of work of its own, so
        the refusal itself changes nothing else. ``ids`` are the command's, for its log."""
        try:
            return str(self._run(reserve, ids=ids))
        except _Denied as denied:
            refusal = denied

        def log(uow: UnitOfWork, now: datetime) -> None:
            self._log_risk(uow, refusal.attempt, refusal.group_id, refusal.decision, now)
            # the rolled-back reservation's reads of the peers, audited with the refusal
            for peer in refusal.peers:
                audit_system(uow, peer, "risk", now)

        self._run(log, ids=ids)
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
        others = tuple(dict.fromkeys(p[0] for p in peers if p[0] != attempt.student_id))
        if decision.level == "deny":
            raise _Denied(attempt, group_id, decision, others)
        # the rules read the other members' accounts, devices and IPs: audited as system
        for peer in others:
            audit_system(uow, peer, "risk", now)
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

    def risk_decisions(
        self, student_id: str, *, actor: Actor | None = None
    ) -> list[dict[str, Any]]:
        """Every recorded risk decision about ``student_id``, oldest first, as ``actor``
        sees it: the account, device and IP (and the reasons naming them) only with the
        payments field set, audited once; else hidden. Without an actor (deprecated)
        they are hidden."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[dict[str, Any]]:
            fields = look(student_id)
            if fields.refused:
                raise Refused()
            found = []
            for key, _ in uow.records.scan(RISK_LOG, risk_index(student_id)):
                doc = uow.records.get(RISK_LOG, key)
                if doc is not None:
                    found.append(doc if fields.payments else _hidden(doc))
            return found

        return self.gate.read(
            self._run, actor, ("payments",), query, ids={"student_id": student_id}
        )


def _hidden(doc: dict[str, Any]) -> dict[str, Any]:
    """A risk decision without its account, device and IP, in the reasons too."""
    values = [doc[k] for k in ("account", "device_id", "ip") if doc.get(k)]
    reasons = []
    for reason in doc["reasons"]:
        for value in values:
            reason = reason.replace(value, "•••")
        reasons.append(reason)
    return {**doc, "account": None, "device_id": None, "ip": None, "reasons": reasons}


class _Denied(Exception):
    def __init__(
        self,
        attempt: JoinAttempt,
        group_id: str | None,
        decision: RiskDecision,
        peers: tuple[str, ...] = (),
    ):
        super().__init__(decision.reasons)
        self.attempt = attempt
        self.group_id = group_id
        self.decision = decision
        #: the other members whose values the rules read
        self.peers = peers
