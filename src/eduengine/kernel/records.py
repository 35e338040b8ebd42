"""Stored documents: the dicts the stores hold, written and read by one cattrs converter.

A domain class's ``to_record``/``from_record`` hand their work to :func:`writer` and
:func:`reader`, which cattrs generates from the class's fields. The forms are fixed, so
a stored document means the same after any upgrade (tests/kernel/test_stored_forms.py
pins them): an aware datetime is :func:`~eduengine.kernel.codec.dt_out`'s
``"<ISO-8601>|<zone>"``, a date its ISO text, a ``Decimal`` its string, ``Money``
``{"amount": "12.50", "currency": "EUR"}``, an enum its value, a timedelta whole
microseconds, tuples and lists lists, frozensets sorted lists, mappings dicts. Reading
ignores keys the class no longer has and gives a field missing from an older document
its default; a field stored under another key or in another form takes an
:func:`~cattrs.gen.override`.

>>> from datetime import datetime, timedelta
>>> from zoneinfo import ZoneInfo
>>> import attrs
>>> @attrs.frozen
... class Hold:
...     slot_id: str
...     until: datetime
...     fee: Money | None = None
...     seats: frozenset[str] = frozenset()
...     grace: timedelta = timedelta(0)
>>> hold_out = writer(Hold, grace=override(rename="grace_us"))
>>> hold_in = reader(Hold, grace=override(rename="grace_us"))
>>> berlin = datetime(2026, 3, 29, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
>>> doc = hold_out(Hold("s1", berlin, Money("12.5", "EUR"), frozenset({"b", "a"})))
>>> doc["until"], doc["fee"], doc["seats"], doc["grace_us"]
('2026-03-29T09:30:00+02:00|Europe/Berlin', {'amount': '12.50', 'currency': 'EUR'}, ['a', 'b'], 0)
>>> hold_in({**doc, "retired_key": 1}) == Hold("s1", berlin, Money("12.5", "EUR"), frozenset("ab"))
True
>>> hold_in({"slot_id": "s1", "until": doc["until"]}).seats  # an older document
frozenset()
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping, Set
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, get_args, get_origin

import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.money import Money

__all__ = ["converter", "micros_in", "micros_out", "override", "reader", "writer"]

T = TypeVar("T")


def micros_out(value: timedelta) -> int:
    """A timedelta as whole microseconds (exact, unlike float seconds)."""
    return value // timedelta(microseconds=1)


def micros_in(value: Any, _: Any = None) -> timedelta:
    return timedelta(microseconds=value)


def _is_set(kind: Any) -> bool:
    return kind in (set, frozenset) or get_origin(kind) in (set, frozenset, Set)


def _optional(kind: Any) -> Any:
    """``X`` of ``X | None``, else ``None``."""
    if get_origin(kind) in (typing.Union, types.UnionType):
        args = get_args(kind)
        if len(args) == 2 and type(None) in args:
            return args[0] if args[1] is type(None) else args[1]
    return None


def _items(kind: Any) -> tuple[type, Any] | None:
    """``(tuple, X)`` of ``tuple[X, ...]``, ``(list, X)`` of ``list[X]``, ``(frozenset, X)``
    of ``frozenset[X]``, else ``None``."""
    origin, args = get_origin(kind), get_args(kind)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple, args[0]
    if origin in (list, frozenset) and len(args) == 1:
        return origin, args[0]
    return None


def _pair(kind: Any) -> tuple[Any, ...] | None:
    """The item types of a fixed-length tuple (``tuple[str, Decimal]``), else ``None``."""
    args = get_args(kind)
    if get_origin(kind) is tuple and args and Ellipsis not in args:
        return args
    return None


def _same(value: Any, _: Any = None) -> Any:
    return value


# The hooks below resolve an optional's or a collection's inner hook once, when cattrs
# generates a class's functions, instead of on every value (cattrs' own dispatch on each
# read made a small document several times slower to read than the hand-written code).


def _structure_hook(conv: cattrs.Converter, kind: Any) -> Callable[[Any, Any], Any]:
    get = getattr(conv, "get_structure_hook", None)  # cattrs >= 24.1
    if get is None:
        dispatch: Any = conv._structure_func
        get = dispatch.dispatch
    hook: Callable[[Any, Any], Any] = get(kind)
    return hook


def _unstructure_hook(conv: cattrs.Converter, kind: Any) -> Callable[[Any], Any]:
    get = getattr(conv, "get_unstructure_hook", None)  # cattrs >= 24.1
    if get is None:
        dispatch: Any = conv._unstructure_func
        get = dispatch.dispatch
    hook: Callable[[Any], Any] = get(kind)
    return hook


def _install_fast_paths(conv: cattrs.Converter) -> None:
    def optional_in(kind: Any) -> Callable[[Any, Any], Any]:
        inner = _optional(kind)
        hook = _structure_hook(conv, inner)
        if hook is _same:  # a string or None, read as it is
            return _same
        return lambda value, _: None if value is None else hook(value, inner)

    def optional_out(kind: Any) -> Callable[[Any], Any]:
        hook = _unstructure_hook(conv, _optional(kind))
        if hook is identity:  # cattrs then writes the attribute as it is
            return identity
        return lambda value: None if value is None else hook(value)

    def items_in(kind: Any) -> Callable[[Any, Any], Any]:
        collection, item = _items(kind) or (tuple, Any)
        hook = _structure_hook(conv, item)
        if hook is _same:
            return lambda value, _: collection(value)
        return lambda value, _: collection([hook(v, item) for v in value])

    def items_out(kind: Any) -> Callable[[Any], Any]:
        collection, item = _items(kind) or (tuple, Any)
        hook = _unstructure_hook(conv, item)
        if collection is frozenset:
            if hook is identity:
                return sorted
            return lambda value: sorted([hook(v) for v in value])
        if hook is identity:  # strings, numbers: written as they are
            return list
        return lambda value: [hook(v) for v in value]

    # a fixed-length tuple is a list, as tuples are (cattrs >= 24.1 would keep a tuple)
    def pair_in(kind: Any) -> Callable[[Any, Any], Any]:
        kinds = _pair(kind) or ()
        hooks = [(_structure_hook(conv, k), k) for k in kinds]
        return lambda value, _: tuple([h(v, k) for (h, k), v in zip(hooks, value, strict=True)])

    def pair_out(kind: Any) -> Callable[[Any], Any]:
        hooks = [_unstructure_hook(conv, k) for k in _pair(kind) or ()]
        return lambda value: [h(v) for h, v in zip(hooks, value, strict=True)]

    conv.register_structure_hook_factory(lambda kind: _pair(kind) is not None, pair_in)
    conv.register_unstructure_hook_factory(lambda kind: _pair(kind) is not None, pair_out)
    conv.register_structure_hook_factory(lambda kind: _optional(kind) is not None, optional_in)
    conv.register_unstructure_hook_factory(lambda kind: _optional(kind) is not None, optional_out)
    conv.register_structure_hook_factory(lambda kind: _items(kind) is not None, items_in)
    conv.register_unstructure_hook_factory(lambda kind: _items(kind) is not None, items_out)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(
        # the exceptions a document raises are those of its values (a bad zone, a
        # withdrawn currency...), as the hand-written readers raised them
        detailed_validation=False,
        forbid_extra_keys=False,
        unstruct_collection_overrides={tuple: list, Mapping: dict},
    )
    # stored strings are read as they are, as the hand-written readers did
    conv.register_structure_hook(str, _same)
    conv.register_unstructure_hook(datetime, dt_out)
    conv.register_structure_hook(datetime, lambda value, _: dt_in(value))
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
    conv.register_unstructure_hook(timedelta, micros_out)
    conv.register_structure_hook(timedelta, micros_in)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda value, _: Decimal(value))
    conv.register_unstructure_hook(Money, Money.to_record)
    conv.register_structure_hook(Money, lambda value, _: Money.from_record(value))
    conv.register_unstructure_hook(enum.Enum, lambda member: member.value)

    def sorted_list(value: Set[Any]) -> list[Any]:
        return sorted(conv.unstructure(item) for item in value)

    conv.register_unstructure_hook_func(_is_set, sorted_list)
    _install_fast_paths(conv)
    return conv


#: The converter of stored documents (not the event codec's: events have their own
#: public JSON form).
converter = _make_converter()


def writer(cls: type[T], **fields: Any) -> Callable[[T], dict[str, Any]]:
    """The function writing a ``cls`` as its stored document, with ``fields``'
    overrides (a key renamed, a field omitted, another form); registered on
    :data:`converter` for ``cls`` found inside other documents. Generated on first use,
    when every name the class's annotations refer to is defined."""
    made: list[Callable[[T], dict[str, Any]]] = []

    def write(value: T) -> dict[str, Any]:
        if not made:
            made.append(make_dict_unstructure_fn(cls, converter, **fields))
        return made[0](value)

    converter.register_unstructure_hook(cls, write)
    return write


def reader(cls: type[T], **fields: Any) -> Callable[[Mapping[str, Any]], T]:
    """The function reading a ``cls`` back from :func:`writer`'s document (the same
    ``fields`` overrides)."""
    made: list[Callable[[Mapping[str, Any], Any], T]] = []

    def read(doc: Mapping[str, Any]) -> T:
        if not made:
            made.append(make_dict_structure_fn(cls, converter, **fields))
        return made[0](doc, cls)

    converter.register_structure_hook(cls, lambda doc, _: read(doc))
    return read
