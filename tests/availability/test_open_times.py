"""Open times of a tutor: working hours, overrides, buffers, notice, DST (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine.availability import BusyIndex, TimeRange, TutorSchedule, open_times
from eduengine.availability.model import Busy, naive_open_times
from eduengine.errors import InvalidInput, InvalidTimeRange, NaiveDatetime, OverlappingRanges

EVERY_DAY = {d: (TimeRange(time(0), time(23, 59)),) for d in range(7)}


def schedule(tz: str, **kw: object) -> TutorSchedule:
    return TutorSchedule(tutor_id="t", timezone=tz, **kw)  # type: ignore[arg-type]


def day_of(tz: str, d: date, sched: TutorSchedule, busy: BusyIndex | None = None) -> list[datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(d, time(0), tzinfo=zone)
    return open_times(
        sched,
        busy or BusyIndex(),
        start,
        start + timedelta(days=1),
        now=start - timedelta(days=7),
        viewer_tz=tz,
    )


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        ("Europe/London", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_dst_gap_offers_no_missing_time_and_overlap_no_duplicate(
    tz: str, spring: date, autumn: date
) -> None:
    sched = schedule(
        tz,
        weekly={spring.weekday(): (TimeRange(time(0), time(5)),)},
        session=timedelta(minutes=30),
        step=timedelta(minutes=30),
    )
    gap = day_of(tz, spring, sched)
    walls = [t.strftime("%H:%M") for t in gap]
    missing_hour = "01" if tz == "Europe/London" else "02"
    assert not any(w.startswith(missing_hour) for w in walls)
    assert len(gap) == len(set(gap)) == 8  # 5 wall hours minus the skipped one, per 30 min
    for t in gap:
        assert t.tzinfo is not None
    overlap = day_of(tz, autumn, sched)
    assert len(overlap) == len({t.astimezone(UTC) for t in overlap}) == 10
    assert [t.strftime("%H:%M") for t in overlap] == sorted({t.strftime("%H:%M") for t in overlap})


def test_sessions_are_real_durations_across_the_gap() -> None:
    tz = "America/New_York"
    sched = schedule(
        tz,
        weekly={6: (TimeRange(time(1), time(4)),)},
        session=timedelta(hours=2),
        step=timedelta(hours=1),
    )
    starts = day_of(tz, date(2026, 3, 8), sched)
    # 01:00 EST + 2 h real time = 04:00 EDT, exactly the end of the hours: allowed
    assert [t.strftime("%H:%M %Z") for t in starts] == ["01:00 EST"]


def test_half_hour_offsets_and_viewers_in_other_zones() -> None:
    sched = schedule(
        "Asia/Kolkata",
        weekly={0: (TimeRange(time(9), time(11)),)},
        session=timedelta(minutes=60),
        step=timedelta(minutes=30),
    )
    monday = datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Kolkata"))
    seen_in_london = open_times(
        sched,
        BusyIndex(),
        monday,
        monday + timedelta(days=1),
        now=monday - timedelta(days=1),
        viewer_tz="Europe/London",
    )
    assert [t.strftime("%H:%M") for t in seen_in_london] == ["03:30", "04:00", "04:30"]
    assert all(t.tzinfo == ZoneInfo("Europe/London") for t in seen_in_london)


def test_bookings_and_their_buffers_block_times() -> None:
    tz = "UTC"
    sched = schedule(
        tz,
        weekly={0: (TimeRange(time(9), time(13)),)},
        buffer_before=timedelta(minutes=15),
        buffer_after=timedelta(minutes=15),
    )
    d = date(2026, 3, 2)
    booked = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    busy = BusyIndex(
        [Busy(start=booked, end=booked + timedelta(hours=1), booking_id="b", slot_id="s")]
    )
    walls = [t.strftime("%H:%M") for t in day_of(tz, d, sched, busy)]
    # 09:00-10:00 (+15 min) clears 10:15 (10:30 - 15 min); 12:00 clears 11:45
    assert walls == ["09:00", "12:00"]


def test_overrides_notice_horizon_and_daily_cap() -> None:
    d = date(2026, 3, 2)
    sched = schedule(
        "UTC",
        weekly={0: (TimeRange(time(9), time(12)),), 1: (TimeRange(time(9), time(12)),)},
        overrides={d: (TimeRange(time(14), time(16)),), d + timedelta(days=1): ()},
        min_notice=timedelta(hours=2),
        horizon=timedelta(days=1),
        max_per_day=1,
    )
    now = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    times = open_times(sched, BusyIndex(), now, now + timedelta(days=3), now=now)
    assert [t.strftime("%d %H:%M") for t in times] == ["02 14:30", "02 15:00"]
    busy = BusyIndex(
        [
            Busy(
                start=datetime(2026, 3, 2, 14, tzinfo=UTC),
                end=datetime(2026, 3, 2, 15, tzinfo=UTC),
                booking_id="b",
                slot_id="s",
            )
        ]
    )
    assert open_times(sched, busy, now, now + timedelta(days=3), now=now) == []


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(OverlappingRanges):
        schedule(
            "UTC",
            overrides={
                date(2026, 3, 2): (TimeRange(time(9), time(11)), TimeRange(time(10), time(12)))
            },
        )
    with pytest.raises(InvalidTimeRange):
        TimeRange(time(11), time(9))
    with pytest.raises(InvalidTimeRange):
        schedule("UTC", session=-timedelta(minutes=5))
    with pytest.raises(InvalidInput):
        schedule("Mars/Olympus")
    with pytest.raises(NaiveDatetime):
        open_times(
            schedule("UTC"),
            BusyIndex(),
            datetime(2026, 3, 2),
            datetime(2026, 3, 3, tzinfo=UTC),
            now=datetime(2026, 3, 1, tzinfo=UTC),
        )


@given(
    booked=st.lists(st.integers(0, 24 * 60 // 15 * 20), max_size=40, unique=True),
    before=st.sampled_from([0, 10, 15]),
    after=st.sampled_from([0, 5, 30]),
)
def test_the_index_agrees_with_a_linear_scan(booked: list[int], before: int, after: int) -> None:
    sched = schedule(
        "Europe/London",
        weekly=EVERY_DAY,
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        step=timedelta(minutes=15),
    )
    t0 = datetime(2026, 3, 20, tzinfo=UTC)
    busy: list[Busy] = []
    last_end = t0 - timedelta(days=1)
    for slot in sorted(booked):  # non-overlapping one-hour lessons
        start = t0 + timedelta(minutes=15 * slot)
        if start >= last_end:
            busy.append(
                Busy(
                    start=start,
                    end=start + timedelta(hours=1),
                    booking_id=str(slot),
                    slot_id=str(slot),
                )
            )
            last_end = start + timedelta(hours=1)
    end = t0 + timedelta(days=20)
    fast = open_times(sched, BusyIndex(busy), t0, end, now=t0 - timedelta(days=1))
    slow = naive_open_times(sched, busy, t0, end, now=t0 - timedelta(days=1))
    assert [t.astimezone(UTC) for t in fast] == [t.astimezone(UTC) for t in slow]
