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


# The few classes whose status differs from their family's, each with its reason.
STATUS_EXCEPTIONS = {
    # a webhook delivery that fails authentication: 400, never "your data is malformed"
    "InvalidSignature": 400,
    # deprecated: a host adapter without a feed is the server's fault
    "FeedUnavailable": 503,
    # a key reused with other parameters conflicts with the first request, as payment
    # APIs answer
    "IdempotencyKeyReused": 409,
}


def family_status(cls: type[EduEngineError]) -> set[int]:
    """What a class's family promises a client: 404 for a missing thing, 422 for
    malformed input, 409 (or 402/403 where paying or a permission decides) for a
    well-formed request that the current state refuses, 5xx for the server's trouble."""
    if issubclass(cls, errors.NotFound):
        return {404}
    if issubclass(cls, errors.InvalidInput):
        return {422}
    if issubclass(cls, errors.BookingRefused):
        return {402, 403, 409}
    if issubclass(cls, (errors.CouponRefused, errors.InvalidTransition, errors.DuplicateId)):
        return {409}
    if issubclass(cls, errors.ConcurrencyConflict):
        return {409, 503}
    if issubclass(cls, errors.PersistenceError):
        return {500, 503}
    return set(range(400, 600))


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_every_status_tells_the_truth_about_its_family(cls: type[EduEngineError]) -> None:
    expected = {STATUS_EXCEPTIONS[cls.__name__]} if cls.__name__ in STATUS_EXCEPTIONS else (
        family_status(cls)
    )
    assert cls.http_status in expected, (cls.__name__, cls.http_status, expected)


def test_a_used_up_coupon_is_a_conflict_and_an_unknown_one_is_not_found() -> None:
    assert errors.CouponRefused("SPRING", "used up (1 redemptions)").http_status == 409
    unknown = errors.CouponNotFound("NOPE")
    assert isinstance(unknown, errors.CouponRefused) and isinstance(unknown, errors.NotFound)
    assert problem_details(unknown)["status"] == 404
