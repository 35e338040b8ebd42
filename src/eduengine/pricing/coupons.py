"""Stored coupons: the record kind checkout reads, and issuing a coupon from inside
another command's unit of work (a referral reward is issued by the payment that earned
it, so the reward exists exactly when the payment does), and the coupon and use records checkout
reads and counts under the coupon's lock.

>>> from eduengine import InMemoryStore
>>> from eduengine.pricing import Coupon, DiscountKind, Money
>>> store = InMemoryStore()
>>> gift = Coupon(code="GIFT-ANN", kind=DiscountKind.AMOUNT, value=Money("20", "CNY"),
...               max_redemptions=1, student_id="ann")
>>> with store.unit_of_work() as uow:
...     first, again = issue_coupon(uow, gift), issue_coupon(uow, gift)
...     uow.commit()
>>> first, again
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eduengine.errors import CouponNotFound, CouponRefused, InvalidInput
from eduengine.pricing.rules import Coupon, canonical_code
from eduengine.service_layer.ports import UnitOfWork

#: the record kind of coupons, keyed by canonical code
COUPONS = "coupon"


#: one student's uses of one coupon, keyed ``"<coupon key>:<student id>"``
COUPON_USES = "coupon_use"


def issue_coupon(uow: UnitOfWork, coupon: Coupon) -> bool:
    """Store ``coupon`` unless one is stored under its code already; returns whether it
    was stored. Issuing the same coupon twice (an event handled again, a retried command)
    leaves the first one, with its redemptions, as it is."""
    if uow.records.get(COUPONS, coupon.key) is not None:
        return False
    uow.records.put(COUPONS, coupon.key, {"coupon": coupon.to_record(), "redeemed": 0})
    return True


def _typed_codes(coupons: Sequence[str]) -> dict[str, str]:
    """The codes a student typed, by canonical key (refused if two name one coupon)."""
    if isinstance(coupons, str) or not all(isinstance(c, str) for c in coupons):
        raise InvalidInput(f"coupons must be a sequence of codes, got {coupons!r}")
    typed = {canonical_code(code): code for code in coupons}
    if len(typed) != len(coupons):
        raise InvalidInput(f"a coupon code can be used once per order, got {list(coupons)!r}")
    return typed


def _held_coupon(uow: UnitOfWork, code: str) -> tuple[str, dict[str, Any]]:
    """The key and document of a coupon an order holds: stored under exactly ``code``
    (its key, or the code of a coupon stored before codes were canonical), else under
    its canonical form."""
    doc = uow.records.get(COUPONS, code)
    if doc is not None:
        return code, doc
    return _find_coupon(uow, code)


def _find_coupon(uow: UnitOfWork, code: str) -> tuple[str, dict[str, Any]]:
    """The key and document of the coupon a student typed as ``code``: by its canonical
    form, else (a coupon stored before codes were canonical) by the code as typed."""
    key = canonical_code(code)
    doc = uow.records.get(COUPONS, key) if key else None
    if doc is None and code.strip() != key:
        key = code.strip()
        doc = uow.records.get(COUPONS, key)
    if doc is None:
        raise CouponNotFound(code)
    return key, doc


def _redeemed(doc: dict[str, Any]) -> int:
    if "used" in doc:  # written before the count: every redemption by order id
        return len(doc["used"])
    return int(doc["redeemed"])


def _use_key(code: str, student_id: str) -> str:
    return f"{code}:{student_id}"


def _uses_of(uow: UnitOfWork, code: str, student_id: str, doc: dict[str, Any]) -> int:
    """How many redemptions of ``code`` the student holds (call with the coupon locked)."""
    if "used" in doc:
        return sum(1 for s in doc["used"].values() if s == student_id)
    mine = uow.records.get(COUPON_USES, _use_key(code, student_id))
    return 0 if mine is None else int(mine["count"])


def _count_use(
    uow: UnitOfWork,
    code: str,
    student_id: str,
    doc: dict[str, Any],
    coupon: Coupon,
    step: int,
) -> None:
    """Add ``step`` (+1 redeem, -1 release) to the coupon's count and, if it limits uses
    per student, to the student's; ``doc`` is the locked coupon document."""
    if "used" in doc:
        _upgrade(uow, code, doc, coupon)
    doc["redeemed"] += step
    uow.records.put(COUPONS, code, doc)
    if coupon.max_per_student is None:
        return
    key = _use_key(code, student_id)
    mine = uow.records.get(COUPON_USES, key) or {"count": 0}
    mine["count"] = int(mine["count"]) + step
    if mine["count"]:
        uow.records.put(COUPON_USES, key, mine)
    else:
        uow.records.delete(COUPON_USES, key)


def _upgrade(uow: UnitOfWork, code: str, doc: dict[str, Any], coupon: Coupon) -> None:
    """Turn a document that listed every redemption by order into counts (once per
    coupon, in the first checkout or release that changes it). An order being released
    is still listed, so it is counted and then taken off like any other."""
    used: dict[str, str] = doc.pop("used")
    doc["redeemed"] = len(used)
    if coupon.max_per_student is None:
        return
    per_student: dict[str, int] = {}
    for student in used.values():
        per_student[student] = per_student.get(student, 0) + 1
    for student, count in sorted(per_student.items()):
        uow.records.put(COUPON_USES, _use_key(code, student), {"count": count})


def usable_coupon(
    uow: UnitOfWork, code: str, student_id: str
) -> tuple[Coupon, str, dict[str, Any]]:
    """The coupon ``code`` names, the key it is stored under, and its (locked) document,
    if the student may still use it; else ``CouponRefused`` (``CouponNotFound``)."""
    stored, doc = _find_coupon(uow, code)
    coupon = Coupon.from_record(doc["coupon"])
    if doc.get("revoked"):
        raise CouponRefused(code, "it was revoked (a referral reward clawed back)")
    if coupon.student_id is not None and coupon.student_id != student_id:
        raise CouponRefused(code, f"it was issued to another student, not {student_id!r}")
    if coupon.max_redemptions is not None and _redeemed(doc) >= coupon.max_redemptions:
        raise CouponRefused(code, f"used up ({coupon.max_redemptions} redemptions)")
    if coupon.max_per_student is not None:
        mine = _uses_of(uow, stored, student_id, doc)
        if mine >= coupon.max_per_student:
            raise CouponRefused(code, f"student {student_id!r} already used it {mine} time(s)")
    return coupon, stored, doc


__all__ = ["COUPONS", "COUPON_USES", "issue_coupon", "usable_coupon"]
