"""Tags and lifecycle (标签 / 生命周期): the activity facts a student's tags and stage
are computed from, and the dated history of the stages they moved through.

Purchases move the stage too, through the rules on the bus
(:mod:`eduengine.students.handlers`); this service feeds everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack

from eduengine.booking.model import check_reason_code
from eduengine.errors import InvalidInput, InvalidTransition
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_id, check_optional_id
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import handlers
from eduengine.students import records as rec
from eduengine.students.events import TagsChanged
from eduengine.students.model import TagRule
from eduengine.students.records import ServiceOptions

#: what a read of the stage history shows of a student (the audit rows' fields)
STAGE_FIELDS = ("stages",)


class LifecycleService(ServiceBase):
    """Activity facts, tags and lifecycle stages.

    ``tag_rules`` are the school's dynamic tags, evaluated from the facts and the time.
    The other arguments are :class:`ServiceBase`'s.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.students import ProfileService
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> ProfileService(store.unit_of_work, clock=clock).register("s1", name="王小明")
    >>> lifecycle = LifecycleService(store.unit_of_work, clock=clock,
    ...                              tag_rules=[TagRule.inactive_for("at-risk", 14)])
    >>> lifecycle.record_activity("s1", "trial_booked")
    >>> lifecycle.refresh_tags("s1")
    (frozenset({'at-risk'}), 'trial')
    >>> from eduengine.people import SYSTEM
    >>> [stage for stage, _, _ in lifecycle.stage_history("s1", actor=SYSTEM)]
    ['registered', 'trial']
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        tag_rules: Sequence[TagRule] = (),
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self._init_lifecycle(tag_rules)

    def _init_lifecycle(self, tag_rules: Sequence[TagRule]) -> None:
        # apart from ServiceBase.__init__ so that StudentService sets up all four once
        self.tag_rules = tuple(tag_rules)
        # StudentService's is the profiles' (under its policy); alone, the default one
        self.gate: AccessGate = getattr(self, "gate", None) or AccessGate()

    def record_activity(self, student_id: str, kind: str, *, module: str | None = None) -> None:
        """Feed the facts tags and stages are computed from: ``login``, ``trial_booked``,
        ``module_completed`` (with ``module``)."""
        check_id(student_id, "student_id")
        check_id(kind, "kind")
        check_optional_id(module, "module")
        if kind not in {"login", "trial_booked", "module_completed"}:
            raise InvalidInput(f"unknown activity {kind!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = rec.student(uow, student_id)
            facts = doc["facts"]
            facts["last_active"] = dt_out(now)
            if kind == "login":
                facts["last_login"] = dt_out(now)
            elif kind == "trial_booked":
                facts["trial"] = True
            elif module is not None and module not in facts["modules"]:
                facts["modules"].append(module)
            self._retag(uow, student_id, doc, now)

        self._run(command, ids={"student_id": student_id})

    def churn(self, student_id: str, *, reason_code: str | None = None) -> None:
        """Mark the student churned (流失) now, with the school's code for why
        (``"price"``, ``"moved_away"`` ...); they stay churned until their next activity
        or purchase. Refused (``InvalidTransition``) for a student already churned."""
        check_id(student_id, "student_id")
        check_reason_code(reason_code)

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = rec.student(uow, student_id)
            if doc["stage"] == "churned":
                raise InvalidTransition(f"student {student_id!r} is already churned")
            doc["facts"]["churned_at"] = dt_out(now)
            handlers.move_stage(
                uow, student_id, doc, now, reason="churned", reason_code=reason_code
            )

        self._run(command, ids={"student_id": student_id})

    def refresh_tags(self, student_id: str) -> tuple[frozenset[str], str]:
        """Re-evaluate time-based tags (e.g. inactive for 14 days) and the stage."""
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> tuple[frozenset[str], str]:
            doc = rec.student(uow, student_id)
            self._retag(uow, student_id, doc, now)
            return frozenset(doc["tags"]), doc["stage"]

        return self._run(command, ids={"student_id": student_id})

    def tag(self, student_id: str, tag: str) -> frozenset[str]:
        """Set a tag by hand (a staff member's ``"vip"``); automated refreshes keep it
        until :meth:`untag`. Returns the student's tags."""
        return self._hand_tag(student_id, tag, keep=True)

    def untag(self, student_id: str, tag: str) -> frozenset[str]:
        """Remove a tag set by hand (a rule's tag comes back at the next refresh while
        its rule holds). Returns the student's tags."""
        return self._hand_tag(student_id, tag, keep=False)

    def _hand_tag(self, student_id: str, tag: str, *, keep: bool) -> frozenset[str]:
        check_id(student_id, "student_id")
        check_id(tag, "tag")

        def command(uow: UnitOfWork, now: datetime) -> frozenset[str]:
            doc = rec.student(uow, student_id)
            manual = set(doc.get("manual_tags", []))
            if keep:
                manual.add(tag)
            else:
                manual.discard(tag)
            doc["manual_tags"] = sorted(manual)
            self._retag(uow, student_id, doc, now)
            return frozenset(doc["tags"])

        return self._run(command, ids={"student_id": student_id})

    def retag(self, uow: UnitOfWork, student_id: str, now: datetime) -> dict[str, Any]:
        """:meth:`refresh_tags` inside a unit of work of the caller's (a sweep that files
        the student's next due time with it); returns the student's document."""
        doc = rec.student(uow, student_id)
        self._retag(uow, student_id, doc, now)
        return doc

    def stage_history(
        self, student_id: str, *, actor: Actor | None = None
    ) -> list[tuple[str, datetime, str]]:
        """``(stage, since, reason)`` for every stage the student moved through, oldest
        first, starting with ``registered``; read as ``actor`` (refused unless the actor
        may see her; audited: docs/privacy.md). Without an actor (deprecated) it is read
        as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[tuple[str, datetime, str]]:
            shown(look, student_id)
            doc = rec.student(uow, student_id)
            history = [("registered", dt_in(doc["facts"]["registered_at"]), "registration")]
            history += [
                (h["stage"], dt_in(h["at"]), h.get("reason_code") or h["reason"])
                for h in doc.get("stage_history", [])
            ]
            return history

        return self.gate.read(
            self._run, actor, STAGE_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def _retag(self, uow: UnitOfWork, student_id: str, doc: dict[str, Any], now: datetime) -> None:
        facts = doc["facts"]
        # tags set by hand are the staff's, not the rules': a refresh keeps them
        manual = doc.get("manual_tags", [])
        new = sorted({r.tag for r in self.tag_rules if r.holds(facts, now)} | set(manual))
        old = sorted(doc["tags"])
        old_stage = doc["stage"]
        doc["tags"] = new
        # a stage that moves without a purchase moves through activity (or, to churned,
        # inactivity: move_stage says which)
        handlers.move_stage(uow, student_id, doc, now, reason="activity")
        if new != old or doc["stage"] != old_stage:
            uow.record_events(
                [
                    TagsChanged(
                        occurred_at=now,
                        student_id=student_id,
                        added=tuple(t for t in new if t not in old),
                        removed=tuple(t for t in old if t not in new),
                        stage=doc["stage"],
                    )
                ]
            )
