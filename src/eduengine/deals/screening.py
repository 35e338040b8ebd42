"""The anti-abuse screen of joins: risk rules run on each reservation, and each
decision is logged (part of :class:`eduengine.deals.DealService`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eduengine.deals.events import RiskDecisionRecorded
from eduengine.deals.records import (
    ACTIVITY,
    RISK_LOG,
    SIGHTINGS,
    group_risk_index,
    put_risk_entry,
    risk_index,
)
from eduengine.deals.risk import (
    AcrossGroups,
    JoinAttempt,
    Peer,
    RiskDecision,
    RiskRule,
    Sighting,
)
from eduengine.errors import AbuseSuspected
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import check_id
from eduengine.people.access import AccessGate, Look, Refused, audit_system
from eduengine.people.model import Actor
from eduengine.service_layer.crypto import blind_index
from eduengine.service_layer.ports import RecordRepository, UnitOfWork
from eduengine.service_layer.runner import ServiceBase


class RiskScreen(ServiceBase):
    """Runs the risk rules on reservations and keeps their decisions."""

    risk_rules: tuple[RiskRule, ...]
    #: anti-abuse across the groups of a campaign (``None``: off)
    across_groups: AcrossGroups | None
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
            self._flag_others(uow, refusal.flags, now)

        self._run(log, ids=ids)
        raise AbuseSuspected(student_id, refusal.decision.reasons)

    def _check_risk(
        self,
        uow: UnitOfWork,
        attempt: JoinAttempt,
        group_id: str | None,
        peers: Sequence[Peer],
        now: datetime,
        *,
        campaign_id: str,
        seen_in: str,
    ) -> None:
        """Run the rules on an attempt to take a place in group ``seen_in`` of
        ``campaign_id`` (``group_id``: the group as logged with a denial, ``None`` for
        one being opened); a denial raises ``_Denied``, a review is logged, and the
        attempt's device, IP and account are filed as seen in that group."""
        activity = uow.records.get(ACTIVITY, attempt.student_id) or {"at": []}
        recent = [dt_in(t) for t in activity["at"]]
        decisions = [r.evaluate(attempt, peers, recent) for r in self.risk_rules]
        flags: list[tuple[Sighting, RiskDecision]] = []
        seen: list[Sighting] = []
        across = self.across_groups
        if across is not None:
            seen = _sightings(uow, campaign_id, across, attempt)
            matches = across.matches(attempt, seen_in, seen)
            decisions.append(across.decision(attempt, seen_in, matches))
            flags = across.flags(attempt, seen_in, matches)
        decision = RiskDecision.combine(decisions)
        # the rules read the other members' (and, across groups, the other students')
        # accounts, devices and IPs: audited as system
        others = tuple(
            dict.fromkeys(
                s
                for s in (*(p[0] for p in peers), *(x.student_id for x in seen))
                if s != attempt.student_id
            )
        )
        if decision.level == "deny":
            raise _Denied(attempt, group_id, decision, flags, others)
        for peer in others:
            audit_system(uow, peer, "risk", now)
        if decision.level == "review":
            self._log_risk(uow, attempt, seen_in, decision, now)
        self._flag_others(uow, flags, now)
        activity["at"] = [*activity["at"][-49:], dt_out(now)]
        uow.records.put(ACTIVITY, attempt.student_id, activity)
        if across is not None:
            for field, value in across.values(attempt).items():
                _file_sighting(uow, campaign_id, seen_in, field, value, attempt)

    def _flag_others(
        self, uow: UnitOfWork, flags: Sequence[tuple[Sighting, RiskDecision]], now: datetime
    ) -> None:
        """Record the decision about each other student an attempt shared a device, IP
        or account with, in her own group (flagged in both groups)."""
        for seen, flag in flags:
            other = JoinAttempt(
                student_id=seen.student_id,
                account=seen.account or "",
                device_id=seen.device_id,
                ip=seen.ip,
                at=seen.at,
            )
            self._log_risk(uow, other, seen.group_id, flag, now)

    def _log_risk(
        self,
        uow: UnitOfWork,
        attempt: JoinAttempt,
        group_id: str | None,
        decision: RiskDecision,
        now: datetime,
    ) -> None:
        entry: dict[str, Any] = {
            "student_id": attempt.student_id,
            "group_id": group_id,
            "level": decision.level,
            "reasons": list(decision.reasons),
            "at": dt_out(now),
            "account": attempt.account or None,
            "device_id": attempt.device_id,
            "ip": attempt.ip,
        }
        put_risk_entry(uow.records, f"{dt_out(now)}#{self._new_id()}", entry)
        uow.record_events(
            [
                RiskDecisionRecorded(
                    occurred_at=now,
                    student_id=attempt.student_id,
                    group_id=group_id,
                    level=decision.level,
                    # the feed outlives erasure and is not encrypted: no value in it
                    reasons=tuple(_hidden({**entry, "reasons": decision.reasons})["reasons"]),
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

    def group_risk_decisions(
        self, group_id: str, *, actor: Actor | None = None
    ) -> list[dict[str, Any]]:
        """Every recorded risk decision about a member of group ``group_id`` (or an
        attempt to join it), oldest first: a group flagged by anti-abuse across groups
        shows it here. The account, device and IP are shown as :meth:`risk_decisions`
        shows them, per student; a student the actor may not see is left out."""
        check_id(group_id, "group_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[dict[str, Any]]:
            found = []
            for key, _ in uow.records.scan(RISK_LOG, group_risk_index(group_id)):
                doc = uow.records.get(RISK_LOG, key)
                if doc is None or doc.get("group_id") != group_id:
                    continue
                fields = look(doc["student_id"])
                if not fields.refused:
                    found.append(doc if fields.payments else _hidden(doc))
            return found

        return self.gate.read(self._run, actor, ("payments",), query, ids={"group_id": group_id})


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
        flags: Sequence[tuple[Sighting, RiskDecision]] = (),
        peers: tuple[str, ...] = (),
    ):
        super().__init__(decision.reasons)
        self.attempt = attempt
        self.group_id = group_id
        self.decision = decision
        #: the other members whose values the rules read
        self.peers = peers
        #: the other students the attempt was seen with, flagged even though it failed
        self.flags = tuple(flags)


def _digest(records: RecordRepository, value: str) -> str:
    # the key names a value by a hash (erasure deletes the record, a key cannot be
    # scrubbed in place): the store's keyed blind index when it has keys, since an
    # unkeyed hash of a phone-like value falls to a dictionary attack
    return blind_index(records, value) or hashlib.sha256(value.encode()).hexdigest()[:24]


def sighting_index(records: RecordRepository, campaign_id: str, field: str, value: str) -> str:
    """The index that files the sightings of one value in one campaign, by time."""
    return f"seen:{campaign_id}|{field}|{_digest(records, value)}"


def sighting_key(records: RecordRepository, doc: Mapping[str, Any]) -> str:
    """The key of a sighting: its campaign, field and value's hash, student and group."""
    digest = _digest(records, doc["value"])
    return f"{doc['campaign_id']}|{doc['field']}|{digest}|{doc['student_id']}|{doc['group_id']}"


def _sightings(
    uow: UnitOfWork, campaign_id: str, across: AcrossGroups, attempt: JoinAttempt
) -> list[Sighting]:
    """The sightings of the attempt's values in the campaign within the window (reads
    those index ranges only)."""
    lo = micros(attempt.at - across.window)
    found = []
    for field, value in sorted(across.values(attempt).items()):
        for key, _ in uow.records.scan(
            SIGHTINGS,
            sighting_index(uow.records, campaign_id, field, value),
            lo=lo,
            hi=micros(attempt.at),
        ):
            doc = uow.records.get(SIGHTINGS, key)
            if doc is not None and doc["value"] == value:
                found.append(
                    Sighting(
                        student_id=doc["student_id"],
                        group_id=doc["group_id"],
                        field=doc["field"],
                        value=doc["value"],
                        at=dt_in(doc["at"]),
                        account=doc.get("account"),
                        device_id=doc.get("device_id"),
                        ip=doc.get("ip"),
                    )
                )
    return found


def _file_sighting(
    uow: UnitOfWork, campaign_id: str, group_id: str, field: str, value: str, attempt: JoinAttempt
) -> None:
    doc = {
        "campaign_id": campaign_id,
        "group_id": group_id,
        "student_id": attempt.student_id,
        "field": field,
        "value": value,
        "at": dt_out(attempt.at),
        "account": attempt.account,
        "device_id": attempt.device_id,
        "ip": attempt.ip,
    }
    put_sighting(uow.records, sighting_key(uow.records, doc), doc)


def put_sighting(records: RecordRepository, key: str, doc: dict[str, Any]) -> None:
    """Store a sighting under its indexes: by campaign, field and value, and by student
    (for erasure)."""
    at = micros(dt_in(doc["at"]))
    records.put(
        SIGHTINGS,
        key,
        doc,
        index={
            sighting_index(records, doc["campaign_id"], doc["field"], doc["value"]): at,
            risk_index(doc["student_id"]): at,
        },
    )


def refile_sighting(records: RecordRepository, key: str, doc: dict[str, Any]) -> None:
    """File a sighting again under its indexes, moving it to the key the store names it
    by now (one filed under the unkeyed hash before the store had keys moves under the
    blind index)."""
    fresh = sighting_key(records, doc)
    if fresh != key:
        records.delete(SIGHTINGS, key)
    put_sighting(records, fresh, doc)
