"""Tags a staff member sets by hand survive every automated refresh (issue #26: a
refresh used to overwrite them with the rule tags alone)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock
from eduengine.errors import InvalidId
from eduengine.students import StudentService, TagRule
from tests.adapters import StoreHandle
from tests.conftest import T0


def test_a_refresh_keeps_hand_set_tags(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    students = StudentService(
        store.unit_of_work, clock=clock, tag_rules=[TagRule.inactive_for("at-risk", 14)]
    )
    students.register("ann", name="Ann")
    students.record_activity("ann", "login")
    assert students.tag("ann", "vip") == frozenset({"vip"})
    clock.advance(timedelta(days=15))
    assert students.refresh_tags("ann") == (frozenset({"vip", "at-risk"}), "registered")
    students.record_activity("ann", "login")
    assert students.refresh_tags("ann")[0] == frozenset({"vip"})
    assert students.untag("ann", "vip") == frozenset()
    assert students.refresh_tags("ann")[0] == frozenset()


def test_a_hand_set_tag_is_an_id(store: StoreHandle) -> None:
    students = StudentService(store.unit_of_work, clock=FixedClock(T0))
    students.register("ann", name="Ann")
    with pytest.raises(InvalidId):
        students.tag("ann", "")
    assert students.refresh_tags("ann")[0] == frozenset()
