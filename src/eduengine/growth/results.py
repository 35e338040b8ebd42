"""Experiment results: the ``growth`` projection of the feed tallies, per experiment and
variant, the students exposed and what they did after: the groups they opened and how
those ended, whether they paid, and what they paid (net of refunds).

Only what follows a student's exposure in the feed counts for her variant. Documents
(kinds): ``growth_subject`` per exposed student (her variants, her revenue per
experiment), ``growth_deal`` per group opened by an exposed student (the variants it
counts for), ``growth_tally`` per ``<experiment>/<variant>`` (the counters). The
projection can be dropped and rebuilt from the feed (``school.projections.rebuild(
"growth")``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from eduengine.deals.events import GroupFailed, GroupFormed, GroupOpened, MemberJoined, RefundIssued
from eduengine.growth import stats
from eduengine.growth.events import StudentExposed
from eduengine.growth.experiments import Experiment
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import Money
from eduengine.pricing.events import OrderCancelled, OrderPaid
from eduengine.service_layer.ports import UnitOfWork

__all__ = [
    "EXPERIMENTS",
    "SUBJECTS",
    "TALLIES",
    "ExperimentResults",
    "VariantResult",
    "result_rules",
    "results",
]

#: experiment definitions, one per key (written by the service)
EXPERIMENTS = "growth_experiment"
SUBJECTS = "growth_subject"
DEALS = "growth_deal"
TALLIES = "growth_tally"
_ALL = "all"
#: a p-value below this flags a sample ratio mismatch
SRM_THRESHOLD = 0.001


@attrs.frozen(kw_only=True)
class VariantResult:
    """One variant's results. ``formation_rate`` is the share of groups its students
    opened that formed, of those decided (formed or failed); ``conversion`` the share of
    its students who paid after exposure; ``revenue_per_student`` their mean net payment
    (every exposed student counts, a student who paid nothing as zero). Each ``*_interval``
    is its ``confidence`` interval (Wilson for the rates, Student's t for revenue, ``None``
    before two students); ``revenue_lift`` is Welch's interval of the difference from the
    control's revenue per student, ``(difference, low, high)``."""

    variant: str
    exposed: int
    groups_opened: int
    groups_formed: int
    groups_failed: int
    formation_rate: Decimal | None
    formation_interval: tuple[float, float]
    converted: int
    conversion: Decimal | None
    conversion_interval: tuple[float, float]
    revenue: Money
    revenue_per_student: Money | None
    revenue_interval: tuple[Money, Money] | None
    revenue_lift: tuple[Money, Money, Money] | None


@attrs.frozen(kw_only=True)
class ExperimentResults:
    """An experiment's results: one :class:`VariantResult` per variant (the control
    first), the chi-square p-value of its exposure counts against the weights
    (``srm_p_value``) and whether that flags a sample ratio mismatch (below 0.001: the
    split is broken, do not trust the results)."""

    experiment_key: str
    running: bool
    variants: tuple[VariantResult, ...]
    srm_p_value: float
    sample_ratio_mismatch: bool


def _tally(uow: UnitOfWork, key: str) -> dict[str, Any]:
    return uow.records.get(TALLIES, key) or {
        "exposed": 0,
        "converted": 0,
        "opened": 0,
        "formed": 0,
        "failed": 0,
        "revenue": "0",
        "squares": "0",
    }


def _save_tally(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
    uow.records.put(TALLIES, key, doc, index={_ALL: 0})


def on_exposed(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, StudentExposed)
    subject = uow.records.get(SUBJECTS, event.student_id) or {"in": {}, "revenue": {}}
    if event.experiment_key in subject["in"]:
        return
    subject["in"][event.experiment_key] = event.variant
    subject["revenue"][event.experiment_key] = "0"
    uow.records.put(SUBJECTS, event.student_id, subject, index={_ALL: 0})
    key = f"{event.experiment_key}/{event.variant}"
    tally = _tally(uow, key)
    tally["exposed"] += 1
    _save_tally(uow, key, tally)


def on_group_opened(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, GroupOpened)
    subject = uow.records.get(SUBJECTS, event.initiator)
    if subject is None:
        return
    uow.records.put(DEALS, event.group_id, {"in": subject["in"]}, index={_ALL: 0})
    for experiment, variant in subject["in"].items():
        key = f"{experiment}/{variant}"
        tally = _tally(uow, key)
        tally["opened"] += 1
        _save_tally(uow, key, tally)


def _group_decided(counter: str) -> Callable[[DomainEvent, UnitOfWork], None]:
    def handle(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, GroupFormed | GroupFailed)
        deal = uow.records.get(DEALS, event.group_id)
        if deal is None:
            return
        uow.records.delete(DEALS, event.group_id)  # a group is decided once
        for experiment, variant in deal["in"].items():
            key = f"{experiment}/{variant}"
            tally = _tally(uow, key)
            tally[counter] += 1
            _save_tally(uow, key, tally)

    return handle


def _paid(student_id: str, amount: Money, uow: UnitOfWork, *, payment: bool) -> None:
    subject = uow.records.get(SUBJECTS, student_id)
    if subject is None:
        return
    currencies = subject.setdefault("currency", {})
    for experiment, variant in subject["in"].items():
        if experiment not in currencies:
            found = uow.records.get(EXPERIMENTS, experiment)
            currencies[experiment] = found["definition"]["currency"] if found else amount.currency
        if currencies[experiment] != amount.currency:
            continue
        key = f"{experiment}/{variant}"
        tally = _tally(uow, key)
        before = Decimal(subject["revenue"][experiment])
        after = before + amount.amount
        subject["revenue"][experiment] = str(after)
        tally["revenue"] = str(Decimal(tally["revenue"]) + amount.amount)
        tally["squares"] = str(Decimal(tally["squares"]) + after * after - before * before)
        converted = subject.setdefault("converted", [])
        if payment and experiment not in converted:
            converted.append(experiment)
            tally["converted"] += 1
        _save_tally(uow, key, tally)
    uow.records.put(SUBJECTS, student_id, subject, index={_ALL: 0})


def on_order_paid(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, OrderPaid)
    _paid(event.student_id, event.total, uow, payment=True)


def on_member_joined(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, MemberJoined)
    _paid(event.student_id, event.amount, uow, payment=True)


def on_order_cancelled(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, OrderCancelled)
    if event.refunded is not None:
        _paid(event.student_id, -event.refunded, uow, payment=False)


def on_refund_issued(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, RefundIssued)
    _paid(event.student_id, -event.amount, uow, payment=False)


def result_rules() -> dict[type[DomainEvent], list[Callable[[DomainEvent, UnitOfWork], None]]]:
    """The ``growth`` projection's handlers, by event."""
    return {
        StudentExposed: [on_exposed],
        GroupOpened: [on_group_opened],
        GroupFormed: [_group_decided("formed")],
        GroupFailed: [_group_decided("failed")],
        OrderPaid: [on_order_paid],
        MemberJoined: [on_member_joined],
        OrderCancelled: [on_order_cancelled],
        RefundIssued: [on_refund_issued],
    }


def reset_results(uow: UnitOfWork) -> None:
    """Drop every tally (before a rebuild)."""
    for kind in (SUBJECTS, DEALS, TALLIES):
        for key, _ in uow.records.scan(kind, _ALL):
            uow.records.delete(kind, key)


def _rate(hits: int, n: int) -> Decimal | None:
    return None if n == 0 else Decimal(hits) / Decimal(n)


def results(
    uow: UnitOfWork, experiment: Experiment, *, running: bool, confidence: float = 0.95
) -> ExperimentResults:
    """Read an experiment's results from its tallies."""
    currency = experiment.currency
    docs = [_tally(uow, f"{experiment.key}/{v.key}") for v in experiment.variants]
    samples = [(int(d["exposed"]), Decimal(d["revenue"]), Decimal(d["squares"])) for d in docs]
    found = []
    for index, (variant, doc) in enumerate(zip(experiment.variants, docs, strict=True)):
        n, total, squares = samples[index]
        decided = int(doc["formed"]) + int(doc["failed"])
        mean = stats.mean_interval(n, total, squares, confidence)
        lift = None if index == 0 else stats.welch_interval(samples[0], samples[index], confidence)
        found.append(
            VariantResult(
                variant=variant.key,
                exposed=n,
                groups_opened=int(doc["opened"]),
                groups_formed=int(doc["formed"]),
                groups_failed=int(doc["failed"]),
                formation_rate=_rate(int(doc["formed"]), decided),
                formation_interval=stats.wilson(int(doc["formed"]), decided, confidence),
                converted=int(doc["converted"]),
                conversion=_rate(int(doc["converted"]), n),
                conversion_interval=stats.wilson(int(doc["converted"]), n, confidence),
                revenue=Money(total, currency),
                revenue_per_student=None if n == 0 else Money(total / n, currency),
                revenue_interval=None
                if mean is None
                else (Money(mean[1], currency), Money(mean[2], currency)),
                revenue_lift=None
                if lift is None
                else (Money(lift[0], currency), Money(lift[1], currency), Money(lift[2], currency)),
            )
        )
    p = stats.srm_p_value([r.exposed for r in found], [v.weight for v in experiment.variants])
    return ExperimentResults(
        experiment_key=experiment.key,
        running=running,
        variants=tuple(found),
        srm_p_value=p,
        sample_ratio_mismatch=p < SRM_THRESHOLD,
    )
