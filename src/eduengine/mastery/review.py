"""Spaced review of knowledge points with FSRS (pure; the ``fsrs`` package schedules).

Each knowledge point a student has met is a card; every observation of it is a review
rated from its score (:func:`rating_for`), and FSRS says when the point is due again.

**Pinned reference data.** What a stored card means depends on the scheduler's
parameters: a new ``fsrs`` release may ship other defaults. So the library never uses the
package's defaults: :data:`FSRS6_DEFAULTS` is a copy of FSRS-6's published default
parameters, named by a version (:data:`DEFAULT_REVIEW`'s ``"fsrs6-2025"``) that is stored
with every card, and a card is always reviewed again with the settings of its own version.
A school with other parameters (its own optimised weights) names them with a new version.

Learning steps are off (a knowledge point is reviewed at the next lesson or homework, not
in ten minutes) and so is fuzzing (a due date must be the same for the same history).

>>> from datetime import datetime, timezone
>>> at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> card = review(None, "fractions", True, at, DEFAULT_REVIEW)
>>> card.due.date().isoformat(), card.version
('2026-03-04', 'fsrs6-2025')
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import fsrs

from eduengine.errors import InvalidInput
from eduengine.kernel.records import override, reader, writer
from eduengine.mastery.model import Score, check_score

__all__ = [
    "DEFAULT_REVIEW",
    "FSRS6_DEFAULTS",
    "ReviewCard",
    "ReviewSettings",
    "rating_for",
    "review",
]

#: FSRS-6's default parameters (py-fsrs 6.x ``DEFAULT_PARAMETERS``), copied so that an
#: upgrade of the package cannot change what stored cards mean
FSRS6_DEFAULTS: tuple[float, ...] = (
    0.212,
    1.2931,
    2.3065,
    8.2956,
    6.4133,
    0.8334,
    3.0194,
    0.001,
    1.8722,
    0.1666,
    0.796,
    1.4835,
    0.0614,
    0.2629,
    1.6483,
    0.6014,
    1.8729,
    0.5425,
    0.0912,
    0.0658,
    0.1542,
)


@attrs.frozen(kw_only=True)
class ReviewSettings:
    """One named, immutable scheduler configuration; ``version`` is stored with each card.

    >>> DEFAULT_REVIEW.scheduler().desired_retention
    0.9
    """

    version: str
    parameters: tuple[float, ...] = FSRS6_DEFAULTS
    desired_retention: float = 0.9
    maximum_interval_days: int = 36500

    def scheduler(self) -> fsrs.Scheduler:
        try:
            return fsrs.Scheduler(
                parameters=self.parameters,
                desired_retention=self.desired_retention,
                learning_steps=(),
                relearning_steps=(),
                maximum_interval=self.maximum_interval_days,
                enable_fuzzing=False,
            )
        except ValueError as exc:
            raise InvalidInput(f"review settings {self.version!r}: {exc}") from exc

    def to_record(self) -> dict[str, Any]:
        return _settings_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> ReviewSettings:
        return _settings_in(data)


DEFAULT_REVIEW = ReviewSettings(version="fsrs6-2025")


def rating_for(score: Score) -> fsrs.Rating:
    """The FSRS rating of an observation: wrong (below 0.5) ``Again``, below 0.7 ``Hard``,
    below 0.9 ``Good``, else ``Easy``; ``True`` is ``Good`` (a right answer, no more).

    >>> rating_for(True).name, rating_for(Decimal("0.95")).name, rating_for(False).name
    ('Good', 'Easy', 'Again')
    """
    if score is True:
        return fsrs.Rating.Good
    s = check_score(score)
    if s < Decimal("0.5"):
        return fsrs.Rating.Again
    if s < Decimal("0.7"):
        return fsrs.Rating.Hard
    if s < Decimal("0.9"):
        return fsrs.Rating.Good
    return fsrs.Rating.Easy


@attrs.frozen(kw_only=True)
class ReviewCard:
    """One knowledge point's review state for one student (FSRS's card, plus the
    version of the settings it was scheduled with and how many reviews it had)."""

    point_id: str
    version: str
    state: int
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None
    step: int | None = None
    reviews: int = 0

    def to_fsrs(self) -> fsrs.Card:
        return fsrs.Card(
            card_id=1,
            state=fsrs.State(self.state),
            step=self.step,
            stability=self.stability,
            difficulty=self.difficulty,
            due=self.due.astimezone(UTC),
            last_review=self.last_review.astimezone(UTC) if self.last_review else None,
        )

    def to_record(self) -> dict[str, Any]:
        return _card_out(self)

    @classmethod
    def from_record(cls, point_id: str, data: dict[str, Any]) -> ReviewCard:
        return _card_in({**data, "point_id": point_id})


# a card's point is its key in the student's document, not in the card
_card_out = writer(ReviewCard, point_id=override(omit=True))
_card_in = reader(ReviewCard)
_settings_out = writer(ReviewSettings)
_settings_in = reader(ReviewSettings)


def review(
    card: ReviewCard | None,
    point_id: str,
    score: Score,
    at: datetime,
    settings: ReviewSettings,
) -> ReviewCard:
    """The card after a review rated from ``score`` at ``at`` (a new card when ``card``
    is ``None``). ``settings`` must be the card's own version; a review dated before the
    card's last one is refused (FSRS would schedule from a negative interval)."""
    if card is not None and card.version != settings.version:
        raise InvalidInput(
            f"card {point_id!r} was scheduled with {card.version!r}, not {settings.version!r}"
        )
    if card is not None and card.last_review is not None and at < card.last_review:
        raise InvalidInput(
            f"a review of {point_id!r} at {at.isoformat()} is before its last review "
            f"at {card.last_review.isoformat()}"
        )
    utc = at.astimezone(UTC)
    start = card.to_fsrs() if card is not None else fsrs.Card(card_id=1, due=utc)
    after, _ = settings.scheduler().review_card(start, rating_for(score), utc)
    return ReviewCard(
        point_id=point_id,
        version=settings.version,
        state=int(after.state.value),
        step=after.step,
        stability=after.stability,
        difficulty=after.difficulty,
        due=after.due,
        last_review=after.last_review,
        reviews=(card.reviews if card is not None else 0) + 1,
    )


def overdue(card: ReviewCard, at: datetime) -> timedelta:
    """How long past due the card is at ``at`` (negative: not due yet)."""
    return at - card.due
