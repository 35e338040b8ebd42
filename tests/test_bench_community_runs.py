"""The community benchmark still runs at a tiny size, its automaton agreeing with the
baselines (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_community_benchmark_times_the_automaton_beside_its_baselines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_community")
    results = bench.main(["--tiny"])
    assert set(results) == {
        "WordFilter.screen (Aho-Corasick)",
        "naive scan (word in text)",
        "regex alternation",
        "school.community.post on SQLite",
        "community.thread (10 posts)",
        "plain SQL: one thread",
        "community.threads (latest 50)",
        "plain SQL: latest 50 threads",
        "plain SQL + Post values: one thread",
        "plain SQL + Post values: latest 50 threads",
        "community.threads (next 50, keyset)",
        "plain SQL: next 50 threads (keyset)",
        "WordFilter.screen with the posts stored",
    }
    out = capsys.readouterr().out
    assert "moderation of one post under 1 ms (aim of issue #25):" in out
