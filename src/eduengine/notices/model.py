"""Notices (通知), pure: who gets what, on which channels, when, and the delivery state
machine of one notice document (claim under a lease, acknowledge per channel, retry with
back-off, dead-letter, fall back to the next channel, quiet hours, never after class).

>>> from datetime import datetime, timezone
>>> quiet = QuietHours.parse("22:00", "08:00")
>>> quiet.ends(datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)).isoformat()
'2026-03-02T08:00:00+00:00'
>>> quiet.ends(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.kernel.codec import dt_in, dt_out, from_micros, micros
from eduengine.kernel.records import override, reader, writer

# Notice kinds: a school writes one template per kind (the template key is the kind
# unless a plan names another, e.g. ``class_reminder.1h``).
BOOKING_CONFIRMED = "booking_confirmed"
BOOKING_RESCHEDULED = "booking_rescheduled"
BOOKING_CANCELLED = "booking_cancelled"
CLASS_REMINDER = "class_reminder"
WAITLIST_PROMOTED = "waitlist_promoted"
SEAT_OFFERED = "seat_offered"
GROUP_JOINED = "group_joined"
GROUP_CLOSING_SOON = "group_closing_soon"
GROUP_FORMED = "group_formed"
GROUP_FAILED = "group_failed"
REFUND_ISSUED = "refund_issued"
ORDER_PAID = "order_paid"
PACKAGE_EXPIRING = "package_expiring"
PACKAGE_NOT_ACTIVATED = "package_not_activated"
LEVEL_UP = "level_up"
BADGE_AWARDED = "badge_awarded"

KINDS = (
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    BOOKING_CANCELLED,
    CLASS_REMINDER,
    WAITLIST_PROMOTED,
    SEAT_OFFERED,
    GROUP_JOINED,
    GROUP_CLOSING_SOON,
    GROUP_FORMED,
    GROUP_FAILED,
    REFUND_ISSUED,
    ORDER_PAID,
    PACKAGE_EXPIRING,
    PACKAGE_NOT_ACTIVATED,
    LEVEL_UP,
    BADGE_AWARDED,
)

#: what a guardian with the "receive reminders" role gets a copy of by default
GUARDIAN_KINDS = frozenset(
    {
        BOOKING_CONFIRMED,
        BOOKING_RESCHEDULED,
        BOOKING_CANCELLED,
        CLASS_REMINDER,
        WAITLIST_PROMOTED,
        SEAT_OFFERED,
        ORDER_PAID,
        REFUND_ISSUED,
        PACKAGE_EXPIRING,
        PACKAGE_NOT_ACTIVATED,
    }
)

# Channel states: pending until sent, dead (attempts used up), void (its class was
# cancelled or moved) or expired (its class started, or its offer ran out, first).
PENDING, SENT, DEAD, VOID, EXPIRED = "pending", "sent", "dead", "void", "expired"
FINAL = frozenset({SENT, DEAD, VOID, EXPIRED})

_CHANNEL = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def check_channel(name: object) -> str:
    """A channel name: any lower-case word (``wechat``, ``in_app``, ``sms``, ``email``,
    ``line``...); the registry, not this check, says whether it can be sent on."""
    if not isinstance(name, str) or not _CHANNEL.match(name):
        raise InvalidInput(f"a channel is a lower-case name like 'sms', got {name!r}")
    return name


def check_zone(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a time zone is an IANA name like 'Asia/Shanghai', got {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise InvalidInput(f"unknown time zone {name!r}") from exc
    return name


@attrs.frozen
class QuietHours:
    """A nightly window (local wall-clock, may wrap midnight) in which the ``channels``
    listed in the policy stay silent."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        try:
            return cls(time.fromisoformat(start), time.fromisoformat(end))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"quiet hours are 'HH:MM' strings, got {start!r}, {end!r}") from exc

    def to_record(self) -> list[str]:
        return [self.start.strftime("%H:%M"), self.end.strftime("%H:%M")]

    def ends(self, local: datetime) -> datetime | None:
        """When the quiet window around ``local`` (aware, in the recipient's zone) ends, or
        ``None`` if ``local`` is outside it."""
        t = local.timetz().replace(tzinfo=None)
        if self.start == self.end:
            return None
        wraps = self.start > self.end
        inside = (t >= self.start or t < self.end) if wraps else self.start <= t < self.end
        if not inside:
            return None
        day = local.date()
        if wraps and t >= self.start:
            day += timedelta(days=1)
        naive = datetime.combine(day, self.end)
        return naive.replace(tzinfo=local.tzinfo)


def _positive(instance: Any, attribute: Any, value: Sequence[timedelta]) -> None:
    if not all(isinstance(v, timedelta) and v > timedelta(0) for v in value):
        raise InvalidTimeRange(f"{attribute.name} must be positive timedeltas, got {value!r}")


def _channels(instance: Any, attribute: Any, value: Sequence[str]) -> None:
    for name in value:
        check_channel(name)


@attrs.frozen(kw_only=True)
class NoticePolicy:
    """What a school notifies, and how delivery behaves.

    ``reminders``: how long before class each reminder is due; ``closing_soon``: how long
    before a group's deadline its members get a nudge (once per group and threshold);
    ``package_warning``: how long before a lesson package expires its owner is told;
    ``activation_nudge``: how long after purchase a never-activated package is nudged;
    ``zone``, ``channels``, ``fallback``, ``quiet`` are the defaults of a recipient without
    preferences; ``quiet_channels`` are the channels quiet hours silence;
    ``guardian_kinds`` the kinds copied to guardians with the receive-reminders role;
    ``max_attempts``, ``backoff`` and ``lease`` steer delivery.
    """

    reminders: tuple[timedelta, ...] = attrs.field(
        default=(timedelta(days=1), timedelta(hours=1), timedelta(minutes=15)),
        validator=_positive,
    )
    closing_soon: tuple[timedelta, ...] = attrs.field(
        default=(timedelta(hours=2),), validator=_positive
    )
    package_warning: timedelta = timedelta(days=3)
    activation_nudge: timedelta = timedelta(days=7)
    zone: str = attrs.field(default="UTC", validator=lambda i, a, v: check_zone(v))
    channels: tuple[str, ...] = attrs.field(default=("in_app",), validator=_channels)
    fallback: tuple[str, ...] = attrs.field(default=(), validator=_channels)
    quiet: QuietHours | None = QuietHours(time(22, 0), time(8, 0))
    quiet_channels: frozenset[str] = frozenset({"sms"})
    guardian_kinds: frozenset[str] = GUARDIAN_KINDS
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)

    def __attrs_post_init__(self) -> None:
        if not self.channels:
            raise InvalidInput("a notice policy needs at least one default channel")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidInput(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise InvalidInput(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("backoff", "max_backoff", "lease", "package_warning", "activation_nudge"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise InvalidTimeRange(f"{name} must be a positive timedelta, got {value!r}")

    def retry_after(self, attempts: int) -> timedelta:
        """Back-off after the ``attempts``-th failed attempt: doubling, capped."""
        grown: timedelta = self.backoff * 2 ** max(0, attempts - 1)
        return min(grown, self.max_backoff)


@attrs.frozen(kw_only=True)
class Recipient:
    """A student, or a guardian of one (``role == "guardian"``, ``id`` is
    ``"<student_id>#guardian<n>"``); contact data is copied in for the notifier."""

    id: str
    student_id: str
    role: str = "student"
    name: str | None = None
    phone: str | None = None
    email: str | None = None

    def to_record(self) -> dict[str, Any]:
        return _recipient_out(self)

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> Recipient:
        return _recipient_in(d)


@attrs.frozen(kw_only=True)
class Preferences:
    """How a recipient is reached: ``channels`` (every one is sent on), ``fallback`` (tried
    in order when a channel is dead-lettered), ``zone`` for local times and quiet hours."""

    zone: str
    channels: tuple[str, ...]
    fallback: tuple[str, ...] = ()
    quiet: QuietHours | None = None

    def to_record(self) -> dict[str, Any]:
        return _preferences_out(self)

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> Preferences:
        return _preferences_in(d)


@attrs.frozen(kw_only=True)
class Notice:
    """One message to one recipient, as the :class:`Notifier` receives it.

    ``context`` holds what a template needs, ready to print: local times as ISO strings
    in the recipient's ``zone``, amounts as ``"199.00 CNY"``.
    """

    id: str
    kind: str
    template: str
    recipient: Recipient
    channels: tuple[str, ...]
    context: Mapping[str, Any]
    due_at: datetime
    #: never sent at or after this instant (the class start, an offer's expiry)
    not_after: datetime | None = None

    def key(self, channel: str) -> str:
        """The idempotency key to hand a provider for ``channel``."""
        return f"{self.id}:{channel}"


class Notifier(Protocol):
    """A provider of one channel (SMS gateway, e-mail, WeChat template message, in-app).

    ``send`` delivers ``notice`` on ``channel`` or raises (any exception is a failed
    attempt, retried with back-off). ``key`` is ``"<notice id>:<channel>"``: pass it to the
    provider as its idempotency key, since a worker that stalls past its lease may send a
    notice another worker has already sent.
    """

    def send(self, notice: Notice, channel: str, key: str) -> None: ...


# --- the notice document ----------------------------------------------------------


def new_record(
    *,
    notice_id: str,
    kind: str,
    template: str,
    recipient: Recipient,
    prefs: Preferences,
    context: Mapping[str, Any],
    due_at: datetime,
    not_after: datetime | None,
    subject: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": notice_id,
        "kind": kind,
        "template": template,
        "recipient": recipient.to_record(),
        "context": dict(context),
        "zone": prefs.zone,
        "quiet": None if prefs.quiet is None else prefs.quiet.to_record(),
        "due_at": dt_out(due_at),
        "not_after": None if not_after is None else dt_out(not_after),
        "subject": subject,
        "created_at": dt_out(now),
        "fallback": [c for c in prefs.fallback if c not in prefs.channels],
        "channels": {c: fresh_channel(due_at) for c in prefs.channels},
        "lease": None,
    }


def fresh_channel(at: datetime) -> dict[str, Any]:
    return {"state": PENDING, "attempts": 0, "next_at": micros(at), "error": None, "sent_at": None}


def notice_of(doc: Mapping[str, Any]) -> Notice:
    """The notice a document holds now (for a class document: its current step)."""
    context = doc["context"]
    notice_id = doc["id"]
    steps = doc.get("steps")
    if steps:
        step = steps[doc["step"]]
        notice_id = step["id"]
        if step["before"] is not None:
            context = {**context, "before": step["before"]}
    return Notice(
        id=notice_id,
        kind=doc["kind"],
        template=doc["template"],
        recipient=Recipient.from_record(doc["recipient"]),
        channels=tuple(doc["channels"]),
        context=context,
        due_at=dt_in(doc["due_at"]),
        not_after=None if doc["not_after"] is None else dt_in(doc["not_after"]),
    )


# --- a booking's class document: its confirmation and reminders as steps -----------
#
# One document per booking and recipient holds the seat's first notice (confirmed,
# promoted) and its reminders (1 day, 1 hour, 15 min) as ``steps``. The usual notice
# fields describe the current step; once every channel of it is final the document
# moves on to the next step (:func:`advance`), so a booking's notices cost one row and
# one ``due`` index entry, whatever the plan. Each step keeps its own notice id
# (``class_reminder:<booking>:1h:<recipient>``), so a provider's idempotency key
# ``<notice id>:<channel>`` names one message as before.

#: a class document's id: ``class:<booking id>:<recipient id>``
CLASS_DOC = "class"
_LABEL = re.compile(r"^(\d+[dhms])+$")


def class_doc_id(booking_id: str, recipient_id: str) -> str:
    return f"{CLASS_DOC}:{booking_id}:{recipient_id}"


def step_id(kind: str, booking_id: str, before: str | None, recipient_id: str) -> str:
    """A step's notice id, as separate notice documents were named."""
    if before is None:
        return f"{kind}:{booking_id}:{recipient_id}"
    return f"{kind}:{booking_id}:{before}:{recipient_id}"


def class_doc_candidates(notice_id: str) -> list[str]:
    """The class documents that may hold the step ``notice_id`` (ids may contain ``:``,
    so a reminder's label is looked for at each place; usually there is one)."""
    kind, _, rest = notice_id.partition(":")
    if kind in (BOOKING_CONFIRMED, WAITLIST_PROMOTED):
        return [f"{CLASS_DOC}:{rest}"]
    if kind != CLASS_REMINDER:
        return []
    parts = rest.split(":")
    return [
        f"{CLASS_DOC}:" + ":".join(parts[:i] + parts[i + 1 :])
        for i in range(1, len(parts) - 1)
        if _LABEL.match(parts[i])
    ]


def new_step(
    kind: str, template: str, booking_id: str, before: str | None, recipient_id: str, due: datetime
) -> dict[str, Any]:
    return {
        "id": step_id(kind, booking_id, before, recipient_id),
        "kind": kind,
        "template": template,
        "before": before,
        "due_at": dt_out(due),
        #: the step's channel states once it is over (``None`` while ahead or current)
        "channels": None,
    }


def with_steps(doc: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Make ``doc`` (a fresh notice document for the first step) a class document."""
    doc["steps"] = steps
    doc["step"] = 0
    doc["plan_channels"] = list(doc["channels"])
    doc["plan_fallback"] = list(doc["fallback"])
    return doc


def advance(doc: dict[str, Any]) -> bool:
    """Move a class document whose current step is over to its next step still ahead;
    returns whether it moved."""
    steps = doc.get("steps")
    moved = False
    if not steps or not finished(doc):
        return False
    # a step ended ahead of time (voided) is passed over
    ahead = [n for n in range(doc["step"] + 1, len(steps)) if steps[n]["channels"] is None]
    if ahead:
        nxt = steps[ahead[0]]
        steps[doc["step"]]["channels"] = doc["channels"]
        doc["step"] = ahead[0]
        due = dt_in(nxt["due_at"])
        doc.update(
            kind=nxt["kind"],
            template=nxt["template"],
            due_at=nxt["due_at"],
            channels={c: fresh_channel(due) for c in doc["plan_channels"]},
            fallback=list(doc["plan_fallback"]),
            lease=None,
        )
        moved = True
    return moved


def step_channels(doc: Mapping[str, Any], notice_id: str) -> dict[str, Any] | None:
    """The channel states of notice ``notice_id`` in ``doc`` (the live ones for the
    current step, pending ones for a step ahead), or ``None`` if ``doc`` lacks it."""
    steps = doc.get("steps")
    if not steps:
        return dict(doc["channels"]) if doc["id"] == notice_id else None
    for n, step in enumerate(steps):
        if step["id"] != notice_id:
            continue
        if n == doc["step"]:
            return dict(doc["channels"])
        if step["channels"] is not None:
            return dict(step["channels"])
        return {c: fresh_channel(dt_in(step["due_at"])) for c in doc["plan_channels"]}
    return None


def step_notice(doc: Mapping[str, Any], notice_id: str) -> Notice:
    """Notice ``notice_id`` of ``doc``: the current one, or a step before or ahead."""
    for n, step in enumerate(doc.get("steps") or []):
        if step["id"] == notice_id:
            channels = step_channels(doc, notice_id) or {}
            at = {**doc, "step": n, "kind": step["kind"], "template": step["template"]}
            return notice_of({**at, "due_at": step["due_at"], "channels": channels})
    return notice_of(doc)


def end_steps(doc: dict[str, Any], state: str, kinds: set[str] | None = None) -> int:
    """End the pending channels of the current step and of the steps ahead (of
    ``kinds``, or all) as ``state``; returns how many channels were ended."""
    ended = 0
    if kinds is None or doc["kind"] in kinds:
        ended += end_all(doc, state)
    steps = doc.get("steps") or []
    for step in steps[doc.get("step", 0) + 1 :]:
        if step["channels"] is None and (kinds is None or step["kind"] in kinds):
            step["channels"] = {
                c: {**fresh_channel(dt_in(step["due_at"])), "state": state}
                for c in doc["plan_channels"]
            }
            ended += len(doc["plan_channels"])
    return ended


def pending(doc: Mapping[str, Any]) -> list[str]:
    return [c for c, s in doc["channels"].items() if s["state"] == PENDING]


def finished(doc: Mapping[str, Any]) -> bool:
    return not pending(doc)


def next_due(doc: Mapping[str, Any]) -> int | None:
    """The ``due`` index value: when the document next needs a worker (its lease's end
    while leased), or ``None`` once every channel is final."""
    if finished(doc):
        return None
    lease = doc["lease"]
    if lease is not None:
        return int(lease["until"])
    return min(int(doc["channels"][c]["next_at"]) for c in pending(doc))


def settle(doc: dict[str, Any], channel: str, state: str, error: str | None = None) -> None:
    doc["channels"][channel]["state"] = state
    if error is not None:
        doc["channels"][channel]["error"] = error


def end_all(doc: dict[str, Any], state: str) -> int:
    """Make every pending channel ``state`` (void, expired); returns how many."""
    names = pending(doc)
    for name in names:
        settle(doc, name, state)
    return len(names)


def dead_letter(doc: dict[str, Any], channel: str, error: str | None, now: datetime) -> None:
    """Give up on ``channel`` and bring in the recipient's next fallback channel."""
    settle(doc, channel, DEAD, error)
    while doc["fallback"]:
        nxt = doc["fallback"].pop(0)
        if nxt not in doc["channels"]:
            doc["channels"][nxt] = fresh_channel(now)
            break


def claim(
    doc: dict[str, Any],
    *,
    now: datetime,
    owner: str,
    token: str,
    policy: NoticePolicy,
) -> tuple[list[str], dict[str, int]]:
    """Take ``doc``'s due channels under a lease for ``owner``; returns the channels taken
    and what else happened (``expired``, ``deferred``, ``dead``).

    A live lease of another worker takes nothing; an expired one is taken over (its
    attempt stays counted, so a notice that crashes every worker still ends dead). A
    notice whose class started expires; a channel inside the recipient's quiet hours
    waits for the morning unless the class starts before then.
    """
    happened = {"expired": 0, "deferred": 0, "dead": 0}
    lease = doc["lease"]
    if lease is not None and int(lease["until"]) > micros(now):
        return [], happened
    doc["lease"] = None
    not_after = None if doc["not_after"] is None else dt_in(doc["not_after"])
    if not_after is not None and now >= not_after:
        happened["expired"] = end_steps(doc, EXPIRED)
        return [], happened
    taken: list[str] = []
    local = now.astimezone(ZoneInfo(doc["zone"]))
    quiet = None if doc["quiet"] is None else QuietHours.parse(*doc["quiet"])
    seen: set[str] = set()
    # a dead letter brings in a fallback channel, due at once: look again until none is new
    while fresh := [name for name in pending(doc) if name not in seen]:
        for name in fresh:
            seen.add(name)
            state = doc["channels"][name]
            if state["next_at"] > micros(now):
                continue
            if state["attempts"] >= policy.max_attempts:
                dead_letter(doc, name, state["error"], now)
                happened["dead"] += 1
                continue
            silent = quiet is not None and name in policy.quiet_channels
            morning = quiet.ends(local) if quiet is not None and silent else None
            if morning is not None and (not_after is None or not_after > morning):
                state["next_at"] = micros(morning)
                happened["deferred"] += 1
                continue
            state["attempts"] += 1
            taken.append(name)
    if taken:
        doc["lease"] = {"owner": owner, "token": token, "until": micros(now + policy.lease)}
    return taken, happened


def acknowledge(
    doc: dict[str, Any],
    *,
    token: str,
    channel: str,
    error: str | None,
    now: datetime,
    policy: NoticePolicy,
    release: bool,
) -> str | None:
    """Record one channel's outcome if ``token`` still holds the lease; returns the
    channel's new state, or ``None`` when the lease was lost (another worker took the
    notice over, and its outcome is the one that counts)."""
    lease = doc["lease"]
    if lease is None or lease["token"] != token:
        return None
    state = doc["channels"][channel]
    if state["state"] != PENDING:
        return None  # voided while it was being sent
    if error is None:
        state["state"] = SENT
        state["sent_at"] = micros(now)
        state["error"] = None
    elif state["attempts"] >= policy.max_attempts:
        dead_letter(doc, channel, error, now)
    else:
        state["error"] = error
        state["next_at"] = micros(now + policy.retry_after(state["attempts"]))
    if release:
        doc["lease"] = None
    return str(doc["channels"][channel]["state"])


def sent_at(doc: Mapping[str, Any], channel: str) -> datetime | None:
    value = doc["channels"].get(channel, {}).get("sent_at")
    return None if value is None else from_micros(value)


def best_of(stats: Mapping[str, Mapping[str, int]]) -> str | None:
    """The channel with the best opened-per-sent rate (Laplace-smoothed, so one lucky
    message does not win over a long good record); ties go to more messages sent."""
    scored = [
        ((s.get("opened", 0) + 1) / (s.get("sent", 0) + 2), s.get("sent", 0), name)
        for name, s in stats.items()
        if s.get("sent", 0) > 0
    ]
    return max(scored)[2] if scored else None


# --- staff: the people of the school who are told of their work (issue #25) ---------

#: an SLA target of a ticket the staff member holds (or whose team she leads) is close
SLA_WARNING = "sla_warning"
#: an SLA target was breached: to the ticket's holder and her team's lead
SLA_BREACHED = "sla_breached"
#: the kinds sent to staff rather than to students and guardians (not in :data:`KINDS`)
STAFF_KINDS = (SLA_WARNING, SLA_BREACHED)
STAFF_ROLE = "staff"


def staff_recipient_id(staff_id: str) -> str:
    """The recipient id of a staff member, ``"staff:<id>"``: her notices are filed under
    it (it is also the recipient's ``student_id``, the key notices are kept by)."""
    return f"{STAFF_ROLE}:{staff_id}"


def _optional_zone(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None:
        check_zone(value)


@attrs.frozen(kw_only=True)
class StaffContact:
    """How to reach a staff member (a tutor, a head teacher, a team lead): contact data
    for the notifier, her channels (none: the policy's), fallback channels, zone (none:
    the policy's) and quiet hours (none by default: a breach is news at any hour).

    >>> contact = StaffContact(staff_id="olga", phone="13800000000", channels=("sms",))
    >>> contact.recipient().id, contact.preferences(NoticePolicy()).channels
    ('staff:olga', ('sms',))
    """

    staff_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    channels: tuple[str, ...] = attrs.field(default=(), validator=_channels)
    fallback: tuple[str, ...] = attrs.field(default=(), validator=_channels)
    zone: str | None = attrs.field(default=None, validator=_optional_zone)
    quiet: QuietHours | None = None

    def recipient(self) -> Recipient:
        rid = staff_recipient_id(self.staff_id)
        return Recipient(
            id=rid,
            student_id=rid,
            role=STAFF_ROLE,
            name=self.name,
            phone=self.phone,
            email=self.email,
        )

    def preferences(self, policy: NoticePolicy) -> Preferences:
        return Preferences(
            zone=self.zone or policy.zone,
            channels=self.channels or policy.channels,
            fallback=self.fallback,
            quiet=self.quiet,
        )

    def to_record(self) -> dict[str, Any]:
        return _staff_out(self)

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> StaffContact:
        return _staff_in(d)


# quiet hours are a ["HH:MM", "HH:MM"] pair
_QUIET = override(
    unstruct_hook=lambda quiet: None if quiet is None else quiet.to_record(),
    struct_hook=lambda pair, _: None if pair is None else QuietHours.parse(*pair),
)
_recipient_out = writer(Recipient)
_recipient_in = reader(Recipient)
_preferences_out = writer(Preferences, quiet=_QUIET)
_preferences_in = reader(Preferences, quiet=_QUIET)
_staff_out = writer(StaffContact, quiet=_QUIET)
_staff_in = reader(StaffContact, quiet=_QUIET)
