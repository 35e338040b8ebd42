"""Share codes (the 拼团 link): unambiguous, unguessable, unique per store, forgiving input."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from eduengine import FixedClock
from eduengine.deals.model import (
    SHARE_CODE_ALPHABET,
    SHARE_CODE_LENGTH,
    new_share_code,
    normalise_share_code,
)
from eduengine.errors import GroupNotFound, InvalidInput, ShareCodeUnavailable
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.deals.mall import Mall


def codes(*drawn: str) -> Callable[[], str]:
    """A code source that hands out ``drawn`` in order (and fails loudly past the end)."""
    it = iter(drawn)
    return lambda: next(it)


def test_a_code_uses_only_unambiguous_characters_and_is_long_enough() -> None:
    assert not set("01OIL") & set(SHARE_CODE_ALPHABET)
    assert SHARE_CODE_LENGTH >= 10
    drawn = [new_share_code() for _ in range(5000)]
    assert all(len(c) == SHARE_CODE_LENGTH and set(c) <= set(SHARE_CODE_ALPHABET) for c in drawn)
    assert len(set(drawn)) == len(drawn)
    # every character of the alphabet turns up: the draw is not biased to a subset
    assert set("".join(drawn)) == set(SHARE_CODE_ALPHABET)


def test_a_student_finds_the_group_however_they_type_the_code(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    group = mall.deals.get_group(mall.open("ann"), actor=SYSTEM)
    code = group.share_code
    assert len(code) == SHARE_CODE_LENGTH and normalise_share_code(code) == code
    typed: Iterable[str] = (
        code,
        code.lower(),
        f"  {code.lower()}\n",
        f"{code[:4]}-{code[4:8]}-{code[8:]}",
        f"{code[:4]} {code[4:8]} {code[8:]}",
    )
    for text in typed:
        assert mall.deals.group_by_code(text).id == group.id, text
    for unknown in ("", "   ", "ZZZZ", code[:-1]):
        with pytest.raises(GroupNotFound):
            mall.deals.group_by_code(unknown)
    with pytest.raises(InvalidInput):
        mall.deals.group_by_code(42)  # type: ignore[arg-type]


def test_a_colliding_code_is_drawn_again_so_each_link_finds_its_own_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    first, second = "AAAAAAAAAAAA", "BBBBBBBBBBBB"
    mall = Mall(store, clock, new_code=codes(first, first, first, second))
    ann = mall.deals.get_group(mall.open("ann"), actor=SYSTEM)
    bob = mall.deals.get_group(mall.open("bob"), actor=SYSTEM)
    assert (ann.share_code, bob.share_code) == (first, second)
    assert mall.deals.group_by_code(first.lower()).id == ann.id
    assert mall.deals.group_by_code(second).id == bob.id


def test_a_broken_code_source_is_refused_with_a_typed_error_and_changes_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, new_code=lambda: "SAMESAMESAME")
    ann = mall.open("ann")
    mall.pays("bob")
    before = store.snapshot()
    with pytest.raises(ShareCodeUnavailable, match="SAMESAMESAME") as refused:
        mall.open("bob")
    assert isinstance(refused.value, RuntimeError) and refused.value.campaign_id == "spring"
    assert store.snapshot() == before
    assert len(mall.gateway.charges) == 1, "bob was not charged"
    assert mall.deals.group_by_code("samesamesame").id == ann


def test_an_empty_code_from_the_source_is_refused(store: StoreHandle, clock: FixedClock) -> None:
    mall = Mall(store, clock, new_code=lambda: " - ")
    mall.pays("ann")
    before = store.snapshot()
    with pytest.raises(InvalidInput, match="empty"):
        mall.open("ann")
    assert store.snapshot() == before


def test_the_model_docstring_examples_run() -> None:
    import doctest

    from eduengine.deals import handlers, model

    for module in (model, handlers):
        assert doctest.testmod(module).failed == 0
