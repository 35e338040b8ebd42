"""The oracle of the SLA tests: business time counted minute by minute, from nothing but
each minute's local wall time (no span arithmetic shared with the library)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from eduengine.desk.hours import BusinessHours

MINUTE = timedelta(minutes=1)
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]


def open_at(hours: BusinessHours, minute: datetime) -> bool:
    local = minute.astimezone(ZoneInfo(hours.zone))
    if local.date() in hours.holidays:
        return False
    m = local.hour * 60 + local.minute
    return any(a <= m < b for a, b in hours.week[local.weekday()])


def open_minutes(hours: BusinessHours, start: datetime, end: datetime) -> int:
    """How many of the minutes starting in ``[start, end)`` are open."""
    known = _SEEN.setdefault(hours, {})
    count, t = 0, start.astimezone(UTC)
    while t < end:
        found = known.get(t)
        if found is None:
            found = known[t] = open_at(hours, t)
        count += found
        t += MINUTE
    return count


#: each calendar's verdict per minute, for the state machines' repeated counts
_SEEN: dict[BusinessHours, dict[datetime, bool]] = {}


def minutes_of(spans: Iterable[tuple[time, time]]) -> list[tuple[time, time]]:
    return list(spans)


@st.composite
def business_hours(draw: st.DrawFn) -> BusinessHours:
    zone = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 5)) == 0:
        return BusinessHours.always(zone)
    days: dict[int, list[tuple[time, time]]] = {}
    for day in range(7):
        if draw(st.integers(0, 3)) == 0:
            continue  # closed that day (a weekend)
        cuts = sorted(draw(st.sets(st.integers(0, 48), min_size=2, max_size=4)))
        spans = []
        for a, b in zip(cuts[::2], cuts[1::2], strict=False):
            spans.append(
                (time(a // 2, 30 * (a % 2)), time(0) if b == 48 else time(b // 2, 30 * (b % 2)))
            )
        if spans:
            days[day] = spans
    if not days:
        days[0] = [(time(9), time(18))]
    holidays = draw(st.sets(st.dates(date(2026, 3, 1), date(2026, 4, 12)), max_size=4))
    holidays |= draw(st.sets(st.dates(date(2026, 10, 20), date(2026, 11, 10)), max_size=3))
    return BusinessHours.weekly(zone, days, holidays=holidays)


#: whole minutes around the spring and autumn clock changes of 2026 (both hemispheres)
instants = st.one_of(
    st.integers(0, 40 * 24 * 60).map(lambda m: datetime(2026, 3, 1, tzinfo=UTC) + m * MINUTE),
    st.integers(0, 20 * 24 * 60).map(lambda m: datetime(2026, 10, 20, tzinfo=UTC) + m * MINUTE),
    st.integers(0, 8 * 24 * 60).map(lambda m: datetime(2026, 4, 1, tzinfo=UTC) + m * MINUTE),
)
