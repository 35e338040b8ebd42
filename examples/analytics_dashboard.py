"""The operator's dashboard (数据看板): seed a demo school's term, then render a static HTML
page with inline SVG charts: fill rate by weekday and hour, the weekly attendance
trend, the sign-up funnel and group-deal success by campaign.

Run it: ``python examples/analytics_dashboard.py [out.html]`` (no plotting library
needed: the charts are plain SVG).
"""

from __future__ import annotations

import contextlib
import html
import random
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from eduengine import FixedClock, InMemoryStore, School
from eduengine.analytics import Period
from eduengine.deals import GroupDealCampaign
from eduengine.errors import EduEngineError
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine

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


def seed(rng: random.Random) -> School:
    clock = FixedClock(datetime.combine(TERM - timedelta(days=14), time(9), ZONE))
    school = School.build(
        InMemoryStore(), clock=clock, gateway=FakePaymentGateway(), reminders=None, risk_rules=()
    )
    students = [f"s{i:03d}" for i in range(90)]
    # sign-ups over the two weeks before term and the first weeks of it
    for n, sid in enumerate(students):
        clock.set(
            datetime.combine(TERM - timedelta(days=14), time(9), ZONE) + timedelta(hours=7 * n)
        )
        school.students.register(sid, name=f"学员{n}")
        if rng.random() < 0.7:
            school.students.record_activity(sid, "trial_booked")
            if rng.random() < 0.6:
                school.pricing.checkout(
                    f"o-{sid}",
                    Customer(student_id=sid),
                    [OrderLine(course_id="python", price=Money("399", "CNY"))],
                    account=f"acct-{sid}",
                )
                if rng.random() < 0.35:
                    clock.advance(timedelta(days=3))
                    school.pricing.checkout(
                        f"r-{sid}",
                        Customer(student_id=sid),
                        [OrderLine(course_id="math", price=Money("599", "CNY"))],
                        account=f"acct-{sid}",
                    )
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
                group = school.deals.open_group(cid, opener, account=f"acct-{opener}")
                for joiner in rng.sample(students, rng.randint(0, size)):
                    clock.advance(timedelta(hours=2))
                    school.deals.join_group(group.id, joiner, account=f"acct-{joiner}")
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
    clock.set(datetime.combine(TERM + timedelta(days=WEEKS * 7 + 1), time(9), ZONE))
    return school


# --- SVG --------------------------------------------------------------------------------


def colour(share: Decimal | None) -> str:
    if share is None:
        return "#eee"
    s = float(min(share, Decimal(1)))
    return f"rgb({int(255 - 180 * s)},{int(245 - 90 * s)},{int(255 - 120 * s)})"


def heatmap(cells: dict[tuple[str, str], Decimal | None]) -> str:
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    hours = sorted({h for _, h in cells})
    w, h = 60, 28
    parts = [f'<svg width="{70 + w * len(hours)}" height="{40 + h * 7}">']
    for j, hour in enumerate(hours):
        parts.append(f'<text x="{70 + j * w + 12}" y="20" font-size="12">{hour}</text>')
    for i, day in enumerate(days):
        parts.append(f'<text x="10" y="{48 + i * h}" font-size="12">{day}</text>')
        for j, hour in enumerate(hours):
            share = cells.get((day, hour))
            label = "" if share is None else f"{share:.0%}"
            x, y = 70 + j * w, 30 + i * h
            parts.append(
                f'<rect x="{x}" y="{y}" width="{w - 2}" height="{h - 2}" '
                f'fill="{colour(share)}"/><text x="{x + 14}" y="{y + 18}" '
                f'font-size="11">{label}</text>'
            )
    return "".join(parts) + "</svg>"


def line(points: list[tuple[str, Decimal | None]]) -> str:
    w, h = 480, 200
    step = w / max(1, len(points) - 1)
    coords = [
        (30 + i * step, 20 + (1 - float(v or 0)) * (h - 40)) for i, (_, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.0f},{y:.0f}" for x, y in coords)
    labels = "".join(
        f'<text x="{x - 14:.0f}" y="{h + 15}" font-size="11">{k}</text>'
        f'<text x="{x - 10:.0f}" y="{y - 6:.0f}" font-size="11">{v or 0:.0%}</text>'
        for (k, v), (x, y) in zip(points, coords, strict=True)
    )
    return (
        f'<svg width="{w + 60}" height="{h + 25}"><polyline points="{path}" fill="none" '
        f'stroke="#3b6" stroke-width="3"/>{labels}</svg>'
    )


def bars(rows: Sequence[tuple[str, Decimal | int, str]]) -> str:
    top = max((float(v) for _, v, _ in rows), default=1) or 1
    parts = [f'<svg width="560" height="{30 * len(rows) + 10}">']
    for i, (label, value, text) in enumerate(rows):
        width = 360 * float(value) / top
        parts.append(
            f'<text x="0" y="{22 + 30 * i}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="130" y="{8 + 30 * i}" width="{width:.0f}" height="20" '
            f'fill="#58c"/><text x="{136 + width:.0f}" y="{22 + 30 * i}" '
            f'font-size="12">{html.escape(text)}</text>'
        )
    return "".join(parts) + "</svg>"


def render(school: School) -> tuple[str, list[str]]:
    a = school.analytics
    term = Period.days(TERM, WEEKS * 7, ZONE)
    fill: dict[tuple[str, str], Decimal | None] = {}
    for row in a.fill_rate(term, by="weekday_hour"):
        day, _, hour = row.key.partition(" ")
        fill[day, hour] = row.rate
    trend = []
    for w in range(WEEKS):
        (seen,) = a.attendance(Period.days(TERM + timedelta(days=7 * w), 7, ZONE), by="school")
        trend.append((f"week {w + 1}", seen.attendance_rate))
    cohort = Period.days(TERM - timedelta(days=14), 14 + WEEKS * 7, ZONE)
    funnel = [
        (r.stage, r.students, f"{r.students} ({r.of_registered or 0:.0%})")
        for r in a.funnel(cohort)
    ]
    groups = [
        (
            r.key,
            r.success_rate or 0,
            f"{r.formed}/{r.formed + r.failed} formed, "
            f"{r.cancelled} cancelled, {r.still_open} open, k={r.viral_coefficient or 0:.2f}",
        )
        for r in a.group_metrics(term, by="campaign")
    ]
    reasons = ", ".join(f"{r.reason} {r.count}" for r in a.cancellation_reasons(term))
    popular = ", ".join(f"{r.key} {r.count}" for r in a.popular_courses(term, limit=3))
    page = f"""<!doctype html><meta charset="utf-8"><title>eduengine dashboard</title>
<body style="font-family:sans-serif;max-width:900px;margin:auto">
<h1>Term dashboard ({TERM} + {WEEKS} weeks, Asia/Shanghai)</h1>
<h2>Fill rate (填充率) by weekday and hour</h2>{heatmap(fill)}
<h2>Attendance (到课率) by week</h2>{line(trend)}
<h2>Funnel of the term's sign-ups</h2>{bars(funnel)}
<h2>Group deals (成团率) by campaign</h2>{bars(groups)}
<p>Cancellation reasons: {html.escape(reasons)}</p>
<p>Most booked courses: {html.escape(popular)}</p></body>"""
    summary = [
        f"fill-rate cells: {len(fill)}, attendance trend: "
        + ", ".join(f"{v or 0:.0%}" for _, v in trend),
        "funnel: " + ", ".join(f"{s} {n}" for s, n, _ in funnel),
        "groups: " + "; ".join(f"{k} {t}" for k, _, t in groups),
        f"cancellation reasons: {reasons}",
        f"most booked: {popular}",
    ]
    return page, summary


def main(argv: list[str]) -> None:
    school = seed(random.Random(16))
    page, summary = render(school)
    out = (
        Path(argv[1]) if len(argv) > 1 else Path(tempfile.gettempdir()) / "eduengine-dashboard.html"
    )
    out.write_text(page, encoding="utf-8")
    print("\n".join(summary))
    print(f"dashboard written to {out} ({len(page)} bytes, generated {datetime.now(UTC):%Y-%m-%d})")


if __name__ == "__main__":
    main(sys.argv)
