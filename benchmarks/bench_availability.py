"""Open times of one tutor over 30 days with 1,000 bookings: index vs linear scan.

    .venv/bin/python benchmarks/bench_availability.py [--quick]

Both run in the same process on the same data and must agree; the baseline checks every
candidate start against every booking.
"""

from __future__ import annotations

import argparse
import time as clock
from datetime import UTC, datetime, time, timedelta

from eduengine.availability import BusyIndex, TimeRange, TutorSchedule, open_times
from eduengine.availability.model import Busy, naive_open_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else 20
    sched = TutorSchedule(
        tutor_id="t",
        timezone="Europe/London",
        weekly={d: (TimeRange(time(7), time(23)),) for d in range(7)},
        session=timedelta(minutes=30),
        step=timedelta(minutes=15),
        buffer_after=timedelta(minutes=5),
        horizon=timedelta(days=400),
    )
    t0 = datetime(2026, 3, 20, tzinfo=UTC)
    # 1,000 lessons spread over 30 days (every 45 minutes from 07:00 London time)
    busy: list[Busy] = []
    day, n = 0, 0
    while len(busy) < 1000:
        start = datetime(2026, 3, 20, 7, tzinfo=UTC) + timedelta(days=day, minutes=45 * n)
        busy.append(
            Busy(
                start=start,
                end=start + timedelta(minutes=30),
                booking_id=str(len(busy)),
                slot_id="s",
            )
        )
        n += 1
        if n == 34:
            day, n = day + 1, 0
    index = BusyIndex(busy)
    end, now = t0 + timedelta(days=30), t0 - timedelta(days=1)

    def timed(fn: object) -> tuple[float, list[datetime]]:
        best, result = float("inf"), []
        for _ in range(rounds):
            started = clock.perf_counter()
            result = fn()  # type: ignore[operator]
            best = min(best, clock.perf_counter() - started)
        return best, result

    fast_s, fast = timed(lambda: open_times(sched, index, t0, end, now=now))
    slow_s, slow = timed(lambda: naive_open_times(sched, busy, t0, end, now=now))
    assert [t.astimezone(UTC) for t in fast] == [t.astimezone(UTC) for t in slow]
    print(f"bookings: {len(busy)}, open times found: {len(fast)} over 30 days")
    print(f"sorted index : {fast_s * 1000:8.2f} ms per call")
    print(f"linear scan  : {slow_s * 1000:8.2f} ms per call")
    print(f"speed-up: {slow_s / fast_s:.0f}x (aim: at least 10x; under 1 ms per call)")


if __name__ == "__main__":
    main()
