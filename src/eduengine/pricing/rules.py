"""Price rules, coupons and quotes (pure), with exact money.

Rules apply per line, highest ``priority`` first: an ``exclusive`` rule that applies is the
only rule on its line; otherwise ``stackable`` rules apply one after another on the running
price, and a non-stackable rule applies only if nothing applied before it, and stops the
chain. Coupons then take an order-level discount, spread over the lines in whole minor
units with the remainder on the last line, so the lines always add up to the total. A
combined discount cap limits rules and coupons together. No price goes below zero;
percentages round half-up to the currency's minor unit.

>>> from decimal import Decimal
>>> rule = PriceRule(id="early", kind=DiscountKind.PERCENT, value=Decimal("10"))
>>> q = quote([OrderLine(course_id="py", price=Money("199.00", "CNY"))],
...           Customer(student_id="ann"), rules=[rule])
>>> str(q.total)
'179.10 CNY'
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from eduengine.errors import CouponRefused, InvalidInput, InvalidMoney, InvalidTimeRange
from eduengine.kernel.clock import require_aware
from eduengine.kernel.inputs import MAX_COUNT, check_id, check_ids, check_instant, check_int
from eduengine.kernel.money import Money
from eduengine.kernel.records import override, reader, writer


class DiscountKind(enum.Enum):
    PERCENT = "percent"
    AMOUNT = "amount"
    FIXED_PRICE = "fixed_price"


def _check_value(kind: DiscountKind, value: object) -> None:
    if not isinstance(kind, DiscountKind):
        raise InvalidInput(f"kind must be a DiscountKind, got {kind!r}")
    if kind is DiscountKind.PERCENT:
        if not (isinstance(value, Decimal) and value.is_finite() and Decimal(0) < value <= 100):
            raise InvalidInput(f"a percentage must be a Decimal in (0, 100], got {value!r}")
    else:
        _non_negative(f"{kind.value} value", value)


def _non_negative(name: str, value: object) -> Money:
    if not isinstance(value, Money):
        raise InvalidMoney(f"{name} must be Money, got {value!r}")
    if value.amount < 0:
        raise InvalidMoney(f"{name} must not be negative, got {value}")
    return value


def _window(names: tuple[str, str], starts: datetime | None, ends: datetime | None) -> None:
    """Both ends of a time window, when given, are aware, and it is not empty."""
    for name, value in zip(names, (starts, ends), strict=True):
        if value is not None:
            require_aware(name, value)
            check_instant(value, name)
    if starts is not None and ends is not None and ends <= starts:
        raise InvalidTimeRange(f"{names[1]} {ends} is not after {names[0]} {starts}")


def _limit(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(f"{name} must be None or a non-negative int, got {value!r}")
    if value is not None:
        check_int(value, name)


def _ids(name: str, value: object) -> None:
    if value is not None and not (
        isinstance(value, frozenset) and all(isinstance(v, str) for v in value)
    ):
        raise InvalidInput(f"{name} must be None or a frozenset of str, got {value!r}")
    if value is not None:
        check_ids(value, name)


def _shown_code(code: Any) -> Any:
    """The code as shown: NFKC, trimmed (anything but a string is left for validation)."""
    return unicodedata.normalize("NFKC", code).strip() if isinstance(code, str) else code


def canonical_code(text: str) -> str:
    """The form a coupon code is stored and looked up by: Unicode NFKC (full-width
    letters become ASCII), blanks at the ends trimmed, case folded (``ß`` is ``ss``), so
    the code a student types matches however they typed it.

    >>> canonical_code("  Ｂａｃｋ２School ")
    'back2school'
    """
    if not isinstance(text, str):
        raise InvalidInput(f"a coupon code is a string, got {text!r}")
    # NFKC again after folding: folding can leave a form NFKC would compose
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).strip()


def percent_of(price: Money, pct: Decimal) -> Money:
    """``pct`` percent of ``price``, rounded half-up to the minor unit."""
    return price.percent(pct)


@attrs.frozen(kw_only=True)
class Customer:
    student_id: str
    tags: frozenset[str] = frozenset()
    level: int = 0
    first_purchase: bool = False

    def __attrs_post_init__(self) -> None:
        check_id(self.student_id, "student_id")
        check_ids(self.tags, "tags")
        check_int(self.level, "level")


@attrs.frozen(kw_only=True)
class Conditions:
    course_ids: frozenset[str] | None = None
    student_tags: frozenset[str] | None = None  # any of them
    min_level: int | None = None
    first_purchase_only: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        _ids("course_ids", self.course_ids)
        _ids("student_tags", self.student_tags)
        if self.min_level is not None and (
            isinstance(self.min_level, bool) or not isinstance(self.min_level, int)
        ):
            raise InvalidInput(f"min_level must be None or an int, got {self.min_level!r}")
        if self.min_level is not None:
            check_int(self.min_level, "min_level", low=-MAX_COUNT)
        _window(("starts_at", "ends_at"), self.starts_at, self.ends_at)

    def hold(self, course_id: str, customer: Customer, now: datetime | None) -> bool:
        if self.course_ids is not None and course_id not in self.course_ids:
            return False
        if self.student_tags is not None and not (self.student_tags & customer.tags):
            return False
        if self.min_level is not None and customer.level < self.min_level:
            return False
        if self.first_purchase_only and not customer.first_purchase:
            return False
        if now is not None and self.starts_at is not None and now < self.starts_at:
            return False
        return not (now is not None and self.ends_at is not None and now >= self.ends_at)


@attrs.frozen(kw_only=True)
class PriceRule:
    id: str
    kind: DiscountKind
    value: Decimal | Money
    name: str = ""
    priority: int = 0
    exclusive: bool = False
    stackable: bool = True
    conditions: Conditions = Conditions()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInput(f"a price rule needs an id, got {self.id!r}")
        check_id(self.id, "price rule id")
        check_int(self.priority, "priority", low=-MAX_COUNT)
        if not isinstance(self.conditions, Conditions):
            raise InvalidInput(f"conditions must be Conditions, got {self.conditions!r}")
        _check_value(self.kind, self.value)

    def apply(self, price: Money) -> Money:
        if self.kind is DiscountKind.PERCENT:
            assert isinstance(self.value, Decimal)
            new = price - percent_of(price, self.value)
        elif self.kind is DiscountKind.AMOUNT:
            assert isinstance(self.value, Money)
            new = price - self.value
        else:
            assert isinstance(self.value, Money)
            new = min(price, self.value)
        return max(new, Money.zero(price.currency))


@attrs.frozen(kw_only=True)
class Coupon:
    """An order-level discount a student enters by its code.

    ``code`` is shown as given (trimmed, NFKC); :attr:`key` is the canonical form the
    coupon is stored and found by, so ``"back2school"`` finds ``"BACK2SCHOOL"``.
    """

    code: str = attrs.field(converter=_shown_code)
    kind: DiscountKind
    value: Decimal | Money
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    min_spend: Money | None = None
    max_redemptions: int | None = None
    max_per_student: int | None = 1
    course_ids: frozenset[str] | None = None
    #: the only student who may redeem it (a coupon issued to one student, such as a
    #: referral reward); ``None``: anyone
    student_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise InvalidInput(f"a coupon needs a code, got {self.code!r}")
        if self.student_id is not None and (
            not isinstance(self.student_id, str) or not self.student_id
        ):
            raise InvalidInput(f"student_id must be a non-empty string, got {self.student_id!r}")
        check_id(self.code, "code")
        if self.kind is DiscountKind.FIXED_PRICE:
            raise InvalidInput("coupons take a percentage or an amount off")
        _check_value(self.kind, self.value)
        _window(("valid_from", "valid_until"), self.valid_from, self.valid_until)
        if self.min_spend is not None:
            _non_negative("min_spend", self.min_spend)
        _limit("max_redemptions", self.max_redemptions)
        _limit("max_per_student", self.max_per_student)
        _ids("course_ids", self.course_ids)

    @property
    def key(self) -> str:
        """The canonical code (see :func:`canonical_code`)."""
        return canonical_code(self.code)

    def to_record(self) -> dict[str, Any]:
        return _coupon_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Coupon:
        return _coupon_in(d)


@attrs.frozen(kw_only=True)
class OrderLine:
    course_id: str
    price: Money

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.course_id, str) or not self.course_id:
            raise InvalidInput(f"an order line needs a course id, got {self.course_id!r}")
        check_id(self.course_id, "course_id")
        _non_negative(f"the price of {self.course_id!r}", self.price)


@attrs.frozen(kw_only=True)
class QuoteLine:
    course_id: str
    list_price: Money
    #: (label, amount taken off) for each rule and each coupon share, in order
    adjustments: tuple[tuple[str, Money], ...]
    total: Money


@attrs.frozen(kw_only=True)
class Quote:
    lines: tuple[QuoteLine, ...]
    #: the coupons that took something off (only these are redeemed at checkout)
    coupons: tuple[str, ...]
    subtotal: Money
    discount: Money
    total: Money
    #: coupons given that took nothing off (the discount cap was reached, no eligible
    #: line, or nothing left to take): not redeemed
    unused_coupons: tuple[str, ...] = ()

    def explain(self) -> list[str]:
        """Human-readable breakdown: list price, each rule, each coupon, total."""
        out = []
        for line in self.lines:
            out.append(f"{line.course_id}: list price {line.list_price}")
            out += [
                f"  - {label}: -{amount}" if amount.amount >= 0 else f"  + {label}: {-amount}"
                for label, amount in line.adjustments
            ]
            out.append(f"  = {line.total}")
        out += [f"coupon {code}: nothing off, not redeemed" for code in self.unused_coupons]
        out.append(f"total {self.total} (saved {self.discount})")
        return out


def quote(
    lines: Sequence[OrderLine],
    customer: Customer,
    *,
    rules: Sequence[PriceRule] = (),
    coupons: Sequence[Coupon] = (),
    now: datetime | None = None,
    max_discount: Money | None = None,
) -> Quote:
    """Price an order. Coupons passed here must already be checked for use limits; a
    coupon that takes nothing off is listed in :attr:`Quote.unused_coupons`, not in
    :attr:`Quote.coupons`."""
    if not lines:
        raise InvalidInput("an order needs at least one line")
    if not all(isinstance(line, OrderLine) for line in lines):
        raise InvalidInput(f"order lines must be OrderLines, got {lines!r}")
    if not isinstance(customer, Customer):
        raise InvalidInput(f"customer must be a Customer, got {customer!r}")
    currency = lines[0].price.currency
    if any(line.price.currency != currency for line in lines):
        raise InvalidInput("all lines of an order must share a currency")
    if max_discount is not None:
        _non_negative("max_discount", max_discount)
    keys = [c.key for c in coupons]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"a coupon can be used once per order, got {keys!r}")
    if now is not None:
        require_aware("now", now)
    zero = Money.zero(currency)
    applied: list[str] = []
    unused: list[str] = []
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    priced: list[tuple[OrderLine, list[tuple[str, Money]], Money]] = []
    for line in lines:
        price = line.price
        adjustments: list[tuple[str, Money]] = []
        applicable = [r for r in ordered if r.conditions.hold(line.course_id, customer, now)]
        exclusive = next((r for r in applicable if r.exclusive), None)
        chain = [exclusive] if exclusive is not None else applicable
        for rule in chain:
            if not rule.stackable and adjustments:
                continue
            new = rule.apply(price)
            if new < price:
                adjustments.append((f"rule {rule.name or rule.id}", price - new))
                price = new
            if not rule.stackable:
                break
        priced.append((line, adjustments, price))
    subtotal = sum((p for _, _, p in priced), zero)
    rule_discount = sum((line.price for line, _, _ in priced), zero) - subtotal
    if max_discount is not None and rule_discount > max_discount:
        # give back what the rules took beyond the cap, in proportion to what they took
        excess = rule_discount - max_discount
        taken = [line.price - price for line, _, price in priced]
        for i, back in enumerate(_spread(excess, taken)):
            if back.amount:
                line, adjustments, price = priced[i]
                adjustments.append(("discount cap", -back))
                priced[i] = (line, adjustments, price + back)
        rule_discount = max_discount
    for coupon in coupons:
        _check_coupon_window(coupon, now)
        for amount in (coupon.value, coupon.min_spend):
            # a fixed amount or minimum spend in another currency: the coupon does not
            # apply (a refusal that names it, not the arithmetic's CurrencyMismatch)
            if isinstance(amount, Money) and amount.currency != currency:
                raise CouponRefused(
                    coupon.code, f"it is in {amount.currency}, the order in {currency}"
                )
        eligible = [
            i
            for i, (line, _, p) in enumerate(priced)
            if coupon.course_ids is None or line.course_id in coupon.course_ids
        ]
        base = sum((priced[i][2] for i in eligible), zero)
        if coupon.min_spend is not None and base < coupon.min_spend:
            raise CouponRefused(coupon.code, f"minimum spend {coupon.min_spend}, order has {base}")
        if isinstance(coupon.value, Decimal):
            off = percent_of(base, coupon.value)
        else:
            off = min(coupon.value, base)
        if max_discount is not None:
            room = max(max_discount - rule_discount, zero)
            off = min(off, room)
        rule_discount = rule_discount + off
        if off == zero or not eligible:
            unused.append(coupon.code)
            continue
        applied.append(coupon.code)
        shares = _spread(off, [priced[i][2] for i in eligible])
        for i, share in zip(eligible, shares, strict=True):
            line, adjustments, price = priced[i]
            adjustments.append((f"coupon {coupon.code}", share))
            priced[i] = (line, adjustments, price - share)
    out = tuple(
        QuoteLine(
            course_id=line.course_id, list_price=line.price, adjustments=tuple(adj), total=price
        )
        for line, adj, price in priced
    )
    list_total = sum((line.price for line in lines), zero)
    total = sum((q.total for q in out), zero)
    return Quote(
        lines=out,
        coupons=tuple(applied),
        subtotal=list_total,
        discount=list_total - total,
        total=total,
        unused_coupons=tuple(unused),
    )


def _spread(amount: Money, weights: Sequence[Money]) -> list[Money]:
    """Split ``amount`` in proportion to ``weights`` in whole minor units, rounding down,
    with the remainder on the last line (capped by each line's price)."""
    # one unit for all: a stored coupon or price may carry more places than the currency
    # has today (5.50 HUF written under an older table), and none of it may be lost
    places = max(m.places for m in (amount, *weights))
    caps = [int(w.amount.scaleb(places)) for w in weights]
    total_w = sum(caps)
    units = int(amount.amount.scaleb(places))
    if total_w == 0:
        return [amount - amount for _ in weights]
    shares = [units * c // total_w for c in caps]
    shares[-1] += units - sum(shares)
    # a tiny last line cannot take more than its price: pass the excess backwards
    for i in range(len(shares) - 1, 0, -1):
        excess = shares[i] - caps[i]
        if excess > 0:
            shares[i] -= excess
            shares[i - 1] += excess
    unit = Decimal(1).scaleb(-places)
    return [Money.from_stored(s * unit, amount.currency) for s in shares]


def _check_coupon_window(coupon: Coupon, now: datetime | None) -> None:
    if now is None:
        return
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise CouponRefused(coupon.code, f"valid from {coupon.valid_from}")
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise CouponRefused(coupon.code, f"expired at {coupon.valid_until}")


# a percentage is a decimal string, an amount or a fixed price a money object: the stored
# form says which (as the kind does)
_VALUE = override(
    unstruct_hook=lambda value: str(value) if isinstance(value, Decimal) else value.to_record(),
    struct_hook=lambda value, _: (
        Money.from_record(value) if isinstance(value, dict) else Decimal(value)
    ),
)
_coupon_out = writer(Coupon, value=_VALUE)
_coupon_in = reader(Coupon, value=_VALUE)
