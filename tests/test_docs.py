"""The README's and docs/' Python blocks and the public docstrings' examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)
#: a fence whose language looks like Python but is not exactly ``python`` would be shown
#: without being run
PYTHON_LIKE_FENCE = re.compile(r"^```\s*(py|py3|python3|pycon|ipython|Python)\s*$", flags=re.M)

def _doc_pages() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md") if PYTHON_BLOCK.search(p.read_text()))


MODULES = [
    "eduengine",
    "eduengine.kernel.clock",
    "eduengine.errors",
    "eduengine.service",
    "eduengine.service_layer.runner",
    "eduengine.booking.service",
    "eduengine.kernel.ids",
    "eduengine.bootstrap",
    "eduengine.analytics.model",
    "eduengine.analytics.service",
    "eduengine.service_layer.messagebus",
    "eduengine.aio",
    "eduengine.live",
    "eduengine.erasure",
    "eduengine.policies.fees",
    "eduengine.booking.model",
    "eduengine.booking.series",
    "eduengine.booking.events",
    "eduengine.adapters.memory",
    "eduengine.adapters.sqlite",
    "eduengine.adapters.sql",
    "eduengine.adapters.settings",
    "eduengine.stores",
    "eduengine.ops",
    "eduengine.kernel.codec",
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
    "eduengine.intents",
    "eduengine.payment_service",
    "eduengine.pricing.rules",
    "eduengine.pricing.service",
    "eduengine.pricing.events",
    "eduengine.pricing.coupons",
    "eduengine.pricing.orders",
    "eduengine.deals.risk",
    "eduengine.deals.service",
    "eduengine.deals.events",
    "eduengine.deals.records",
    "eduengine.analytics.cells",
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
    "eduengine.notices.model",
    "eduengine.notices.planning",
    "eduengine.notices.delivery",
    "eduengine.notices.service",
    # the new homes of moved modules (their old paths above re-export them, and a
    # re-exporting module has no examples of its own)
    "eduengine.payments.gateway",
    "eduengine.payments.fake",
    "eduengine.payments.intents",
    "eduengine.payments.service",
    "eduengine.ops.jobs",
    "eduengine.ops.backup",
    "eduengine.ops.report",
    "eduengine.ops.stores",
    "eduengine.ops.cli",
    "eduengine.web.aio",
    "eduengine.web.live",
    "eduengine.booking.ical",
    "eduengine.booking.rooms",
    "eduengine.service_layer.erasure",
    "eduengine.referrals",
    "eduengine.referrals.events",
    "eduengine.pricing.referrals",
    "eduengine.kernel.inputs",
    "eduengine.kernel.events",
    "eduengine.kernel.envelope",
    "eduengine.service_layer.streams",
    "eduengine.booking.guards",
    "eduengine.events.catalog",
    "eduengine.availability.events",
    "eduengine.rush.events",
    "eduengine.reminders.events",
    "eduengine.policies.events",
    "eduengine.levels.events",
    "eduengine.students.events",
    "eduengine.analytics.events",
]


def run_blocks(page: Path) -> int:
    """Run a page's Python blocks in order in one namespace, so a block may use what an
    earlier one defined; returns how many ran. The caller picks the working directory."""
    blocks = PYTHON_BLOCK.findall(page.read_text())
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    where = page.relative_to(ROOT)
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{where} (block {number})", "exec"), namespace)
    return len(blocks)


def test_the_readme_usage_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_blocks(ROOT / "README.md"), "README.md should show a usage example"


@pytest.mark.parametrize("page", _doc_pages())
def test_every_python_block_of_a_doc_page_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page in a fresh working directory: a block that writes a file (a SQLite
    store) leaves nothing behind."""
    monkeypatch.chdir(tmp_path)
    run_blocks(DOCS / page)


def test_every_python_looking_block_in_the_docs_is_marked_python() -> None:
    """A block tagged ``py`` or ``pycon`` would be shown but never run."""
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    hidden = [p.name for p in pages if PYTHON_LIKE_FENCE.search(p.read_text())]
    assert hidden == []


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
