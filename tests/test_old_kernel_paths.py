"""Modules that moved (issue #21) keep their old import paths, holding the same objects.

The top-level ones warn (``DeprecationWarning``, removed in 0.4): see
``tests/test_old_paths.py``. ``eduengine.inputs`` was never released and is gone.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MOVED = [
    ("eduengine.clock", "eduengine.kernel.clock"),
    ("eduengine.codec", "eduengine.kernel.codec"),
    ("eduengine.ports", "eduengine.service_layer.ports"),
    ("eduengine.messagebus", "eduengine.service_layer.messagebus"),
    ("eduengine.events.registry", "eduengine.kernel.events"),
]


def defined_names(module: types.ModuleType) -> list[str]:
    """The public names a module's own top-level statements define."""
    tree = ast.parse(inspect.getsource(module))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in names if not name.startswith("_")]


@pytest.mark.parametrize(("old", "new"), MOVED)
def test_an_old_path_exports_every_public_name_of_the_new_home(old: str, new: str) -> None:
    before, after = importlib.import_module(old), importlib.import_module(new)
    public = defined_names(after)
    assert public
    missing = [name for name in public if getattr(before, name, None) is not getattr(after, name)]
    # the message bus's logger stays in its module; the registry's old path lists the
    # registry's names (the base class's old home is eduengine.booking.events)
    assert set(missing) <= {"log", "DomainEvent", "E"}, missing


def test_moved_event_classes_keep_their_old_homes() -> None:
    from eduengine.analytics import events as analytics_events
    from eduengine.analytics import model as analytics_model
    from eduengine.booking import events as booking_events
    from eduengine.booking.guards import SeatGuard
    from eduengine.events import envelope as old_envelope
    from eduengine.kernel import envelope, events
    from eduengine.levels import events as levels_events
    from eduengine.levels import service as levels_service
    from eduengine.messagebus import SeatGuard as OldSeatGuard
    from eduengine.policies import events as policies_events
    from eduengine.policies import records as policies_records
    from eduengine.policies import service as policies_service
    from eduengine.service_layer import streams
    from eduengine.students import events as students_events
    from eduengine.students import records as students_records

    assert booking_events.DomainEvent is events.DomainEvent
    assert old_envelope.Envelope is envelope.Envelope
    assert old_envelope.stamp is streams.stamp
    assert OldSeatGuard is SeatGuard
    assert analytics_model.AlertRaised is analytics_events.AlertRaised
    assert levels_service.LevelUp is levels_events.LevelUp
    assert policies_records.LateFeeDue is policies_events.LateFeeDue
    assert policies_service.BookingRescheduled is policies_events.BookingRescheduled
    for name in students_events.__all__:
        assert getattr(students_records, name) is getattr(students_events, name)
