"""Growth made visible: XP from learning events, levels, badges and a leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from eduengine import FixedClock, InMemoryStore, School
from eduengine.levels import (
    Badge,
    LearningEvent,
    LevelCurve,
    Multiplier,
    XpRule,
)
from eduengine.students import Actor

#: the school office, reading students' records (each read names who reads)
OFFICE = Actor(id="office", role="academic")


def main() -> None:
    t = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)  # a Saturday
    school = School.build(
        InMemoryStore(),
        clock=FixedClock(t),
        xp_rules=[
            XpRule(kind="lesson_attended", points=50),
            XpRule(kind="minutes_watched", points=1, per_quantity=True, cap=90),
            XpRule(kind="homework_submitted", points=60, scaled_by_score=True),
            XpRule(kind="daily_streak", points=20, min_gap=timedelta(hours=20)),
        ],
        level_curve=LevelCurve.geometric(base=120, coefficient=Decimal("1.3"), levels=10),
        xp_multipliers=[
            Multiplier(
                name="double-XP weekend",
                factor=Decimal(2),
                starts_at=t,
                ends_at=t + timedelta(days=2),
            ),
        ],
        badges=[
            Badge.after("first-homework", "First homework", "homework_submitted", 1),
            Badge.at_level("level-3", "Rising star", 3),
        ],
        titles={1: "Newcomer", 3: "Scholar", 6: "Master"},
    )
    xp = school.levels

    def send(student: str, kind: str, source: str, hours: float, **kw: Any) -> None:
        event = LearningEvent(
            student_id=student,
            kind=kind,
            source_id=source,
            occurred_at=t + timedelta(hours=hours),
            class_id="A",
            **kw,
        )
        award = xp.record(event)
        outcome = f"+{award.points} XP" if award.awarded else f"refused ({award.reason})"
        print(f"  {student} {kind} {source}: {outcome}")

    send("mei", "lesson_attended", "lesson-1", 0)
    send("mei", "lesson_attended", "lesson-1", 0.1)  # sent twice by a flaky app
    send("mei", "minutes_watched", "video-1", 1, quantity=40)
    send("mei", "minutes_watched", "video-2", 2, quantity=40)  # the weekend doubles it past the cap
    send("mei", "homework_submitted", "hw-1", 3, score=Decimal("90"))
    send("mei", "daily_streak", "day-1", 4)
    send("mei", "daily_streak", "day-1b", 5)  # from a second phone, too soon
    send("tom", "lesson_attended", "lesson-1", 0)
    send("ana", "lesson_attended", "lesson-1", 0)

    p = xp.progress("mei", actor=OFFICE)
    print(
        f"mei: level {p.level} '{p.title}', {p.xp} XP, {p.xp_to_next} XP to the next "
        f"level ({p.percent}% of the way), badges {xp.badges_of('mei', actor=OFFICE)}"
    )
    board = xp.leaderboard(class_id="A")
    for s in board.around("tom", 1, anonymous=True):
        print(f"  #{s.rank} {s.display_name}: {s.xp} XP")


if __name__ == "__main__":
    main()
