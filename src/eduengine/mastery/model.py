"""Mastery of a knowledge point by Bayesian Knowledge Tracing (pure).

BKT (Corbett & Anderson, 1995) keeps one probability per student and knowledge point:
that she has mastered it. Four parameters per point describe the point: ``prior`` (she
knew it before any observation), ``learn`` (she learns it at an opportunity), ``guess``
(right without knowing it), ``slip`` (wrong although she knows it), and optionally
``forget`` (she loses it at an opportunity). Each observation updates the estimate with
the standard forward equations, the ones pyBKT's ``predict_onestep`` uses::

    P(L | right) = P(L)(1 - slip) / (P(L)(1 - slip) + (1 - P(L)) guess)
    P(L | wrong) = P(L) slip / (P(L) slip + (1 - P(L))(1 - guess))
    P(L next)    = P(L | obs)(1 - forget) + (1 - P(L | obs)) learn

A graded score ``s`` in [0, 1] is soft evidence: the posterior is ``s`` times the
posterior of a right answer plus ``1 - s`` times that of a wrong one, so ``True`` and
``False`` are the scores 1 and 0 and the classic model is the special case.

Arithmetic is :class:`~decimal.Decimal` at 28 significant digits; each estimate is
rounded half-even to 12 decimal places (:data:`PLACES`) as it is stored, so a value read
back is the value that was written on every adapter.

>>> params = BktParams(prior=Decimal("0.2"), learn=Decimal("0.15"),
...                    guess=Decimal("0.2"), slip=Decimal("0.1"))
>>> after = update(params.prior, params, True)
>>> after
Decimal('0.600000000000')
>>> update(after, params, False) < after
True
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from typing import Any

import attrs

from eduengine.errors import InvalidInput
from eduengine.kernel.records import reader, writer

__all__ = [
    "DEFAULT_PARAMS",
    "PLACES",
    "BktParams",
    "Score",
    "check_score",
    "posterior",
    "predicted_correct",
    "quantize",
    "trace",
    "transition",
    "update",
]

#: stored estimates keep this many decimal places (rounded half-even)
PLACES = 12
_QUANTUM = Decimal(1).scaleb(-PLACES)
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_ZERO, _ONE = Decimal(0), Decimal(1)

Score = bool | int | Decimal | Fraction
"""An observation: right (``True``/1), wrong (``False``/0) or a score in [0, 1]."""


def _probability(name: str) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value <= 1:
            raise InvalidInput(f"BKT {name} must be a Decimal from 0 to 1, got {value!r}")

    return check


def _to_decimal(value: object) -> object:
    # the school's defaults are often typed as strings ("0.2"); floats are refused by
    # the validator rather than carried in with their binary error
    return Decimal(value) if isinstance(value, str | int) and not isinstance(value, bool) else value


@attrs.frozen(kw_only=True)
class BktParams:
    """The four (five) BKT parameters of one knowledge point.

    ``guess + slip`` must stay below 1 (otherwise a right answer would be evidence of
    *not* knowing) and ``learn + forget`` at most 1 (so a higher estimate never becomes a
    lower one by the transition): together they make mastery monotone in right answers.

    >>> BktParams(prior="0.3", learn="0.1", guess="0.6", slip="0.5")
    Traceback (most recent call last):
    ...
    eduengine.errors.InvalidInput: BKT guess + slip must be below 1, got 0.6 + 0.5
    """

    prior: Decimal = attrs.field(converter=_to_decimal, validator=_probability("prior"))
    learn: Decimal = attrs.field(converter=_to_decimal, validator=_probability("learn"))
    guess: Decimal = attrs.field(converter=_to_decimal, validator=_probability("guess"))
    slip: Decimal = attrs.field(converter=_to_decimal, validator=_probability("slip"))
    forget: Decimal = attrs.field(
        default=_ZERO, converter=_to_decimal, validator=_probability("forget")
    )

    def __attrs_post_init__(self) -> None:
        if self.guess + self.slip >= 1:
            raise InvalidInput(f"BKT guess + slip must be below 1, got {self.guess} + {self.slip}")
        if self.learn + self.forget > 1:
            raise InvalidInput(
                f"BKT learn + forget must be at most 1, got {self.learn} + {self.forget}"
            )

    def to_record(self) -> dict[str, str]:
        return _params_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> BktParams:
        return _params_in(data)


#: the school's defaults for a point without parameters of its own: a fifth of students
#: know it already, 15% learn it at each opportunity, a fifth guess, one in ten slips
_params_out = writer(BktParams)
_params_in = reader(BktParams)

DEFAULT_PARAMS = BktParams(
    prior=Decimal("0.2"), learn=Decimal("0.15"), guess=Decimal("0.2"), slip=Decimal("0.1")
)


def check_score(value: object) -> Decimal:
    """``value`` as a Decimal score in [0, 1]: ``True``/``False``, the ints 0 and 1, a
    Decimal or a Fraction; anything else (a float, 1.5, NaN) raises ``InvalidInput``.

    >>> check_score(True), check_score(Fraction(3, 4))
    (Decimal('1'), Decimal('0.75'))
    """
    if isinstance(value, bool):
        return _ONE if value else _ZERO
    if isinstance(value, int):
        score = Decimal(value)
    elif isinstance(value, Fraction):
        score = _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))
    elif isinstance(value, Decimal) and value.is_finite():
        score = value
    else:
        raise InvalidInput(
            f"an observation is True/False or a score from 0 to 1 (Decimal), got {value!r}"
        )
    if not 0 <= score <= 1:
        raise InvalidInput(f"a score must be from 0 to 1, got {value!r}")
    return score


def quantize(value: Decimal) -> Decimal:
    """``value`` rounded half-even to :data:`PLACES` places, as estimates are stored."""
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)


def posterior(p: Decimal, params: BktParams, score: Score) -> Decimal:
    """P(mastered | this observation), before the transition (unrounded)."""
    s = check_score(score)
    c = _CONTEXT
    right_num = c.multiply(p, _ONE - params.slip)
    right_den = c.add(right_num, c.multiply(_ONE - p, params.guess))
    wrong_num = c.multiply(p, params.slip)
    wrong_den = c.add(wrong_num, c.multiply(_ONE - p, _ONE - params.guess))
    right = c.divide(right_num, right_den) if right_den else p
    wrong = c.divide(wrong_num, wrong_den) if wrong_den else p
    return c.add(c.multiply(s, right), c.multiply(_ONE - s, wrong))


def transition(p: Decimal, params: BktParams) -> Decimal:
    """P(mastered at the next opportunity) from P(mastered now) (unrounded)."""
    c = _CONTEXT
    return c.add(c.multiply(p, _ONE - params.forget), c.multiply(_ONE - p, params.learn))


def update(p: Decimal, params: BktParams, score: Score) -> Decimal:
    """The stored estimate after one observation: the posterior, then the transition,
    rounded to :data:`PLACES` places (clamped to [0, 1] against rounding)."""
    value = quantize(transition(posterior(p, params, score), params))
    return min(max(value, _ZERO), _ONE)


def predicted_correct(p: Decimal, params: BktParams) -> Decimal:
    """P(a right answer) at estimate ``p``: pyBKT's ``correct_predictions``."""
    c = _CONTEXT
    return c.add(c.multiply(p, _ONE - params.slip), c.multiply(_ONE - p, params.guess))


def trace(params: BktParams, observations: Iterable[Score]) -> list[Decimal]:
    """The stored estimate after each observation, starting from the prior.

    >>> trace(DEFAULT_PARAMS, [True, True])
    [Decimal('0.600000000000'), Decimal('0.890322580645')]
    """
    p = params.prior
    out = []
    for score in observations:
        p = update(p, params, score)
        out.append(p)
    return out
