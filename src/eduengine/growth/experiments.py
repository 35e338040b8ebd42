"""Experiments (A/B tests): variants with weights, a coverage, and a deterministic, sticky
assignment of each student.

A student's place in an experiment is a pure function of the experiment's key and her
id: :func:`bucket` hashes ``"<key>/<student_id>"`` with 32-bit FNV-1a, hashes the
decimal digits of that hash again (one pass of FNV-1a mixes similar ids poorly; the
second pass spreads them, as GrowthBook's hash v2 does) and keeps the remainder modulo
10 000. The hash is defined here byte for byte, never Python's ``hash()``, so a student
lands in the same bucket in every process and every release.

Each variant owns a range of buckets: variant *i* starts where the weights before it end
(``10000 * sum(w[:i]) / sum(w)``, rounded down) and covers ``coverage`` of its share. A
student whose bucket is in no range is not in the experiment. Raising the coverage of a
new experiment with the same weights only adds students: those already in keep their
variant.

>>> fnv1a32(b"a") == 0xE40C292C
True
>>> test = Experiment(key="group-size", variants=(
...     Variant("control", params={"group_size": 3}),
...     Variant("pairs", params={"group_size": 2})))
>>> bucket("group-size", "ann"), bucket("group-size", "cai")
(7723, 6577)
>>> test.ranges()
((0, 5000), (5000, 10000))
>>> [test.assign(s).key for s in ("ann", "bob", "cai")]
['pairs', 'control', 'pairs']
>>> test.assign("ann").params["group_size"]
2
>>> half = attrs.evolve(test, coverage=Decimal("0.5"))   # the same buckets, half as wide
>>> half.ranges(), half.assign("ann"), half.assign("cai").key
(((0, 2500), (5000, 7500)), None, 'pairs')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs

from eduengine.errors import InvalidInput, WrongType
from eduengine.kernel.inputs import check_id, check_text
from eduengine.kernel.money import Money
from eduengine.kernel.records import override, reader, writer

__all__ = [
    "BUCKETS",
    "Experiment",
    "ParamValue",
    "Variant",
    "bucket",
    "fnv1a32",
]

#: how many buckets students are hashed into
BUCKETS = 10_000
#: the most variants an experiment may have
MAX_VARIANTS = 20

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193

#: what a variant's parameter may be: a group size, a duration, a price, a coupon's
#: value, a template's kind ...
ParamValue = str | int | bool | Decimal | Money | timedelta


def fnv1a32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (the published algorithm, offset basis
    2166136261, prime 16777619).

    >>> fnv1a32(b""), hex(fnv1a32(b"foobar"))
    (2166136261, '0xbf9cf968')
    """
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(experiment_key: str, student_id: str) -> int:
    """The student's bucket in the experiment, from 0 to 9 999 (see the module's
    description; stable across processes and releases)."""
    first = fnv1a32(f"{experiment_key}/{student_id}".encode())
    return fnv1a32(str(first).encode()) % BUCKETS


def _weight(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise WrongType(f"a variant's weight must be an int, str or Decimal, got {value!r}")
    try:
        weight = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"a variant's weight must be a number, got {value!r}") from None
    if not weight.is_finite() or weight < 0:
        raise InvalidInput(f"a variant's weight must be a finite number >= 0, got {value!r}")
    return weight


def _params(value: object) -> Mapping[str, ParamValue]:
    if not isinstance(value, Mapping):
        raise WrongType(f"a variant's params must be a mapping, got {value!r}")
    for name, param in value.items():
        check_id(name, "param name")
        if isinstance(param, float) or not isinstance(param, ParamValue):
            raise WrongType(
                f"param {name!r} must be str, int, bool, Decimal, Money or timedelta "
                f"(never float), got {param!r}"
            )
    return MappingProxyType(dict(value))


def _param_out(value: ParamValue) -> Any:
    if isinstance(value, Money):
        return {"money": value.to_record()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, timedelta):
        return {"microseconds": value // timedelta(microseconds=1)}
    return value


def _param_in(value: Any) -> ParamValue:
    if isinstance(value, dict):
        if "money" in value:
            return Money.from_record(value["money"])
        if "decimal" in value:
            return Decimal(value["decimal"])
        return timedelta(microseconds=int(value["microseconds"]))
    if isinstance(value, str | int | bool):
        return value
    raise InvalidInput(f"a stored param is not readable: {value!r}")


@attrs.frozen
class Variant:
    """One arm of an experiment: its ``key``, its ``weight`` (relative to the others) and
    the ``params`` it sets (``{"group_size": 2}``, ``{"price": Money("99", "CNY")}``,
    ``{"template": "renewal-short"}`` ...)."""

    key: str = attrs.field(validator=lambda _, __, v: check_id(v, "variant key"))
    weight: Decimal = attrs.field(default=Decimal(1), converter=_weight)
    params: Mapping[str, ParamValue] = attrs.field(
        factory=dict, converter=_params, kw_only=True, eq=False
    )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Variant):
            return NotImplemented
        return (self.key, self.weight, dict(self.params)) == (
            other.key,
            other.weight,
            dict(other.params),
        )

    def __hash__(self) -> int:
        return hash((self.key, self.weight))

    def __repr__(self) -> str:
        return f"Variant(key={self.key!r}, weight={self.weight!r}, params={dict(self.params)!r})"

    def to_record(self) -> dict[str, Any]:
        return _variant_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Variant:
        return _variant_in(data)


def _coverage(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise WrongType(f"coverage must be an int, str or Decimal, got {value!r}")
    try:
        coverage = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"coverage must be a number, got {value!r}") from None
    if not coverage.is_finite() or not 0 < coverage <= 1:
        raise InvalidInput(f"coverage must be above 0 and at most 1, got {value!r}")
    return coverage


def _variants(value: object) -> tuple[Variant, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise WrongType(f"variants must be a list of Variant, got {value!r}")
    found = tuple(value)
    if not all(isinstance(v, Variant) for v in found):
        raise WrongType(f"variants must be a list of Variant, got {value!r}")
    if not 2 <= len(found) <= MAX_VARIANTS:
        raise InvalidInput(f"an experiment has 2 to {MAX_VARIANTS} variants, got {len(found)}")
    keys = [v.key for v in found]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"variant keys must differ, got {keys}")
    if sum(v.weight for v in found) <= 0:
        raise InvalidInput("at least one variant must have a weight above 0")
    return found


@attrs.frozen(kw_only=True)
class Experiment:
    """An A/B test: ``variants`` (the first is the control), the share of students in
    it (``coverage``), the ``currency`` its revenue is counted in (payments in another
    currency are left out of its results) and a ``description`` for people."""

    key: str = attrs.field(validator=lambda _, __, v: check_id(v, "experiment key"))
    variants: tuple[Variant, ...] = attrs.field(converter=_variants)
    coverage: Decimal = attrs.field(default=Decimal(1), converter=_coverage)
    currency: str = "CNY"
    description: str = attrs.field(
        default="", validator=lambda _, __, v: check_text(v, "description", max_length=2_000)
    )

    def __attrs_post_init__(self) -> None:
        Money.zero(self.currency)  # refuses a currency that is not current

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """Each variant's buckets, ``(first, end)`` with ``end`` excluded."""
        total = sum(v.weight for v in self.variants)
        found = []
        before = Decimal(0)
        for variant in self.variants:
            start = int(BUCKETS * before / total)
            width = int(BUCKETS * self.coverage * variant.weight / total)
            found.append((start, min(start + width, BUCKETS)))
            before += variant.weight
        return tuple(found)

    def assign(self, student_id: str) -> Variant | None:
        """The student's variant, or ``None`` when she is outside the coverage."""
        n = bucket(self.key, student_id)
        for variant, (start, end) in zip(self.variants, self.ranges(), strict=True):
            if start <= n < end:
                return variant
        return None

    def variant(self, key: str) -> Variant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        raise InvalidInput(f"experiment {self.key!r} has no variant {key!r}")

    def to_record(self) -> dict[str, Any]:
        return _experiment_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Experiment:
        return _experiment_in(data)


# a param's value says its own type: Money, Decimal and timedelta as tagged objects
_PARAMS = override(
    unstruct_hook=lambda params: {name: _param_out(v) for name, v in params.items()},
    struct_hook=lambda params, _: {name: _param_in(v) for name, v in params.items()},
)
_variant_out = writer(Variant, params=_PARAMS)
_variant_in = reader(Variant, params=_PARAMS)
_experiment_out = writer(Experiment)
_experiment_in = reader(Experiment)
