"""The README's and docs/' Python blocks and the public docstrings' examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
import warnings
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


#: every module with examples in its docstrings, at its home (a deprecated path that
#: re-exports a moved module has none of its own)
MODULES = [
    "eduengine",
    "eduengine.adapters.memory",
    "eduengine.adapters.postgres",
    "eduengine.adapters.settings",
    "eduengine.adapters.sql",
    "eduengine.adapters.sql_common",
    "eduengine.adapters.sqlite",
    "eduengine.analytics.cells",
    "eduengine.analytics.events",
    "eduengine.analytics.model",
    "eduengine.analytics.projection",
    "eduengine.analytics.rebuild",
    "eduengine.analytics.service",
    "eduengine.availability.events",
    "eduengine.availability.handlers",
    "eduengine.availability.model",
    "eduengine.availability.service",
    "eduengine.booking.events",
    "eduengine.booking.feed_tokens",
    "eduengine.booking.guards",
    "eduengine.booking.ical",
    "eduengine.booking.model",
    "eduengine.booking.queries",
    "eduengine.booking.rooms",
    "eduengine.booking.series",
    "eduengine.booking.timetable",
    "eduengine.booking.service",
    "eduengine.bootstrap",
    "eduengine.config.plugins",
    "eduengine.config.settings",
    "eduengine.community.events",
    "eduengine.community.model",
    "eduengine.community.moderation",
    "eduengine.community.service",
    "eduengine.community.spam",
    "eduengine.deals.clawback",
    "eduengine.deals.events",
    "eduengine.deals.metrics",
    "eduengine.deals.model",
    "eduengine.deals.records",
    "eduengine.deals.risk",
    "eduengine.deals.service",
    "eduengine.desk.events",
    "eduengine.desk.hours",
    "eduengine.desk.leads",
    "eduengine.desk.metrics",
    "eduengine.desk.model",
    "eduengine.desk.notify",
    "eduengine.desk.privacy",
    "eduengine.desk.satisfaction",
    "eduengine.desk.service",
    "eduengine.desk.tickets",
    "eduengine.errors",
    "eduengine.events.catalog",
    "eduengine.events.codec",
    "eduengine.events.feed",
    "eduengine.events.schema",
    "eduengine.events.webhooks",
    "eduengine.growth.events",
    "eduengine.growth.experiments",
    "eduengine.growth.journeys",
    "eduengine.growth.segments",
    "eduengine.growth.service",
    "eduengine.growth.stats",
    "eduengine.growth.templates",
    "eduengine.kernel.clock",
    "eduengine.kernel.codec",
    "eduengine.kernel.deprecation",
    "eduengine.kernel.envelope",
    "eduengine.kernel.events",
    "eduengine.kernel.ids",
    "eduengine.kernel.inputs",
    "eduengine.kernel.money",
    "eduengine.kernel.records",
    "eduengine.learning.events",
    "eduengine.learning.model",
    "eduengine.learning.report",
    "eduengine.learning.service",
    "eduengine.levels.board",
    "eduengine.levels.events",
    "eduengine.levels.handlers",
    "eduengine.levels.model",
    "eduengine.levels.service",
    "eduengine.levels.xp",
    "eduengine.mastery.events",
    "eduengine.mastery.model",
    "eduengine.mastery.path",
    "eduengine.mastery.recommend",
    "eduengine.mastery.review",
    "eduengine.mastery.service",
    "eduengine.milestones.events",
    "eduengine.milestones.model",
    "eduengine.milestones.service",
    "eduengine.notices.delivery",
    "eduengine.notices.model",
    "eduengine.notices.planning",
    "eduengine.notices.service",
    "eduengine.notices.plan",
    "eduengine.notices.events",
    "eduengine.notices.reminding",
    "eduengine.notices.handlers",
    "eduengine.ops",
    "eduengine.people.access",
    "eduengine.people.journal",
    "eduengine.people.learning_access",
    "eduengine.people.events",
    "eduengine.people.model",
    "eduengine.people.service",
    "eduengine.ops.backup",
    "eduengine.ops.board",
    "eduengine.ops.jobs",
    "eduengine.ops.report",
    "eduengine.ops.stores",
    "eduengine.payments",
    "eduengine.payments.fake",
    "eduengine.payments.gateway",
    "eduengine.payments.intents",
    "eduengine.payments.methods",
    "eduengine.payments.service",
    "eduengine.policies.events",
    "eduengine.policies.fees",
    "eduengine.policies.model",
    "eduengine.policies.service",
    "eduengine.pricing.catalogue",
    "eduengine.pricing.coupons",
    "eduengine.pricing.currencies",
    "eduengine.pricing.events",
    "eduengine.pricing.money",
    "eduengine.pricing.orders",
    "eduengine.pricing.referrals",
    "eduengine.pricing.rules",
    "eduengine.pricing.service",
    "eduengine.pricing.shop",
    "eduengine.referrals",
    "eduengine.referrals.events",
    "eduengine.service_layer.streams",
    "eduengine.events.projections",
    "eduengine.rush.events",
    "eduengine.reminders.events",
    "eduengine.reminders.model",
    "eduengine.reminders.service",
    "eduengine.rush.model",
    "eduengine.rush.service",
    "eduengine.service_layer.crypto",
    "eduengine.service_layer.erasure",
    "eduengine.service_layer.idempotency",
    "eduengine.service_layer.messagebus",
    "eduengine.service_layer.ports",
    "eduengine.service_layer.runner",
    "eduengine.students.account",
    "eduengine.students.classes",
    "eduengine.students.events",
    "eduengine.students.lifecycle",
    "eduengine.students.model",
    "eduengine.students.packages",
    "eduengine.students.privacy",
    "eduengine.students.profiles",
    "eduengine.students.service",
    "eduengine.web.aio",
    "eduengine.web.aio_proxy",
    "eduengine.web.live",
    # issue #27: the roster and a campaign's forming groups
    "eduengine.deals.queries",
    "eduengine.students.roster",
]


#: the first line of a block that deliberately shows a deprecated form (only on a page
#: about that deprecation): its DeprecationWarnings are not errors
SHOWS_DEPRECATED = "# docs: shows a deprecated form"


def run_blocks(page: Path) -> int:
    """Run a page's Python blocks in order in one namespace, so a block may use what an
    earlier one defined; returns how many ran. The caller picks the working directory.

    A DeprecationWarning is an error, as in the examples, so the docs never teach a
    newcomer a deprecated call; a block opts out only by starting with SHOWS_DEPRECATED."""
    blocks = PYTHON_BLOCK.findall(page.read_text())
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    where = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
    for number, block in enumerate(blocks, 1):
        with warnings.catch_warnings():
            if block.startswith(SHOWS_DEPRECATED):
                warnings.simplefilter("ignore", DeprecationWarning)
            else:
                warnings.simplefilter("error", DeprecationWarning)
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


def test_a_deprecated_call_in_a_block_fails_unless_the_block_shows_one(tmp_path: Path) -> None:
    deprecated = "import warnings\nwarnings.warn('old form', DeprecationWarning)\n"
    page = tmp_path / "page.md"
    page.write_text(f"```python\n{deprecated}```\n")
    with pytest.raises(DeprecationWarning, match="old form"):
        run_blocks(page)
    page.write_text(f"```python\n{SHOWS_DEPRECATED}\n{deprecated}```\n")
    assert run_blocks(page) == 1


def test_every_python_looking_block_in_the_docs_is_marked_python() -> None:
    """A block tagged ``py`` or ``pycon`` would be shown but never run."""
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    hidden = [p.name for p in pages if PYTHON_LIKE_FENCE.search(p.read_text())]
    assert hidden == []


def test_every_module_with_examples_is_listed() -> None:
    src = ROOT / "src"
    with_examples = set()
    for path in (src / "eduengine").rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if ">>>" in path.read_text(encoding="utf-8"):
            with_examples.add(".".join(parts))
    assert with_examples == set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    """A deprecated call in an example fails it, as in the docs' pages."""
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = doctest.testmod(module)
    assert result.failed == 0
