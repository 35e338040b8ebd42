"""A student's orders, packages and credits (issue #27): the same answers on every
adapter as a brute-force filter of what was written, pages that never repeat or skip a
row while orders come in, and reads of the student's own rows only."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.errors import InvalidInput
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from tests.adapters import StoreHandle
from tests.conftest import T0

# what to write: (whose, an order or a package, minutes to wait first: 0 makes ties)
Step = tuple[int, str, int]
steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["order", "package"]), st.integers(0, 1)),
    max_size=12,
)


def shop(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(store, clock=clock, gateway=FakePaymentGateway(), reminders=None)
    school.catalogue.add_item(CatalogueItem(id="py", kind=ItemKind.COURSE))
    school.catalogue.add_item(
        CatalogueItem(id="pack", kind=ItemKind.PACKAGE, credits=4, valid_for=timedelta(days=30))
    )
    school.catalogue.publish(
        PriceList(
            id="base",
            currency="CNY",
            valid_from=T0,
            prices={"py": Money("99", "CNY"), "pack": Money("300", "CNY")},
        )
    )
    return school


def read_all(read: object, student: str, limit: int, *, write: object = None) -> list[str]:
    """Every id of a paged query, ``limit`` per page, calling ``write`` after page one."""
    ids: list[str] = []
    after = None
    for n in itertools.count():
        page = read(student, limit=limit, after=after, actor=SYSTEM)  # type: ignore[operator]
        ids += [item.id for item in page]
        if n == 0 and write is not None:
            write()  # type: ignore[operator]
        if page.next is None:
            return ids
        after = page.next
    return ids


def test_orders_packages_and_credits_match_a_brute_force_filter(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = shop(store, clock)
    run = itertools.count()

    @settings(max_examples=10 if store.name == "memory" else 5)
    @given(steps=steps, limit=st.integers(1, 4))
    def check(steps: list[Step], limit: int) -> None:
        n = next(run)
        students = [f"s{n}-{i}" for i in range(3)]
        written: dict[str, list[tuple[int, str, str]]] = {s: [] for s in students}
        for student in students:
            school.students.register(student, name=student)
            school.payments.add_method(student, f"acct-{student}")
        for i, (who, kind, wait) in enumerate(steps):
            clock.advance(timedelta(minutes=wait))
            student = students[who]
            at = int((clock.now() - T0) / timedelta(microseconds=1))
            if kind == "order":
                quote = school.catalogue.quote(student, ["py"], "CNY")
                school.pricing.checkout(f"o{n}-{i}", quote_id=quote.id)
                written[student].append((at, f"o{n}-{i}", "order"))
            else:
                quote = school.catalogue.quote(student, ["pack"], "CNY")
                pid = school.students.buy_package(
                    student, quote_id=quote.id, package_id=f"p{n}-{i}", activate=True
                )
                written[student].append((at, pid, "package"))
        for student in students:
            for kind, read in (
                ("order", school.purchases.orders),
                ("package", school.purchases.packages),
            ):
                expected = [
                    key for _, key, k in sorted(written[student], reverse=True) if k == kind
                ]

                def late_order(student: str = student, kind: str = kind) -> None:
                    # a newer order while the pages are read: it is never in them
                    clock.advance(timedelta(seconds=1))
                    quote = school.catalogue.quote(student, ["py"], "CNY")
                    school.pricing.checkout(f"late-{n}-{student}-{kind}", quote_id=quote.id)

                assert read_all(read, student, limit, write=late_order) == expected
            packages = [k for _, k, kind in written[student] if kind == "package"]
            credits = school.purchases.credits(student, actor=SYSTEM)
            if packages:
                [balance] = credits
                assert (balance.course_id, balance.credits_left, balance.packages) == (
                    None,
                    4 * len(packages),
                    len(packages),
                )
            else:
                assert credits == []

    check()


def test_a_page_asks_for_a_sane_limit_and_a_real_cursor(store: StoreHandle) -> None:
    school = shop(store, FixedClock(T0))
    with pytest.raises(InvalidInput):
        school.purchases.orders("ann", limit=0, actor=SYSTEM)
    with pytest.raises(InvalidInput):
        school.purchases.packages("ann", after="not a cursor!", actor=SYSTEM)
    assert school.purchases.orders("ann", actor=SYSTEM).items == ()
