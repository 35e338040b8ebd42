"""Masking never shows a value whole, whatever the value (any string, any length)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine.students import mask_email, mask_name, mask_phone

MASKERS: list[Callable[[str | None], str | None]] = [mask_name, mask_email, mask_phone]
# values made of what masks are made of are the ones a naive mask shows whole
TRICKY = st.text(alphabet="*•#x@a1 ", min_size=1, max_size=8)


@pytest.mark.parametrize("mask", MASKERS, ids=lambda m: m.__name__)
@given(value=st.one_of(st.text(min_size=1), TRICKY))
def test_a_masked_value_is_never_the_value_whole(
    mask: Callable[[str | None], str | None], value: str
) -> None:
    masked = mask(value)
    assert masked is not None and masked != value
    if len(value) >= 2:
        assert value not in masked


@pytest.mark.parametrize(
    ("mask", "value", "expected"),
    [
        (mask_name, "王", "*"),
        (mask_name, "王小明", "王**"),
        (mask_email, "ann.lee.example.com", "a******************"),
        (mask_email, "alice@example.com", "a***@example.com"),
        (mask_email, "a***@example.com", "••••••••••••••••"),
        (mask_phone, "13812341234", "138****1234"),
        (mask_phone, "7", "*"),
    ],
)
def test_masks_keep_their_usual_shape_and_hide_short_values(
    mask: Callable[[str | None], str | None], value: str, expected: str
) -> None:
    assert mask(value) == expected
