"""The operator's board (运营看板) over a store: seed a demo school's term into it (or read
one that is already there), print what the board shows, and serve the board's page.

    python examples/operator_board.py                    # a demo term in memory, printed
    python examples/operator_board.py --store sqlite:///demo.db --seed   # into a file
    python examples/operator_board.py --store sqlite:///demo.db --serve  # open the page
    eduengine --store sqlite:///demo.db board --zone Asia/Shanghai       # the same board

The page reads the store (today's seats, fill and attendance, groups forming, renewals
due, alerts in red, segments to act on) and follows its event feed: a booking made by
any process shows within a second. ``--day`` fixes "today" (the demo term is in March
2026); without it a store given with ``--store`` is read at the real date.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from eduengine import FixedClock, School, SystemClock
from eduengine.analytics import AlertRule
from eduengine.deals import GroupDealCampaign
from eduengine.errors import EduEngineError
from eduengine.growth import Segment
from eduengine.kernel.clock import Clock
from eduengine.ops.board import BoardApp, BoardSettings, board_view, serve
from eduengine.ops.jobs import migrate
from eduengine.ops.stores import Store, store_from_url
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList

ZONE = ZoneInfo("Asia/Shanghai")
TERM = date(2026, 3, 2)  # a Monday
WEEKS = 4
#: (course, tutor, weekday, local start, seats)
TIMETABLE = [
    ("python", "wang", 0, time(19, 0), 12),
    ("python", "wang", 2, time(19, 0), 12),
    ("math", "li", 1, time(18, 0), 10),
    ("math", "li", 3, time(18, 0), 10),
    ("english", "chen", 4, time(20, 0), 8),
    ("english", "chen", 5, time(10, 0), 15),
    ("art", "zhao", 5, time(14, 0), 8),
    ("python", "zhao", 6, time(9, 0), 15),
    ("math", "li", 6, time(15, 0), 12),
]
REASONS = ["sick", "schedule_conflict", "travel", None]
#: the demo board's "today": the Wednesday of the term's last week
BOARD_DAY = TERM + timedelta(days=7 * (WEEKS - 1) + 2)


#: the head teacher hears of a day whose attendance fell below 85%
RULES = [
    AlertRule(
        id="weekly-attendance",
        metric="attendance_rate",
        kind="threshold",
        notify="head-teacher",
        period_days=1,
        tz="Asia/Shanghai",
        below=Decimal("0.85"),
    )
]


def build(store: Store, clock: Clock | None = None) -> School:
    """The demo school over ``store`` (``eduengine --school`` can name a function like it)."""
    return School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        reminders=None,
        risk_rules=(),
        alert_rules=RULES,
    )


def seed(store: Store, rng: random.Random) -> None:
    """A term of the demo school: sign-ups, orders, group deals, a timetable booked,
    cancelled and attended, packages and two saved segments."""
    clock = FixedClock(datetime.combine(TERM - timedelta(days=14), time(9), ZONE))
    school = build(store, clock)
    students = [f"s{i:03d}" for i in range(90)]
    # the catalogue owns the prices: each order pays a quote of it
    for course in ("python", "math"):
        school.catalogue.add_item(CatalogueItem(id=course, kind=ItemKind.COURSE, title=course))
    school.catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=clock.now(),
                  prices={"python": Money("399", "CNY"), "math": Money("599", "CNY")})
    )
    # sign-ups over the two weeks before term and the first weeks of it
    for n, sid in enumerate(students):
        clock.set(
            datetime.combine(TERM - timedelta(days=14), time(9), ZONE) + timedelta(hours=7 * n)
        )
        school.students.register(sid, name=f"学员{n}")
        school.payments.add_method(sid, f"acct-{sid}")  # what her orders and groups charge
        if rng.random() < 0.7:
            school.students.record_activity(sid, "trial_booked")
            if rng.random() < 0.6:
                quote = school.catalogue.quote(sid, ["python"], "CNY")
                school.pricing.checkout(f"o-{sid}", quote_id=quote.id)
                if rng.random() < 0.35:
                    clock.advance(timedelta(days=3))
                    quote = school.catalogue.quote(sid, ["math"], "CNY")
                    school.pricing.checkout(f"r-{sid}", quote_id=quote.id)
    # group deals: two campaigns, groups opened during the first week of term
    for cid, course, size in (("spring-python", "python", 3), ("spring-math", "math", 4)):
        clock.set(datetime.combine(TERM, time(8), ZONE))
        school.deals.create_campaign(
            GroupDealCampaign(
                id=cid,
                course_id=course,
                list_price=Money("399", "CNY"),
                group_price=Money("199", "CNY"),
                required_size=size,
                duration=timedelta(days=2),
                starts_at=clock.now(),
                ends_at=clock.now() + timedelta(days=30),
                max_opened_per_student=2,
                max_joined_per_student=3,
            )
        )
        for g in range(8):
            clock.set(datetime.combine(TERM, time(9), ZONE) + timedelta(hours=17 * g))
            opener = rng.choice(students)
            # a full group, or a student already in one, refuses a join: as in life
            with contextlib.suppress(EduEngineError):
                group = school.deals.open_group(cid, opener)
                for joiner in rng.sample(students, rng.randint(0, size)):
                    clock.advance(timedelta(hours=2))
                    school.deals.join_group(group.id, joiner)
    clock.set(datetime.combine(TERM + timedelta(days=WEEKS * 7), time(9), ZONE))
    school.deals.expire_due()
    # the term's timetable, booked, cancelled (with reasons) and attended
    for week in range(WEEKS):
        for course, tutor, weekday, start, seats in TIMETABLE:
            begins = datetime.combine(TERM + timedelta(days=7 * week + weekday), start, ZONE)
            clock.set(begins - timedelta(days=10))
            slot = school.booking.create_slot(
                course, begins, begins + timedelta(hours=1), capacity=seats, tutor_id=tutor
            )
            demand = rng.uniform(0.4, 1.1) * seats * (1.2 if start.hour >= 18 else 0.9)
            booked = []
            for sid in rng.sample(students, min(len(students), int(demand))):
                clock.set(begins - timedelta(hours=rng.uniform(2, 200)))
                with contextlib.suppress(EduEngineError):  # full
                    booked.append(school.booking.book(slot.id, sid))
            for seat in booked[:]:
                if rng.random() < 0.12:
                    clock.set(begins - timedelta(hours=rng.uniform(1, 30)))
                    school.booking.cancel(seat.id, reason_code=rng.choice(REASONS))
                    booked.remove(seat)
            clock.set(begins + timedelta(minutes=10))
            for seat in booked:
                show = rng.random() < 0.9 - 0.03 * week
                (school.booking.mark_attended if show else school.booking.mark_no_show)(seat.id)
    # the day before the board's day: packages bought (renewals due within the week) and
    # groups opened (forming until the day after)
    clock.set(datetime.combine(BOARD_DAY - timedelta(days=1), time(9), ZONE))
    for sid in students[:12]:
        school.students.buy_package(sid, credits=8, valid_for=timedelta(days=6), activate=True)
    for opener in students[60:63]:
        with contextlib.suppress(EduEngineError):
            school.deals.open_group("spring-python", opener)
    school.segments.save("沉睡学员", Segment(stages={"registered"}, inactive_days=14))
    school.segments.save("已购未学", Segment(min_purchases=1, inactive_days=10))


def show(view: dict[str, Any]) -> list[str]:
    """The board's numbers as lines of text."""
    today = view["today"]
    fill = "-" if today["fill"] is None else f"{Decimal(today['fill']):.0%}"
    seen = "-" if today["attendance"] is None else f"{Decimal(today['attendance']):.0%}"
    lines = [
        f"{view['day']} ({view['zone']}): {today['booked']} of {today['offered']} seats "
        f"booked ({fill}), attendance {seen}, {today['no_show']} no-shows",
        "by course: "
        + ", ".join(f"{c['course']} {c['booked']}/{c['offered']}" for c in view["courses"]),
        f"groups forming: {len(view['groups'])}, renewals due: {len(view['renewals'])}",
    ]
    lines += [f"ALERT {a['message']}" for a in view["alerts"]]
    lines += [f"segment {s['name']}: {s['count']} students" for s in view["segments"]]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--store", metavar="URL", help="a store URL (default: a demo in memory)")
    parser.add_argument("--seed", action="store_true", help="seed the demo term into --store")
    parser.add_argument("--day", type=date.fromisoformat, help="the board's today (YYYY-MM-DD)")
    parser.add_argument("--serve", action="store_true", help="serve the board's page")
    parser.add_argument("--port", type=int, default=8026)
    args = parser.parse_args(argv)
    store = store_from_url(args.store or "memory://")
    migrate(store)
    seeded = args.store is None or args.seed
    if seeded:
        seed(store, random.Random(16))
    day = args.day or (BOARD_DAY if seeded else None)
    clock: Clock = (
        SystemClock() if day is None else FixedClock(datetime.combine(day, time(12), ZONE))
    )
    school = build(store, clock)
    settings = BoardSettings(zone=str(ZONE))
    print("\n".join(show(board_view(school, settings=settings))))
    if args.serve:
        print(f"the board: http://127.0.0.1:{args.port}/ (Ctrl-C stops it)")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(BoardApp(school, settings), "127.0.0.1", args.port))
    store.close()


if __name__ == "__main__":
    main()
