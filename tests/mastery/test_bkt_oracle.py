"""The BKT estimates reproduce the reference implementation's: pyBKT 1.4.3, run once with
fixed parameters by tests/mastery/oracle/pybkt_oracle.py, its output pinned in
tests/mastery/oracle/pybkt-1.4.3.json.

Tolerance: 1e-9. pyBKT computes in float64 (about 1e-16 relative error per step); we
compute in 28-digit Decimal and round each stored estimate half-even to 12 places, so the
two differ by at most a few 1e-13 over these sequences; 1e-9 leaves room for neither to
matter and fails on any real difference in the equations.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from eduengine.mastery.model import BktParams, predicted_correct, trace

ORACLE = json.loads((Path(__file__).parent / "oracle" / "pybkt-1.4.3.json").read_text())
TOLERANCE = Decimal("1e-9")

# the CASES of oracle/pybkt_oracle.py: (name, prior, learn, guess, slip, forget, answers)
CASES = [
    ("fractions", "0.2", "0.15", "0.2", "0.1", "0", [1, 1, 0, 1, 1, 1, 0, 1, 1, 1]),
    ("decimals", "0.5", "0.3", "0.25", "0.05", "0", [0, 0, 0, 1, 0, 1, 1, 1]),
    ("phonics", "0.1", "0.05", "0.3", "0.2", "0.02", [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mastery_after_each_answer_matches_pybkt(case: tuple[object, ...]) -> None:
    name, prior, learn, guess, slip, forget, answers = case
    assert isinstance(name, str) and isinstance(answers, list)
    params = BktParams(prior=prior, learn=learn, guess=guess, slip=slip, forget=forget)
    ours = [params.prior, *trace(params, [bool(a) for a in answers])]
    reference = ORACLE[name]["state_predictions"]
    # pyBKT reports the state before each answer; the script appends one dummy answer so
    # that the state after the last real one is reported too
    assert len(reference) == len(ours)
    worst = max(abs(a - Decimal(repr(b))) for a, b in zip(ours, reference, strict=True))
    assert worst < TOLERANCE, (name, worst)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_predicted_right_answers_match_pybkt(case: tuple[object, ...]) -> None:
    name, prior, learn, guess, slip, forget, answers = case
    assert isinstance(name, str) and isinstance(answers, list)
    params = BktParams(prior=prior, learn=learn, guess=guess, slip=slip, forget=forget)
    states = [params.prior, *trace(params, [bool(a) for a in answers])]
    ours = [predicted_correct(p, params) for p in states]
    reference = ORACLE[name]["correct_predictions"]
    worst = max(abs(a - Decimal(repr(b))) for a, b in zip(ours, reference, strict=True))
    assert worst < TOLERANCE, (name, worst)


def test_the_first_update_is_the_textbook_one() -> None:
    # by hand: 0.2 * 0.9 / (0.2 * 0.9 + 0.8 * 0.2) = 9/17, then 9/17 + 8/17 * 0.15 = 0.6
    params = BktParams(prior="0.2", learn="0.15", guess="0.2", slip="0.1")
    assert trace(params, [True]) == [Decimal("0.600000000000")]
