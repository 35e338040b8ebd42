"""The catalogue service: items, price lists (versioned, per currency, with validity)
and quotes that checkout, group joins and package purchases charge (issue #27).

Storage (records, so every adapter keeps it with no table of its own):

- ``catalogue_item``: one document per item;
- ``price_list``: one document per published version, keyed ``<list id>@<version>``
  (never written again), and ``price_list_head`` (the versions of a list and when each
  takes over);
- ``catalogue_price``: one small document per priced item of a version, filed under the
  index ``<item id>:<currency>`` at its list's ``valid_from``, so the price of an item now
  reads the versions that started last first, never every list;
- ``catalogue_quote``: each quote as given (its prices, rules, coupons and expiry), and
  what used it.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.kernel.money import Money
>>> now = datetime(2026, 3, 2, tzinfo=timezone.utc)
>>> school = School.build(InMemoryStore(), clock=FixedClock(now))
>>> school.catalogue.add_item(CatalogueItem(id="py-101", kind=ItemKind.COURSE))
>>> _ = school.catalogue.publish(PriceList(id="base", currency="CNY", valid_from=now,
...                                        prices={"py-101": Money("199", "CNY")}))
>>> q = school.catalogue.quote("ann", ["py-101"], "CNY")
>>> str(q.total), q.expires_at - now
('199.00 CNY', datetime.timedelta(seconds=1800))
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Unpack

from eduengine.errors import (
    CatalogueItemNotFound,
    DuplicateId,
    InvalidInput,
    InvalidMoney,
    NotForSale,
    NotFound,
    QuoteExpired,
    QuoteNotFound,
    QuoteRefused,
    WrongType,
)
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import check_duration, check_id, check_ids
from eduengine.kernel.money import Money
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.pricing.catalogue import (
    CatalogueItem,
    CatalogueQuote,
    ItemKind,
    PriceList,
    QuotedItem,
)
from eduengine.pricing.coupons import _typed_codes, usable_coupon
from eduengine.pricing.rules import Customer, OrderLine, PriceRule, quote
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

ITEMS = "catalogue_item"
PRICE_LISTS = "price_list"
LIST_HEADS = "price_list_head"
PRICES = "catalogue_price"
QUOTES = "catalogue_quote"

#: how long a quote holds its prices unless the catalogue is told otherwise
QUOTE_TTL = timedelta(minutes=30)

#: price entries read per index page while looking for the one in effect
_BATCH = 16


def _version_key(list_id: str, version: int) -> str:
    return f"{list_id}@{version:06d}"


def get_item(uow: UnitOfWork, item_id: str) -> CatalogueItem:
    doc = uow.records.get(ITEMS, item_id)
    if doc is None:
        raise CatalogueItemNotFound(item_id)
    return CatalogueItem.from_record(item_id, doc)


def price_in_effect(
    uow: UnitOfWork, item_id: str, currency: str, at: datetime
) -> tuple[PriceList, Money]:
    """The version that prices ``item_id`` in ``currency`` at ``at`` and its price, or
    ``NotForSale``: the versions that started last are read first (index order), and the
    first one in effect (its list's latest version started by then, and not ended) wins."""
    seen: set[str] = set()
    heads: dict[str, list[list[int]]] = {}
    hi, batch = micros(at), _BATCH
    while True:
        entries = uow.records.scan(
            PRICES, f"{item_id}:{currency}", hi=hi, limit=batch, descending=True
        )
        fresh = [key for key, _ in entries if key not in seen]
        for key in fresh:
            seen.add(key)
            # "<list id>@<version>:<item id>": ids may hold ":" or "@", the suffix is known
            version_key = key.removesuffix(f":{item_id}")
            list_id, _, version = version_key.rpartition("@")
            doc = uow.records.get(PRICE_LISTS, version_key)
            if doc is None:
                continue
            found = PriceList.from_record(list_id, doc)
            if list_id not in heads:
                head = uow.records.get(LIST_HEADS, list_id)
                heads[list_id] = [] if head is None else head["versions"]
            started = [v for v, start in heads[list_id] if start <= micros(at)]
            price = found.price_of(item_id)
            if started and max(started) == int(version) and found.covers(at) and price is not None:
                return found, price
        if len(entries) < batch:
            raise NotForSale(item_id, currency)
        if not fresh:
            batch *= 2  # a page of versions starting at one instant: read more of them
            continue
        hi = entries[-1][1]


def _put_quote(uow: UnitOfWork, quote_id: str, doc: dict[str, Any]) -> None:
    """Write a quote filed under its student (erasure finds them) and its expiry (a sweep
    of expired quotes reads only those); a put replaces the entries, so every write of a
    quote goes through here."""
    index = {
        f"student:{doc['student_id']}": micros(dt_in(doc["created_at"])),
        "expires": micros(dt_in(doc["expires_at"])),
    }
    uow.records.put(QUOTES, quote_id, doc, index=index)


def erase_quotes(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: the quotes given to the student (their tags and level are in them); the
    orders, packages and places they paid for keep their own copy of the prices."""
    keys = [key for key, _ in uow.records.scan(QUOTES, f"student:{student_id}")]
    for key in keys:
        uow.records.delete(QUOTES, key)
    return len(keys)


def get_quote(uow: UnitOfWork, quote_id: str) -> tuple[CatalogueQuote, dict[str, Any]]:
    doc = uow.records.get(QUOTES, quote_id)
    if doc is None:
        raise QuoteNotFound(quote_id)
    return CatalogueQuote.from_record(quote_id, doc), doc


def take_quote(
    uow: UnitOfWork,
    quote_id: str,
    now: datetime,
    *,
    kinds: Collection[ItemKind],
    use: str,
    student_id: str | None = None,
    released: Callable[[str], bool] = lambda use: False,
) -> CatalogueQuote:
    """The quote ``quote_id`` (locked), checked for a command and marked used by ``use``
    (``"order:o1"``): ``QuoteNotFound``; ``QuoteRefused`` when it was given to another
    student, is for items of other kinds, or is used by something else (unless
    ``released`` says that use let it go: an order whose payment failed);
    ``QuoteExpired`` when its expiry has passed (a command sent again by the use that
    took the quote is not refused for that)."""
    found, doc = get_quote(uow, quote_id)
    if student_id is not None and found.student_id != student_id:
        raise QuoteRefused(quote_id, f"it was given to another student, not {student_id!r}")
    wrong = [q.item.id for q in found.items if q.item.kind not in kinds]
    if wrong:
        wanted = " or ".join(sorted(k.value for k in kinds))
        raise QuoteRefused(quote_id, f"this command sells a {wanted}; it quotes {wrong}")
    used = doc.get("used_by")
    if used == use:
        return found
    if used is not None and not released(used):
        raise QuoteRefused(quote_id, f"it is used by {used}")
    if found.expired(now):
        raise QuoteExpired(quote_id, dt_out(found.expires_at))
    doc["used_by"] = use
    _put_quote(uow, quote_id, doc)
    return found


class CatalogueService(ServiceBase):
    """Catalogue items, their price lists, and quotes (see the module's docs).

    ``rules`` and ``max_discount`` are the school's price rules and discount cap (the
    ones checkout applies); ``quote_ttl`` is how long a quote holds its prices.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rules: Sequence[PriceRule] = (),
        max_discount: Money | None = None,
        quote_ttl: timedelta = QUOTE_TTL,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        check_duration(quote_ttl, "quote_ttl", low=timedelta(seconds=1))
        if not all(isinstance(rule, PriceRule) for rule in rules):
            raise InvalidInput(f"rules must be PriceRules, got {rules!r}")
        if max_discount is not None and (
            not isinstance(max_discount, Money) or max_discount.amount < 0
        ):
            raise InvalidMoney(f"max_discount must be non-negative Money, got {max_discount!r}")
        self.rules = tuple(rules)
        self.max_discount = max_discount
        self.quote_ttl = quote_ttl
        # the school's access check (School.build sets its own)
        self.gate = AccessGate()

    def add_item(self, item: CatalogueItem) -> None:
        """Add a course, package or campaign to the catalogue (an id is used once)."""
        if not isinstance(item, CatalogueItem):
            raise WrongType(f"expected a CatalogueItem, got {item!r}", field="item")

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(ITEMS, item.id) is not None:
                raise DuplicateId(f"catalogue item {item.id!r} already exists")
            uow.records.put(ITEMS, item.id, item.to_record())

        self._run(command, ids={"item_id": item.id})

    def item(self, item_id: str) -> CatalogueItem:
        check_id(item_id, "item_id")
        return self._run(
            lambda uow, now: get_item(uow, item_id), write=False, ids={"item_id": item_id}
        )

    def publish(self, price_list: PriceList) -> PriceList:
        """Publish a price list as the next version of its id (the first is version 1);
        returns it with its version. Earlier versions are never changed: a quote, and
        any moment before this version's ``valid_from``, keeps their prices. Every item
        priced must be in the catalogue, and a list keeps its currency."""
        if not isinstance(price_list, PriceList):
            raise WrongType(f"expected a PriceList, got {price_list!r}", field="price_list")

        def command(uow: UnitOfWork, now: datetime) -> PriceList:
            for item_id in price_list.prices:
                get_item(uow, item_id)
            head = uow.records.get(LIST_HEADS, price_list.id) or {
                "currency": price_list.currency,
                "versions": [],
            }
            if head["currency"] != price_list.currency:
                raise InvalidMoney(
                    f"price list {price_list.id!r} is in {head['currency']}, not "
                    f"{price_list.currency}: publish another list for another currency"
                )
            version = len(head["versions"]) + 1
            published = PriceList(
                id=price_list.id,
                currency=price_list.currency,
                valid_from=price_list.valid_from,
                valid_until=price_list.valid_until,
                prices=price_list.prices,
                name=price_list.name,
                version=version,
            )
            key = _version_key(price_list.id, version)
            uow.records.put(PRICE_LISTS, key, published.to_record())
            start = micros(published.valid_from)
            for item_id in published.prices:
                uow.records.put(
                    PRICES,
                    f"{key}:{item_id}",
                    {},
                    index={f"{item_id}:{published.currency}": start},
                )
            head["versions"].append([version, start])
            uow.records.put(LIST_HEADS, price_list.id, head)
            return published

        return self._run(command, ids={"price_list": price_list.id})

    def price_list(self, list_id: str, version: int | None = None) -> PriceList:
        """A published version of a list (the latest without ``version``)."""
        check_id(list_id, "list_id")

        def query(uow: UnitOfWork, now: datetime) -> PriceList:
            head = uow.records.get(LIST_HEADS, list_id)
            if head is None or not head["versions"]:
                raise NotFound(f"price list {list_id!r} not found")
            v = len(head["versions"]) if version is None else version
            doc = uow.records.get(PRICE_LISTS, _version_key(list_id, v))
            if doc is None:
                raise NotFound(f"price list {list_id!r} has no version {version!r}")
            return PriceList.from_record(list_id, doc)

        return self._run(query, write=False, ids={"list_id": list_id})

    def price(self, item_id: str, currency: str, *, at: datetime | None = None) -> Money:
        """The list price of an item in ``currency`` now (or at ``at``), or
        ``NotForSale``."""
        check_id(item_id, "item_id")
        currency = Money.zero(currency).currency  # InvalidMoney for no ISO 4217 code

        def query(uow: UnitOfWork, now: datetime) -> Money:
            get_item(uow, item_id)
            return price_in_effect(uow, item_id, currency, at or now)[1]

        return self._run(query, write=False, ids={"item_id": item_id})

    def quote(
        self,
        student: str | Customer,
        items: Sequence[str],
        currency: str,
        *,
        coupon: str | None = None,
        coupons: Sequence[str] = (),
    ) -> CatalogueQuote:
        """Price ``items`` (catalogue ids) for a student in ``currency``: line prices
        from the price lists in effect now, then the school's price rules and the coupons
        (``coupon``, or several in ``coupons``; their limits are checked, nothing is
        redeemed). The quote is kept: its id pays for a checkout (courses), a package
        purchase or a group place (campaigns) until ``expires_at``, at its prices,
        whatever the price lists say by then."""
        customer = student if isinstance(student, Customer) else Customer(student_id=student)
        if not isinstance(student, Customer):
            check_id(student, "student")
        ids = check_ids(items, "items")
        if not ids:
            raise InvalidInput("a quote needs at least one item")
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"each item is quoted once, got {ids!r}")
        currency = Money.zero(currency).currency  # InvalidMoney for no ISO 4217 code
        codes = list(coupons) + ([] if coupon is None else [coupon])
        typed = _typed_codes(codes)
        quote_id = self._new_id()

        def priced(uow: UnitOfWork, now: datetime) -> CatalogueQuote:
            quoted = []
            for item_id in ids:
                item = get_item(uow, item_id)
                price_list, price = price_in_effect(uow, item_id, currency, now)
                quoted.append(
                    QuotedItem(
                        item=item,
                        price=price,
                        price_list=price_list.id,
                        version=price_list.version,
                    )
                )
            found = [usable_coupon(uow, code, customer.student_id)[0] for code in typed.values()]
            breakdown = quote(
                [OrderLine(course_id=q.item.id, price=q.price) for q in quoted],
                customer,
                rules=self.rules,
                coupons=found,
                now=now,
                max_discount=self.max_discount,
            )
            return CatalogueQuote(
                id=quote_id,
                student_id=customer.student_id,
                currency=currency,
                items=tuple(quoted),
                breakdown=breakdown,
                created_at=now,
                expires_at=now + self.quote_ttl,
                tags=customer.tags,
                level=customer.level,
                first_purchase=customer.first_purchase,
            )

        # priced in a read-only unit of work (no lock on the price lists or coupons, so
        # quotes never queue behind each other), then kept in a short one
        given = self._run(priced, write=False, ids={"student_id": customer.student_id})

        def keep(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(QUOTES, quote_id) is not None:
                raise DuplicateId(f"quote {quote_id!r} already exists")
            _put_quote(uow, quote_id, given.to_record())

        self._run(keep, ids={"student_id": customer.student_id})
        return given

    def get_quote(self, quote_id: str, *, actor: Actor | None = None) -> CatalogueQuote:
        """A quote as given (``QuoteNotFound`` if there is none), read as ``actor``:
        refused unless the actor may see its student; audited (fields ``quotes``;
        docs/privacy.md). A quote holds the customer facts the rules saw (tags, level),
        no contact value, so nothing in it is masked. Without an actor (deprecated) it is
        read as before."""
        check_id(quote_id, "quote_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> CatalogueQuote:
            found = get_quote(uow, quote_id)[0]
            shown(look, found.student_id)
            return found

        return self.gate.read(
            self._run, actor, ("quotes",), query, ids={"quote_id": quote_id}, records=True
        )


__all__ = [
    "ITEMS",
    "LIST_HEADS",
    "PRICES",
    "PRICE_LISTS",
    "QUOTES",
    "QUOTE_TTL",
    "CatalogueItem",
    "CatalogueQuote",
    "CatalogueService",
    "ItemKind",
    "PriceList",
    "erase_quotes",
    "get_quote",
    "price_in_effect",
    "take_quote",
]
