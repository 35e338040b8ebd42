"""One school, wired once: every service on one store, one clock and one message bus.

:meth:`School.build` is the only place the library's dependencies are made. Two tables
say what a command sets off: :func:`school_rules`, for each event the handlers that run
inside the command's unit of work, in order (a rule that refuses, a seat guard, rolls
the whole command back; every other rule commits or rolls back with it), and
:func:`school_reactions`, the projections of the event feed applied after the commit,
each event once (notices, reminders, lifecycle, analytics). ``school.rules()`` prints
both.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.errors import BookingRestricted
>>> from eduengine.people import SYSTEM
>>> from eduengine.policies import CancellationPolicy
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock,
...                       policy=CancellationPolicy(max_violations=1))
>>> lesson = school.booking.create_slot("math", clock.now() + timedelta(hours=2),
...                                     clock.now() + timedelta(hours=3), capacity=5)
>>> seat = school.booking.book(lesson.id, "ann")       # any service: the rules hold
>>> [r.kind for r in school.reminders.pending(seat.id, actor=SYSTEM)]
['confirmation', 'before:1h', 'before:15m']
>>> _ = school.booking.cancel(seat.id)                  # late: a violation, restricted
>>> try:
...     school.booking.book(lesson.id, "ann")
... except BookingRestricted:
...     print("refused")
refused
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, cast

import attrs

from eduengine.analytics.model import AlertRule
from eduengine.analytics.projection import analytics_rules
from eduengine.analytics.projection import flush as analytics_flush
from eduengine.analytics.projection import read_ahead as analytics_read_ahead
from eduengine.analytics.projection import reset as analytics_reset
from eduengine.analytics.service import AnalyticsService
from eduengine.availability import handlers as availability_rules
from eduengine.availability.service import AvailabilityService, RoomHook
from eduengine.booking import events as ev
from eduengine.booking import handlers as booking_rules
from eduengine.booking.feed_tokens import erase_student_token
from eduengine.booking.guards import add_seat_guard
from eduengine.booking.ical import CalendarService, CourseCatalog
from eduengine.booking.model import Booking
from eduengine.booking.queries import TimetableQueries
from eduengine.booking.service import BookingService
from eduengine.community.handlers import erase_student as erase_community_posts
from eduengine.community.handlers import membership_rules
from eduengine.community.metrics import COUNTED, count_event, reset_counts
from eduengine.community.model import RateLimits
from eduengine.community.service import CommunityService
from eduengine.community.spam import SpamRules
from eduengine.config import Plugins, SchoolSettings, load_plugins
from eduengine.deals import service as deal_rules
from eduengine.deals.clawback import CLAWBACK_PROJECTION, clawback_rules
from eduengine.deals.events import AccessGranted
from eduengine.deals.handlers import erase_student as erase_deal_data
from eduengine.deals.queries import GroupQueries
from eduengine.deals.risk import DEFAULT_ACROSS_GROUPS, DEFAULT_RULES, AcrossGroups, RiskRule
from eduengine.deals.service import DealService
from eduengine.desk.metrics import desk_reactions, reset_metrics
from eduengine.desk.model import DeskSetup
from eduengine.desk.notify import PROJECTION as DESK_NOTICES
from eduengine.desk.notify import staff_notice_rules
from eduengine.desk.satisfaction import ReviewScreen
from eduengine.desk.service import DeskService
from eduengine.errors import InvalidSetting, PaymentFailed
from eduengine.events.codec import envelope_to_json
from eduengine.events.feed import MAX_LIMIT, EventFeed, FeedStore
from eduengine.events.projections import (
    Projection,
    ProjectionRunner,
    Reactions,
    ReactionsFirst,
    reaction_projection,
)
from eduengine.growth.journeys import Journey, JourneyService, journey_rules
from eduengine.growth.results import reset_results, result_rules
from eduengine.growth.segments import SegmentService, roster_read_ahead, roster_rules
from eduengine.growth.service import ExperimentService, TemplateService
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.ids import IdFactory, uuid_ids
from eduengine.kernel.inputs import check_int
from eduengine.kernel.money import Money
from eduengine.learning import analytics as learning_stats
from eduengine.learning import handlers as learning_rules
from eduengine.learning import progress as learning_progress
from eduengine.learning.service import LearningService
from eduengine.levels.handlers import ATTENDANCE_PROJECTION, attendance_xp_rules
from eduengine.levels.model import Badge, LevelCurve, Multiplier, XpRule
from eduengine.levels.service import LevelService
from eduengine.mastery.model import DEFAULT_PARAMS, BktParams
from eduengine.mastery.review import DEFAULT_REVIEW, ReviewSettings
from eduengine.mastery.service import MasteryService, erase_mastery
from eduengine.milestones.service import MilestoneReactions, MilestoneService, erase_milestones
from eduengine.notices import handlers as notice_rules
from eduengine.notices.model import NoticePolicy, Notifier
from eduengine.notices.plan import Notifier as ReminderNotifier
from eduengine.notices.plan import ReminderPlan
from eduengine.notices.planning import erase_notices
from eduengine.notices.service import NoticeService
from eduengine.payments import Charge, PaymentGateway, PaymentOutcome, PaymentState, Refund
from eduengine.payments.intents import erase_accounts
from eduengine.payments.methods import erase_methods
from eduengine.payments.service import SETTLE_AFTER, PaymentService
from eduengine.people.access import AUDIT_BATCH, AUDIT_MODES, AUDIT_WAIT, AuditBuffer
from eduengine.people.journal import AuditJournal, recover_journals
from eduengine.people.service import PeopleService, erase_guardian_links
from eduengine.policies import fees as fee_rules
from eduengine.policies import handlers as policy_rules
from eduengine.policies.events import BookingRescheduled
from eduengine.policies.fees import CollectOnCommit, FeeService, erase_payment_account
from eduengine.policies.model import CancellationPolicy
from eduengine.policies.service import CancellationOutcome, PolicyService
from eduengine.pricing import service as pricing_rules
from eduengine.pricing.events import OrderPaid
from eduengine.pricing.referrals import DEFAULT_REFERRAL_REWARD, ReferralReward
from eduengine.pricing.rules import PriceRule
from eduengine.pricing.service import PricingService
from eduengine.pricing.shop import CatalogueService, erase_quotes
from eduengine.reminders.service import ReminderService
from eduengine.rush.service import RushService
from eduengine.service_layer.erasure import ErasureRegistry
from eduengine.service_layer.idempotency import IdempotencyKeys, erase_keys
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import EventPublisher, UnitOfWork
from eduengine.service_layer.runner import ServiceOptions
from eduengine.students import handlers as student_rules
from eduengine.students.account import PurchaseQueries
from eduengine.students.handlers import CourseCredits
from eduengine.students.lifecycle import LifecycleService
from eduengine.students.model import TagRule
from eduengine.students.privacy import AccessPolicy
from eduengine.students.roster import RosterQueries
from eduengine.students.service import StudentService

#: confirmation, then 1 day, 1 hour and 15 minutes before class
DEFAULT_PLAN = ReminderPlan()
#: confirmations, reminders (1 day, 1 hour, 15 minutes), groups, payments, packages, levels
DEFAULT_NOTICES = NoticePolicy()


class SchoolQueries(TimetableQueries, RosterQueries, GroupQueries):
    """``school.queries``: the read-only query of every page of a school site, one
    index range each, keyset paged: the timetable, a student's lessons, a tutor's week
    and live snapshots (:class:`~eduengine.booking.queries.TimetableQueries`), a class
    roster under the access check (:class:`~eduengine.students.roster.RosterQueries`),
    a campaign's groups still forming (:class:`~eduengine.deals.queries.GroupQueries`)."""


class SchoolStore(Protocol):
    """What a school needs of a store: units of work (every adapter has them)."""

    def unit_of_work(self) -> UnitOfWork: ...


class NoPaymentGateway:
    """The gateway of a school built without one: every charge is declined, so nothing is
    ever charged by accident (pass a real gateway, or ``FakePaymentGateway`` in tests)."""

    def charge(self, key: str, account: str, amount: Money) -> Charge:
        raise PaymentFailed(f"charge {key!r}: this school has no payment gateway configured")

    def refund(self, key: str, charge_id: str, amount: Money) -> Refund:
        raise PaymentFailed(f"refund {key!r}: this school has no payment gateway configured")

    def lookup(self, key: str) -> PaymentOutcome:
        return PaymentOutcome(key=key, state=PaymentState.NOT_FOUND)


def school_rules(
    bus: MessageBus,
    *,
    new_id: IdFactory,
    policy: CancellationPolicy,
    reminders: ReminderPlan | None = None,
    free_cancel_before: timedelta,
    course_credits: Mapping[str, CourseCredits],
    analytics: bool = True,
) -> dict[type[ev.DomainEvent], list[Handler]]:
    """The school's rules: for each event, the handlers run in the command's unit of work.

    A rule may refuse the command, or the very next command must see what it did (a
    credit spent, a violation filed, a tutor's time freed, an enrolment's credits). What
    only reacts to a committed event is in :func:`school_reactions` instead
    (``reminders`` and ``analytics`` are read there; they are accepted here for callers
    of 0.2).

    Order matters where rules meet: a seat guard refuses before anything is done for the
    seat; a seat handed to a refused student is withdrawn before its credit is spent; a
    late cancellation is judged before its credit is settled.
    """
    guard = booking_rules.enforce_seat_guards(bus)
    withdraw = booking_rules.withdraw_refused(bus, new_id)
    take = [student_rules.consume_course_credit]
    return {
        ev.SeatBooked: [guard, *take],
        ev.OfferAccepted: [guard, *take],
        ev.WaitlistJoined: [guard],
        ev.WaitlistPromoted: [withdraw, *take],
        ev.SeatOffered: [withdraw],
        ev.SeatReleased: [
            policy_rules.record_late_cancellation(policy),
            student_rules.settle_credit(free_cancel_before),
            availability_rules.free_tutor_time,
        ],
        ev.SlotCancelled: [availability_rules.drop_cancelled_lesson],
        ev.AttendanceMarked: [
            policy_rules.record_no_show(policy),
            student_rules.forfeit_on_no_show,
        ],
        BookingRescheduled: [student_rules.move_credit],
        OrderPaid: [student_rules.on_order_paid(course_credits)],
        AccessGranted: [student_rules.on_access_granted(course_credits)],
    }


#: the events after which a student holds a seat: lifecycle activity reacts to each of
#: them alike
_SEAT_TAKEN: tuple[type[ev.DomainEvent], ...] = (
    ev.SeatBooked,
    ev.OfferAccepted,
    ev.WaitlistPromoted,
)


def review_screen(community: CommunityService) -> ReviewScreen:
    """Reviews of courses and tutors pass the community's word list: one list per
    school, set with ``school.community.set_words``."""

    def screen(uow: UnitOfWork, text: str) -> tuple[str | None, str, tuple[str, ...]]:
        found = community.screen_in(uow, text)
        return (None if found.action is None else found.action.value, found.masked, found.words)

    return screen


def school_reactions(
    *,
    reminders: ReminderPlan | None,
    notices: NoticePolicy | None,
    analytics: bool = True,
) -> list[Projection]:
    """The school's reactions: projections of the event feed, each applied once per event
    after the command committed (:class:`eduengine.events.projections.ProjectionRunner`).

    A reaction only follows from what committed and refuses nothing: a seat's notices
    and reminders, a freed seat's voided ones, lifecycle activity (the stage a lesson
    moves a student to), analytics counters. Each is its own projection with its own
    checkpoint, so one that fails holds back only itself.

    Reminders are notices: the ``notices`` projection plans a seat's reminders with its
    notices, in one class document (one write). Only a school without notices has a
    ``reminders`` projection, which plans the reminders alone (still one row).

    >>> [p.name for p in school_reactions(reminders=DEFAULT_PLAN, notices=DEFAULT_NOTICES)]
    ['notices', 'lifecycle', 'analytics', 'community', 'community_metrics', 'learning_archive', \
'growth']
    >>> [p.name for p in school_reactions(reminders=DEFAULT_PLAN, notices=None)][:3]
    ['reminders', 'lifecycle', 'analytics']
    """
    found: list[Projection] = []
    if notices is not None:
        found.append(
            reaction_projection(
                "notices",
                notice_rules.notice_rules(notices, reminders),
                prepare=[notice_rules.read_ahead],
            )
        )
    elif reminders is not None:
        found.append(reaction_projection("reminders", notice_rules.reminder_rules(reminders)))
    active = student_rules.mark_lesson_activity
    found.append(
        reaction_projection(
            "lifecycle",
            {taken: [active] for taken in (*_SEAT_TAKEN, ev.AttendanceMarked)},
        )
    )
    if analytics:
        found.append(analytics_projection())
    # class and course groups follow enrolment, transfer and churn; the community's
    # activity and moderation volumes are counted from its events
    found.append(reaction_projection("community", membership_rules()))
    found.append(
        reaction_projection(
            "community_metrics", {e: [count_event] for e in COUNTED}, reset=reset_counts
        )
    )
    # each student's learning archive: lessons, homework, notes, levels (rebuildable)
    found.append(
        reaction_projection(
            learning_rules.ARCHIVE_PROJECTION,
            learning_rules.archive_rules(),
            reset=learning_rules.reset_archive,
        )
    )
    # experiment results: exposures and what the exposed students did after
    found.append(reaction_projection("growth", result_rules(), reset=reset_results))
    return found


def analytics_projection() -> Projection:
    """The analytics counters as a projection of the feed (``school.analytics.rebuild()``
    replays the feed into it; a school built with ``analytics=False`` still rebuilds
    through one of its own)."""
    return reaction_projection(
        "analytics",
        analytics_rules(),
        finishers=[analytics_flush],
        reset=analytics_reset,
        prepare=[analytics_read_ahead],
    )


class RunReactions:
    """The publisher that runs a school's reactions right after each command commits, in
    its process (``School.build(inline_projections=True)``); never raises."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner

    def publish(self, events: Sequence[ev.DomainEvent]) -> None:
        self.runner.defer()

    def publish_committed(
        self, events: Sequence[ev.DomainEvent], envelopes: Sequence[Envelope]
    ) -> None:
        # where the store reported the commit's feed positions, the runner needs no
        # feed query to find the command's events
        if envelopes and all(e.position is not None for e in envelopes):
            rows = [(e.position or 0, envelope_to_json(e)) for e in envelopes]
            self.runner.defer(committed=rows)
        else:
            self.runner.defer()


#: Events whose reactions a school applies together, inline (``School.build``'s
#: ``reaction_batch``), and how long the oldest may wait for the batch to fill.
REACTION_BATCH = 100
REACTION_WAIT = timedelta(milliseconds=100)


#: Every periodic job, by name, in the order they run, with what it does: the one list
#: that ``periodic_jobs``, ``eduengine run-due --help`` and docs/operations.md name.
PERIODIC_JOBS: dict[str, str] = {
    "projections": "applies committed events the reactions have not applied yet (notices, "
    "reminders, lifecycle, analytics)",
    "offers": "withdraws expired seat offers and passes the seats on",
    "rush": "admits rush-booking queues whose window has closed",
    "deals": "settles group deals past their deadline, retries refunds",
    "fees": "charges late fees due (with back-off)",
    "payments": "settles payment intents whose answer was lost",
    "notice plans": "plans package-expiry and never-activated notices",
    "alerts": "raises AlertRaised for alert rules that fire",
    "desk": "announces due SLA warnings and breaches, hands over tickets of staff away",
    "learning reports": "composes last week's learning reports and plans them as notices, "
    "once",
    "segments": "re-evaluates time-based tags and inactivity churn of students now due",
    "journeys": "takes due journey steps (notices, coupons, staff tasks), each once",
    "idempotency": "forgets idempotency keys past their expiry (24 hours)",
    "notices": "delivers due notices under leases (only when a channel has a notifier)",
    "reminders": "hands due reminders to the notifier, each once (not with --reminders skip)",
}


def _audit_folder(store: object, named: str | os.PathLike[str] | None) -> Path | None:
    """Where the audit journals of ``store`` live: the directory the host named, else
    the store's own (``audit_journals``: ``<database>.audit`` beside a SQLite database
    file), else nowhere."""
    if named is not None:
        return Path(named).absolute()
    own = getattr(store, "audit_journals", None)
    return None if own is None else Path(own)


@attrs.define(kw_only=True)
class School:
    """Every service of one school, built on one store, clock and bus.

    Build it once with :meth:`build` and share it (services are thread-safe); each
    attribute is an ordinary service, so ``school.booking.book(...)``,
    ``school.deals.join_group(...)`` and ``school.students.erase(...)`` all run the same
    rules.
    """

    bus: MessageBus
    clock: Clock
    erasure: ErasureRegistry
    booking: BookingService
    policies: PolicyService
    fees: FeeService
    reminders: ReminderService
    availability: AvailabilityService
    rush: RushService
    students: StudentService
    pricing: PricingService
    deals: DealService
    levels: LevelService
    notices: NoticeService
    payments: PaymentService
    #: committed events from any process, in commit order (every store keeps them; see
    #: :class:`eduengine.events.EventFeed`)
    feed: EventFeed
    analytics: AnalyticsService
    #: .ics feeds of students and tutors, with the host's course data
    calendar: CalendarService
    #: read-only page queries: timetables, a student's lessons, a tutor's week, live
    #: snapshots (docs/embedding.md)
    queries: SchoolQueries
    #: the school's reactions (notices, reminders, lifecycle, analytics), run from the
    #: feed after commit, each event once (see :func:`school_reactions`)
    projections: ProjectionRunner
    #: mastery per knowledge point, spaced review, the learning path, recommendations
    mastery: MasteryService
    #: class and course groups, posts, the word filter and the moderator queue
    community: CommunityService
    #: the curriculum, homework and assessments, and each student's learning archive
    learning: LearningService
    #: the service desk: tickets with business-hour SLAs (docs/desk.md)
    desk: DeskService
    #: quests, "next level by", team contests and certificates (docs/milestones.md)
    milestones: MilestoneService
    #: A/B tests: sticky assignment, exposures, per-variant results
    experiments: ExperimentService
    #: versioned message templates per kind, channel and language
    templates: TemplateService
    #: saved segments over students: counted, paged, exported, audiences (docs/growth.md)
    segments: SegmentService
    #: journeys: triggers, conditions, quiet hours, caps and steps (docs/growth.md)
    journeys: JourneyService
    #: guardian accounts, the staff registry and grants, the audit log (docs/privacy.md)
    people: PeopleService
    #: the idempotency keys of commands (their expiry sweep; docs/embedding.md)
    idempotency: IdempotencyKeys
    #: courses, packages and campaigns, their price lists, and quotes (docs/pricing.md)
    catalogue: CatalogueService
    #: a student's orders, packages and credits, paged (docs/pricing.md)
    purchases: PurchaseQueries
    #: the audit writer of ``School.build(audit="buffered")`` or ``"journal"`` (an
    #: :class:`AuditJournal`; ``None``: every unmasked read writes its audit row in its
    #: own transaction; docs/privacy.md)
    audit: AuditBuffer | None = None
    #: where the audit journals of this school's store live (``None``: nowhere)
    audit_folder: Path | None = None

    @classmethod
    def build(
        cls,
        store: SchoolStore,
        settings: SchoolSettings | None = None,
        *,
        clock: Clock | None = None,
        gateway: PaymentGateway | None = None,
        policy: CancellationPolicy | None = None,
        reminders: ReminderPlan | None = DEFAULT_PLAN,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        course_credits: Mapping[str, CourseCredits] | None = None,
        access_policy: AccessPolicy | None = None,
        xp_rules: Sequence[XpRule] = (),
        level_curve: LevelCurve | None = None,
        xp_multipliers: Sequence[Multiplier] = (),
        badges: Sequence[Badge] = (),
        titles: Mapping[int, str] | None = None,
        price_rules: Sequence[PriceRule] = (),
        max_discount: Money | None = None,
        risk_rules: Sequence[RiskRule] = DEFAULT_RULES,
        across_groups: AcrossGroups | None = DEFAULT_ACROSS_GROUPS,
        tag_rules: Sequence[TagRule] = (),
        placement_bands: Mapping[int, int] | None = None,
        room_for: RoomHook | None = None,
        notices: NoticePolicy | None = DEFAULT_NOTICES,
        notifiers: Mapping[str, Notifier] | None = None,
        settle_payments_after: timedelta = SETTLE_AFTER,
        alert_rules: Sequence[AlertRule] = (),
        analytics: bool = True,
        referral_reward: ReferralReward = DEFAULT_REFERRAL_REWARD,
        course_info: CourseCatalog | None = None,
        inline_projections: bool = True,
        mastery_params: BktParams | None = None,
        review_settings: ReviewSettings | None = None,
        community_limits: RateLimits | None = None,
        spam_rules: SpamRules | None = None,
        desk: DeskSetup | None = None,
        certificate_key: bytes | None = None,
        quest_events: Sequence[type[ev.DomainEvent]] = (),
        template_variables: Mapping[str, Mapping[str, Any]] | None = None,
        journeys: Sequence[Journey] = (),
        attendance_xp: int | XpRule | None = None,
        plugins: Plugins | None = None,
        audit: str | None = None,
        audit_rows: int = AUDIT_BATCH,
        audit_wait: timedelta = AUDIT_WAIT,
        audit_journal: str | os.PathLike[str] | None = None,
        reaction_batch: int = REACTION_BATCH,
        reaction_wait: timedelta = REACTION_WAIT,
    ) -> School:
        """Wire a school.

        ``gateway`` takes payments (none: every charge is declined); ``policy`` is the
        cancellation policy (free window, late fee, restrictions); ``reminders`` the
        reminder plan (``None``: no reminders); ``publisher`` receives every committed
        event; ``course_credits`` gives, per course, the lesson credits an enrolment
        brings; ``xp_rules``, ``level_curve``, ``xp_multipliers``, ``badges`` and
        ``titles`` set up levels; ``price_rules`` and ``max_discount`` pricing;
        ``risk_rules`` the group-deal anti-abuse rules (``across_groups`` those across
        the groups of a campaign, ``None`` to turn them off); ``tag_rules`` and
        ``placement_bands`` student tags and class placement; ``room_for`` makes the room
        (join link) of a 1-on-1 lesson; ``notices`` what the school notifies and how
        (``None``: no notice is planned) and ``notifiers`` the provider of each channel
        (more can be registered later on ``school.notices.channels``);
        ``settle_payments_after`` how old an open payment intent must be before
        ``school.payments.reconcile()`` settles it (see docs/payments.md); ``alert_rules``
        the rules ``school.analytics.evaluate_alerts()`` checks; ``analytics=False`` keeps
        no analytics counters (the queries of ``school.analytics`` see nothing counted
        while it is off, and ``school.analytics.rebuild()`` replays the feed into them);
        ``referral_reward`` the coupon a referrer is issued when the student they
        brought first pays (see :class:`eduengine.referrals.ReferralReward`);
        ``course_info`` the course catalog (title, description, location, url per course
        id, see :class:`eduengine.booking.ical.CourseInfo`) that ``school.calendar`` feeds use;
        ``community_limits`` the posting rate limits and ``spam_rules`` the spam signals of
        ``school.community`` (see docs/community.md); ``template_variables`` a school's
        own message template variables per kind, name -> sample value (docs/growth.md).

        The reactions (notices, reminders, lifecycle, analytics: :func:`school_reactions`)
        run from the feed after each command commits, in the same process, with
        ``inline_projections=True``; pass ``False`` where a worker runs them
        (``eduengine run-due --jobs projections`` or ``school.projections.catch_up()``),
        so a command returns before its reactions are applied. Inline, the reactions of
        several commands are applied together, in one unit of work: once
        ``reaction_batch`` events wait, at the first command after the oldest waited
        ``reaction_wait``, before any read through the school's services (so the
        process reads them as if each command had applied its own), at :meth:`close`
        and at the interpreter's exit; ``reaction_batch=1`` applies each command's at
        once. What waits when the process dies is in the feed: ``run-due``, a worker or
        the next build's catch-up applies it, once (docs/architecture.md).

        ``mastery_params`` are the BKT parameters of a knowledge point without its own and
        ``review_settings`` the FSRS settings new review cards use (see docs/mastery.md).
        ``desk`` sets up the service desk (team hours, SLA targets, routing; see
        :class:`eduengine.desk.model.DeskSetup`).
        ``certificate_key`` (bytes, kept secret) signs the certificates of
        ``school.milestones`` (none are issued without it; see docs/milestones.md), and
        ``quest_events`` are the event classes (with a ``student_id``) quests may count.
        ``attendance_xp`` (XP per attended lesson, or an :class:`XpRule`; ``None``: off)
        makes the ``attendance_xp`` projection award it once per booking (docs/levels.md).

        ``settings`` (a :class:`~eduengine.config.SchoolSettings`, from a TOML file and the
        environment) fill in the options left at their defaults: the cancellation policy,
        the reminder plan, notices and analytics on or off, inline reactions, the payment
        settling delay, community rate limits, attendance XP, and the plugins to load
        (docs/embedding.md). ``plugins`` adds a host's rules and reactions directly, as an
        entry-point plugin would.

        ``audit="buffered"`` queues the audit rows of unmasked reads in the process and
        writes them in batches (``audit_rows`` rows, or at the first audited read after
        ``audit_wait``; before every audit query; at :meth:`close`), so a read no longer
        waits for a write; the rows queued when the process dies are lost. The default,
        ``"synchronous"`` (or the settings' ``[school] audit``), writes each row in the
        read's transaction (docs/privacy.md).

        ``audit="journal"`` queues them too, and appends them to a journal file of the
        process before the values leave the library (one write, no fsync: they outlive
        the process being killed); they are moved into the store as the buffered ones
        are. It is the default on a SQLite database file (its journals in
        ``<database>.audit/``); elsewhere ``audit_journal`` (or the settings' ``[school]
        audit_journal``) names the journals' directory, and naming one makes it the
        default. Every build moves the journals of dead processes found there into the
        store (docs/privacy.md). The default stays ``"synchronous"`` on the memory store,
        an in-memory SQLite database and PostgreSQL.
        """
        if audit is not None and audit not in AUDIT_MODES:
            raise InvalidSetting(f"audit must be one of {AUDIT_MODES}, got {audit!r}")
        if audit_journal is not None and not isinstance(audit_journal, (str, os.PathLike)):
            raise InvalidSetting(f"audit_journal must be a directory path, got {audit_journal!r}")
        check_int(audit_rows, "audit_rows", low=1, high=100_000)
        check_int(reaction_batch, "reaction_batch", low=1, high=MAX_LIMIT)
        if not isinstance(reaction_wait, timedelta) or not (
            timedelta(0) <= reaction_wait <= timedelta(hours=1)
        ):
            raise InvalidSetting(
                f"reaction_wait must be a timedelta from 0 to 1 hour, got {reaction_wait!r}"
            )
        if not isinstance(audit_wait, timedelta) or audit_wait < timedelta(0):
            raise InvalidSetting(f"audit_wait must be a timedelta >= 0, got {audit_wait!r}")
        if settings is not None:
            # a keyword argument left at its default takes the settings' value
            policy = policy if policy is not None else settings.cancellation.policy()
            reminders = settings.reminders.plan() if reminders is DEFAULT_PLAN else reminders
            if notices is DEFAULT_NOTICES and not settings.wiring.notices:
                notices = None
            analytics = analytics and settings.wiring.analytics
            inline_projections = inline_projections and settings.wiring.inline_projections
            if settle_payments_after == SETTLE_AFTER:
                settle_payments_after = settings.wiring.settle_payments_after
            community_limits = community_limits or settings.community.limits()
            if attendance_xp is None:
                attendance_xp = settings.levels.attendance_xp
            audit = audit or settings.wiring.audit
            audit_journal = audit_journal or settings.wiring.audit_journal
            if reaction_batch == REACTION_BATCH:
                reaction_batch = settings.wiring.reaction_batch
            if reaction_wait == REACTION_WAIT:
                reaction_wait = settings.wiring.reaction_wait
            if settings.wiring.plugins:
                loaded = load_plugins(settings.wiring.plugins)
                if plugins is not None:
                    loaded.rules.update(plugins.rules)
                    for projection in plugins.projections:
                        loaded.projection(projection)
                plugins = loaded
        clock = clock or SystemClock()
        new_id = new_id or uuid_ids
        gateway = gateway or NoPaymentGateway()
        policy = policy or CancellationPolicy()
        credits = dict(course_credits or {})
        bus = MessageBus([publisher] if publisher is not None else [])
        add_seat_guard(bus, policy_rules.rights_guard(policy))
        bus.subscribe_many(
            school_rules(
                bus,
                new_id=new_id,
                policy=policy,
                free_cancel_before=policy.free_until,
                course_credits=credits,
            )
        )
        if plugins is not None:
            # a host's rules run after the library's, in the command's unit of work
            bus.subscribe_many(plugins.rules)
        # every service reads through it: it first applies the reactions this process
        # still defers (the seat's commands open theirs directly: no rule reads them)
        uow = ReactionsFirst(store.unit_of_work)
        # every adapter of the library is a FeedStore; a host's own that is not raises
        # FeedUnavailable when the feed is read
        feed = EventFeed(cast(FeedStore, store), clock=clock)
        reactions = school_reactions(reminders=reminders, notices=notices, analytics=analytics)
        # the desk's metrics and its survey after a resolved ticket
        desk = desk or DeskSetup()
        reactions.append(
            reaction_projection(
                "desk",
                desk_reactions(desk.zone, survey_after_lesson=desk.survey_after_lesson),
                reset=reset_metrics,
            )
        )
        if notices is not None:
            # SLA warnings and breaches to the ticket's holder and her team's lead
            reactions.append(
                reaction_projection(DESK_NOTICES, staff_notice_rules(desk, notices))
            )
        # levels and milestones first: the milestones projection gives quests' rewards
        # through the school's levels service
        milestone_wiring: ServiceOptions = {"clock": clock, "new_id": new_id, "bus": bus}
        levels = LevelService(
            uow,
            rules=xp_rules,
            curve=level_curve or LevelCurve.geometric(),
            multipliers=xp_multipliers,
            badges=badges,
            titles=titles,
            **milestone_wiring,
        )
        milestones = MilestoneService(
            uow,
            levels=levels,
            certificate_key=certificate_key,
            quest_events=quest_events,
            **milestone_wiring,
        )
        if attendance_xp is not None:
            # before milestones, so its XpAwarded counts for quests in the same catch-up
            reactions.append(
                reaction_projection(
                    ATTENDANCE_PROJECTION, attendance_xp_rules(levels, attendance_xp)
                )
            )
        reactions.append(reaction_projection("milestones", MilestoneReactions(milestones).table()))
        # graded work feeds mastery, each graded attempt once (docs/learning.md)
        reactions.append(
            reaction_projection(
                learning_rules.MASTERY_PROJECTION,
                learning_rules.mastery_rules(
                    mastery_params or DEFAULT_PARAMS, review_settings or DEFAULT_REVIEW
                ),
                reset=learning_rules.keep_observations,
            )
        )
        # homework rates and scores by course, class, teacher, dimension (rebuildable)
        reactions.append(
            reaction_projection(
                learning_stats.ANALYTICS_PROJECTION,
                learning_stats.analytics_rules(),
                reset=learning_stats.reset_analytics,
            )
        )
        # completion, time to complete a unit, mastery gain per lesson (rebuildable)
        reactions.append(
            reaction_projection(
                learning_progress.PROGRESS_PROJECTION,
                learning_progress.progress_rules(),
                reset=learning_progress.reset_progress,
            )
        )
        # segments' roster and retag due times; the journeys' steps that events start
        reactions.append(
            reaction_projection("segments", roster_rules(tag_rules), prepare=[roster_read_ahead])
        )
        reactions.append(reaction_projection("journeys", journey_rules(journeys)))
        # a referral reward is clawed back when the order that earned it is refunded
        reactions.append(reaction_projection(CLAWBACK_PROJECTION, clawback_rules()))
        if plugins is not None:
            reactions.extend(plugins.projections)
        if not callable(getattr(store, "read_feed", None)):
            # a host's own store that keeps no feed: its reactions run in the command's
            # unit of work, as they did before 0.3, rather than never
            for projection in reactions:
                assert isinstance(projection.apply, Reactions)
                bus.subscribe_many(projection.apply.handlers)
                for finisher in projection.apply.finishers:
                    bus.add_finisher(finisher)
            reactions = []
        runner = ProjectionRunner(
            store.unit_of_work,
            feed,
            reactions,
            clock=clock,
            defer_events=reaction_batch,
            defer_wait=reaction_wait.total_seconds(),
        )
        try:
            runner.start_at_head()
        except Exception:
            # a store not migrated yet (its feed is empty): the reactions start from
            # position 0, which is the same thing
            logging.getLogger("eduengine.projections").warning(
                "the reactions' checkpoints could not be read; they start at the feed's start",
                exc_info=True,
            )
        if inline_projections:
            # first: the reactions of a command are applied before a publisher that runs
            # a command of its own (a late fee's collection) adds more to the feed
            bus.publishers.insert(0, RunReactions(runner))
            uow.runner = runner
            feed.settle = runner.flush
        erasure = ErasureRegistry()
        # every service runs on the school's one clock, id factory and bus
        wiring: ServiceOptions = {"clock": clock, "new_id": new_id, "bus": bus}
        fees = FeeService(uow, gateway=gateway, **wiring)
        # the journeys read the segments and the templates
        templates = TemplateService(uow, variables=template_variables, **wiring)
        segments = SegmentService(
            uow, lifecycle=LifecycleService(uow, tag_rules=tag_rules, **wiring), **wiring
        )
        bus.publishers.append(CollectOnCommit(fees))
        community = CommunityService(uow, limits=community_limits, spam=spam_rules, **wiring)
        school = cls(
            bus=bus,
            clock=clock,
            feed=feed,
            projections=runner,
            erasure=erasure,
            booking=BookingService(store.unit_of_work, **wiring),
            policies=PolicyService(uow, policy=policy, reminders=reminders, **wiring),
            fees=fees,
            reminders=ReminderService(uow, **wiring),
            availability=AvailabilityService(uow, room_for=room_for, **wiring),
            rush=RushService(uow, **wiring),
            students=StudentService(
                uow,
                policy=access_policy,
                tag_rules=tag_rules,
                placement_bands=placement_bands,
                free_cancel_before=policy.free_until,
                erasure=erasure,
                **wiring,
            ),
            pricing=PricingService(
                uow,
                gateway=gateway,
                rules=price_rules,
                max_discount=max_discount,
                referral_reward=referral_reward,
                **wiring,
            ),
            deals=DealService(
                uow,
                gateway=gateway,
                risk_rules=risk_rules,
                across_groups=across_groups,
                referral_reward=referral_reward,
                **wiring,
            ),
            levels=levels,
            notices=NoticeService(
                uow,
                policy=notices,
                channels=notifiers,
                **wiring,
            ),
            payments=PaymentService(
                uow,
                gateway=gateway,
                settle_after=settle_payments_after,
                **wiring,
            ),
            analytics=AnalyticsService(
                uow,
                rules=alert_rules,
                replay=runner
                if "analytics" in runner.projections
                else ProjectionRunner(
                    store.unit_of_work, feed, [analytics_projection()], clock=clock
                ),
                **wiring,
            ),
            calendar=CalendarService(uow, course_info=course_info, **wiring),
            queries=SchoolQueries(
                uow,
                sequence_of=getattr(store, "stream_sequence", None),
                feed_head=feed.head,
                **wiring,
            ),
            mastery=MasteryService(
                uow,
                defaults=mastery_params,
                review=review_settings,
                **wiring,
            ),
            community=community,
            learning=LearningService(
                uow,
                policy=access_policy,
                mastery=MasteryService(
                    uow, defaults=mastery_params, review=review_settings, **wiring
                ),
                notices=notices,
                **wiring,
            ),
            desk=DeskService(
                uow,
                setup=desk,
                policy=access_policy,
                review_screen=review_screen(community),
                **wiring,
            ),
            milestones=milestones,
            experiments=ExperimentService(uow, **wiring),
            templates=templates,
            segments=segments,
            journeys=JourneyService(
                uow,
                journeys=journeys,
                segments=segments,
                templates=templates,
                notice_policy=notices or NoticePolicy(),
                **wiring,
            ),
            people=PeopleService(uow, **wiring),
            idempotency=IdempotencyKeys(uow, **wiring),
            catalogue=CatalogueService(
                uow, rules=price_rules, max_discount=max_discount, **wiring
            ),
            purchases=PurchaseQueries(uow, **wiring),
        )
        # one access check, under the school's policy, on every read of personal data
        school.notices.gate = school.deals.gate = school.students.gate
        school.booking.gate = school.pricing.gate = school.levels.gate = school.students.gate
        school.queries.gate = school.fees.gate = school.payments.gate = school.students.gate
        school.desk.gate = school.students.gate
        school.community.gate = school.students.gate
        school.policies.gate = school.reminders.gate = school.rush.gate = school.students.gate
        school.calendar.gate = school.students.gate
        school.experiments.gate = school.segments.gate = school.journeys.gate = school.students.gate
        school.catalogue.gate = school.purchases.gate = school.people.gate = school.students.gate
        # and one, under the same policy, on every read of a student's learning record
        school.mastery.gate = school.milestones.gate = school.learning.gate
        school.learning.mastery.gate = school.learning.gate
        folder = _audit_folder(store, audit_journal)
        if audit is None:
            audit = "synchronous" if folder is None else "journal"
        school.audit_folder = folder
        if audit == "journal":
            if folder is None:
                raise InvalidSetting(
                    "audit='journal' needs a directory for its journals: a SQLite database "
                    "file keeps them beside it; for this store name one (audit_journal=)"
                )
            school.audit = AuditJournal(
                school.people._run, folder, rows=audit_rows, wait=audit_wait
            )
        elif audit == "buffered":
            # one buffer for both gates, written through the people service's runner
            school.audit = AuditBuffer(school.people._run, rows=audit_rows, wait=audit_wait)
        school.students.gate.audit = school.learning.gate.audit = school.audit
        if folder is not None:
            school.recover_audit()
        before_close = getattr(store, "before_close", None)
        if before_close is not None:
            # a script that closes its store and exits loses no reaction and no audit row
            before_close.add(school.close)
        payments = school.payments
        payments.register(pricing_rules.ORDER_OWNER, school.pricing)
        payments.register(deal_rules.DEAL_OWNER, school.deals)
        payments.register(fee_rules.FEE_OWNER, school.fees)
        erasure.register("students", student_rules.erase_profile)
        erasure.register("notices", erase_notices)
        erasure.register("payments", erase_payment_account)
        erasure.register("deals", erase_deal_data)
        erasure.register("payment_intents", erase_accounts)
        erasure.register("mastery", erase_mastery)
        erasure.register("community", erase_community_posts)
        erasure.register("learning", learning_rules.erase_learning)
        erasure.register("desk", school.desk.erase_student)
        erasure.register("milestones", erase_milestones)
        erasure.register("calendar_tokens", erase_student_token)
        erasure.register("guardians", erase_guardian_links)
        erasure.register("idempotency", erase_keys)
        erasure.register("payment_methods", erase_methods)
        erasure.register("quotes", erase_quotes)
        return school

    def book(
        self,
        slot_id: str,
        student_id: str,
        *,
        require_credit: bool = False,
        idempotency_key: str | None = None,
    ) -> Booking:
        """The one booking command: a seat in ``slot_id`` for ``student_id`` under every
        rule of the school (restrictions, capacity, the waitlist's offers). A registered
        student's active package covering the course pays with a credit (the one
        expiring first); ``require_credit=True`` refuses with ``NoCredit`` (and books
        nothing) when she holds none. ``idempotency_key``: a retry returns the first
        answer (docs/embedding.md).

        >>> from datetime import datetime, timedelta, timezone
        >>> from eduengine import FixedClock, InMemoryStore
        >>> from eduengine.people import SYSTEM
        >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
        >>> school = School.build(InMemoryStore(), clock=clock)
        >>> start = clock.now() + timedelta(days=3)
        >>> slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        >>> _ = school.students.register("mei", name="Mei")
        >>> package = school.students.buy_package("mei", credits=4, valid_for=timedelta(days=90))
        >>> _ = school.students.activate_package(package)
        >>> seat = school.book(slot.id, "mei", require_credit=True)
        >>> school.students.packages_of("mei", actor=SYSTEM)[0].credits_left
        3
        >>> outcome = school.cancel(seat.id)
        >>> outcome.late, outcome.credit_returned
        (False, True)
        >>> school.students.packages_of("mei", actor=SYSTEM)[0].credits_left
        4
        """
        if require_credit:
            return self.students.book_paid_by_credit(
                slot_id, student_id, idempotency_key=idempotency_key
            )
        return self.booking.book(slot_id, student_id, idempotency_key=idempotency_key)

    def cancel(
        self,
        booking_id: str,
        *,
        reason_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> CancellationOutcome:
        """The one cancel command, for any seat (a class, a series' session, a 1-on-1
        lesson): inside the free window at no cost, later a violation with the policy's
        late fee; the credit that paid for the seat comes back in the free window and is
        forfeited after it. The outcome says which (``credit_returned``: ``None`` when
        no credit paid). ``reason_code`` is the school's code for why."""
        paid_by = self.students.credit_paying(booking_id)
        outcome = self.policies.cancel(
            booking_id, reason_code=reason_code, idempotency_key=idempotency_key
        )
        if paid_by is None:
            return outcome
        return attrs.evolve(outcome, credit_returned=not outcome.late)

    def close(self) -> None:
        """Apply the reactions this process still defers (``reaction_batch``), and write
        the audit rows the school still buffers or journals (``audit="buffered"`` or
        ``"journal"``, and delete its journal file). Call it when the process stops
        serving; the store stays open (whoever opened it closes it). Both are also
        done at the interpreter's exit, but not when the process is killed (the
        reactions are then applied by the next catch-up, a journal's rows filed by the
        next ``School.build`` on the store).

        >>> from eduengine import InMemoryStore
        >>> School.build(InMemoryStore(), audit="buffered").close()
        """
        self.projections.flush()
        if self.audit is not None:
            self.audit.close()

    def recover_audit(self) -> int:
        """Move into the store the audit journals of processes that died (or dropped a
        school unclosed) before moving them, and delete them; returns how many rows
        were filed. :meth:`build` runs it, and ``eduengine run-due --every`` before each
        pass; a journal a live process holds is left alone.

        >>> from eduengine import InMemoryStore
        >>> School.build(InMemoryStore()).recover_audit()
        0
        """
        if self.audit_folder is None:
            return 0
        try:
            return recover_journals(self.people._run, self.audit_folder)
        except Exception:
            # a store not migrated yet: the journals wait for the next build or run-due
            logging.getLogger("eduengine.people").warning(
                "the audit journals in %s could not be filed yet",
                self.audit_folder,
                exc_info=True,
            )
            return 0

    def reindex(self) -> dict[str, int]:
        """The one-off upgrade of a store written by a release before indexes: file every
        document under the indexes its queries read (run once after ``migrate()``, before
        serving; it reads every document of each kind). Returns documents per module."""
        return {
            "reminders": self.reminders.reindex(),
            "deals": self.deals.reindex(),
            "levels": self.levels.reindex_leaderboards(),
            "rush": self.rush.reindex_queues(),
            "packages": self.students.reindex_packages(),
            "audit": self.students.reindex_audit(),
            "tutor calendars": self.availability.migrate_calendars(),
            "notices": self.notices.reindex(),
            "analytics": self.analytics.reindex(),
            "desk": self.desk.reindex(),
            "timetable": self.queries.reindex(),
            "segments": self.segments.reindex(),
            "journeys": self.journeys.reindex(),
            "orders": self.pricing.reindex_orders(),
            "payment methods": self.payments.reindex_methods(),
        }

    def periodic_jobs(
        self, notifier: ReminderNotifier | None = None, *, worker_id: str | None = None
    ) -> dict[str, Callable[[], int]]:
        """Every job a school must run every so often that it can run now, by name, in
        the order of :data:`PERIODIC_JOBS`; each returns how much it did. Each reads only
        due rows, in short units of work, and is safe to run from several workers at
        once. ``reminders`` (due reminders passed to ``notifier``) is left out without a
        notifier, so no reminder is taken and then lost; ``notices`` (delivery, under
        leases held by ``worker_id``) is left out while no channel has a notifier
        registered, so no notice is retried into the dead letters (:meth:`idle_jobs`
        says which are left out and why). ``eduengine run-due`` runs them all.
        """
        jobs = self._jobs(notifier, worker_id=worker_id)
        return {name: jobs[name] for name in PERIODIC_JOBS if name in jobs}

    def idle_jobs(self, notifier: ReminderNotifier | None = None) -> dict[str, str]:
        """The jobs of :data:`PERIODIC_JOBS` this school cannot run now, with the reason.

        >>> from eduengine import InMemoryStore
        >>> School.build(InMemoryStore()).idle_jobs()["reminders"]
        'no reminder notifier was given (run-due --reminders stdout or URL)'
        """
        why = {
            "notices": "no notice channel has a notifier (School.build(notifiers=...), "
            "docs/notifications.md)",
            "reminders": "no reminder notifier was given (run-due --reminders stdout or URL)",
        }
        running = self._jobs(notifier, worker_id="idle")
        return {name: why.get(name, "not wired") for name in PERIODIC_JOBS if name not in running}

    def _jobs(
        self, notifier: ReminderNotifier | None = None, *, worker_id: str | None = None
    ) -> dict[str, Callable[[], int]]:
        worker = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        jobs: dict[str, Callable[[], int]] = {
            "offers": self.booking.expire_offers,
            "rush": lambda: len(self.rush.admit_due()),
            "deals": self.deals.expire_due,
            "fees": self.fees.collect_due,
            "payments": self.payments.reconcile,
            "notice plans": self.notices.plan_due,
            "alerts": lambda: len(self.analytics.evaluate_alerts()),
            "desk": self.desk.run_due,
            "learning reports": self.learning.send_due_reports,
            "segments": self.segments.sweep_due,
            "journeys": self.journeys.sweep_due,
            "idempotency": self.idempotency.forget_expired,
        }
        jobs = {"projections": lambda: sum(self.projections.catch_up().values()), **jobs}
        if self.notices.channels.names():
            jobs["notices"] = lambda: self.notices.deliver_due(worker).sent
        if notifier is not None:
            jobs["reminders"] = lambda: self.reminders.send_due(notifier)
        return jobs

    def rules(self) -> dict[str, list[tuple[str, list[str]]]]:
        """What each event sets off, as wired: under ``"rules"`` the ``(event, handlers)``
        run in the command's unit of work, in order; under ``"projection <name>"`` those
        of each reaction, run from the feed after commit.

        >>> from eduengine import InMemoryStore
        >>> table = School.build(InMemoryStore()).rules()
        >>> list(table)
        ['rules', 'projection notices', 'projection lifecycle', 'projection analytics', \
'projection community', 'projection community_metrics', 'projection learning_archive', \
'projection growth', 'projection desk', 'projection desk_notices', 'projection milestones', \
'projection learning_mastery', 'projection learning_analytics', \
'projection learning_progress', 'projection segments', 'projection journeys', \
'projection referral_clawback']
        >>> dict(table["projection notices"])["AttendanceMarked"]
        ['notices.handlers.on_attendance']
        """
        table = {"rules": self.bus.table()}
        for name, projection in self.projections.projections.items():
            if isinstance(projection.apply, Reactions):
                table[f"projection {name}"] = projection.apply.table()
            else:
                events = sorted(projection.events or ["*"])
                table[f"projection {name}"] = [(event, []) for event in events]
        return table
