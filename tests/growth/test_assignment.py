"""Experiment assignment is a pure, stable function of the experiment's key, the student's
id and the weights: pinned buckets for fixed ids, the same in a fresh process with another
hash seed, unmoved by anything but the key, the id, the weights and the coverage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine.errors import InvalidInput, WrongType
from eduengine.growth import Experiment, Variant, bucket, fnv1a32
from eduengine.growth.stats import srm_p_value
from eduengine.pricing import Money

SRC = Path(__file__).resolve().parents[2] / "src"
IDS = [
    "ann",
    "bob",
    "cai",
    "dan",
    "eve",
    "s-0001",
    "学生-42",
    "00000000-0000-4000-8000-000000000000",
]


def test_fnv1a_matches_the_published_test_vectors() -> None:
    # from the FNV reference test suite (draft-eastlake-fnv, test vectors for FNV-1a 32)
    assert fnv1a32(b"") == 0x811C9DC5
    assert fnv1a32(b"a") == 0xE40C292C
    assert fnv1a32(b"foobar") == 0xBF9CF968


def test_buckets_of_fixed_ids_are_pinned_across_releases() -> None:
    # changing these moves every running experiment's students: never do it
    assert [bucket("price-2026", i) for i in IDS] == [
        6500,
        1644,
        4556,
        9241,
        9358,
        7400,
        1942,
        5314,
    ]
    assert [bucket("group-size", i) for i in IDS] == [7723, 3513, 6577, 3163, 2991, 1674, 5126, 363]


def test_a_fresh_process_with_another_hash_seed_assigns_the_same_variants() -> None:
    experiment = Experiment(
        key="price-2026", variants=(Variant("control"), Variant("cheap", 2), Variant("free", 1))
    )
    here = [v.key if (v := experiment.assign(i)) else None for i in IDS]
    code = (
        "import json, sys\n"
        "from eduengine.growth import Experiment, Variant\n"
        "e = Experiment(key='price-2026', variants=(Variant('control'), Variant('cheap', 2), "
        "Variant('free', 1)))\n"
        "ids = json.loads(sys.argv[1])\n"
        "print(json.dumps([v.key if (v := e.assign(i)) else None for i in ids]))"
    )
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(IDS)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == here
    assert here == ["cheap", "control", "cheap", "free", "free", "cheap", "control", "cheap"]


weights = st.lists(st.integers(min_value=0, max_value=100), min_size=2, max_size=5).filter(
    lambda ws: sum(ws) > 0
)
keys = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


def build(key: str, ws: list[int], coverage: Decimal = Decimal(1), **params: int) -> Experiment:
    return Experiment(
        key=key,
        variants=tuple(Variant(f"v{i}", w, params=dict(params)) for i, w in enumerate(ws)),
        coverage=coverage,
    )


@given(key=keys, ws=weights, student=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
def test_assignment_depends_only_on_key_id_and_weights(
    key: str, ws: list[int], student: str
) -> None:
    first = build(key, ws, group_size=3).assign(student)
    again = build(key, ws, group_size=2).assign(student)  # other params, same split
    described = attrs.evolve(build(key, ws), description="a new text").assign(student)
    assert first is not None  # full coverage: everyone is in
    assert first.key == again.key == described.key  # type: ignore[union-attr]
    assert first.weight > 0  # a variant of weight 0 gets nobody
    n = bucket(key, student)
    start, end = build(key, ws).ranges()[int(first.key[1:])]
    assert start <= n < end


@given(
    key=keys,
    ws=weights,
    student=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
    low=st.integers(min_value=1, max_value=100),
    extra=st.integers(min_value=0, max_value=100),
)
def test_more_coverage_only_adds_students(
    key: str, ws: list[int], student: str, low: int, extra: int
) -> None:
    small = build(key, ws, Decimal(low) / 100).assign(student)
    large = build(key, ws, Decimal(min(100, low + extra)) / 100).assign(student)
    if small is not None:
        assert large is not None and large.key == small.key


def test_students_split_in_the_ratio_of_the_weights() -> None:
    experiment = build("split-check", [1, 2, 1])
    counts = Counter(experiment.assign(f"student-{i}").key for i in range(20_000))  # type: ignore[union-attr]
    assert srm_p_value([counts["v0"], counts["v1"], counts["v2"]], [1, 2, 1]) > 0.001
    half = build("split-check", [1, 2, 1], Decimal("0.5"))
    inside = sum(half.assign(f"student-{i}") is not None for i in range(20_000))
    assert 9_500 < inside < 10_500


def test_variant_params_take_money_durations_and_decimals_but_never_floats() -> None:
    v = Variant(
        "cheap",
        params={
            "price": Money("79", "CNY"),
            "duration": timedelta(hours=12),
            "off": Decimal("0.2"),
        },
    )
    back = Variant.from_record(v.to_record())
    assert back == v and back.params["price"] == Money("79.00", "CNY")
    assert back.params["duration"] == timedelta(hours=12)
    with pytest.raises(WrongType):
        Variant("bad", params={"price": 79.0})


@pytest.mark.parametrize(
    "make",
    [
        lambda: Experiment(key="x", variants=(Variant("a"),)),
        lambda: Experiment(key="x", variants=(Variant("a"), Variant("a"))),
        lambda: Experiment(key="x", variants=(Variant("a", 0), Variant("b", 0))),
        lambda: Experiment(key="x", variants=(Variant("a"), Variant("b")), coverage=Decimal(0)),
        lambda: Experiment(key="x", variants=(Variant("a"), Variant("b")), coverage="1.5"),
        lambda: Experiment(key="x", variants=(Variant("a", -1), Variant("b"))),
        lambda: Experiment(key="x", variants=(Variant("a"), Variant("b")), currency="XXY"),
        lambda: Experiment(key="", variants=(Variant("a"), Variant("b"))),
    ],
)
def test_a_malformed_experiment_is_refused(make: object) -> None:
    with pytest.raises(InvalidInput):
        make()  # type: ignore[operator]
