"""``School.reindex()`` files payment methods under their payers again: a store whose
method documents lost their index entries finds them after it, on every adapter."""

from __future__ import annotations

from eduengine import FixedClock, School
from eduengine.payments.methods import METHODS
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle


def test_reindex_files_each_method_under_its_holder_and_the_students_it_pays_for(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.payments.add_method("mum", "tok-mum", pays_for=["ann", "bob"], method_id="m-mum")
    school.payments.add_method("cat", "tok-cat", method_id="m-cat")
    with store.unit_of_work() as uow:
        # what a store written without the entries holds: the same documents only
        for key in ("m-mum", "m-cat"):
            doc = uow.records.get(METHODS, key)
            assert doc is not None
            uow.records.put(METHODS, key, doc)
        uow.commit()
    assert school.payments.methods_of("ann", actor=SYSTEM) == []  # blind without them

    assert school.reindex()["payment methods"] == 2

    for student, method in (("ann", "m-mum"), ("bob", "m-mum"), ("cat", "m-cat")):
        assert [m.id for m in school.payments.methods_of(student, actor=SYSTEM)] == [method]
    default = school.payments.default_method("ann", actor=SYSTEM)
    assert default is not None and default.account == "tok-mum"
