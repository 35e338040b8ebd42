"""A student's learning report for a period (学习报告), pure: the typed data, and its
rendered forms, HTML (every value escaped) and plain text for messages.

>>> from datetime import datetime
>>> from decimal import Decimal
>>> from zoneinfo import ZoneInfo
>>> z = ZoneInfo("Asia/Shanghai")
>>> report = LearningReport(
...     student_id="ann", name="Ann <3", zone="Asia/Shanghai",
...     start=datetime(2026, 3, 2, tzinfo=z), end=datetime(2026, 3, 9, tzinfo=z),
...     lessons_attended=2, lessons_missed=1,
...     homework_assigned=2, homework_submitted=2, homework_on_time=1,
...     dimensions=(DimensionScore(dimension_id="vocabulary", baseline=Decimal("0.6"),
...                                average=Decimal("0.8"), graded=2),),
...     mastery=(PointGain(point_id="greetings", before=Decimal("0.2"),
...                        after=Decimal("0.75")),),
...     next_step=NextStep(kind="learn", point_id="numbers", why="lowest mastery"))
>>> print(render_text(report).splitlines()[0])
Learning report for Ann <3, 2026-03-02 to 2026-03-08
>>> "Ann &lt;3" in render_html(report), "<3" in render_html(report)
(True, False)
>>> report.dimensions[0].change, report.mastery[0].gain
(Decimal('0.2'), Decimal('0.55'))
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from eduengine.kernel.codec import dt_in, dt_out

__all__ = [
    "DimensionScore",
    "LearningReport",
    "NextStep",
    "PointGain",
    "render_html",
    "render_text",
]


@attrs.frozen(kw_only=True)
class DimensionScore:
    """One ability dimension: the mean of the period's graded rubric values against the
    diagnostic baseline (``None`` where there is none)."""

    dimension_id: str
    baseline: Decimal | None
    average: Decimal | None
    #: graded attempts of the period that scored this dimension
    graded: int

    @property
    def change(self) -> Decimal | None:
        if self.baseline is None or self.average is None:
            return None
        return self.average - self.baseline


@attrs.frozen(kw_only=True)
class PointGain:
    """Mastery of one knowledge point at the period's first graded observation (before
    it) and after its last."""

    point_id: str
    before: Decimal
    after: Decimal

    @property
    def gain(self) -> Decimal:
        return self.after - self.before


@attrs.frozen(kw_only=True)
class NextStep:
    """What to do next (the learning path's step: ``review``, ``learn`` or ``done``)."""

    kind: str
    point_id: str | None
    why: str


@attrs.frozen(kw_only=True)
class LearningReport:
    """One student's learning over ``[start, end)``, read in ``zone``."""

    student_id: str
    name: str | None
    zone: str
    start: datetime
    end: datetime
    lessons_attended: int
    lessons_missed: int
    #: homework assigned in the period, how much of it was submitted, and on time
    homework_assigned: int
    homework_submitted: int
    homework_on_time: int
    dimensions: tuple[DimensionScore, ...]
    mastery: tuple[PointGain, ...]
    next_step: NextStep

    @property
    def days(self) -> tuple[str, str]:
        """The first and last local day of the period."""
        last = self.end - timedelta(microseconds=1)
        return self.start.date().isoformat(), last.date().isoformat()

    def to_record(self) -> dict[str, Any]:
        """The report as JSON-ready data (a notice's context, the stored report)."""
        return {
            "student_id": self.student_id,
            "name": self.name,
            "zone": self.zone,
            "start": dt_out(self.start),
            "end": dt_out(self.end),
            "lessons_attended": self.lessons_attended,
            "lessons_missed": self.lessons_missed,
            "homework_assigned": self.homework_assigned,
            "homework_submitted": self.homework_submitted,
            "homework_on_time": self.homework_on_time,
            "dimensions": [
                [d.dimension_id, _opt(d.baseline), _opt(d.average), d.graded]
                for d in self.dimensions
            ],
            "mastery": [[g.point_id, str(g.before), str(g.after)] for g in self.mastery],
            "next_step": attrs.asdict(self.next_step),
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> LearningReport:
        zone = ZoneInfo(d["zone"])
        return cls(
            student_id=d["student_id"],
            name=d["name"],
            zone=d["zone"],
            start=dt_in(d["start"]).astimezone(zone),
            end=dt_in(d["end"]).astimezone(zone),
            lessons_attended=d["lessons_attended"],
            lessons_missed=d["lessons_missed"],
            homework_assigned=d["homework_assigned"],
            homework_submitted=d["homework_submitted"],
            homework_on_time=d["homework_on_time"],
            dimensions=tuple(
                DimensionScore(dimension_id=k, baseline=_dec(b), average=_dec(a), graded=n)
                for k, b, a, n in d["dimensions"]
            ),
            mastery=tuple(
                PointGain(point_id=p, before=Decimal(b), after=Decimal(a))
                for p, b, a in d["mastery"]
            ),
            next_step=NextStep(**d["next_step"]),
        )


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{(value * 100).quantize(Decimal('1'))}%"


def _signed(value: Decimal | None) -> str:
    if value is None:
        return "-"
    points = (value * 100).quantize(Decimal("1"))
    return f"+{points}" if points > 0 else str(points)


def _lines(report: LearningReport) -> list[tuple[str, list[tuple[str, ...]]]]:
    """The report's sections as rows of text cells, shared by both renderings."""
    first, last = report.days
    head: list[tuple[str, ...]] = [
        ("Lessons attended", str(report.lessons_attended)),
        ("Lessons missed", str(report.lessons_missed)),
        ("Homework submitted", f"{report.homework_submitted} of {report.homework_assigned}"),
        ("Homework on time", f"{report.homework_on_time} of {report.homework_assigned}"),
    ]
    dims: list[tuple[str, ...]] = [
        (d.dimension_id, _pct(d.average), _pct(d.baseline), _signed(d.change))
        for d in report.dimensions
    ]
    gains: list[tuple[str, ...]] = [
        (g.point_id, _pct(g.before), _pct(g.after), _signed(g.gain)) for g in report.mastery
    ]
    step = report.next_step
    nxt: list[tuple[str, ...]] = [
        (step.kind + ("" if step.point_id is None else f": {step.point_id}"), step.why)
    ]
    return [
        (f"{first} to {last}", head),
        ("Scores by dimension (average, baseline, change)", dims),
        ("Mastery gained (before, after, change)", gains),
        ("Next step", nxt),
    ]


def render_text(report: LearningReport) -> str:
    """The report as plain text for a message."""
    first, last = report.days
    out = [f"Learning report for {report.name or report.student_id}, {first} to {last}"]
    for title, rows in _lines(report)[1:]:
        out.append(f"{title}:")
        out.extend("  " + " | ".join(row) for row in rows or [("none",)])
    head = _lines(report)[0][1]
    return "\n".join([out[0], *(f"{k}: {v}" for k, v in head), *out[1:]])


def render_html(report: LearningReport) -> str:
    """The report as an HTML fragment; every value from the school or the student is
    escaped."""
    first, last = report.days
    name = escape(report.name or report.student_id)
    parts = [f"<h1>Learning report for {name}</h1>", f"<p>{escape(first)} to {escape(last)}</p>"]
    for n, (title, rows) in enumerate(_lines(report)):
        if n:
            parts.append(f"<h2>{escape(title)}</h2>")
        cells = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        parts.append(f"<table>{cells}</table>" if rows else "<p>none</p>")
    return "\n".join(parts)
