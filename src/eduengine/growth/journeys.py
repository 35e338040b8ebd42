"""Journeys (自动化旅程): a trigger on events or on time, conditions, quiet hours, a
frequency cap per student and steps that act — a notice from a message template, a
coupon issued to the student, a task for staff — each step an event, every student
through a step once.

How it runs: the ``journeys`` projection of the feed files a **due** document per
(journey, step, student) when an event starts a journey (registered, a seat booked, a
credit used, a level reached); the :meth:`JourneyService.sweep_due` job (``run-due``)
adds those whose time comes from the package indexes (bought and not activated, expiring)
from a cursor, then reads only the due documents up to now. Each due document is taken in
a unit of work of its own that locks it: the step's record (kind :data:`STEPS`) is
written once, so two sweeps at once, or one run twice, act once.

>>> Trigger.registered_no_purchase(days=3).kind
'registered_no_purchase'
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Unpack
from zoneinfo import ZoneInfo

import attrs

from eduengine.booking import events as bev
from eduengine.errors import InvalidInput, InvalidTimeRange, NotFound
from eduengine.growth.events import JourneyStepSkipped, JourneyStepTaken, StaffTaskCreated
from eduengine.growth.segments import Segment, SegmentService
from eduengine.growth.service import TemplateService
from eduengine.growth.templates import TemplateRef
from eduengine.kernel.codec import dt_in, from_micros, micros
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id, check_int, check_optional_id
from eduengine.kernel.money import Money
from eduengine.levels.events import LevelUp
from eduengine.notices import planning
from eduengine.notices.model import NoticePolicy, QuietHours, best_of
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.pricing.coupons import COUPONS
from eduengine.pricing.rules import Coupon, DiscountKind
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students import events as sev
from eduengine.students import records as rec

__all__ = [
    "FrequencyCap",
    "IssueCoupon",
    "Journey",
    "JourneyService",
    "SendNotice",
    "StaffTask",
    "Step",
    "Trigger",
]

log = logging.getLogger("eduengine.growth")

#: one document per (journey, step, student) waiting to be taken, filed under ``due``
DUE_DOCS = "journey_due"
DUE = "due"
#: one document per (journey, step, student) that was taken: the "once"
STEPS = "journey_step"
#: per student: when she last passed steps (what the frequency cap counts)
LOG = "journey_log"
#: per (journey, index): how far the sweep has read a package index
CURSORS = "journey_cursor"
#: the notice kind of a journey's message (its template is the step's)
NOTICE_KIND = "journey"

EVENT_KINDS = ("registered_no_purchase", "no_lesson_booked", "credits_low", "level_reached")
INDEX_KINDS = ("package_not_activated", "package_expiring")


@attrs.frozen(kw_only=True)
class Trigger:
    """What starts a journey for a student. Build one with its constructor:
    :meth:`registered_no_purchase`, :meth:`package_not_activated`,
    :meth:`no_lesson_booked`, :meth:`credits_low`, :meth:`package_expiring`,
    :meth:`level_reached`."""

    kind: str
    wait: timedelta = timedelta(0)
    threshold: int = 0

    def __attrs_post_init__(self) -> None:
        if self.kind not in EVENT_KINDS + INDEX_KINDS:
            raise InvalidInput(f"unknown journey trigger {self.kind!r}")
        if not isinstance(self.wait, timedelta) or self.wait < timedelta(0):
            raise InvalidTimeRange(f"a trigger's wait is a timedelta >= 0, got {self.wait!r}")
        check_int(self.threshold, "threshold", low=0, high=10**6)

    @classmethod
    def registered_no_purchase(cls, days: int) -> Trigger:
        """Registered ``days`` ago and bought nothing yet."""
        return cls(kind="registered_no_purchase", wait=timedelta(days=days))

    @classmethod
    def package_not_activated(cls, days: int) -> Trigger:
        """A lesson package bought ``days`` ago and still not activated."""
        return cls(kind="package_not_activated", wait=timedelta(days=days))

    @classmethod
    def no_lesson_booked(cls, days: int) -> Trigger:
        """No seat taken for ``days`` (since her last, or since she registered)."""
        return cls(kind="no_lesson_booked", wait=timedelta(days=days))

    @classmethod
    def credits_low(cls, at_most: int) -> Trigger:
        """A lesson used leaves a package with ``at_most`` credits or fewer."""
        return cls(kind="credits_low", threshold=at_most)

    @classmethod
    def package_expiring(cls, within: timedelta) -> Trigger:
        """An active package expires within ``within`` and she bought none after it."""
        return cls(kind="package_expiring", wait=within)

    @classmethod
    def level_reached(cls, level: int) -> Trigger:
        """She reached ``level`` (a level-up to it or past it)."""
        return cls(kind="level_reached", threshold=level)


@attrs.frozen(kw_only=True)
class SendNotice:
    """Plan a notice (kind ``journey``) to the student and the guardians the notice
    policy copies, from the latest version of template ``template`` for ``channel`` and
    ``language`` in ``school.templates`` (its :class:`TemplateRef` is kept with the
    notice, so a later edit never changes it).

    ``best_channel``: the school says to send on each recipient's best channel (the one
    she opens most, :meth:`~eduengine.notices.NoticeService.best_channel`), the student's
    and each guardian's own, her other channels kept as fallbacks; a recipient without
    history gets her usual channels.

    >>> SendNotice(template="welcome", best_channel=True).best_channel
    True
    """

    template: str
    channel: str = "sms"
    language: str = "en"
    best_channel: bool = attrs.field(default=False)

    @best_channel.validator
    def _flag(self, attribute: Any, value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidInput(f"best_channel is True or False, got {value!r}")


@attrs.frozen(kw_only=True)
class IssueCoupon:
    """Issue a coupon only this student may redeem, valid for ``valid_for``."""

    kind: DiscountKind
    value: Decimal | Money
    valid_for: timedelta = timedelta(days=14)
    prefix: str = "J"


@attrs.frozen(kw_only=True)
class StaffTask:
    """Ask a staff member (``assignee``, or whoever picks it up) to act."""

    title: str
    assignee: str | None = None


Action = SendNotice | IssueCoupon | StaffTask


@attrs.frozen(kw_only=True)
class Step:
    """A step ``after`` the trigger fires (0: at once), with its action."""

    name: str
    action: Action
    after: timedelta = timedelta(0)

    def __attrs_post_init__(self) -> None:
        check_id(self.name, "step name")
        if not isinstance(self.action, SendNotice | IssueCoupon | StaffTask):
            raise InvalidInput(
                f"a step's action is SendNotice, IssueCoupon or StaffTask, got {self.action!r}"
            )
        if not isinstance(self.after, timedelta) or self.after < timedelta(0):
            raise InvalidTimeRange(f"a step's after is a timedelta >= 0, got {self.after!r}")


@attrs.frozen(kw_only=True)
class FrequencyCap:
    """At most ``count`` journey steps per student within any ``window`` (over every
    journey): a step that would exceed it waits until the window allows it."""

    count: int
    window: timedelta

    def __attrs_post_init__(self) -> None:
        check_int(self.count, "count", low=1, high=1000)
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise InvalidTimeRange(f"a cap's window is a positive timedelta, got {self.window!r}")


def _steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    if isinstance(steps, Step | str):
        raise InvalidInput(f"steps is a list of Step, got {steps!r}")
    return tuple(steps)


@attrs.frozen(kw_only=True)
class Journey:
    """A trigger, the ``segment`` a student must be in when a step comes due (else the
    step is skipped), ``quiet_hours`` in the student's zone (her notice preferences) in
    which no step is taken (it waits for their end), a frequency ``cap`` and the steps."""

    key: str
    trigger: Trigger
    steps: tuple[Step, ...] = attrs.field(converter=_steps)
    segment: Segment | None = None
    quiet_hours: QuietHours | None = None
    cap: FrequencyCap | None = None

    def __attrs_post_init__(self) -> None:
        check_id(self.key, "journey key")
        if "/" in self.key:
            raise InvalidInput(f"a journey key has no '/', got {self.key!r}")
        if not self.steps:
            raise InvalidInput("a journey needs at least one step")
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names) or any("/" in n for n in names):
            raise InvalidInput(f"step names are unique and have no '/', got {names}")

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def due_key(journey: str, step: str, student_id: str) -> str:
    return f"{journey}/{step}/{student_id}"


def file_due(
    uow: UnitOfWork,
    journey: Journey,
    student_id: str,
    start: datetime,
    *,
    subject: str | None = None,
    replace: bool = False,
) -> int:
    """File each step of ``journey`` not yet taken by the student, due ``step.after``
    from ``start``; a step already waiting keeps its time unless ``replace``."""
    filed = 0
    for step in journey.steps:
        key = due_key(journey.key, step.name, student_id)
        if uow.records.get(STEPS, key) is not None:
            continue
        if not replace and uow.records.get(DUE_DOCS, key) is not None:
            continue
        at = micros(start + step.after)
        doc = {
            "journey": journey.key,
            "step": step.name,
            "student_id": student_id,
            "at": at,
            "subject": subject,
            "since": micros(start),
        }
        uow.records.put(DUE_DOCS, key, doc, index={DUE: at})
        filed += 1
    return filed


def journey_rules(journeys: Sequence[Journey]) -> dict[type[DomainEvent], list[Handler]]:
    """The ``journeys`` projection: the events that start a journey file its due steps
    (each at its event's time, never a clock's, so a late run files what an inline one
    would have)."""
    table: dict[type[DomainEvent], list[Handler]] = {}

    def on(event_type: type[DomainEvent], handler: Handler) -> None:
        table.setdefault(event_type, []).append(handler)

    for journey in journeys:
        trigger = journey.trigger
        if trigger.kind == "registered_no_purchase":

            def registered(e: DomainEvent, uow: UnitOfWork, j: Journey = journey) -> None:
                assert isinstance(e, sev.StudentRegistered)
                file_due(uow, j, e.student_id, e.occurred_at + j.trigger.wait)

            on(sev.StudentRegistered, registered)
        elif trigger.kind == "no_lesson_booked":

            def booked(e: DomainEvent, uow: UnitOfWork, j: Journey = journey) -> None:
                student_id = getattr(e, "student_id", None)
                if isinstance(student_id, str):
                    # each seat starts the wait again: the latest one counts
                    file_due(uow, j, student_id, e.occurred_at + j.trigger.wait, replace=True)

            for taken in (
                sev.StudentRegistered,
                bev.SeatBooked,
                bev.WaitlistPromoted,
                bev.OfferAccepted,
            ):
                on(taken, booked)
        elif trigger.kind == "credits_low":

            def used(e: DomainEvent, uow: UnitOfWork, j: Journey = journey) -> None:
                assert isinstance(e, sev.CreditConsumed)
                if e.credits_left <= j.trigger.threshold:
                    file_due(uow, j, e.student_id, e.occurred_at, subject=e.package_id)

            on(sev.CreditConsumed, used)
        elif trigger.kind == "level_reached":

            def levelled(e: DomainEvent, uow: UnitOfWork, j: Journey = journey) -> None:
                assert isinstance(e, LevelUp)
                if e.from_level < j.trigger.threshold <= e.to_level:
                    file_due(uow, j, e.student_id, e.occurred_at)

            on(LevelUp, levelled)
    return table


class JourneyService(ServiceBase):
    """The school's journeys (``school.journeys``): taken by :meth:`sweep_due`, which
    ``run-due`` runs (job ``journeys``).

    ``templates`` resolves a :class:`SendNotice`'s template to its latest version;
    ``notice_policy`` is the school's (who is copied, the student's zone).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        journeys: Sequence[Journey] = (),
        segments: SegmentService,
        templates: TemplateService,
        notice_policy: NoticePolicy | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        keys = [j.key for j in journeys]
        if len(set(keys)) != len(keys):
            raise InvalidInput(f"journey keys are unique, got {keys}")
        for journey in journeys:
            if not isinstance(journey, Journey):
                raise InvalidInput(f"expected a Journey, got {journey!r}")
        self.journeys: dict[str, Journey] = {j.key: j for j in journeys}
        self.segments = segments
        self.templates = templates
        self.notice_policy = notice_policy or NoticePolicy()
        # the school's access check (School.build sets its own)
        self.gate = AccessGate()

    def passed(
        self, journey: str, step: str, student_id: str, *, actor: Actor | None = None
    ) -> datetime | None:
        """When the student passed the step (``None``: not yet), read as ``actor``:
        refused unless the actor may see the student; audited (fields ``journeys``;
        docs/privacy.md). Without an actor (deprecated) it is read as before."""
        check_id(journey, "journey")
        check_id(step, "step")
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> datetime | None:
            shown(look, student_id)
            doc = uow.records.get(STEPS, due_key(journey, step, student_id))
            return None if doc is None else from_micros(doc["at"])

        return self.gate.read(
            self._run, actor, ("journeys",), query, ids={"student_id": student_id}, records=True
        )

    def reindex(self) -> int:
        """File every waiting step under ``due`` again (a one-off upgrade step, with
        :meth:`School.reindex`); returns how many."""

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            uow.records.put(DUE_DOCS, key, doc, index={DUE: doc["at"]})

        return self._refile_all(DUE_DOCS, refile)

    def sweep_due(self, *, batch: int = 200) -> int:
        """File the steps the package indexes make due, then take every due step (read
        from the ``due`` index up to now, nothing else); returns how many steps were
        taken or skipped. Safe to run twice or from several workers at once."""
        for journey in self.journeys.values():
            if journey.trigger.kind in INDEX_KINDS:
                self._run(partial(self._file_from_index, journey=journey))
        refs = self._template_refs()
        done = 0
        while True:
            due = self._run(
                lambda uow, now: uow.records.scan(DUE_DOCS, DUE, hi=micros(now), limit=batch),
                write=False,
            )
            moved = 0
            for key, _ in due:
                moved += self._run(partial(self._take, key=key, refs=refs))
            done += moved
            if len(due) < batch or moved == 0:
                return done

    def _template_refs(self) -> dict[tuple[str, str, str], TemplateRef]:
        # resolved before the steps' units of work: a notice keeps the version current
        # when its step was taken, and no other service's unit of work opens inside ours
        refs = {}
        for journey in self.journeys.values():
            for step in journey.steps:
                action = step.action
                if isinstance(action, SendNotice):
                    spec = (action.template, action.channel, action.language)
                    try:
                        refs[spec] = self.templates.get(*spec).ref
                    except NotFound:
                        # its steps wait for the template; the other journeys go on
                        log.warning("journey %s: no template %s", journey.key, "/".join(spec))
        return refs

    def _file_from_index(self, uow: UnitOfWork, now: datetime, *, journey: Journey) -> int:
        trigger = journey.trigger
        cursor = uow.records.get(CURSORS, journey.key) or {"position": None}
        if trigger.kind == "package_not_activated":
            index, hi = rec.PENDING_ACTIVATION, micros(now - trigger.wait)
        else:
            index, hi = rec.EXPIRES, micros(now + trigger.wait)
        lo = None if cursor["position"] is None else cursor["position"] + 1
        filed = 0
        for package_id, at in uow.records.scan(rec.PACKAGES, index, lo=lo, hi=hi):
            pkg = uow.records.get(rec.PACKAGES, package_id)
            if pkg is not None:
                filed += file_due(uow, journey, pkg["student_id"], now, subject=package_id)
            cursor["position"] = at
        uow.records.put(CURSORS, journey.key, cursor)
        return filed

    def _take(
        self,
        uow: UnitOfWork,
        now: datetime,
        *,
        key: str,
        refs: Mapping[tuple[str, str, str], TemplateRef],
    ) -> int:
        due = uow.records.get(DUE_DOCS, key)  # locked: another worker waits, then finds none
        if due is None or due["at"] > micros(now):
            return 0
        journey = self.journeys.get(due["journey"])
        student_id = due["student_id"]
        student = uow.records.get(rec.STUDENTS, student_id)
        if (
            journey is None
            or due["step"] not in {s.name for s in journey.steps}
            or uow.records.get(STEPS, key) is not None
            or student is None
            or student.get("erased")
        ):
            uow.records.delete(DUE_DOCS, key)
            return 0
        step = journey.step(due["step"])
        action = step.action
        if isinstance(action, SendNotice) and (
            (action.template, action.channel, action.language) not in refs
        ):
            return 0  # no template saved yet: the step stays due
        why_not = self._condition(uow, journey, due, student, now)
        if why_not is not None:
            uow.records.delete(DUE_DOCS, key)
            uow.record_events(
                [
                    JourneyStepSkipped(
                        occurred_at=now,
                        student_id=student_id,
                        journey=journey.key,
                        step=step.name,
                        reason=why_not,
                    )
                ]
            )
            return 1
        later = self._held_until(uow, journey, student_id, now)
        if later is not None:
            due["at"] = micros(later)
            uow.records.put(DUE_DOCS, key, due, index={DUE: due["at"]})
            return 0
        detail = self._act(uow, journey, step, student_id, now, refs)
        log = uow.records.get(LOG, student_id) or {"at": []}
        horizon = max((j.cap.window for j in self.journeys.values() if j.cap), default=None)
        kept = [t for t in log["at"] if horizon is not None and t > micros(now - horizon)]
        uow.records.put(LOG, student_id, {"at": [*kept, micros(now)]})
        uow.records.put(STEPS, key, {"at": micros(now), "detail": detail})
        uow.records.delete(DUE_DOCS, key)
        uow.record_events(
            [
                JourneyStepTaken(
                    occurred_at=now,
                    student_id=student_id,
                    journey=journey.key,
                    step=step.name,
                    action=_action_name(step.action),
                    detail=detail,
                )
            ]
        )
        return 1

    def _condition(
        self,
        uow: UnitOfWork,
        journey: Journey,
        due: Mapping[str, Any],
        student: Mapping[str, Any],
        now: datetime,
    ) -> str | None:
        """Why the step no longer applies, or ``None`` if it does."""
        kind = journey.trigger.kind
        facts = student.get("facts", {})
        if kind == "registered_no_purchase" and facts.get("purchases", 0) > 0:
            return "purchased"
        if kind in INDEX_KINDS:
            pkg = uow.records.get(rec.PACKAGES, due["subject"])
            if pkg is None:
                return "package gone"
            if kind == "package_not_activated" and pkg.get("activated_at") is not None:
                return "activated"
            if kind == "package_expiring":
                ends = rec.expiry(pkg)
                if ends is None or ends <= now:
                    return "expired"
                bought = dt_in(pkg["purchased_at"])
                for pid in student.get("packages", []):
                    other = uow.records.get(rec.PACKAGES, pid) if pid != due["subject"] else None
                    if other is not None and dt_in(other["purchased_at"]) > bought:
                        return "renewed"
        if journey.segment is not None and not self.segments.in_segment(
            uow, journey.segment, due["student_id"], now
        ):
            return "not in segment"
        return None

    def _held_until(
        self, uow: UnitOfWork, journey: Journey, student_id: str, now: datetime
    ) -> datetime | None:
        """When quiet hours or the frequency cap let the step be taken, if not now."""
        if journey.quiet_hours is not None:
            zone = planning.preferences(uow, student_id, self.notice_policy).zone
            ends = journey.quiet_hours.ends(now.astimezone(ZoneInfo(zone)))
            if ends is not None:
                return ends
        if journey.cap is not None:
            log = uow.records.get(LOG, student_id) or {"at": []}
            recent = sorted(t for t in log["at"] if t > micros(now - journey.cap.window))
            if len(recent) >= journey.cap.count:
                # the window frees a place when the oldest step in it leaves it
                return from_micros(recent[-journey.cap.count]) + journey.cap.window
        return None

    def _act(
        self,
        uow: UnitOfWork,
        journey: Journey,
        step: Step,
        student_id: str,
        now: datetime,
        refs: Mapping[tuple[str, str, str], TemplateRef],
    ) -> str:
        action = step.action
        if isinstance(action, SendNotice):
            ref = refs[(action.template, action.channel, action.language)]
            template = f"{ref.kind}/{ref.channel}/{ref.language}@{ref.version}"
            planning.plan(
                uow,
                self.notice_policy,
                kind=NOTICE_KIND,
                key=f"{journey.key}/{step.name}/{student_id}",
                student_id=student_id,
                context={
                    "journey": journey.key,
                    "step": step.name,
                    "student_id": student_id,
                    "template": {
                        "kind": ref.kind,
                        "channel": ref.channel,
                        "language": ref.language,
                        "version": ref.version,
                    },
                },
                now=now,
                template=template,
                audience=best_audience(uow, self.notice_policy, student_id)
                if action.best_channel
                else None,
            )
            return template
        if isinstance(action, IssueCoupon):
            code = coupon_code(action.prefix, journey.key, step.name, student_id)
            coupon = Coupon(
                code=code,
                kind=action.kind,
                value=action.value,
                valid_from=now,
                valid_until=now + action.valid_for,
                student_id=student_id,
                max_per_student=1,
                max_redemptions=1,
            )
            if uow.records.get(COUPONS, coupon.key) is None:
                uow.records.put(COUPONS, coupon.key, {"coupon": coupon.to_record(), "redeemed": 0})
            return code
        check_optional_id(action.assignee, "assignee")
        uow.record_events(
            [
                StaffTaskCreated(
                    occurred_at=now,
                    student_id=student_id,
                    journey=journey.key,
                    step=step.name,
                    title=action.title,
                    assignee=action.assignee,
                )
            ]
        )
        return action.title


def best_audience(uow: UnitOfWork, policy: NoticePolicy, student_id: str) -> planning.Audience:
    """Who gets a journey notice about the student, each on her best channel first (by
    her own response history), her other channels after it as fallbacks."""
    audience = []
    for recipient, prefs in planning.reach(uow, student_id, NOTICE_KIND, policy):
        best = best_of(uow.records.get(planning.STATS, recipient.id) or {})
        if best is not None:
            others = [c for c in (*prefs.channels, *prefs.fallback) if c != best]
            prefs = attrs.evolve(prefs, channels=(best,), fallback=tuple(dict.fromkeys(others)))
        audience.append((recipient, prefs))
    return audience


def _action_name(action: Action) -> str:
    if isinstance(action, SendNotice):
        return "notice"
    return "coupon" if isinstance(action, IssueCoupon) else "task"


def coupon_code(prefix: str, journey: str, step: str, student_id: str) -> str:
    """A coupon code of its own per (journey, step, student): a short hash of the ids
    (a student id may hold characters a code may not).

    >>> coupon_code("J", "welcome", "nudge", "ann")
    'J-BB26833C0494B4E1'
    """
    digest = hashlib.sha256(f"{journey}/{step}/{student_id}".encode()).hexdigest()
    return f"{prefix}-{digest[:16].upper()}"
