"""The error hierarchy."""

from __future__ import annotations

import pickle

from eduengine import errors


def test_every_error_is_rooted_at_eduengine_error_and_survives_pickling() -> None:
    full = errors.SeriesFull("ser", ["ser#002", "ser#003"])
    again = pickle.loads(pickle.dumps(full))
    assert type(again) is errors.SeriesFull
    assert again.full_slot_ids == ("ser#002", "ser#003")
    assert str(again) == str(full)
    assert isinstance(again, errors.EduEngineError)


def test_errors_also_subclass_the_matching_builtin() -> None:
    assert issubclass(errors.InvalidCapacity, ValueError)
    assert issubclass(errors.SlotNotFound, LookupError)
    assert issubclass(errors.LockTimeout, TimeoutError)
    assert issubclass(errors.RetryableConflict, errors.PersistenceError)
