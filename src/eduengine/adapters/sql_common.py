"""Encoding shared by the SQL adapters: aware datetimes, durations and series as text.

Datetimes are stored twice where they are compared in SQL: as text that round-trips the
exact instant and zone (``2026-03-04T20:00:00+08:00|Asia/Shanghai``) and, for ordering and
range queries, as integer microseconds since the Unix epoch in UTC.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import attrs

from eduengine.adapters.memory import check_index, slot_state
from eduengine.adapters.seats import CountedSeats
from eduengine.booking.model import (
    Booking,
    BookingStatus,
    Offer,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistMode,
)
from eduengine.booking.series import Series
from eduengine.booking.timetable import SlotSummary
from eduengine.events.codec import envelope_to_json
from eduengine.events.feed import EventFeed
from eduengine.kernel.codec import dt_in as dt_in
from eduengine.kernel.codec import dt_out as dt_out
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.ports import EventPublisher, UnitOfWork

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def opt_dt_out(value: datetime | None) -> str | None:
    return None if value is None else dt_out(value)


def opt_dt_in(text: str | None) -> datetime | None:
    return None if text is None else dt_in(text)


def micros(value: datetime) -> int:
    """Microseconds since the epoch: sortable in SQL whatever the zone."""
    return (value - EPOCH) // MICROSECOND


def td_out(value: timedelta) -> int:
    return value // MICROSECOND


def td_in(value: int) -> timedelta:
    return timedelta(microseconds=value)


def series_out(series: Series) -> str:
    exdates: list[list[str]] = []
    for ex in series.exdates:
        if isinstance(ex, datetime):
            exdates.append(["datetime", dt_out(ex)])
        else:
            exdates.append(["date", ex.isoformat()])
    return json.dumps(
        {
            "course_id": series.course_id,
            "rrule": series.rrule,
            "dtstart": dt_out(series.dtstart),
            "duration": td_out(series.duration),
            "capacity": series.capacity,
            "exdates": exdates,
            "tutor_id": series.tutor_id,
            "slot_ids": list(series.slot_ids),
        }
    )


def series_in(series_id: str, text: str) -> Series:
    data: dict[str, Any] = json.loads(text)
    exdates: list[datetime | date] = [
        dt_in(v) if kind == "datetime" else date.fromisoformat(v) for kind, v in data["exdates"]
    ]
    return Series(
        id=series_id,
        course_id=data["course_id"],
        rrule=data["rrule"],
        dtstart=dt_in(data["dtstart"]),
        duration=td_in(data["duration"]),
        capacity=data["capacity"],
        exdates=tuple(exdates),
        tutor_id=data["tutor_id"],
        slot_ids=tuple(data["slot_ids"]),
    )


class LazySeats(CountedSeats):
    """A slot's active seats that are read from the database only as needed.

    The SQL adapters keep a seat count on the slot row, so booking a seat needs one
    point query ("does this student hold a seat?") instead of loading every seat; any
    iteration loads them all. Writes go through the usual mapping operations and are
    persisted from ``Slot.changed_bookings``. Must only be used while the unit of work
    that loaded the slot holds its lock.
    """

    def __init__(
        self,
        count: int,
        fetch_one: Callable[[str], Booking | None],
        fetch_all: Callable[[], list[Booking]],
    ) -> None:
        super().__init__()
        self._count = count
        self._fetch_one = fetch_one
        self._fetch_all = fetch_all
        self._absent: set[str] = set()
        self._complete = count == 0

    def known_absent(self, student_id: str) -> None:
        """Note that ``student_id`` holds no seat here (read along with the slot, under
        its lock), so asking costs no query."""
        if not dict.__contains__(self, student_id):
            self._absent.add(student_id)

    def unknown(self, student_id: str) -> bool:
        """Whether asking for ``student_id``'s seat would read the database."""
        return not (
            self._complete or student_id in self._absent or dict.__contains__(self, student_id)
        )

    def known_seat(self, student_id: str, booking: Booking | None) -> None:
        """Note what a read of many slots' seats found of ``student_id``'s (read under
        the slot's lock, see ``SqlSlotRepository.read_seats``), so asking costs no
        query; a seat this transaction changed already is left as it is."""
        if dict.__contains__(self, student_id) or student_id in self._absent:
            return
        if booking is None:
            self._absent.add(student_id)
        else:
            dict.__setitem__(self, student_id, booking)

    def _lookup(self, student_id: object) -> Booking | None:
        if not isinstance(student_id, str):
            return None
        if dict.__contains__(self, student_id):
            return dict.__getitem__(self, student_id)
        if self._complete or student_id in self._absent:
            return None
        found = self._fetch_one(student_id)
        if found is None:
            self._absent.add(student_id)
        else:
            dict.__setitem__(self, student_id, found)
        return found

    def _load_all(self) -> None:
        if self._complete:
            return
        for booking in self._fetch_all():
            key = booking.student_id
            if not dict.__contains__(self, key) and key not in self._absent:
                dict.__setitem__(self, key, booking)
        self._complete = True

    def __setitem__(self, key: str, value: Booking) -> None:
        super().__setitem__(key, value)
        self._absent.discard(key)

    def pop(self, key: str, default: Any = None) -> Any:
        found = self._lookup(key)
        if found is None:
            return default
        dict.__delitem__(self, key)
        self._absent.add(key)
        self._count -= 1
        return found

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return dict.__iter__(self)

    def keys(self) -> Any:
        self._load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self._load_all()
        return dict.values(self)

    def items(self) -> Any:
        self._load_all()
        return dict.items(self)


def slot_row(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "course_id": slot.course_id,
        "tutor_id": slot.tutor_id,
        "series_id": slot.series_id,
        "start_at": dt_out(slot.start),
        "end_at": dt_out(slot.end),
        "capacity": slot.capacity,
        "status": slot.status.value,
        "waitlist_mode": slot.waitlist_mode.value,
        "offer_ttl_us": td_out(slot.offer_ttl),
        "opens_at": opt_dt_out(slot.opens_at),
        "version": slot.version,
        "booked": len(slot.bookings),
    }


#: the slot's attributes its row keeps beside ``id``, ``booked`` and ``version``, with
#: their columns and encoders, in the row's order
_SLOT_COLUMNS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("course_id", "course_id", lambda v: v),
    ("tutor_id", "tutor_id", lambda v: v),
    ("series_id", "series_id", lambda v: v),
    ("start", "start_at", dt_out),
    ("end", "end_at", dt_out),
    ("capacity", "capacity", lambda v: v),
    ("status", "status", lambda v: v.value),
    ("waitlist_mode", "waitlist_mode", lambda v: v.value),
    ("offer_ttl", "offer_ttl_us", td_out),
    ("opens_at", "opens_at", opt_dt_out),
)
_SLOT_ATTRIBUTES = operator.attrgetter(*(name for name, _, _ in _SLOT_COLUMNS))
#: what no attribute is: every column is set
_NOTHING_LOADED = (object(),) * len(_SLOT_COLUMNS)


def slot_fields(slot: Slot) -> tuple[Any, ...]:
    """The slot's attributes behind its row's columns (see :func:`slot_update`)."""
    fields: tuple[Any, ...] = _SLOT_ATTRIBUTES(slot)
    return fields


@functools.cache
def _update_slot_sql(columns: tuple[str, ...]) -> str:
    assignments = "".join(f"{c} = ?, " for c in columns)
    return f"UPDATE slots SET {assignments}booked = ?, version = ? WHERE id = ? AND version = ?"


def slot_update(slot: Slot, loaded: tuple[Any, ...] | None) -> Write:
    """The version-checked ``UPDATE`` of a loaded slot's row. With ``loaded`` (its
    :func:`slot_fields` when it was loaded) only the columns whose attribute was
    replaced are set, besides the seat count and the version: a booking writes two
    columns instead of thirteen, and encodes no datetime. Attributes compare by
    identity, so an equal value put back (the same instant in another zone, say) is
    written all the same."""
    columns: list[str] = []
    params: list[Any] = []
    fields = zip(_SLOT_COLUMNS, _SLOT_ATTRIBUTES(slot), loaded or _NOTHING_LOADED, strict=True)
    for (_, column, encode), value, was in fields:
        if value is not was:
            columns.append(column)
            params.append(encode(value))
    return Write(
        _update_slot_sql(tuple(columns)),
        (*params, len(slot.bookings), slot.version + 1, slot.id, slot.version),
        expect_one=True,
    )


def slot_from_rows(
    row: Any,
    bookings: list[Any] | LazySeats,
    waitlist: list[Any],
    offers: list[Any],
) -> Slot:
    """Rebuild a slot from its row (mapping) and its child rows (mappings), or with its
    seats as a :class:`LazySeats`."""
    if isinstance(bookings, LazySeats):
        seats_map: dict[str, Booking] = bookings
    else:
        seats_map = {b.student_id: b for b in (booking_from_row(r) for r in bookings)}
    return Slot(
        id=row["id"],
        course_id=row["course_id"],
        tutor_id=row["tutor_id"],
        series_id=row["series_id"],
        start=dt_in(row["start_at"]),
        end=dt_in(row["end_at"]),
        capacity=row["capacity"],
        status=SlotStatus(row["status"]),
        waitlist_mode=WaitlistMode(row["waitlist_mode"]),
        offer_ttl=td_in(row["offer_ttl_us"]),
        opens_at=opt_dt_in(row["opens_at"]),
        version=row["version"],
        bookings=seats_map,
        waitlist=[
            WaitlistEntry(student_id=w["student_id"], joined_at=dt_in(w["joined_at"]))
            for w in waitlist
        ],
        offers={
            o["student_id"]: Offer(
                id=o["id"],
                student_id=o["student_id"],
                slot_id=o["slot_id"],
                offered_at=dt_in(o["offered_at"]),
                expires_at=dt_in(o["expires_at"]),
            )
            for o in offers
        },
    )


#: a timetable's view of slots (``{marks}``: one ``?`` per id): the slot row's counted
#: seats, and the waitlist (its primary key starts with the slot id) and offers counted
SUMMARY_SQL = (
    "SELECT s.id, s.course_id, s.tutor_id, s.start_at, s.end_at, s.capacity, s.booked, "
    "s.opens_at, s.status, "
    "(SELECT COUNT(*) FROM waitlist w WHERE w.slot_id = s.id) AS waiting, "
    "(SELECT COUNT(*) FROM offers o WHERE o.slot_id = s.id) AS offered "
    "FROM slots s WHERE s.id IN ({marks})"
)


def summary_from_row(row: Any) -> SlotSummary:
    return SlotSummary(
        slot_id=row["id"],
        course_id=row["course_id"],
        tutor_id=row["tutor_id"],
        start=dt_in(row["start_at"]),
        end=dt_in(row["end_at"]),
        capacity=int(row["capacity"]),
        booked=int(row["booked"]),
        offered=int(row["offered"]),
        waitlist_length=int(row["waiting"]),
        opens_at=opt_dt_in(row["opens_at"]),
        status=row["status"],
    )


def booking_params(booking: Booking) -> tuple[Any, ...]:
    """A booking's columns: ``id, slot_id, student_id, status, created_at, series_id``."""
    return (
        booking.id,
        booking.slot_id,
        booking.student_id,
        booking.status.value,
        dt_out(booking.created_at),
        booking.series_id,
    )


def booking_from_row(row: Any) -> Booking:
    return Booking(
        id=row["id"],
        student_id=row["student_id"],
        slot_id=row["slot_id"],
        status=BookingStatus(row["status"]),
        created_at=dt_in(row["created_at"]),
        series_id=row["series_id"],
    )


# --- what both SQL adapters write and read the same way ---------------------------------

#: The schema of both SQL adapters, one string per statement: a migration is a list of
#: statements, run one by one, so none needs splitting (a ``;`` inside a string literal
#: or a trigger body is just text). ``{serial}``, ``{json}`` and ``{blob}`` are filled
#: with each engine's types.
SCHEMA_V1: tuple[str, ...] = (
    """
CREATE TABLE slots (
    id            TEXT PRIMARY KEY,
    course_id     TEXT NOT NULL,
    tutor_id      TEXT,
    series_id     TEXT,
    start_at      TEXT NOT NULL,
    end_at        TEXT NOT NULL,
    capacity      INTEGER NOT NULL CHECK (capacity >= 0),
    status        TEXT NOT NULL,
    waitlist_mode TEXT NOT NULL,
    offer_ttl_us  BIGINT NOT NULL,
    opens_at      TEXT,
    version       INTEGER NOT NULL
)
""",
    """
CREATE TABLE bookings (
    seq        {serial},
    id         TEXT NOT NULL UNIQUE,
    slot_id    TEXT NOT NULL REFERENCES slots (id),
    student_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    series_id  TEXT
)
""",
    """
CREATE UNIQUE INDEX bookings_one_active_seat
    ON bookings (slot_id, student_id) WHERE status <> 'cancelled'
""",
    "CREATE INDEX bookings_by_student ON bookings (student_id, seq)",
    "CREATE INDEX bookings_by_slot ON bookings (slot_id) WHERE status <> 'cancelled'",
    """
CREATE TABLE waitlist (
    slot_id    TEXT NOT NULL REFERENCES slots (id),
    position   INTEGER NOT NULL,
    student_id TEXT NOT NULL,
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (slot_id, position)
)
""",
    """
CREATE TABLE offers (
    id         TEXT PRIMARY KEY,
    slot_id    TEXT NOT NULL REFERENCES slots (id),
    student_id TEXT NOT NULL,
    offered_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expires_us BIGINT NOT NULL
)
""",
    "CREATE INDEX offers_due ON offers (expires_us)",
    "CREATE INDEX slots_by_tutor ON slots (tutor_id)",
    """
CREATE TABLE series (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
)
""",
    """
CREATE TABLE records (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    data {json} NOT NULL,
    PRIMARY KEY (kind, key)
)
""",
    """
CREATE TABLE outbox (
    id         {serial},
    event_type TEXT NOT NULL,
    payload    {blob} NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0
)
""",
)

#: Version 2: a seat count on the slot row, so a booking need not load every seat.
SCHEMA_V2: tuple[str, ...] = (
    "ALTER TABLE slots ADD COLUMN booked INTEGER NOT NULL DEFAULT 0",
    """
UPDATE slots SET booked = (
    SELECT COUNT(*) FROM bookings b WHERE b.slot_id = slots.id AND b.status <> 'cancelled'
)
""",
)

#: Version 3: indexes over feature-module documents (see ``RecordRepository.scan``).
#: One row per (document, index name); ``(kind, name, value, key)`` is the B-tree every
#: scan and count walks, ``(kind, key)`` finds a document's rows to replace them.
#: ``{binary}`` makes keys compare by code point on every engine (PostgreSQL's ``"C"``
#: collation; SQLite's default already is), so equal values list in the same key order
#: as the in-memory adapter's.
SCHEMA_V3: tuple[str, ...] = (
    """
CREATE TABLE record_index (
    kind  TEXT NOT NULL,
    name  TEXT NOT NULL,
    value BIGINT NOT NULL,
    key   TEXT{binary} NOT NULL,
    PRIMARY KEY (kind, name, value, key)
)
""",
    "CREATE INDEX record_index_by_key ON record_index (kind, key)",
)



def filled(statements: Sequence[str], **types: str) -> tuple[str, ...]:
    """``statements`` with an engine's ``{types}`` filled in."""
    return tuple(statement.format(**types) for statement in statements)


#: Version 4: the event feed (see :mod:`eduengine.events.feed`), JSON envelopes in commit
#: order. ``position`` never repeats, not even after pruning (SQLite's AUTOINCREMENT, a
#: PostgreSQL sequence). The pickled ``outbox`` table of versions 1-3 is no longer
#: written; relay what it still holds with the version that wrote it.
SCHEMA_V4: tuple[str, ...] = (
    """
CREATE TABLE event_feed (
    position    {position},
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    stream      TEXT NOT NULL,
    sequence    BIGINT NOT NULL,
    occurred_us BIGINT NOT NULL,
    envelope    TEXT NOT NULL
)
""",
    "CREATE INDEX event_feed_by_time ON event_feed (occurred_us)",
    """
CREATE TABLE event_streams (
    stream TEXT PRIMARY KEY,
    last   BIGINT NOT NULL
)
""",
)

#: Schema version 5 drops ``bookings_by_slot``: the one-active-seat index starts with the
#: slot id under the same condition, so every read of a slot's seats uses it instead (a
#: roster's ``ORDER BY seq`` sorts the slot's few rows), and each booking writes one
#: index page fewer (issue #22: the WAL frames a SQLite commit writes are most of its
#: cost).
SCHEMA_V5: tuple[str, ...] = ("DROP INDEX IF EXISTS bookings_by_slot",)

#: the stream of a slot's events is ``SLOT_STREAM + slot id`` (``<aggregate type>:<id>``,
#: as :func:`~eduengine.service_layer.streams.stamp` names it): the slot loads read its
#: counter with the row
SLOT_STREAM = "slot:"

#: SQLite's version 6: a slot's feed row moves its stream's counter up to its own number,
#: so a transaction that read the counter under the write lock with the slot's row numbers
#: the events it appends without a statement of its own (issue #22: the seat's
#: transaction was 7 statements). Counters bumped beforehand (``NEXT_SEQUENCE``) are
#: already there, and ``WHERE`` keeps the trigger from writing them again; a counter
#: never moves down, so a number is never given twice. Only slot streams are numbered
#: from what a load read (``SLOT_STREAM``): the other streams' rows skip the lookup.
SQLITE_SCHEMA_V6: tuple[str, ...] = (
    """
CREATE TRIGGER IF NOT EXISTS event_feed_numbers AFTER INSERT ON event_feed
WHEN NEW.stream >= 'slot:' AND NEW.stream < 'slot;' BEGIN
    INSERT INTO event_streams (stream, last) VALUES (NEW.stream, NEW.sequence)
    ON CONFLICT (stream) DO UPDATE SET last = excluded.last
    WHERE excluded.last > event_streams.last;
END
""",
)

#: One statement per stream: bump its counter (row-locked to the end of the transaction)
#: and return the new value.
NEXT_SEQUENCE = (
    "INSERT INTO event_streams (stream, last) VALUES (?, ?) ON CONFLICT (stream) "
    "DO UPDATE SET last = event_streams.last + excluded.last RETURNING last"
)


@functools.lru_cache(maxsize=64)
def next_sequences_sql(streams: int) -> str:
    """One statement that bumps the counters of ``streams`` streams (rows given in
    sorted stream order, so the row locks are taken in that order) and returns each
    one's ``stream`` and new ``last``.

    >>> next_sequences_sql(2).count("(?, ?)")
    2
    """
    return (
        "INSERT INTO event_streams (stream, last) VALUES "
        + ", ".join(["(?, ?)"] * streams)
        + " ON CONFLICT (stream) DO UPDATE SET last = event_streams.last + excluded.last "
        "RETURNING stream, last"
    )


_ONE_ROW = re.compile(r"VALUES (\((?:\?, )*\?\))")


@functools.lru_cache(maxsize=256)
def multi_row(sql: str, rows: int) -> str:
    """``sql``, an ``INSERT`` of one row (``VALUES (?, ...)``), made to insert ``rows``
    rows in one statement; rows are inserted in the order given.

    >>> multi_row("INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING", 2)
    'INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING'
    """
    found = _ONE_ROW.search(sql)
    if found is None:
        raise ValueError(f"not a one-row INSERT ... VALUES (?, ...): {sql!r}")
    values = ", ".join([found.group(1)] * rows)
    return f"{sql[: found.start(1)]}{values}{sql[found.end(1) :]}"


INSERT_FEED = (
    "INSERT INTO event_feed (event_id, type, stream, sequence, occurred_us, envelope) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
READ_FEED = "SELECT position, envelope FROM event_feed WHERE position > ? ORDER BY position LIMIT ?"
PRUNE_FEED = (
    "DELETE FROM event_feed WHERE position IN (SELECT position FROM event_feed "
    "WHERE occurred_us < ? ORDER BY position LIMIT ?)"
)


def feed_params(envelopes: Sequence[Envelope]) -> list[tuple[Any, ...]]:
    """``INSERT_FEED`` parameters for ``envelopes``, in order: the columns of
    :func:`~eduengine.events.feed.feed_rows`, without a row object between."""
    return [
        (e.id, e.type, e.stream, e.sequence, micros(e.occurred_at), envelope_to_json(e))
        for e in envelopes
    ]


DELETE_INDEX = "DELETE FROM record_index WHERE kind = ? AND key = ?"
INSERT_INDEX = "INSERT INTO record_index (kind, name, value, key) VALUES (?, ?, ?, ?)"


def index_rows(kind: str, key: str, index: Mapping[str, int] | None) -> list[tuple[Any, ...]]:
    """The ``record_index`` rows of a document (validated)."""
    check_index(index)
    return [(kind, name, value, key) for name, value in (index or {}).items()]


def scan_sql(
    kind: str,
    index: str,
    lo: int | None,
    hi: int | None,
    limit: int | None,
    descending: bool,
    *,
    count: bool = False,
) -> tuple[str, list[Any]]:
    """The query (``?`` placeholders) behind ``RecordRepository.scan`` / ``count``."""
    where = ["kind = ?", "name = ?"]
    params: list[Any] = [kind, index]
    if lo is not None:
        where.append("value >= ?")
        params.append(lo)
    if hi is not None:
        where.append("value <= ?")
        params.append(hi)
    if count:
        return f"SELECT COUNT(*) AS n FROM record_index WHERE {' AND '.join(where)}", params
    order = "value DESC, key DESC" if descending else "value, key"
    sql = f"SELECT key, value FROM record_index WHERE {' AND '.join(where)} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(max(0, limit))
    return sql, params


def scan_documents_sql(
    kind: str,
    index: str,
    after: tuple[int, str] | None,
    limit: int,
    descending: bool,
    index_key: str = "i.key",
) -> tuple[str, list[Any]]:
    """The query (``?`` placeholders) behind ``scan_documents``: one walk of the
    ``(kind, name, value, key)`` B-tree from a keyset cursor, each entry joined to its
    document by primary key, so a page is one statement whatever the index's size
    (``index_key``: the entry's key as the documents' key compares, see
    ``Dialect.index_key_as_record_key``)."""
    where = ["i.kind = ?", "i.name = ?"]
    params: list[Any] = [kind, index]
    if after is not None:
        # a row-value comparison both engines turn into an index range
        where.append(f"(i.value, i.key) {'<' if descending else '>'} (?, ?)")
        params.extend(after)
    order = "i.value DESC, i.key DESC" if descending else "i.value, i.key"
    sql = (
        "SELECT i.key AS key, i.value AS value, r.data AS data FROM record_index i "
        f"JOIN records r ON r.kind = i.kind AND r.key = {index_key} "
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    )
    params.append(max(0, limit))
    return sql, params


class Write(NamedTuple):
    """One statement (``?`` placeholders) of a slot's write-back (a tuple: two are made
    per booking, and a frozen class's constructor costs more than the rest of it)."""

    sql: str
    params: Sequence[Any]
    many: bool = False
    #: the statement must change exactly one row (the version check)
    expect_one: bool = False


def slot_writes(
    slot: Slot,
    *,
    is_new: bool,
    loaded_children: tuple[tuple[Any, ...], tuple[Any, ...]] | None,
    loaded_fields: tuple[Any, ...] | None = None,
) -> list[Write]:
    """The statements that persist a changed slot: its row (inserted, or updated with a
    version check), its changed bookings, and its waitlist and offers if they moved.
    ``loaded_fields`` (:func:`slot_fields` as loaded) lets the update set only the
    columns that changed."""
    writes: list[Write] = []
    if is_new:
        row = slot_row(slot)
        marks = ", ".join("?" * len(row))
        writes.append(
            Write(f"INSERT INTO slots ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))
        )
    else:
        writes.append(slot_update(slot, loaded_fields))
    if slot.changed_bookings:
        writes.append(
            Write(
                "INSERT INTO bookings (id, slot_id, student_id, status, created_at, series_id) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status",
                [booking_params(b) for b in slot.changed_bookings.values()],
                many=True,
            )
        )
    if loaded_children == (tuple(slot.waitlist), tuple(slot.offers.values())):
        return writes
    writes.append(Write("DELETE FROM waitlist WHERE slot_id = ?", (slot.id,)))
    if slot.waitlist:
        writes.append(
            Write(
                "INSERT INTO waitlist (slot_id, position, student_id, joined_at) "
                "VALUES (?, ?, ?, ?)",
                [
                    (slot.id, n, e.student_id, dt_out(e.joined_at))
                    for n, e in enumerate(slot.waitlist)
                ],
                many=True,
            )
        )
    writes.append(Write("DELETE FROM offers WHERE slot_id = ?", (slot.id,)))
    if slot.offers:
        writes.append(
            Write(
                "INSERT INTO offers (id, slot_id, student_id, offered_at, expires_at, expires_us) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.id,
                        slot.id,
                        o.student_id,
                        dt_out(o.offered_at),
                        dt_out(o.expires_at),
                        micros(o.expires_at),
                    )
                    for o in slot.offers.values()
                ],
                many=True,
            )
        )
    return writes


def snapshot_of(
    slots: Iterable[Slot],
    bookings: Iterable[Any],
    series: Iterable[Any],
    records: Iterable[tuple[str, str, dict[str, Any]]],
) -> dict[str, Any]:
    """A snapshot shaped exactly like ``InMemoryStore.snapshot()`` from rows (mappings)."""
    out_records: dict[str, dict[str, Any]] = {}
    for kind, key, data in records:
        out_records.setdefault(kind, {})[key] = data
    return {
        "slots": {s.id: slot_state(s) for s in slots},
        "bookings": {r["id"]: attrs.asdict(booking_from_row(r)) for r in bookings},
        "series": {r["id"]: attrs.asdict(series_in(r["id"], r["data"])) for r in series},
        "records": out_records,
    }


class OutboxRelay:
    """``relay_outbox`` on the feed: what an adapter's ``read_feed`` and ``unit_of_work``
    give, with the cursor kept under the consumer name ``"outbox"``."""

    outbox: bool

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        raise NotImplementedError

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        raise NotImplementedError

    def feed_head(self) -> int:
        raise NotImplementedError

    def prune_feed(self, before_us: int, limit: int) -> int:
        raise NotImplementedError

    def pending_outbox(self, limit: int = 1000) -> list[tuple[int, DomainEvent]]:
        """Committed events not relayed yet, oldest first, as ``(position, event)``."""
        feed = EventFeed(self)
        return [
            (e.position or 0, e.event)
            for e in feed.events_since(feed.cursor("outbox"), limit)
        ]

    def mark_published(self, ids: Sequence[int]) -> None:
        """Move the relay's cursor past the positions ``ids``."""
        if ids:
            EventFeed(self).save_cursor("outbox", max(ids))

    def relay_outbox(self, publisher: EventPublisher) -> int:
        """Publish pending outbox events in commit order, then mark them (at least once)."""
        pending = self.pending_outbox()
        if pending:
            publisher.publish([event for _, event in pending])
            self.mark_published([i for i, _ in pending])
        return len(pending)
