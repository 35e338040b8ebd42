"""The second stored format of sealed values (issue #24, the profile read within 1.2x):
one ciphertext per subject per document, the data key read along with the document, the
first format (one ciphertext per value) still read and rewritten on the next put, on
every adapter."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import UnreadableData
from eduengine.service_layer.crypto import (
    DATA_KEYS,
    SEAL,
    InMemoryKeyProvider,
    LocalKeyProvider,
    SealedRecords,
    seal_existing,
)
from eduengine.students import Actor
from tests.adapters import ADAPTERS, StoreHandle, make_store

OFFICE = Actor(id="u-office", role="academic")

STUDENT: dict[str, Any] = {
    "name": "Wenwen Tiansheng",
    "phone": "13966660001",
    "email": "wenwen.ts@example.org",
    "birth_date": "2015-04-09",
    "guardians": [
        {"name": "Mama Tian", "phone": "13966660002", "email": None, "roles": ["pay"]},
        {"name": "Baba Tian", "phone": "13966660003", "email": "baba.ts@example.org"},
    ],
    "class_id": None,
    "erased": False,
}
CLEAR = ["Wenwen Tiansheng", "13966660001", "wenwen.ts@example.org", "Mama Tian", "Baba Tian"]


@pytest.fixture(params=ADAPTERS)
def sealed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreHandle]:
    handle = make_store(
        request.param, tmp_path_factory.mktemp(request.param), keys=InMemoryKeyProvider()
    )
    try:
        yield handle
    finally:
        handle.close()


def _records(uow: Any) -> SealedRecords:
    records = uow.records
    assert isinstance(records, SealedRecords)
    return records


def first_format(records: SealedRecords, subject: str, value: Any) -> dict[str, str]:
    """``value`` sealed as the first format did: alone, bound to the subject only."""
    key_doc = records.inner.get(DATA_KEYS, subject)
    assert key_doc is not None
    cipher = records.sealer.cipher(key_doc, subject)
    nonce = os.urandom(12)
    text = json.dumps(value, ensure_ascii=False).encode()
    sealed = base64.b64encode(nonce + cipher.encrypt(nonce, text, subject.encode())).decode()
    return {"$sealed": f"{key_doc['tag']}.{sealed}"}


def test_a_document_holds_one_ciphertext_per_subject(sealed: StoreHandle) -> None:
    with sealed.unit_of_work() as uow:
        uow.records.put("student", "wen", dict(STUDENT))
        member = {"student_id": "wen", "account": "acct-w", "device_id": "dev-w", "ip": None}
        other = {"student_id": "lu", "account": "acct-l", "device_id": "dev-l", "ip": "ip-l"}
        uow.records.put("group_deal", "g1", {"members": [member, other]})
        uow.commit()
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        raw = records.inner.get("student", "wen")
        group = records.inner.get("group_deal", "g1")
        assert records.get("student", "wen") == STUDENT
        opened_group = records.get("group_deal", "g1")
    assert raw is not None and group is not None
    text = json.dumps(raw, ensure_ascii=False)
    assert "$sealed" not in text and not any(value in text for value in CLEAR)
    [entry] = raw[SEAL]["s"]  # seven values, one ciphertext
    assert raw[SEAL]["v"] == 2 and "mixed" not in raw[SEAL]
    assert entry["p"].split(",") == [
        "name",
        "phone",
        "email",
        "birth_date",
        "guardians.0.name",
        "guardians.1.name",
        "guardians.0.phone",
        "guardians.1.phone",
        "guardians.1.email",
    ]
    # what is not sealed stays in its place, in clear; a sealed value's place holds null
    assert raw["guardians"] == [
        {"name": None, "phone": None, "email": None, "roles": ["pay"]},
        {"name": None, "phone": None, "email": None},
    ]
    assert [raw[f] for f in ("name", "phone", "email", "birth_date")] == [None] * 4
    assert raw["class_id"] is None and raw["erased"] is False
    # each member's values under her own key
    assert [e["p"] for e in group[SEAL]["s"]] == [
        "members.0.account,members.0.device_id",
        "members.1.account,members.1.device_id,members.1.ip",
    ]
    assert opened_group == {"members": [member, other]}


def test_a_shredded_subject_reads_as_absent_at_once(sealed: StoreHandle) -> None:
    with sealed.unit_of_work() as uow:
        uow.records.put("student", "wen", dict(STUDENT))
        uow.records.put("guardian", "g-1", {"name": "Mama Tian", "phone": "13966660002"})
        uow.commit()
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        assert records.get("student", "wen") == STUDENT  # her key read along with it
        assert records.shred("wen") == 1
        assert records.shred("guardian:g-1") == 1
        shredded = records.get("student", "wen")
        guardian = records.get("guardian", "g-1")
        uow.commit()
    assert shredded is not None and guardian is not None
    assert [shredded[f] for f in ("name", "phone", "email", "birth_date")] == [None] * 4
    assert shredded["guardians"] == [
        {"name": None, "phone": None, "email": None, "roles": ["pay"]},
        {"name": None, "phone": None, "email": None},
    ]
    assert guardian == {"name": "", "phone": None}  # a guardian's shredded name reads ""
    with sealed.unit_of_work() as uow:  # and in the next transaction
        assert uow.records.get("student", "wen") == shredded


def test_the_first_format_still_reads_and_is_rewritten_on_the_next_put(
    sealed: StoreHandle,
) -> None:
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        records.put("payment_account", "wen", {"account": "acct-w"})  # makes her data key
        old = {
            **STUDENT,
            "name": first_format(records, "wen", STUDENT["name"]),
            "phone": first_format(records, "wen", STUDENT["phone"]),
            "guardians": [
                {**STUDENT["guardians"][0], "name": first_format(records, "wen", "Mama Tian")},
                STUDENT["guardians"][1],  # written before the store sealed: in clear
            ],
        }
        records.inner.put("student", "wen", old)
        uow.commit()
    with sealed.unit_of_work() as uow:
        doc = uow.records.get("student", "wen")
        assert doc == STUDENT
        uow.records.put("student", "wen", doc)
        uow.commit()
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        raw = records.inner.get("student", "wen")
        assert records.get("student", "wen") == STUDENT
    assert raw is not None and len(raw[SEAL]["s"]) == 1
    text = json.dumps(raw, ensure_ascii=False)
    assert "$sealed" not in text and not any(value in text for value in CLEAR)


def test_sealing_a_store_moves_the_first_format_into_the_second_once(
    sealed: StoreHandle,
) -> None:
    member = {"student_id": "wen", "account": "acct-w", "device_id": "dev-w", "ip": None}
    gone = {"student_id": "lu", "account": "acct-l", "device_id": None, "ip": None}
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        records.put("payment_account", "wen", {"account": "acct-w"})
        records.put("payment_account", "lu", {"account": "acct-l"})
        first = {
            "members": [
                {**member, "account": first_format(records, "wen", "acct-w")},
                {**gone, "account": first_format(records, "lu", "acct-l")},
            ]
        }
        records.inner.put("group_deal", "g1", first)
        records.inner.put("payment_account", "wen", {"account": first_format(records, "wen", "a")})
        records.shred("lu")  # lu's first-format value can open no more
        uow.commit()
    # the group deal and wen's account move; lu's account was sealed in the second format
    # already and her first-format value in the group stays as it is
    assert seal_existing(sealed.unit_of_work) == 2
    assert seal_existing(sealed.unit_of_work) == 0
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        raw = records.inner.get("group_deal", "g1")
        assert records.get("group_deal", "g1") == {"members": [member, {**gone, "account": None}]}
        assert records.get("payment_account", "wen") == {"account": "a"}
        assert records.get("payment_account", "lu") == {"account": None}
    assert raw is not None
    assert raw[SEAL]["mixed"] == 1 and [e["p"] for e in raw[SEAL]["s"]] == [
        "members.0.account,members.0.device_id"
    ]
    assert raw["members"][1]["account"] == first["members"][1]["account"]  # left sealed


def test_altered_or_misplaced_entries_do_not_open(sealed: StoreHandle) -> None:
    with sealed.unit_of_work() as uow:
        uow.records.put("student", "wen", dict(STUDENT))
        uow.records.put("student", "lu", {**STUDENT, "name": "Lu"})
        uow.commit()
    with sealed.unit_of_work() as uow:
        records = _records(uow)
        raw = records.inner.get("student", "wen")
        assert raw is not None
        [entry] = raw[SEAL]["s"]
        # one path fewer: the values no longer fit where they were sealed
        short = {"p": entry["p"].rsplit(",", 1)[0], "c": entry["c"]}
        records.inner.put("student", "wen", {**raw, SEAL: {"v": 2, "s": [short]}})
        with pytest.raises(UnreadableData):
            records.get("student", "wen")
        records.inner.put("student", "wen", {**raw, SEAL: {"v": 3, "s": [entry]}})
        with pytest.raises(UnreadableData, match="unknown format"):
            records.get("student", "wen")
        uow.rollback()


def _statements(store: SqliteStore, call: Any) -> list[str]:
    statements: list[str] = []
    conn: sqlite3.Connection = store.connection()
    conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return statements


def test_a_sealed_profile_read_costs_the_statements_of_a_plain_one(tmp_path: Path) -> None:
    # the student's data key comes with her document, in the same statement
    schools: dict[str, tuple[SqliteStore, School]] = {}
    for name, keys in (("plain", "off"), ("sealed", "local")):
        store = SqliteStore(tmp_path / f"{name}.sqlite3", keys=keys)
        store.migrate()
        school = School.build(store, clock=FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
        school.students.register("wen", name="Wenwen", phone="13966660001")
        schools[name] = (store, school)
    counts = {}
    for name, (store, school) in schools.items():
        school.students.view(OFFICE, "wen")  # the access check's own documents, once
        statements = _statements(store, lambda s=school: s.students.view(OFFICE, "wen"))
        counts[name] = len(statements)
        if name == "sealed":
            assert not any("'data_key'" in s and "'student'" not in s for s in statements)
    assert counts["sealed"] == counts["plain"], counts
    store, _ = schools["sealed"]
    with store.unit_of_work() as uow:
        found = _statements(store, lambda: uow.records.get("student", "wen"))
        assert uow.records.get("student", "wen") is not None
        again = _statements(store, lambda: uow.records.get("student", "wen"))
    # one statement (after the transaction's own check of the schema), then from memory
    assert [s for s in found if "FROM records" in s] == found[-1:] and again == []
    for _, (store, _) in schools.items():
        store.close()


def test_a_read_only_unit_of_work_reads_the_key_along_too(tmp_path: Path) -> None:
    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path, keys=LocalKeyProvider.beside(path))
    store.migrate()
    with store.unit_of_work() as uow:
        uow.records.put("student", "wen", dict(STUDENT))
        uow.commit()
    with store.unit_of_work(read_only=True) as uow:
        statements = _statements(store, lambda: uow.records.get("student", "wen"))
        assert uow.records.get("student", "wen") == STUDENT
    assert len([s for s in statements if s.startswith("SELECT")]) == 1
    store.close()


def test_several_students_and_their_keys_come_in_one_statement(tmp_path: Path) -> None:
    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path, keys=LocalKeyProvider.beside(path))
    store.migrate()
    with store.unit_of_work() as uow:
        for name in ("wen", "lu"):
            uow.records.put("student", name, {**STUDENT, "name": name})
        uow.commit()
    with store.unit_of_work() as uow:
        statements = _statements(
            store, lambda: uow.records.get_many("student", ["wen", "lu", "nobody"])
        )
        found = uow.records.get_many("student", ["wen", "lu", "nobody"])
    assert [s for s in statements if "FROM records" in s] == statements[-1:]
    assert "'data_key'" in statements[-1]
    assert {k: d and d["name"] for k, d in found.items()} == {
        "wen": "wen",
        "lu": "lu",
        "nobody": None,
    }
    store.close()
