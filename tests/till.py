"""Checkout in its current form for tests whose subject is not how an order is priced:
the order's lines go into the catalogue (each course at its line's price), a catalogue
quote prices them for the customer with the coupons, and the quote is checked out,
charged to a payment method on file (the deprecated ``checkout(order_id, customer,
lines, account=...)`` it replaces: docs/pricing.md, docs/payments.md)."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime

from eduengine.errors import DuplicateId
from eduengine.payments.service import PaymentService
from eduengine.pricing import Customer, Money, OrderLine
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.pricing.orders import Order
from eduengine.pricing.rules import canonical_code
from eduengine.pricing.service import PricingService
from eduengine.pricing.shop import CatalogueService
from tests.payers import method_for

#: every version of the tills' price lists starts here, so the latest one prices now
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


class Till:
    """The catalogue and payment methods beside ``pricing``, on its store and clock."""

    def __init__(self, pricing: PricingService) -> None:
        self.pricing = pricing
        factory = pricing._uow
        self.catalogue = CatalogueService(
            factory, rules=pricing.rules, max_discount=pricing.max_discount, clock=pricing.clock
        )
        self.payments = PaymentService(factory, gateway=pricing.gateway, clock=pricing.clock)
        #: the prices published so far, per currency
        self.prices: dict[str, dict[str, Money]] = {}
        #: each order's request and the quote it was checked out with: the same request
        #: again is a retry of that checkout (the same quote), another one a new quote
        self.quotes: dict[str, tuple[str, str]] = {}
        self._pricing = threading.Lock()

    def price(self, lines: Sequence[OrderLine]) -> None:
        """Put each line's course in the catalogue at the line's price (a new version of
        the till's price list when a price is new)."""
        # one publisher at a time: a thread that finds a price noted must find it
        # committed too (concurrent buyers share one till)
        with self._pricing:
            self._price(lines)

    def _price(self, lines: Sequence[OrderLine]) -> None:
        for line in lines:
            wanted = self.prices.setdefault(line.price.currency, {})
            if wanted.get(line.course_id) == line.price:
                continue
            if not any(line.course_id in known for known in self.prices.values()):
                with contextlib.suppress(DuplicateId):
                    self.catalogue.add_item(CatalogueItem(id=line.course_id, kind=ItemKind.COURSE))
            wanted[line.course_id] = line.price
            currency = line.price.currency
            self.catalogue.publish(
                PriceList(id=f"till-{currency}", currency=currency, valid_from=SINCE, prices=wanted)
            )

    def quote(
        self, customer: Customer, lines: Sequence[OrderLine], coupons: Sequence[str] = ()
    ) -> str:
        """The id of a catalogue quote of ``lines`` for ``customer`` with ``coupons``."""
        self.price(lines)
        return self.catalogue.quote(
            customer, [line.course_id for line in lines], lines[0].price.currency, coupons=coupons
        ).id

    def pay(
        self,
        order_id: str,
        quote_id: str,
        student: str,
        *,
        account: str | None = None,
        idempotency_key: str | None = None,
        payer: str | None = None,
    ) -> Order:
        """Check out ``quote_id`` as ``order_id``, charged to ``account`` (the payer's
        method on file for it, filed on first use) or, without one, the default method."""
        method = None
        if account is not None and payer is not None:
            # a guardian's method names the student it pays for
            method = f"m-{payer}-{account}-{student}"
            with contextlib.suppress(DuplicateId):
                self.payments.add_method(
                    payer, account, method_id=method, pays_for=[student], default=False
                )
        elif account is not None:
            method = method_for(self.payments, student, account)
        return self.pricing.checkout(
            order_id,
            quote_id=quote_id,
            method_id=method,
            idempotency_key=idempotency_key,
            payer=payer,
        )

    def checkout(
        self,
        order_id: str,
        customer: Customer,
        lines: Sequence[OrderLine],
        *,
        coupons: Sequence[str] = (),
        account: str | None = None,
        idempotency_key: str | None = None,
        payer: str | None = None,
    ) -> Order:
        """The order of ``lines`` for ``customer``: :meth:`quote`, then :meth:`pay`."""
        request = repr((customer, list(lines), [canonical_code(c) for c in coupons], account))
        known = self.quotes.get(order_id)
        if known is not None and known[0] == request:
            quote_id = known[1]
        else:
            quote_id = self.quote(customer, lines, coupons)
            self.quotes.setdefault(order_id, (request, quote_id))
        return self.pay(
            order_id,
            quote_id,
            customer.student_id,
            account=account,
            idempotency_key=idempotency_key,
            payer=payer,
        )


_TILLS: weakref.WeakKeyDictionary[PricingService, Till] = weakref.WeakKeyDictionary()
_MAKING = threading.Lock()


def till(pricing: PricingService) -> Till:
    """The till beside ``pricing`` (one per service, so its prices are published once)."""
    with _MAKING:  # concurrent buyers of one service share one till
        found = _TILLS.get(pricing)
        if found is None:
            found = _TILLS[pricing] = Till(pricing)
        return found


def checkout(
    pricing: PricingService,
    order_id: str,
    customer: Customer,
    lines: Sequence[OrderLine],
    **options: object,
) -> Order:
    """``pricing.checkout(order_id, customer, lines, ...)`` in the current form (see
    :meth:`Till.checkout` for the options)."""
    return till(pricing).checkout(order_id, customer, lines, **options)  # type: ignore[arg-type]


__all__ = ["SINCE", "Till", "checkout", "till"]
