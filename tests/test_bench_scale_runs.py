"""The scale benchmark still runs: every call of every scenario, on memory and SQLite, at
N = 10 and 100 (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_scale.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scale_benchmark_prints_a_growth_exponent_for_every_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = load_script()
    bench.main(["--tiny", "--adapters", "memory,sqlite"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and " k " not in line]
    found = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        operation, adapter, t10, t100, k, verdict = cells
        assert re.fullmatch(r"\d+\.\d{3} ms", t10) and re.fullmatch(r"\d+\.\d{3} ms", t100)
        assert math.isfinite(float(k)), line
        assert verdict == "yes" or verdict.startswith("NO ("), line
        found[operation, adapter] = k
    operations = set(bench.SCENARIO_ORDER)
    assert set(found) == {(op, a) for op in operations for a in ("memory", "sqlite")}
