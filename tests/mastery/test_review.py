"""Spaced review: the due dates are the fsrs package's own for the same review log, the
parameters are pinned (an upgrade cannot change what stored cards mean), and the cards
survive a round trip through every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import fsrs
import pytest

from eduengine import FixedClock
from eduengine.errors import InvalidInput
from eduengine.mastery import MasteryService, ReviewSettings
from eduengine.mastery.model import Score
from eduengine.mastery.review import DEFAULT_REVIEW, FSRS6_DEFAULTS, ReviewCard, review
from eduengine.mastery.service import SETTINGS, STUDENTS
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

#: one student's observations of one point: (days after T0, result)
LOG: list[tuple[float, Score]] = [
    (0, True),
    (3, Decimal("0.8")),
    (10, False),
    (12, Decimal("0.6")),
    (20, Decimal("1")),
    (60, True),
    (61, Decimal("0.2")),
    (62.5, True),
]
FSRS_RATINGS = [3, 3, 1, 2, 4, 3, 1, 3]


def _direct_due_dates() -> list[datetime]:
    """The due dates the fsrs package computes for LOG, called directly."""
    scheduler = fsrs.Scheduler(
        parameters=FSRS6_DEFAULTS,
        desired_retention=0.9,
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=36500,
        enable_fuzzing=False,
    )
    card = fsrs.Card(card_id=7, due=T0)
    dues = []
    for (days, _), rating in zip(LOG, FSRS_RATINGS, strict=True):
        card, _log = scheduler.review_card(card, fsrs.Rating(rating), T0 + timedelta(days=days))
        dues.append(card.due)
    return dues


def test_due_dates_are_what_fsrs_computes_for_the_same_review_log() -> None:
    card = None
    dues = []
    for days, result in LOG:
        card = review(card, "fractions", result, T0 + timedelta(days=days), DEFAULT_REVIEW)
        dues.append(card.due)
    assert dues == _direct_due_dates()
    assert card is not None and card.reviews == len(LOG)


def test_the_service_schedules_the_same_due_dates_on_every_adapter(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    mastery = MasteryService(store.unit_of_work, clock=clock)
    dues = []
    for days, result in LOG:
        state = mastery.observe("ann", "fractions", result, T0 + timedelta(days=days))
        assert state.card is not None
        dues.append(state.card.due)
    assert dues == _direct_due_dates()
    last = dues[-1]
    assert mastery.due_reviews("ann", last - timedelta(seconds=1), actor=SYSTEM) == []
    (due,) = mastery.due_reviews("ann", last, actor=SYSTEM)
    assert (due.point_id, due.due, due.reviews) == ("fractions", last, len(LOG))


def test_stored_cards_survive_a_round_trip_through_every_adapter(store: StoreHandle) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    seen: list[tuple[str, Score]] = [("add", True), ("sub", Decimal("0.55")), ("add", False)]
    written = [
        mastery.observe("ann", p, r, T0 + timedelta(hours=n)) for n, (p, r) in enumerate(seen)
    ]
    read = mastery.mastery("ann", actor=SYSTEM)
    assert read["add"] == written[2] and read["sub"] == written[1]
    card = read["add"].card
    assert card is not None and card.version == DEFAULT_REVIEW.version
    with store.unit_of_work() as uow:
        doc = uow.records.get(STUDENTS, "ann")
        settings = uow.records.get(SETTINGS, DEFAULT_REVIEW.version)
    assert doc is not None and settings is not None
    assert ReviewCard.from_record("add", doc["cards"]["add"]) == card
    # the parameters the cards were scheduled with are stored beside them, exactly
    assert ReviewSettings.from_record(settings) == DEFAULT_REVIEW


def test_fsrs6_parameters_are_pinned_not_read_from_the_package() -> None:
    # what the installed py-fsrs ships today; when a release changes its defaults this
    # fails: keep FSRS6_DEFAULTS (stored cards name it) and add a new version beside it
    assert tuple(fsrs.Scheduler().parameters) == FSRS6_DEFAULTS
    assert DEFAULT_REVIEW.parameters is FSRS6_DEFAULTS


def test_the_fsrs_arithmetic_of_the_pinned_settings_has_not_moved() -> None:
    # pinned from py-fsrs 6.2.0 to 6.3.2 (6.0 and 6.1 differ in the fourth decimal of
    # the stability): an upgrade that changes them changes what stored cards mean
    card = None
    for days, result in LOG:
        card = review(card, "fractions", result, T0 + timedelta(days=days), DEFAULT_REVIEW)
    assert card is not None
    assert card.due == datetime(2026, 5, 6, 21, 0, tzinfo=UTC)
    assert card.stability == pytest.approx(3.398780131767975, rel=1e-12)
    assert card.difficulty == pytest.approx(9.19667018254411, rel=1e-12)


def test_a_card_is_reviewed_with_the_settings_of_its_own_version(store: StoreHandle) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    first = mastery.observe("ann", "add", True)
    keen = ReviewSettings(version="keen", desired_retention=0.97)
    later = MasteryService(store.unit_of_work, clock=FixedClock(T0), review=keen)
    again = later.observe("ann", "add", True, T0 + timedelta(days=2))
    fresh = later.observe("ann", "sub", True, T0 + timedelta(days=2))
    assert first.card is not None and again.card is not None and fresh.card is not None
    assert again.card.version == DEFAULT_REVIEW.version  # the old card keeps its meaning
    expected = review(first.card, "add", True, T0 + timedelta(days=2), DEFAULT_REVIEW)
    assert again.card == expected
    assert fresh.card.version == "keen"
    assert fresh.card.due < review(None, "sub", True, T0 + timedelta(days=2), DEFAULT_REVIEW).due


def test_a_version_name_cannot_be_given_other_parameters(store: StoreHandle) -> None:
    MasteryService(store.unit_of_work, clock=FixedClock(T0)).observe("ann", "add", True)
    changed = ReviewSettings(version=DEFAULT_REVIEW.version, desired_retention=0.8)
    other = MasteryService(store.unit_of_work, clock=FixedClock(T0), review=changed)
    before = store.snapshot()
    with pytest.raises(InvalidInput, match="new version"):
        other.observe("bob", "add", True)
    assert store.snapshot() == before


def test_an_observation_before_the_last_one_is_refused_and_changes_nothing(
    store: StoreHandle,
) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    mastery.observe("ann", "add", True, T0 + timedelta(days=1))
    before = store.snapshot()
    with pytest.raises(InvalidInput, match="before the last one"):
        mastery.observe("ann", "add", False, T0)
    assert store.snapshot() == before


def test_students_with_due_reviews_come_from_the_index(store: StoreHandle) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    mastery.observe("ann", "add", False)  # Again: due again about a day later
    mastery.observe("bob", "add", Decimal("0.95"))  # Easy: due much later
    ann_due = mastery.due_reviews("ann", T0 + timedelta(days=400), actor=SYSTEM)[0].due
    assert mastery.students_with_due_reviews(ann_due) == ["ann"]
    assert mastery.students_with_due_reviews(T0 + timedelta(days=400)) == ["ann", "bob"]
    assert mastery.students_with_due_reviews(T0) == []
