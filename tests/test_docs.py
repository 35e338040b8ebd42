"""The README's usage example and the public docstrings' examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

MODULES = [
    "eduengine",
    "eduengine.clock",
    "eduengine.errors",
    "eduengine.service",
    "eduengine.bootstrap",
    "eduengine.messagebus",
    "eduengine.erasure",
    "eduengine.policies.fees",
    "eduengine.booking.model",
    "eduengine.booking.series",
    "eduengine.booking.events",
    "eduengine.adapters.memory",
    "eduengine.adapters.sqlite",
    "eduengine.codec",
    "eduengine.pricing.money",
    "eduengine.policies.model",
    "eduengine.policies.service",
    "eduengine.reminders.model",
    "eduengine.reminders.service",
    "eduengine.rush.model",
    "eduengine.rush.service",
    "eduengine.availability.model",
    "eduengine.availability.service",
    "eduengine.availability.handlers",
    "eduengine.ical",
    "eduengine.payments",
    "eduengine.pricing.rules",
    "eduengine.pricing.service",
    "eduengine.deals.risk",
    "eduengine.deals.service",
    "eduengine.deals.metrics",
    "eduengine.levels.model",
    "eduengine.levels.service",
    "eduengine.levels.board",
    "eduengine.students.model",
    "eduengine.students.privacy",
    "eduengine.students.profiles",
    "eduengine.students.packages",
    "eduengine.students.classes",
    "eduengine.students.lifecycle",
    "eduengine.students.service",
]


def test_the_readme_usage_example_runs() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md should show a usage example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
