"""Reading the counter cells of :mod:`eduengine.analytics.projection` for a period,
and the rows the queries and alert metrics build from them.

>>> _top([], 3)
[]
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from eduengine.analytics import projection as pj
from eduengine.analytics.model import (
    WEEKDAYS,
    AttendanceRow,
    CountRow,
    FillRow,
    GroupRow,
    Period,
    rate,
)
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import micros
from eduengine.kernel.money import Money
from eduengine.service_layer.ports import UnitOfWork

Cell = tuple[str, int, dict[str, int], dict[str, str]]
Total = tuple[str, dict[str, int], dict[str, str]]


def _cells(uow: UnitOfWork, family: str, period: Period) -> Iterator[Cell]:
    """``(dimension, hour micros, counts, money)`` of every hour starting in the period."""
    return _cells_between(uow, family, micros(period.start), micros(period.end))


def _cells_between(uow: UnitOfWork, family: str, lo: int, hi: int) -> Iterator[Cell]:
    for key, day in uow.records.scan(pj.COUNTERS, family, lo=lo // pj.DAY * pj.DAY, hi=hi - 1):
        doc = uow.records.get(pj.COUNTERS, key)
        if doc is None:
            continue
        for cell, counts in doc["h"].items():
            hour = day + int(cell) * pj.HOUR
            if lo <= hour < hi:
                yield doc["d"], hour, counts, doc["m"].get(cell, {})


#: the breakdowns that are a family's dimension (the others are read from its roll-up)
DIMENSIONS = frozenset({"course", "tutor", "campaign", "opener"})


def _day_totals(uow: UnitOfWork, family: str, period: Period) -> Iterator[Total]:
    """``(dimension, counts, money)`` over the period: the day totals of the family's
    roll-up for each UTC day wholly inside it, and the hour cells of the dimension
    documents for the (at most two) days it covers in part."""
    lo, hi = micros(period.start), micros(period.end)
    partial: list[int] = []
    rolled = pj.rollup(family)
    for key, day in uow.records.scan(pj.COUNTERS, rolled, lo=lo // pj.DAY * pj.DAY, hi=hi - 1):
        if not (lo <= day and day + pj.DAY <= hi):
            partial.append(day)
            continue
        doc = uow.records.get(pj.COUNTERS, key)
        if doc is None:
            continue
        money = doc.get("bym", {})
        for dim, counts in doc.get("by", {}).items():
            yield dim, counts, money.get(dim, {})
    for day in partial:
        for dim, _, counts, sums in _cells_between(
            uow, family, max(lo, day), min(hi, day + pj.DAY)
        ):
            yield dim, counts, sums


def _grouped(uow: UnitOfWork, family: str, period: Period, by: str) -> Iterator[Total]:
    """``(row key, counts, money)`` of the family's counts in the period, grouped ``by`` a
    dimension (day totals) or by the period's time (the school-wide roll-up's hours)."""
    if by in DIMENSIONS:
        yield from _day_totals(uow, family, period)
        return
    for _, hour, counts, money in _cells(uow, pj.rollup(family), period):
        yield _key(by, pj.SCHOOL, hour, period), counts, money


def _key(by: str, dim: str, hour: int, period: Period) -> str:
    if by in ("course", "tutor", "campaign", "opener"):
        return dim
    if by == "school":
        return "all"
    if by in ("weekday", "hour", "weekday_hour"):
        return _local_label(by, hour, period.tz)
    raise InvalidInput(f"cannot group by {by!r}")


@functools.lru_cache(maxsize=65_536)
def _local_label(by: str, hour: int, tz: tzinfo) -> str:
    # every dimension value shares the same hours: a month's cells need 744 conversions
    local = datetime.fromtimestamp(hour / 1_000_000, tz=tz)
    if by == "weekday":
        return WEEKDAYS[local.weekday()]
    if by == "hour":
        return f"{local:%H:%M}"
    return f"{WEEKDAYS[local.weekday()]} {local:%H:%M}"


def _lesson_family(by: str) -> str:
    if by not in ("course", "tutor", "weekday", "hour", "weekday_hour", "school"):
        raise InvalidInput(
            f"lessons group by course, tutor, weekday, hour, weekday_hour or school, not {by!r}"
        )
    return pj.LESSON_TUTOR if by == "tutor" else pj.LESSON_COURSE


def _lesson_totals(uow: UnitOfWork, period: Period, by: str) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, cell, _ in _grouped(uow, _lesson_family(by), period, by):
        row = totals[key]
        for name, n in cell.items():
            row[name] += n
    return totals


def _fill(uow: UnitOfWork, period: Period, by: str) -> list[FillRow]:
    rows = []
    for key, t in sorted(_lesson_totals(uow, period, by).items()):
        booked = t["booked"] - t["released"]
        if t["offered"] or booked:
            rows.append(
                FillRow(
                    key=key, offered=t["offered"], booked=booked, rate=rate(booked, t["offered"])
                )
            )
    return rows


def _attendance(uow: UnitOfWork, period: Period, by: str) -> list[AttendanceRow]:
    rows = []
    for key, t in sorted(_lesson_totals(uow, period, by).items()):
        booked = t["booked"] - t["released"]
        marked = t["attended"] + t["no_show"]
        if booked or marked:
            rows.append(
                AttendanceRow(
                    key=key,
                    booked=booked,
                    attended=t["attended"],
                    no_show=t["no_show"],
                    unmarked=booked - marked,
                    attendance_rate=rate(t["attended"], marked),
                    no_show_rate=rate(t["no_show"], marked),
                )
            )
    return rows


def _top(rows: list[FillRow], limit: int) -> list[CountRow]:
    ranked = sorted(rows, key=lambda r: (-r.booked, r.key))
    return [CountRow(key=r.key, count=r.booked) for r in ranked[:limit] if r.booked > 0]


def _erased(uow: UnitOfWork, students: set[str]) -> set[str]:
    """Which of ``students`` were erased: the projection's markers, read whole when there
    are no more of them than students asked about, else by key (so it costs at most
    the students asked about, however many were erased)."""
    if not students:
        return set()
    marked = uow.records.scan(pj.ERASED, "at", limit=len(students) + 1)
    if len(marked) <= len(students):
        return {key for key, _ in marked} & students
    found = _get_many(uow, pj.ERASED, sorted(students))
    return {key for key, doc in found.items() if doc is not None}


def _groups(uow: UnitOfWork, period: Period, by: str) -> list[GroupRow]:
    # the school's figures from the campaign family: every count is filed under a
    # campaign, not every one under a course (a share link without a group)
    family = pj.GROUP_FAMILIES.get("campaign" if by == "school" else by)
    if family is None:
        raise InvalidInput(f"groups group by course, campaign, opener or school, not {by!r}")
    cells = list(_grouped(uow, family, period, by))
    erased = _erased(uow, {dim for dim, _, _ in cells}) if by == "opener" else set()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    money: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for dim, cell, sums in cells:
        key = "erased" if dim in erased else dim
        for name, n in cell.items():
            totals[key][name] += n
        for currency, amount in sums.items():
            money[key][currency] += Decimal(amount)
    rows = []
    for key, t in sorted(totals.items()):
        settled = t["formed"] + t["failed"]
        value = money.get(key, {})
        average = None
        if len(value) == 1 and t["orders"]:
            ((currency, total),) = value.items()
            average = Money.from_stored(total, currency).average(t["orders"])
        rows.append(
            GroupRow(
                key=key,
                opened=t["opened"],
                formed=t["formed"],
                failed=t["failed"],
                cancelled=t["cancelled"],
                still_open=t["opened"] - settled - t["cancelled"],
                success_rate=rate(t["formed"], settled),
                formed_share=rate(t["formed"], t["opened"]),
                orders=t["orders"],
                average_order_value=average,
                new_students=t["new_students"],
                attributed_students=t["attributed"],
                viral_coefficient=rate(t["attributed"], t["opened"]),
                first_payment_coefficient=rate(t["new_students"], t["opened"]),
            )
        )
    return rows


def _student_cells(uow: UnitOfWork, family: str, period: Period) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for _, _, cell, _ in _cells(uow, family, period):
        for name, n in cell.items():
            totals[name] += n
    return totals


def _student_total(uow: UnitOfWork, period: Period, name: str) -> int:
    return _student_cells(uow, pj.STUDENTS, period).get(name, 0)


def _get_many(uow: UnitOfWork, kind: str, keys: list[str]) -> dict[str, dict[str, Any] | None]:
    """Documents by key, in one query per 500 where the store can (``records.get_many``)."""
    many = getattr(uow.records, "get_many", None)
    if many is None:
        return {key: uow.records.get(kind, key) for key in keys}
    found: dict[str, dict[str, Any] | None] = {}
    for start in range(0, len(keys), 500):
        found.update(many(kind, keys[start : start + 500]))
    return found


def _active(uow: UnitOfWork, period: Period) -> int:
    """Distinct students active in the period: the union of the day bitmaps of the UTC
    days wholly inside it (one OR of integers per shard), with those active in its hours
    of the (at most two) days it covers in part, from the day documents."""
    lo, hi = micros(period.start), micros(period.end)
    first, last = lo // pj.DAY * pj.DAY, (hi - 1) // pj.DAY * pj.DAY
    whole = [d for d in range(first, last + 1, pj.DAY) if lo <= d and d + pj.DAY <= hi]
    shards = [f"s{n}" for n in range(pj.SHARDS)]
    bits = dict.fromkeys(shards, 0)
    keys = [f"{day}|{part}" for day in whole for part in shards]
    read_by_hour: list[int] = [d for d in (first, last) if d not in whole]
    for key, doc in _get_many(uow, pj.ACTIVE_BITS, keys).items():
        if doc is not None:
            bits[key.partition("|")[2]] |= int(doc["b"], 16)
        if doc is None or doc.get("partial"):
            # a day counted (in part) before the bitmaps were kept: its day documents
            read_by_hour.append(int(key.partition("|")[0]))
    loose: set[str] = set()
    for day in sorted(set(read_by_hour)):
        for part in shards:
            doc = uow.records.get(pj.ACTIVE_DAYS, f"{day}|{part}")
            if doc is None:
                continue
            numbers = doc.get("n", {})
            for student_id, hours in doc["s"].items():
                if any(lo <= day + h * pj.HOUR < hi for h in hours):
                    number = numbers.get(student_id)
                    if number is None:
                        loose.add(student_id)
                    else:
                        bits[part] |= 1 << number
    # a student counted without her number (before the bitmaps): her number if she has
    # one since, else herself
    for student_id, doc in _get_many(uow, pj.ACTIVE_IDS, sorted(loose)).items():
        if doc is not None:
            bits[pj.shard(student_id)] |= 1 << int(doc["n"])
            loose.discard(student_id)
    return sum(b.bit_count() for b in bits.values()) + len(loose)
