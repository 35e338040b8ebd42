"""Call a command with fuzzed input and check the answer: success, or a typed refusal
that changed nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eduengine.errors import EduEngineError, PaymentOutcomeUnknown, PersistenceError


def refused_cleanly(
    snapshot: Callable[[], Any], command: Callable[[], object]
) -> EduEngineError | None:
    """Run ``command``; if it raises, the error must be an ``EduEngineError`` that is not
    a storage error (bad input is never the store's fault) and the store's ``snapshot()``
    must be unchanged. Returns the refusal, or None when the command succeeded."""
    before = snapshot()
    try:
        command()
    except EduEngineError as refusal:
        assert not isinstance(refusal, PersistenceError), f"storage error: {refusal!r}"
        assert not isinstance(refusal, PaymentOutcomeUnknown), repr(refusal)
        assert snapshot() == before, f"{type(refusal).__name__} changed the store: {refusal}"
        return refusal
    return None
