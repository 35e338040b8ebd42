"""Business time and deadlines equal a minute-by-minute count, over nights, weekends,
holidays and the days the clocks change (spring and autumn, both hemispheres, a
half-hour change at Lord Howe)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine.desk.hours import BusinessHours
from eduengine.errors import InvalidInput
from tests.desk.brute import MINUTE, business_hours, instants, open_at, open_minutes

NY = ZoneInfo("America/New_York")


@settings(max_examples=120)
@given(hours=business_hours(), start=instants, span=st.integers(0, 4 * 24 * 60))
def test_business_time_between_equals_a_minute_by_minute_count(
    hours: BusinessHours, start: datetime, span: int
) -> None:
    end = start + span * MINUTE
    assert hours.business_time_between(start, end) == open_minutes(hours, start, end) * MINUTE
    assert hours.business_time_between(end, start) == timedelta(0)


@settings(max_examples=120)
@given(hours=business_hours(), start=instants, target=st.integers(0, 3 * 24 * 60))
def test_deadline_after_is_the_minute_the_count_reaches_the_target(
    hours: BusinessHours, start: datetime, target: int
) -> None:
    deadline = hours.deadline_after(start, target * MINUTE)
    t, counted = start, 0
    while counted < target:
        counted += open_at(hours, t)
        t += MINUTE
    # as instants: a local time in a repeated hour never equals another zone's (PEP 495)
    assert deadline.astimezone(UTC) == t.astimezone(UTC)
    assert deadline.tzinfo == hours.tz


@settings(max_examples=80)
@given(hours=business_hours(), at=instants)
def test_next_open_is_the_first_open_minute(hours: BusinessHours, at: datetime) -> None:
    t = at
    while not open_at(hours, t):
        t += MINUTE
    assert hours.next_open(at).astimezone(UTC) == t.astimezone(UTC)
    assert hours.is_open(at) == open_at(hours, at)


def test_a_24_7_team_has_no_gap_at_midnight_even_when_the_clocks_change() -> None:
    hours = BusinessHours.always("America/New_York")
    start = datetime(2026, 3, 7, 23, 0, tzinfo=NY)  # the night before the spring change
    end = datetime(2026, 3, 8, 23, 0, tzinfo=NY)
    assert hours.business_time_between(start, end) == timedelta(hours=23)  # the real time
    assert hours.deadline_after(start, timedelta(minutes=90)) == datetime(
        2026, 3, 8, 0, 30, tzinfo=NY
    )


def test_office_hours_on_a_clock_change_day_are_the_wall_clock_hours() -> None:
    hours = BusinessHours.weekly("America/New_York", {6: [(time(1), time(4))]})
    sunday = datetime(2026, 3, 8, tzinfo=NY)
    # 01:00-04:00 local on the spring change: 02:00-03:00 does not exist, two hours open
    assert hours.business_time_between(sunday, sunday + timedelta(days=1)) == timedelta(hours=2)
    autumn = datetime(2026, 11, 1, tzinfo=NY)
    # and on the autumn one 01:00-02:00 happens twice: four hours open
    assert hours.business_time_between(autumn, autumn + timedelta(days=1)) == timedelta(hours=4)


def test_holidays_are_closed() -> None:
    hours = BusinessHours.weekly(
        "Asia/Shanghai",
        {d: [(time(9), time(18))] for d in range(5)},
        holidays=[date(2026, 10, 1), date(2026, 10, 2)],
    )
    wed = datetime(2026, 9, 30, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert hours.deadline_after(wed, timedelta(hours=2)) == datetime(
        2026, 10, 5, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")
    )


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(InvalidInput):
        BusinessHours.weekly("Mars/Olympus", {0: [(time(9), time(18))]})
    with pytest.raises(InvalidInput):
        BusinessHours.weekly("UTC", {})
    with pytest.raises(InvalidInput):
        BusinessHours.weekly("UTC", {0: [(time(18), time(9))]})
    with pytest.raises(InvalidInput):
        BusinessHours.weekly("UTC", {7: [(time(9), time(18))]})
    with pytest.raises(InvalidInput):
        BusinessHours.always().deadline_after(datetime(2026, 1, 1, tzinfo=UTC), timedelta(-1))


def test_storage_round_trip() -> None:
    hours = BusinessHours.weekly(
        "Europe/London",
        {0: [(time(9), time(12)), (time(13), time(0))]},
        holidays=[date(2026, 1, 1)],
    )
    assert BusinessHours.from_dict(hours.to_dict()) == hours
