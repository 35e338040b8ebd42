"""Every error has a stable code and an HTTP status, and renders as RFC 9457 problem
details."""

from __future__ import annotations

import json

import pytest

from eduengine import errors
from eduengine.errors import EduEngineError, problem_details


def every_error_class() -> list[type[EduEngineError]]:
    found: list[type[EduEngineError]] = []
    todo: list[type[EduEngineError]] = [EduEngineError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__.startswith("eduengine"))
    return sorted(set(found), key=lambda c: c.__name__)


def an_instance(cls: type[EduEngineError]) -> EduEngineError:
    """An instance built without knowing the class's arguments (as an unpickled one is)."""
    error = cls.__new__(cls)
    error.args = (f"a {cls.__name__} happened",)
    return error


def test_every_error_class_names_its_own_unique_code() -> None:
    classes = every_error_class()
    assert len(classes) >= 50
    assert [c.__name__ for c in classes if "code" not in vars(c)] == []
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert all(code.isidentifier() and code.islower() for code in codes)


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_every_error_renders_as_problem_details(cls: type[EduEngineError]) -> None:
    problem = problem_details(an_instance(cls), instance="/bookings/1")
    assert 400 <= cls.http_status <= 599
    assert problem["status"] == cls.http_status
    assert problem["code"] == cls.code
    assert problem["type"] == f"urn:eduengine:problem:{cls.code}"
    assert problem["detail"] == f"a {cls.__name__} happened"
    assert problem["instance"] == "/bookings/1"
    assert isinstance(problem["title"], str) and problem["title"]
    json.dumps(problem)  # JSON-safe


def test_problem_details_carry_the_ids_of_the_error() -> None:
    problem = problem_details(
        errors.SeriesFull("ser", ["ser#2", "ser#3"]), type_base="https://school.example/p/"
    )
    assert problem == {
        "type": "https://school.example/p/series_full",
        "title": "Series full",
        "status": 409,
        "detail": "series 'ser' cannot be booked: session(s) ser#2, ser#3 full",
        "code": "series_full",
        "series_id": "ser",
        "full_slot_ids": ["ser#2", "ser#3"],
        "slot_id": "ser#2",
        "capacity": 0,
    }


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.SlotFull("s1", 3), 409),
        (errors.SlotNotFound("s1"), 404),
        (errors.InvalidCapacity("capacity must be >= 0"), 422),
        (errors.BookingRestricted("ann", "too many late cancellations"), 403),
        (errors.AccessDenied("no"), 403),
        (errors.LockTimeout("busy"), 503),
        (errors.PaymentFailed("declined"), 402),
    ],
)
def test_suggested_statuses_follow_http_meaning(error: EduEngineError, status: int) -> None:
    assert error.http_status == status
