"""Invariants of the BKT update for any valid parameters: estimates stay in [0, 1], more
right answers never give a lower estimate, a higher score never gives a lower estimate,
bad parameters or observations are refused, and every adapter stores what the model
computes."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.errors import InvalidInput
from eduengine.mastery import MasteryService
from eduengine.mastery.model import DEFAULT_PARAMS, BktParams, check_score, trace, update
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

probability = st.decimals(min_value=0, max_value=1, places=4)
scores = st.decimals(min_value=0, max_value=1, places=3)


@st.composite
def params(draw: st.DrawFn) -> BktParams:
    guess, slip = draw(probability), draw(probability)
    learn, forget = draw(probability), draw(probability)
    assume(guess + slip < 1 and learn + forget <= 1)
    return BktParams(prior=draw(probability), learn=learn, guess=guess, slip=slip, forget=forget)


@given(params(), st.lists(st.booleans() | scores, max_size=30))
def test_mastery_stays_a_probability(p: BktParams, observations: list[bool | Decimal]) -> None:
    for value in trace(p, observations):
        assert Decimal(0) <= value <= Decimal(1)
        assert value == value.quantize(Decimal("1e-12"))  # stored at the stated places


@given(params(), st.lists(st.booleans(), min_size=1, max_size=20), st.data())
def test_a_right_answer_in_place_of_a_wrong_one_never_lowers_mastery(
    p: BktParams, answers: list[bool], data: st.DataObject
) -> None:
    wrong = [i for i, right in enumerate(answers) if not right]
    assume(wrong)
    flipped = list(answers)
    flipped[data.draw(st.sampled_from(wrong))] = True
    assert trace(p, flipped)[-1] >= trace(p, answers)[-1]


@given(params(), st.decimals(min_value=0, max_value=1, places=6), scores, scores)
def test_a_higher_score_never_gives_a_lower_estimate(
    p: BktParams, start: Decimal, low: Decimal, high: Decimal
) -> None:
    low, high = min(low, high), max(low, high)
    assert update(start, p, low) <= update(start, p, high)


@given(params(), st.decimals(min_value=0, max_value=1, places=6))
def test_true_and_false_are_the_scores_one_and_zero(p: BktParams, start: Decimal) -> None:
    assert update(start, p, True) == update(start, p, Decimal(1))
    assert update(start, p, False) == update(start, p, Fraction(0))


@pytest.mark.parametrize("bad", [0.5, Decimal("1.1"), Decimal("-0.1"), Decimal("NaN"), 2, "1"])
def test_an_observation_must_be_a_bool_or_a_score_from_0_to_1(bad: object) -> None:
    with pytest.raises(InvalidInput):
        check_score(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [("prior", Decimal("1.5")), ("learn", 0.1), ("guess", Decimal("NaN")), ("slip", "-0.2")],
)
def test_parameters_must_be_decimal_probabilities(field: str, value: object) -> None:
    good = {"prior": "0.2", "learn": "0.1", "guess": "0.2", "slip": "0.1"}
    with pytest.raises(InvalidInput, match=field):
        BktParams(**{**good, field: value})


def test_learn_plus_forget_above_one_is_refused() -> None:
    with pytest.raises(InvalidInput, match="learn \\+ forget"):
        BktParams(prior="0.2", learn="0.7", guess="0.2", slip="0.1", forget="0.4")


_examples = itertools.count()


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.booleans() | scores, min_size=1, max_size=8))
def test_what_every_adapter_stores_is_the_model_estimate(
    store: StoreHandle, observations: list[bool | Decimal]
) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    student = f"s{next(_examples)}"  # one store serves every example
    for n, result in enumerate(observations):
        mastery.observe(student, "fractions", result, T0 + timedelta(hours=n))
    state = mastery.mastery(student, actor=SYSTEM)["fractions"]
    assert state.mastery == trace(DEFAULT_PARAMS, observations)[-1]
    assert state.observations == len(observations)
    assert Decimal(0) <= state.mastery <= Decimal(1)
