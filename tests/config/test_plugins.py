"""Plugins (issue #27): a distribution's ``eduengine.plugins`` entry point adds rules
that may refuse in the command's unit of work and reactions applied once from the feed;
``school.rules()`` lists both, and only the plugins the settings name are loaded."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import FixedClock, School
from eduengine.booking.events import SeatBooked
from eduengine.config import Plugins, SchoolSettings
from eduengine.errors import EduEngineError, InvalidSetting
from eduengine.kernel.events import DomainEvent
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle
from tests.conftest import T0

PLUGIN = """
from eduengine.booking.events import SeatBooked
from eduengine.errors import BookingRefused

SEEN = []


def no_mallory(event, uow):
    if event.student_id == "mallory":
        raise BookingRefused("mallory is not welcome here")


def count(event, uow):
    SEEN.append(event.booking_id)


def register(plugins):
    plugins.rule(SeatBooked, no_mallory)
    plugins.reaction("house_points", {SeatBooked: [count]})
"""


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[str]:
    """A distribution ``house-points`` installed on ``sys.path`` for the test."""
    (tmp_path / "house_points_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = tmp_path / "house_points-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: house-points\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [eduengine.plugins]
            house_points = house_points_plugin:register
            """
        ),
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield "house_points_plugin"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("house_points_plugin", None)


def test_an_installed_plugin_named_in_the_settings_runs(store: StoreHandle, installed: str) -> None:
    settings = SchoolSettings.from_toml_text('[school]\nplugins = ["house_points"]')
    school = School.build(store, settings, clock=FixedClock(T0))
    table = school.rules()
    assert "projection house_points" in table
    assert "house_points_plugin.no_mallory" in dict(table["rules"])["SeatBooked"]
    start = T0 + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 3)
    booking = school.booking.book(slot.id, "ann")
    seen = sys.modules[installed].SEEN
    school.projections.flush()  # a reaction with effects outside the store: at the batch
    assert seen == [booking.id]
    # the rule refuses in the command's unit of work: no seat, no event, no reaction
    with pytest.raises(EduEngineError, match="not welcome"):
        school.booking.book(slot.id, "mallory")
    after = school.booking.get_slot(slot.id, actor=SYSTEM)
    assert after.seats_taken == 1 and not after.holds_seat("mallory")
    school.projections.catch_up()
    assert seen == [booking.id]


def test_an_installed_plugin_not_named_is_not_loaded(store: StoreHandle, installed: str) -> None:
    school = School.build(store, SchoolSettings(), clock=FixedClock(T0))
    assert "projection house_points" not in school.rules()
    assert installed not in sys.modules
    everything = SchoolSettings.from_toml_text('[school]\nplugins = ["*"]')
    assert "projection house_points" in School.build(store, everything).rules()


def test_a_plugin_that_is_not_installed_is_refused() -> None:
    settings = SchoolSettings.from_toml_text('[school]\nplugins = ["no_such_plugin"]')
    from eduengine import InMemoryStore

    with pytest.raises(InvalidSetting, match="plugin 'no_such_plugin' is not installed"):
        School.build(InMemoryStore(), settings)


def test_a_host_registers_a_reaction_without_an_entry_point(store: StoreHandle) -> None:
    seen: list[str] = []
    plugins = Plugins()

    def welcome(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, SeatBooked)
        seen.append(event.student_id)

    plugins.reaction("welcome", {SeatBooked: [welcome]})
    school = School.build(store, plugins=plugins, clock=FixedClock(T0))
    start = T0 + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 3)
    school.booking.book(slot.id, "bea")
    school.projections.flush()  # a reaction with effects outside the store: at the batch
    assert seen == ["bea"]
    with pytest.raises(InvalidSetting, match="two plugin projections"):
        plugins.reaction("welcome", {SeatBooked: []})
