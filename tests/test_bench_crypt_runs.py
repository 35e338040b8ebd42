"""The encryption benchmark still runs, at a tiny size (no timing is asserted; the figures
are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_encryption_benchmark_prints_both_paths_with_a_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_crypt")
    results = bench.main(["--students", "300", "--calls", "20"])
    assert set(results) == {"profile read", "booking"}
    out = capsys.readouterr().out
    for what in results:
        assert re.search(rf"{what}: plain [\d.]+ ms, sealed [\d.]+ ms, [\d.]+x", out), out


def test_the_encryption_benchmark_runs_cold_on_stores_opened_afresh(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_crypt")
    unwrapped: list[str] = []
    real = bench.LocalKeyProvider.unwrap

    def unwrap(self: object, key_id: str, wrapped: bytes, subject: str) -> bytes:
        unwrapped.append(subject)
        key: bytes = real(self, key_id, wrapped, subject)
        return key

    monkeypatch.setattr(bench.LocalKeyProvider, "unwrap", unwrap)
    results = bench.main(["--students", "300", "--calls", "20", "--cold"])
    assert set(results) == {"profile read", "booking"}
    # every student read was met cold: her key unwrapped by the reading process
    assert len(set(unwrapped)) >= 15, unwrapped
