"""The catalogue (pure): what a school sells, and the price lists that price it.

An item is a course, a lesson package (its credits, validity and course scope) or a
group campaign. A :class:`PriceList` prices items in one currency from ``valid_from``
(until ``valid_until``, if given). Publishing a list under an id it already has adds a
*version*: versions are never changed, a later version of a list takes over from its
``valid_from`` on, and the price of an item at a moment is the one of the version in
effect that started last (a one-week sale list beats the base list during its week).
A :class:`CatalogueQuote` keeps the prices it was given, so no later price change
alters it.

>>> from datetime import datetime, timezone
>>> jan = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> base = PriceList(id="base", currency="CNY", valid_from=jan,
...                  prices={"py-101": Money("199", "CNY")})
>>> str(base.price_of("py-101"))
'199.00 CNY'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.errors import InvalidInput, InvalidMoney, InvalidTimeRange
from eduengine.kernel.clock import require_aware
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_duration, check_id, check_instant, check_int, check_text
from eduengine.kernel.money import Money
from eduengine.kernel.records import override, reader, writer
from eduengine.pricing.rules import Quote, QuoteLine


class ItemKind(enum.Enum):
    COURSE = "course"
    PACKAGE = "package"
    CAMPAIGN = "campaign"


@attrs.frozen(kw_only=True)
class CatalogueItem:
    """A thing the school sells. Items share one id space: a course's id is its course
    id, a campaign's its campaign id. A package item says what a purchase grants:
    ``credits`` lessons, valid for ``valid_for`` from activation, for ``course_id``
    only (``None``: any course)."""

    id: str
    kind: ItemKind
    title: str = ""
    credits: int | None = None
    valid_for: timedelta | None = None
    course_id: str | None = None

    def __attrs_post_init__(self) -> None:
        check_id(self.id, "item id")
        if not isinstance(self.kind, ItemKind):
            raise InvalidInput(f"kind must be an ItemKind, got {self.kind!r}")
        check_text(self.title, "title", max_length=500)
        if self.kind is ItemKind.PACKAGE:
            if self.credits is None or self.valid_for is None:
                raise InvalidInput(f"package {self.id!r} needs credits and valid_for")
            check_int(self.credits, "credits", low=1)
            check_duration(self.valid_for, "valid_for", low=timedelta(microseconds=1))
            if self.course_id is not None:
                check_id(self.course_id, "course_id")
        elif (self.credits, self.valid_for, self.course_id) != (None, None, None):
            raise InvalidInput(f"only a package has credits, valid_for and course_id ({self.id!r})")

    def to_record(self) -> dict[str, Any]:
        return _item_out(self)

    @classmethod
    def from_record(cls, item_id: str, d: dict[str, Any]) -> CatalogueItem:
        return _item_in({**d, "id": item_id})


def _prices(value: Mapping[str, Money]) -> dict[str, Money]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"prices must map item ids to Money, got {value!r}")
    return dict(sorted(value.items()))


@attrs.frozen(kw_only=True)
class PriceList:
    """Prices of items in one ``currency``, valid from ``valid_from`` (until
    ``valid_until``, if given). ``version`` is given by the catalogue when published."""

    id: str
    currency: str
    valid_from: datetime
    prices: Mapping[str, Money] = attrs.field(converter=_prices)
    valid_until: datetime | None = None
    name: str = ""
    version: int = 0

    def __attrs_post_init__(self) -> None:
        check_id(self.id, "price list id")
        Money.zero(self.currency)  # InvalidMoney unless an ISO 4217 code in use
        require_aware("valid_from", self.valid_from)
        check_instant(self.valid_from, "valid_from")
        if self.valid_until is not None:
            require_aware("valid_until", self.valid_until)
            check_instant(self.valid_until, "valid_until")
            if self.valid_until <= self.valid_from:
                raise InvalidTimeRange(
                    f"price list {self.id!r}: valid_until {self.valid_until} is not after "
                    f"valid_from {self.valid_from}"
                )
        if not self.prices:
            raise InvalidInput(f"price list {self.id!r} prices nothing")
        for item_id, price in self.prices.items():
            check_id(item_id, "item id")
            if not isinstance(price, Money) or price.amount < 0:
                raise InvalidMoney(f"the price of {item_id!r} must be Money >= 0, got {price!r}")
            if price.currency != self.currency:
                raise InvalidMoney(
                    f"price list {self.id!r} is in {self.currency}; {item_id!r} costs {price}"
                )
        check_text(self.name, "name", max_length=500)
        check_int(self.version, "version")

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def price_of(self, item_id: str) -> Money | None:
        return self.prices.get(item_id)

    def to_record(self) -> dict[str, Any]:
        return _list_out(self)

    @classmethod
    def from_record(cls, list_id: str, d: dict[str, Any]) -> PriceList:
        return _list_in({**d, "id": list_id})


@attrs.frozen(kw_only=True)
class QuotedItem:
    """One item of a quote: what it is, its list price and the version that priced it."""

    item: CatalogueItem
    price: Money
    price_list: str
    version: int


@attrs.frozen(kw_only=True)
class CatalogueQuote:
    """Prices given to a student, valid until ``expires_at``: line prices from the
    catalogue, the rules and coupons applied (``breakdown``). Checkout, group joins and
    package purchases take its id and charge exactly ``total``."""

    id: str
    student_id: str
    currency: str
    items: tuple[QuotedItem, ...]
    breakdown: Quote
    created_at: datetime
    expires_at: datetime
    #: the customer facts the rules saw (tags, level, first purchase)
    tags: frozenset[str] = frozenset()
    level: int = 0
    first_purchase: bool = False

    @property
    def total(self) -> Money:
        return self.breakdown.total

    @property
    def lines(self) -> tuple[QuoteLine, ...]:
        return self.breakdown.lines

    @property
    def coupons(self) -> tuple[str, ...]:
        return self.breakdown.coupons

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def explain(self) -> list[str]:
        return self.breakdown.explain()

    def to_record(self) -> dict[str, Any]:
        return {
            "student_id": self.student_id,
            "currency": self.currency,
            "items": [
                {
                    "id": q.item.id,
                    "item": q.item.to_record(),
                    "price": q.price.to_record(),
                    "price_list": q.price_list,
                    "version": q.version,
                }
                for q in self.items
            ],
            "breakdown": quote_record(self.breakdown),
            "created_at": dt_out(self.created_at),
            "expires_at": dt_out(self.expires_at),
            "tags": sorted(self.tags),
            "level": self.level,
            "first_purchase": self.first_purchase,
        }

    @classmethod
    def from_record(cls, quote_id: str, d: dict[str, Any]) -> CatalogueQuote:
        return cls(
            id=quote_id,
            student_id=d["student_id"],
            currency=d["currency"],
            items=tuple(
                QuotedItem(
                    item=CatalogueItem.from_record(q["id"], q["item"]),
                    price=Money.from_record(q["price"]),
                    price_list=q["price_list"],
                    version=q["version"],
                )
                for q in d["items"]
            ),
            breakdown=quote_from_record(d["breakdown"]),
            created_at=dt_in(d["created_at"]),
            expires_at=dt_in(d["expires_at"]),
            tags=frozenset(d["tags"]),
            level=d["level"],
            first_purchase=d["first_purchase"],
        )


def quote_record(q: Quote) -> dict[str, Any]:
    """A pricing :class:`~eduengine.pricing.rules.Quote` as a JSON document."""
    return {
        "lines": [
            {
                "course_id": line.course_id,
                "list_price": line.list_price.to_record(),
                "adjustments": [[label, m.to_record()] for label, m in line.adjustments],
                "total": line.total.to_record(),
            }
            for line in q.lines
        ],
        "coupons": list(q.coupons),
        "unused_coupons": list(q.unused_coupons),
        "subtotal": q.subtotal.to_record(),
        "discount": q.discount.to_record(),
        "total": q.total.to_record(),
    }


def quote_from_record(d: dict[str, Any]) -> Quote:
    return Quote(
        lines=tuple(
            QuoteLine(
                course_id=line["course_id"],
                list_price=Money.from_record(line["list_price"]),
                adjustments=tuple(
                    (label, Money.from_record(m)) for label, m in line["adjustments"]
                ),
                total=Money.from_record(line["total"]),
            )
            for line in d["lines"]
        ),
        coupons=tuple(d["coupons"]),
        unused_coupons=tuple(d["unused_coupons"]),
        subtotal=Money.from_record(d["subtotal"]),
        discount=Money.from_record(d["discount"]),
        total=Money.from_record(d["total"]),
    )


__all__ = [
    "CatalogueItem",
    "CatalogueQuote",
    "ItemKind",
    "PriceList",
    "QuotedItem",
    "quote_from_record",
    "quote_record",
]


# an item's and a list's id is its document's key, not in the document
_NO_ID = override(omit=True)
_VALID_FOR = override(rename="valid_for_us")
_item_out = writer(CatalogueItem, id=_NO_ID, valid_for=_VALID_FOR)
_item_in = reader(CatalogueItem, valid_for=_VALID_FOR)
_list_out = writer(PriceList, id=_NO_ID)
_list_in = reader(PriceList)
