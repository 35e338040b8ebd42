"""The analytics projection: counters kept from the event feed, in batches.

The rules here are the ``analytics`` projection of :func:`eduengine.bootstrap.
school_reactions`: they run after the command committed, over a batch of feed events in
one unit of work with the projection's checkpoint (so a booking's own transaction never
touches a counter, and each committed event is counted once). The rules add to a buffer
of the unit of work; :func:`flush`, the projection's finisher, writes each touched
document **once per batch**, in key order. Counters are JSON documents of kind
:data:`COUNTERS`, one per ``(family, dimension value, UTC day)``, holding one cell per
UTC hour of that day::

    key   "lesson.course|math|1772668800000000"
    doc   {"h": {"9": {"offered": 12, "booked": 10}}, "m": {...}}
    index {"lesson.course": <day micros>}

**Daily school-wide roll-ups.** Every family of :data:`ROLLED` also keeps one document
per UTC day for the whole school (family ``day:<family>``, dimension ``all``): its hour
cells summed over every dimension value, and ``by``, each dimension value's total for
the day. A month query by weekday, hour or for the school reads about 31 of them; one by
course or tutor reads their day totals, and the per-course documents of the period's
two partial days only (a period in a zone off UTC starts and ends inside a UTC day).

**Active students as bitmaps.** A student gets a number within her shard the first time
she is active (:data:`ACTIVE_IDS`, given in feed order, so a replay gives the same); each
(UTC day, shard) keeps her active hours (:data:`ACTIVE_DAYS`) and a bitmap of the numbers
active that day (:data:`ACTIVE_BITS`): a distinct count over whole days is an OR of
integers.

**Everything from the feed.** A rule reads only its event and the projection's own
documents (a slot's course, tutor and start from :class:`SlotCreated`, a group's
dimensions from :class:`GroupOpened`, a student's registration from
:class:`StudentRegistered`), never a slot or group the school's commands lock, so
``school.analytics.rebuild()`` replays the feed from its start into the same counters.
Only what the feed does not hold (a slot or group created before its event carried
these, a student registered before analytics was on) is read from the stored record.

Families, with the instant each is bucketed by:

========================  ===================  =====================================
family                    bucketed by          cells
========================  ===================  =====================================
``lesson.course|tutor``   slot start           slots, offered, booked, released,
                                               attended, no_show
``activity.course``       when it happened     bookings, lead_s, cancel:<reason>
``group.course|campaign|  group opened         opened, formed, failed, cancelled,
opener``                                       orders, new_students (+ money "value"),
                                               attributed
``students``              when it happened     registered, entered:<stage>,
                                               churn:<reason>, referred
``cohort``                registration         reached:<stage>
``fp_cohort``             first purchase       first_purchase, renewed
``levels``                level-up             level_ups, level_s (dimension: level)
========================  ===================  =====================================

Student counters are spread over :data:`SHARDS` documents by student.

**A counter never refuses a command**, and never holds one up: sums of money are kept as
decimal strings in the documents; an index value (a signed 64-bit column) is clamped to
:data:`INDEX_MAX`. A rule that still fails (a bug, a value no one foresaw) is logged and
skipped (``school.analytics.rebuild()`` recounts from the feed); only a failure of the
store itself is raised, and the batch is tried again.
"""

from __future__ import annotations

import functools
import logging
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from eduengine.booking import events as ev
from eduengine.deals.events import (
    GroupFailed,
    GroupFormed,
    GroupOpened,
    JoinAttributed,
    MemberJoined,
    RefundIssued,
    RegistrationAttributed,
)
from eduengine.deals.records import CAMPAIGNS, GROUPS
from eduengine.errors import EduEngineError, PersistenceError
from eduengine.kernel.codec import dt_in, micros
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.money import Money
from eduengine.levels.events import LevelUp
from eduengine.pricing.events import OrderPaid, ReferralRewarded
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as rec
from eduengine.students.events import StudentErased

COUNTERS = "analytics_counter"
#: one marker per (student, UTC hour) the student was active in (before 0.4: a rebuild
#: drops them, :data:`ACTIVE_DAYS` holds the same)
ACTIVE = "analytics_active"
#: one document per (UTC day, student shard): each active student's active hours that day
#: (``s``), and her number (``n``, see :data:`ACTIVE_IDS`)
ACTIVE_DAYS = "analytics_active_day"
#: one document per (UTC day, student shard), keyed ``"<day>|<shard>"``: the shard's
#: students active that day as a bitmap of their numbers (``b``, hexadecimal), so a
#: distinct count over whole days is an OR of integers, not a union of names
ACTIVE_BITS = "analytics_active_bits"
#: one document per student seen active: her number within her shard (``n``), given in
#: feed order (a rebuild gives the same numbers)
ACTIVE_IDS = "analytics_active_id"
#: one document per student shard: the next number to give (``next``)
ACTIVE_SEQ = "analytics_active_seq"
#: one document per erased student (index ``at``): an erased opener is shown as ``erased``
ERASED = "analytics_erased"
#: one document per student: stage reached, first purchase, spend (segments read its indexes)
PROFILES = "analytics_student"
#: one document per slot: its course, tutor and start, as :class:`SlotCreated` gave them
SLOTS = "analytics_slot"
#: one document per group deal: the hour it opened, its course, campaign and opener
GROUP_DIMS = "analytics_group"
#: every kind the projection writes: what a rebuild clears
KINDS = (
    COUNTERS,
    ACTIVE,
    ACTIVE_DAYS,
    PROFILES,
    SLOTS,
    GROUP_DIMS,
    ACTIVE_BITS,
    ACTIVE_IDS,
    ACTIVE_SEQ,
    ERASED,
)
#: the kinds written with no index entry (read by key only)
UNINDEXED = frozenset({ACTIVE_BITS, ACTIVE_IDS, ACTIVE_SEQ})
#: the projection's name, and its checkpoint's key
PROJECTION = "analytics"

log = logging.getLogger("eduengine.analytics")

#: the largest value an index holds (a signed 64-bit column in SQL); a spend beyond it
#: (92 233 720 368 547 758 units of a currency) is filed at it, in the top band
INDEX_MAX = 2**63 - 1

HOUR = 3_600_000_000
DAY = 24 * HOUR
#: student counters are spread over this many documents
SHARDS = 8
#: the funnel's steps, in order (churn is a state, not a step)
FUNNEL = ("registered", "trial", "first_purchase", "renewed")

LESSON_COURSE = "lesson.course"
LESSON_TUTOR = "lesson.tutor"
ACTIVITY = "activity.course"
GROUP_FAMILIES = {"course": "group.course", "campaign": "group.campaign", "opener": "group.opener"}
STUDENTS = "students"
COHORT = "cohort"
FP_COHORT = "fp_cohort"
LEVELS = "levels"
#: the families with a daily school-wide roll-up (see :func:`rollup`)
ROLLED = frozenset({LESSON_COURSE, LESSON_TUTOR, ACTIVITY, *GROUP_FAMILIES.values()})
#: the dimension value of a roll-up document
SCHOOL = "all"


def rollup(family: str) -> str:
    """The family of ``family``'s daily school-wide roll-up documents.

    >>> rollup(LESSON_COURSE)
    'day:lesson.course'
    """
    return f"day:{family}"


def hour_of(at: datetime) -> int:
    """The UTC hour bucket (micros) ``at`` falls in."""
    return micros(at) // HOUR * HOUR


def clamp_index(value: int) -> int:
    """``value`` within what an index column holds (see :data:`INDEX_MAX`).

    >>> clamp_index(10**19) == INDEX_MAX, clamp_index(-(10**19)) == -INDEX_MAX
    (True, True)
    """
    return max(-INDEX_MAX, min(INDEX_MAX, value))


def never_refuse(rule: Handler) -> Handler:
    """``rule``, but a failure to count is logged instead of failing the batch.

    A store failure is still raised: the batch's transaction cannot commit after it.
    """

    @functools.wraps(rule)
    def counting(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        _guarded(lambda: rule(event, uow), f"{type(event).__name__} by {rule.__name__}")

    return counting


def _guarded(count: Callable[[], None], what: str) -> None:
    try:
        count()
    except PersistenceError:
        raise
    except Exception:
        # a counter is a projection: losing one count beats holding back every later one
        log.exception("analytics could not count %s; the batch goes on without it", what)


def shard(student_id: str) -> str:
    return f"s{zlib.crc32(student_id.encode()) % SHARDS}"


Counts = dict[str, int]
Sums = dict[str, Decimal]


@attrs.define
class Pending:
    """What one batch (one unit of work) changes, written by :func:`flush` at its end:
    each touched document once."""

    counts: dict[tuple[str, str, int], dict[str, Counts]] = attrs.field(factory=dict)
    money: dict[tuple[str, str, int], dict[str, Sums]] = attrs.field(factory=dict)
    #: (roll-up family, day) -> dimension value -> its counts (money) for the whole day
    totals: dict[tuple[str, int], dict[str, Counts]] = attrs.field(factory=dict)
    total_money: dict[tuple[str, int], dict[str, Sums]] = attrs.field(factory=dict)
    active: set[tuple[str, int]] = attrs.field(factory=set)
    #: the projection's own documents (profiles, slots, groups) read in the batch, as
    #: changed so far (``None``: there is none)
    docs: dict[tuple[str, str], dict[str, Any] | None] = attrs.field(factory=dict)
    dirty: set[tuple[str, str]] = attrs.field(factory=set)


_PENDING: weakref.WeakKeyDictionary[UnitOfWork, Pending] = weakref.WeakKeyDictionary()


def _pending(uow: UnitOfWork) -> Pending:
    found = _PENDING.get(uow)
    if found is None:
        found = _PENDING[uow] = Pending()
    return found


def _doc(uow: UnitOfWork, kind: str, key: str) -> dict[str, Any] | None:
    """One of the projection's own documents, read once per batch."""
    docs = _pending(uow).docs
    if (kind, key) not in docs:
        read = _unindexed_get if kind in UNINDEXED else _get
        docs[kind, key] = read(uow, kind, key)
    return docs[kind, key]


def _get(uow: UnitOfWork, kind: str, key: str) -> dict[str, Any] | None:
    return uow.records.get(kind, key)


def _unindexed_get(uow: UnitOfWork, kind: str, key: str) -> dict[str, Any] | None:
    """``get`` of a document filed under no index, through ``get_many`` where the store
    has it: a SQL store then knows it has no index entries, and its rewrite is one
    statement, not two."""
    many = getattr(uow.records, "get_many", None)
    if many is None:
        return uow.records.get(kind, key)
    found: dict[str, dict[str, Any] | None] = many(kind, [key])
    return found.get(key)


def _keep(uow: UnitOfWork, kind: str, key: str, doc: dict[str, Any]) -> None:
    """Change one of the projection's own documents; :func:`flush` writes it."""
    pending = _pending(uow)
    pending.docs[kind, key] = doc
    pending.dirty.add((kind, key))


def _add(cell: Counts, counts: Mapping[str, int]) -> None:
    for name, delta in counts.items():
        cell[name] = cell.get(name, 0) + delta


def _add_money(sums: Sums, money: Money) -> None:
    sums[money.currency] = sums.get(money.currency, Decimal(0)) + money.amount


def bump(
    uow: UnitOfWork,
    family: str,
    dim: str,
    hour: int,
    counts: Mapping[str, int],
    money: Money | None = None,
) -> None:
    """Add ``counts`` (and ``money`` to the ``value`` sum) to one hour's cell, and to the
    family's daily roll-up, at the end of the batch (see :func:`flush`)."""
    pending = _pending(uow)
    day = hour // DAY * DAY
    cell_key = str((hour - day) // HOUR)
    _add(pending.counts.setdefault((family, dim, day), {}).setdefault(cell_key, {}), counts)
    if money is not None:
        _add_money(pending.money.setdefault((family, dim, day), {}).setdefault(cell_key, {}), money)
    if family not in ROLLED:
        return
    rolled = rollup(family)
    _add(pending.counts.setdefault((rolled, SCHOOL, day), {}).setdefault(cell_key, {}), counts)
    _add(pending.totals.setdefault((rolled, day), {}).setdefault(dim, {}), counts)
    if money is not None:
        hourly = pending.money.setdefault((rolled, SCHOOL, day), {}).setdefault(cell_key, {})
        _add_money(hourly, money)
        _add_money(pending.total_money.setdefault((rolled, day), {}).setdefault(dim, {}), money)


def mark_active(uow: UnitOfWork, student_id: str, at: datetime) -> None:
    """The student did something that counts as active (booked, attended, paid)."""
    active_number(uow, student_id)  # given here, in feed order, whatever the batch size
    _pending(uow).active.add((student_id, hour_of(at)))


def active_number(uow: UnitOfWork, student_id: str) -> int:
    """The student's number within her shard (:func:`shard`): her bit in the
    :data:`ACTIVE_BITS` bitmaps, given the first time she is active."""
    doc = _doc(uow, ACTIVE_IDS, student_id)
    if doc is None:
        part = shard(student_id)
        seq = _doc(uow, ACTIVE_SEQ, part) or {"next": 0}
        doc = {"n": int(seq["next"])}
        _keep(uow, ACTIVE_SEQ, part, {"next": doc["n"] + 1})
        _keep(uow, ACTIVE_IDS, student_id, doc)
    return int(doc["n"])


def flush(uow: UnitOfWork) -> None:
    """Write what the batch changed, each document once, in key order (the projection's
    finisher: one write per touched counter, roll-up or profile per batch, however many
    events touched it)."""
    pending = _PENDING.pop(uow, None)
    if pending is None:
        return
    keys = pending.counts.keys() | pending.money.keys()
    keys |= {(family, SCHOOL, day) for family, day in pending.totals}
    days: dict[str, list[tuple[str, int]]] = {}
    for student_id, hour in sorted(pending.active):
        day = hour // DAY * DAY
        days.setdefault(f"{day}|{shard(student_id)}", []).append((student_id, hour - day))
    # every document the batch rewrites, in one query where the store can
    stored = _read_across(
        uow,
        {
            COUNTERS: [f"{f}|{d}|{day}" for f, d, day in keys],
            ACTIVE_DAYS: list(days),
            ACTIVE_BITS: list(days),
        },
    )
    counters = stored.get(COUNTERS, {})
    for family, dim, day in sorted(keys):
        _guarded(
            functools.partial(_write_counter, uow, pending, family, dim, day, counters),
            f"counter {family}|{dim}|{day}",
        )
    plain: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, key in sorted(pending.dirty):
        doc = pending.docs[kind, key]
        if doc is None:
            continue
        if kind in PLAIN:
            plain.setdefault(kind, {})[key] = doc
        else:
            _guarded(functools.partial(_write_doc, uow, kind, key, doc), f"{kind} {key}")
    for kind, docs in sorted(plain.items()):
        _write_plain(uow, kind, docs)
    numbers = {
        student_id: int(doc["n"])
        for (kind, student_id), doc in pending.docs.items()
        if kind == ACTIVE_IDS and doc is not None
    }
    bits: dict[str, dict[str, Any]] = {}
    for key, seen in sorted(days.items()):
        _guarded(
            functools.partial(_write_active, uow, key, seen, numbers, stored, bits),
            f"active {key}",
        )
    _write_plain(uow, ACTIVE_BITS, bits)


#: the kinds of the projection's documents written with no index entry, several of a
#: kind in one statement where the store can (``records.put_many``)
PLAIN = frozenset({SLOTS, GROUP_DIMS, ACTIVE_IDS, ACTIVE_SEQ})


def _write_plain(uow: UnitOfWork, kind: str, docs: Mapping[str, dict[str, Any]]) -> None:
    """``put`` of each of ``docs`` (no index entries), in one statement where the store
    can; if that fails but for the store, each alone (a bad one fails alone, logged)."""
    if not docs:
        return
    put_many = getattr(uow.records, "put_many", None)
    if put_many is not None:
        try:
            put_many(kind, docs)
            return
        except PersistenceError:
            raise
        except Exception:
            pass  # written one by one below, each failure logged on its own
    for key, doc in sorted(docs.items()):
        _guarded(functools.partial(uow.records.put, kind, key, doc), f"{kind} {key}")


#: the events whose rules read a slot's analytics document (:func:`_slot`)
_SLOT_EVENTS = (
    ev.SeatBooked,
    ev.WaitlistPromoted,
    ev.OfferAccepted,
    ev.SeatReleased,
    ev.AttendanceMarked,
    ev.CapacityChanged,
    ev.SlotCancelled,
)
#: the events whose rules may number a student (:func:`mark_active`)
_ACTIVE_EVENTS = (
    ev.SeatBooked,
    ev.WaitlistPromoted,
    ev.OfferAccepted,
    ev.AttendanceMarked,
    MemberJoined,
    OrderPaid,
)


def read_ahead(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """The projection's ``prepare``: read the documents its rules read per event (each
    seat's slot document, each active student's number and her shard's sequence) in one
    query for the batch, where the store can, and hold them for the rules (a rule reads
    each of the projection's documents once per batch, see :func:`_doc`).

    >>> from eduengine import InMemoryStore
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     read_ahead(uow, [])
    """
    events = [e.event for e in envelopes]
    slots = {e.slot_id for e in events if isinstance(e, _SLOT_EVENTS)}
    students = {e.student_id for e in events if isinstance(e, _ACTIVE_EVENTS)}
    if not slots and not students:
        return
    docs = _pending(uow).docs
    wanted = {
        SLOTS: [k for k in slots if (SLOTS, k) not in docs],
        ACTIVE_IDS: [k for k in students if (ACTIVE_IDS, k) not in docs],
        ACTIVE_SEQ: [k for k in {shard(s) for s in students} if (ACTIVE_SEQ, k) not in docs],
    }
    for kind, found in _read_across(uow, wanted).items():
        for key, doc in found.items():
            docs.setdefault((kind, key), doc)


#: keys per ``records.get_many`` of :func:`_read_ahead` (SQLite binds at most 999)
READ_AHEAD = 400


def _read_ahead(
    uow: UnitOfWork, kind: str, keys: Iterable[str]
) -> dict[str, dict[str, Any] | None]:
    """The documents ``keys`` of ``kind``, in one query per :data:`READ_AHEAD` keys where
    the store can (``records.get_many``; locked like ``get``, in key order): a batch
    writes each, so reading them one by one costs a statement each. Empty when the store
    cannot, or a document does not parse: each write then reads its own (and a bad one
    fails alone)."""
    get_many = getattr(uow.records, "get_many", None)
    wanted = sorted(set(keys))
    found: dict[str, dict[str, Any] | None] = {}
    if get_many is None or not wanted:
        return found
    try:
        for at in range(0, len(wanted), READ_AHEAD):
            found.update(get_many(kind, wanted[at : at + READ_AHEAD]))
    except PersistenceError:
        raise
    except Exception:
        return {}
    return found


def _read_across(
    uow: UnitOfWork, wanted: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """:func:`_read_ahead` of several kinds (kind -> keys), in one query where the store
    reads several kinds at once (``records.get_across``); by kind, then key. A kind is
    left out when the store cannot, or a document does not parse (as there)."""
    wanted = {kind: sorted(set(keys)) for kind, keys in wanted.items() if keys}
    get_across = getattr(uow.records, "get_across", None)
    if get_across is None or getattr(uow.records, "get_many", None) is None:
        return {kind: _read_ahead(uow, kind, keys) for kind, keys in wanted.items()}
    found: dict[str, dict[str, dict[str, Any] | None]] = {}
    if not wanted:
        return found
    try:
        rows: Mapping[tuple[str, str], dict[str, Any] | None] = get_across(wanted)
    except PersistenceError:
        raise
    except Exception:
        return {}
    for (kind, key), doc in rows.items():
        found.setdefault(kind, {})[key] = doc
    return found


def _stored(
    uow: UnitOfWork, kind: str, key: str, known: Mapping[str, dict[str, Any] | None]
) -> dict[str, Any] | None:
    return known[key] if key in known else uow.records.get(kind, key)


def _write_active(
    uow: UnitOfWork,
    key: str,
    seen: list[tuple[str, int]],
    numbers: Mapping[str, int],
    stored: Mapping[str, Mapping[str, dict[str, Any] | None]],
    bitmaps: dict[str, dict[str, Any]],
) -> None:
    """Write the day document ``key`` and put its bitmap in ``bitmaps`` (written for
    every day at once); ``stored``: the documents read ahead, by kind and key."""
    day = int(key.partition("|")[0])
    doc = _stored(uow, ACTIVE_DAYS, key, stored.get(ACTIVE_DAYS, {})) or {"day": day, "s": {}}
    known: dict[str, int] = doc.setdefault("n", {})
    ahead = stored.get(ACTIVE_BITS, {})
    bits_doc = (ahead[key] if key in ahead else _unindexed_get(uow, ACTIVE_BITS, key)) or {
        "day": day,
        "b": "0",
    }
    bits = int(bits_doc["b"], 16)
    for student_id, offset in seen:
        hours: list[int] = doc["s"].setdefault(student_id, [])
        cell = offset // HOUR
        if cell not in hours:
            hours.append(cell)
        number = numbers.get(student_id)
        if number is not None:  # None: a rule failed before numbering her (logged)
            known[student_id] = number
            bits |= 1 << number
    uow.records.put(ACTIVE_DAYS, key, doc, index={"day": day})
    bits_doc["b"] = format(bits, "x")
    if len(known) < len(doc["s"]):
        # someone counted that day without a number (before the bitmaps were kept, or a
        # rule that failed): the queries read this day from its day document
        bits_doc["partial"] = True
    # read by key (the period's days and shards), so it needs no index entry
    bitmaps[key] = bits_doc


def _write_doc(uow: UnitOfWork, kind: str, key: str, doc: dict[str, Any]) -> None:
    if kind == PROFILES:
        put_profile(uow, key, doc)
    elif kind == ERASED:
        uow.records.put(kind, key, doc, index={"at": doc["at"]})
    else:
        uow.records.put(kind, key, doc)


def _merge_counts(into: dict[str, Counts], changes: Mapping[str, Counts]) -> None:
    for cell_key, deltas in changes.items():
        cell = into.setdefault(cell_key, {})
        for name, delta in deltas.items():
            if delta:
                cell[name] = cell.get(name, 0) + delta


def _merge_money(into: dict[str, dict[str, str]], changes: Mapping[str, Sums]) -> None:
    for cell_key, amounts in changes.items():
        sums = into.setdefault(cell_key, {})
        for currency, amount in amounts.items():
            sums[currency] = str(Decimal(sums.get(currency, "0")) + amount)


def _write_counter(
    uow: UnitOfWork,
    pending: Pending,
    family: str,
    dim: str,
    day: int,
    known: Mapping[str, dict[str, Any] | None],
) -> None:
    key = f"{family}|{dim}|{day}"
    doc = _stored(uow, COUNTERS, key, known) or {
        "f": family,
        "d": dim,
        "day": day,
        "h": {},
        "m": {},
    }
    _merge_counts(doc["h"], pending.counts.get((family, dim, day), {}))
    _merge_money(doc["m"], pending.money.get((family, dim, day), {}))
    if dim == SCHOOL and (family, day) in pending.totals:
        _merge_counts(doc.setdefault("by", {}), pending.totals[family, day])
        _merge_money(doc.setdefault("bym", {}), pending.total_money.get((family, day), {}))
    uow.records.put(COUNTERS, key, doc, index={family: day})


def reset(uow: UnitOfWork) -> None:
    """Drop every document the projection wrote (its ``reset``, for a rebuild)."""
    for kind in KINDS:
        for key, _ in uow.records.list(kind):
            uow.records.delete(kind, key)


# --- lessons ----------------------------------------------------------------------------


def _slot(uow: UnitOfWork, slot_id: str) -> dict[str, Any]:
    """The slot's course, tutor and start, as the projection recorded them."""
    doc = _doc(uow, SLOTS, slot_id)
    if doc is None:
        # a slot created before analytics counted it: its record, read (and locked) once
        slot = uow.slots.get(slot_id)
        doc = {"course": slot.course_id, "tutor": slot.tutor_id, "start": micros(slot.start)}
        _keep(uow, SLOTS, slot_id, doc)
    return doc


def _lesson(uow: UnitOfWork, slot_id: str, counts: Mapping[str, int]) -> dict[str, Any]:
    slot = _slot(uow, slot_id)
    hour = slot["start"] // HOUR * HOUR
    bump(uow, LESSON_COURSE, slot["course"], hour, counts)
    if slot["tutor"] is not None:
        bump(uow, LESSON_TUTOR, slot["tutor"], hour, counts)
    return slot


def on_slot_created(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SlotCreated)
    tutor = event.tutor_id
    if tutor is None:
        # a feed row from before SlotCreated carried the tutor reads like "no tutor"
        tutor = _stored_tutor(uow, event.slot_id)
    doc = {"course": event.course_id, "tutor": tutor, "start": micros(event.start)}
    _keep(uow, SLOTS, event.slot_id, doc)
    _lesson(uow, event.slot_id, {"slots": 1, "offered": event.capacity})


def _stored_tutor(uow: UnitOfWork, slot_id: str) -> str | None:
    try:
        return uow.slots.get(slot_id).tutor_id
    except PersistenceError:
        raise
    except EduEngineError:
        return None  # no such slot any more: counted without a tutor


def on_capacity_changed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.CapacityChanged)
    _lesson(uow, event.slot_id, {"offered": event.capacity - event.old_capacity})


def on_slot_cancelled(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A cancelled session offers no seat (its released seats are counted one by one)."""
    assert isinstance(event, ev.SlotCancelled)
    _lesson(uow, event.slot_id, {"slots": -1, "offered": -event.capacity})


def on_seat_taken(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
    slot = _lesson(uow, event.slot_id, {"booked": 1})
    lead = max(0, (slot["start"] - micros(event.occurred_at)) // 1_000_000)
    bump(uow, ACTIVITY, slot["course"], hour_of(event.occurred_at), {"bookings": 1, "lead_s": lead})
    mark_active(uow, event.student_id, event.occurred_at)


def cancel_label(reason: str, reason_code: str | None) -> str:
    """The reason a released seat is counted under: the school's code, else how it was
    released (a student's cancellation without a code is ``unspecified``)."""
    if reason_code is not None:
        return reason_code
    return "unspecified" if reason == "cancelled" else reason


def on_seat_released(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SeatReleased)
    slot = _lesson(uow, event.slot_id, {"released": 1})
    label = cancel_label(event.reason, event.reason_code)
    bump(uow, ACTIVITY, slot["course"], hour_of(event.occurred_at), {f"cancel:{label}": 1})


def on_attendance(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.AttendanceMarked)
    counts = {event.status: 1}
    if event.previous in ("attended", "no_show"):
        counts[event.previous] = -1  # a corrected mark moves the seat, never counts it twice
    _lesson(uow, event.slot_id, counts)
    if event.status == "attended":
        mark_active(uow, event.student_id, event.occurred_at)


# --- group deals ------------------------------------------------------------------------


def _group_dims(uow: UnitOfWork, group_id: str) -> dict[str, Any] | None:
    doc = _doc(uow, GROUP_DIMS, group_id)
    if doc is not None:
        return doc
    # a group opened before analytics counted it: its records, read once
    group = uow.records.get(GROUPS, group_id)
    if group is None:
        return None
    campaign = uow.records.get(CAMPAIGNS, group["campaign_id"]) or {}
    doc = {
        "hour": hour_of(dt_in(group["opened_at"])),
        "course": str(campaign.get("course_id", "?")),
        "campaign": str(group["campaign_id"]),
        "opener": str(group["initiator"]),
    }
    _keep(uow, GROUP_DIMS, group_id, doc)
    return doc


def _group(
    uow: UnitOfWork, group_id: str, counts: Mapping[str, int], money: Money | None = None
) -> None:
    dims = _group_dims(uow, group_id)
    if dims is None:
        return
    for by, family in GROUP_FAMILIES.items():
        bump(uow, family, dims[by], dims["hour"], counts, money)


def on_group_event(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    if isinstance(event, GroupOpened):
        course = event.course_id
        if course is None:  # a feed row from before GroupOpened carried the course
            campaign = uow.records.get(CAMPAIGNS, event.campaign_id) or {}
            course = str(campaign.get("course_id", "?"))
        doc = {
            "hour": hour_of(event.occurred_at),
            "course": course,
            "campaign": event.campaign_id,
            "opener": event.initiator,
        }
        _keep(uow, GROUP_DIMS, event.group_id, doc)
        _group(uow, event.group_id, {"opened": 1})
    elif isinstance(event, GroupFormed):
        _group(uow, event.group_id, {"formed": 1})
    elif isinstance(event, GroupFailed):
        _group(uow, event.group_id, {"cancelled" if event.cancelled else "failed": 1})
    elif isinstance(event, MemberJoined):
        new = event.new_student and not event.is_initiator
        _group(uow, event.group_id, {"orders": 1, "new_students": int(new)}, event.amount)
        _spend(uow, event.student_id, event.amount, event.occurred_at)
        mark_active(uow, event.student_id, event.occurred_at)
    elif isinstance(event, RefundIssued):
        _spend(uow, event.student_id, -event.amount, event.occurred_at)


def on_attributed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A student a share link brought (her first touch, before any paid order): counted
    as :class:`eduengine.deals.metrics.DealMetrics` counts her (the viral coefficient's
    numerator), under the link's campaign, its sharer as opener and the course of the
    group she came to, in the hour that group opened (a link without a group: the hour
    she came)."""
    assert isinstance(event, RegistrationAttributed | JoinAttributed)
    if not (event.first_touch and event.new_student):
        return
    dims = None if event.group_id is None else _group_dims(uow, event.group_id)
    hour = hour_of(event.occurred_at) if dims is None else dims["hour"]
    counts = {"attributed": 1}
    bump(uow, GROUP_FAMILIES["campaign"], event.campaign_id, hour, counts)
    bump(uow, GROUP_FAMILIES["opener"], event.sharer_id, hour, counts)
    if dims is not None:
        bump(uow, GROUP_FAMILIES["course"], dims["course"], hour, counts)


# --- students ---------------------------------------------------------------------------


def on_erased(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """An erased student: the group queries show her as ``erased`` where she opened."""
    assert isinstance(event, StudentErased)
    _keep(uow, ERASED, event.student_id, {"at": micros(event.occurred_at)})


def _new_profile(registered: int) -> dict[str, Any]:
    return {
        "registered": registered,
        "stage": "registered",
        "since": registered,
        "reached": 0,
        "trial": False,
        "first_purchase": None,
        "level_at": None,
        "spend": {},
    }


def _profile(uow: UnitOfWork, student_id: str, at: datetime) -> dict[str, Any] | None:
    """The student's analytics document, made by their registration; a student registered
    (by their record) strictly before ``at`` whose registration the projection never saw
    (registered before analytics counted) gets one from their record, dated at their
    real registration. What a student did before registering is not theirs to count, so
    a replay of the feed counts exactly what the live projection did."""
    doc = _doc(uow, PROFILES, student_id)
    if doc is not None:
        return doc
    record = uow.records.get(rec.STUDENTS, student_id)
    if record is None:
        return None
    registered = dt_in(record["facts"]["registered_at"])
    if registered >= at:
        return None
    return _new_profile(micros(registered))


def put_profile(uow: UnitOfWork, student_id: str, doc: dict[str, Any]) -> None:
    index = {f"stage:{doc['stage']}": doc["since"]}
    for currency, amount in doc["spend"].items():
        # spend in hundredths of the currency unit: segments count bands of it
        index[f"spend:{currency}"] = clamp_index(int(Decimal(amount) * 100))
    uow.records.put(PROFILES, student_id, doc, index=index)


def _spend(uow: UnitOfWork, student_id: str, amount: Money, at: datetime) -> None:
    doc = _profile(uow, student_id, at)
    if doc is None:
        return
    total = Decimal(doc["spend"].get(amount.currency, "0")) + amount.amount
    doc["spend"][amount.currency] = str(total)
    _keep(uow, PROFILES, student_id, doc)


def on_registered(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, rec.StudentRegistered)
    hour = hour_of(event.occurred_at)
    bump(uow, STUDENTS, shard(event.student_id), hour, {"registered": 1})
    bump(uow, COHORT, shard(event.student_id), hour, {"reached:registered": 1})
    doc = _doc(uow, PROFILES, event.student_id) or _new_profile(micros(event.occurred_at))
    _keep(uow, PROFILES, event.student_id, doc)


def on_stage_changed(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, rec.StageChanged)
    sid = event.student_id
    counts = {f"entered:{event.stage}": 1}
    if event.stage == "churned":
        counts[f"churn:{event.reason_code or 'unspecified'}"] = 1
    bump(uow, STUDENTS, shard(sid), hour_of(event.occurred_at), counts)
    doc = _profile(uow, sid, event.occurred_at)
    if doc is None:
        return
    now = micros(event.occurred_at)
    if event.stage in FUNNEL:
        rank = FUNNEL.index(event.stage)
        cohort_hour = doc["registered"] // HOUR * HOUR
        # the trial step counts real trials only, whenever one comes (a purchase without
        # a trial is not one); a profile kept before this was recorded counted its trial
        # step with any later step
        had_trial = doc.get("trial", doc["reached"] >= 1)
        if event.stage == "trial" and not had_trial:
            bump(uow, COHORT, shard(sid), cohort_hour, {"reached:trial": 1})
        doc["trial"] = had_trial or event.stage == "trial"
        # a renewal without a recorded first purchase reached both purchase steps
        for step in range(doc["reached"] + 1, rank + 1):
            if FUNNEL[step] == "trial":
                continue
            bump(uow, COHORT, shard(sid), cohort_hour, {f"reached:{FUNNEL[step]}": 1})
            if FUNNEL[step] == "first_purchase":
                doc["first_purchase"] = now
                bump(uow, FP_COHORT, shard(sid), now // HOUR * HOUR, {"first_purchase": 1})
            elif FUNNEL[step] == "renewed":
                first = doc["first_purchase"] if doc["first_purchase"] is not None else now
                bump(uow, FP_COHORT, shard(sid), first // HOUR * HOUR, {"renewed": 1})
        doc["reached"] = max(doc["reached"], rank)
    doc["stage"], doc["since"] = event.stage, now
    _keep(uow, PROFILES, sid, doc)


def on_order_paid(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, OrderPaid)
    _spend(uow, event.student_id, event.total, event.occurred_at)
    mark_active(uow, event.student_id, event.occurred_at)


def on_referral(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ReferralRewarded)
    bump(uow, STUDENTS, shard(event.referred_id), hour_of(event.occurred_at), {"referred": 1})


def on_level_up(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """Time to level up: from the previous level-up, or registration for the first."""
    assert isinstance(event, LevelUp)
    doc = _profile(uow, event.student_id, event.occurred_at)
    if doc is None:
        return
    now = micros(event.occurred_at)
    since = doc["level_at"] if doc["level_at"] is not None else doc["registered"]
    seconds = max(0, (now - since) // 1_000_000)
    bump(uow, LEVELS, str(event.to_level), now // HOUR * HOUR, {"level_ups": 1, "level_s": seconds})
    doc["level_at"] = now
    _keep(uow, PROFILES, event.student_id, doc)


def analytics_rules() -> dict[type[ev.DomainEvent], list[Handler]]:
    """The projection's rules, for :func:`eduengine.bootstrap.school_reactions` (with
    :func:`flush` as its finisher and :func:`reset` as its reset)."""
    table: dict[type[ev.DomainEvent], list[Handler]] = {
        ev.SlotCreated: [on_slot_created],
        ev.CapacityChanged: [on_capacity_changed],
        ev.SlotCancelled: [on_slot_cancelled],
        ev.SeatBooked: [on_seat_taken],
        ev.WaitlistPromoted: [on_seat_taken],
        ev.OfferAccepted: [on_seat_taken],
        ev.SeatReleased: [on_seat_released],
        ev.AttendanceMarked: [on_attendance],
        GroupOpened: [on_group_event],
        GroupFormed: [on_group_event],
        GroupFailed: [on_group_event],
        MemberJoined: [on_group_event],
        RefundIssued: [on_group_event],
        RegistrationAttributed: [on_attributed],
        JoinAttributed: [on_attributed],
        StudentErased: [on_erased],
        rec.StudentRegistered: [on_registered],
        rec.StageChanged: [on_stage_changed],
        OrderPaid: [on_order_paid],
        ReferralRewarded: [on_referral],
        LevelUp: [on_level_up],
    }
    return {event: [never_refuse(rule) for rule in rules] for event, rules in table.items()}
