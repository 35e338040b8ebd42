"""Input rules: moved to :mod:`eduengine.kernel.inputs`; this path goes before the next release."""

from eduengine.kernel.inputs import (
    EARLIEST,
    LATEST,
    MAX_CAPACITY,
    MAX_COUNT,
    MAX_DURATION,
    MAX_ID_LENGTH,
    check_duration,
    check_id,
    check_ids,
    check_instant,
    check_int,
    check_optional_id,
    check_optional_instant,
    check_text,
)

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_CAPACITY",
    "MAX_COUNT",
    "MAX_DURATION",
    "MAX_ID_LENGTH",
    "check_duration",
    "check_id",
    "check_ids",
    "check_instant",
    "check_int",
    "check_optional_id",
    "check_optional_instant",
    "check_text",
]
