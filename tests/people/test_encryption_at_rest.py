"""Encryption at rest of contact fields, crypto-shredding, key rotation, blind indexes and
data residency (issue #24), on every adapter: the raw storage (the SQLite file and its
WAL, every row of every PostgreSQL table, the in-memory store's texts, the event feed)
holds no contact value in clear text after a realistic flow."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.deals import GroupDealCampaign, SameDevice
from eduengine.desk.model import LeadContact
from eduengine.errors import AbuseSuspected, PaymentMethodNotFound, UnreadableData, WrongRegion
from eduengine.growth import Segment
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.notices import NoticePolicy
from eduengine.payments.fake import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.service_layer.crypto import (
    DATA_KEYS,
    SEAL,
    InMemoryKeyProvider,
    LocalKeyProvider,
    SealedRecords,
    rotate_master_key,
)
from eduengine.students import Actor, Guardian, GuardianRole
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.notices.helpers import Provider

OFFICE = Actor(id="u-office", role="admin")

#: every contact value of the flow: strings found nowhere else, so raw bytes can be searched
MEI = {
    "name": "Meimei Zhaoqian",
    "phone": "13977770001",
    "email": "meimei.zq@example.org",
    "birth": "2015-04-09",
}
MEI_GUARDIAN = {"name": "Grandma Sunli", "phone": "13977770002", "email": "sunli@example.org"}
DAD = {"name": "Papa Zhaoqian", "phone": "13977770003", "email": "papa.zq@example.org"}
PAYMENT = {"account": "wx-acct-77731", "device_id": "dev-mei-5e2c", "ip": "203.0.113.231"}
LEI_ACCOUNT = "wx-acct-77732"
FEE_ACCOUNT = "alipay-77733"
CLEAR = [*MEI.values(), *MEI_GUARDIAN.values(), *DAD.values(), *PAYMENT.values()]
METHOD_ACCOUNT = "tok-visa-77734"
#: a consultation lead's contact (the desk), before she is a student
LEAD = {
    "name": "Lead Qianwu",
    "phone": "13977770005",
    "email": "lead.qw@example.org",
    "wechat": "wx-lead-77735",
}
CLEAR += [LEI_ACCOUNT, FEE_ACCOUNT, METHOD_ACCOUNT, *LEAD.values()]
#: values the library looks up by equality (anti-abuse across groups): their plain
#: SHA-256 must not be stored either (a dictionary of phone-like values would find them)
LOOKED_UP = [*PAYMENT.values(), LEI_ACCOUNT]


@pytest.fixture(params=ADAPTERS)
def sealed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StoreHandle, InMemoryKeyProvider]]:
    keys = InMemoryKeyProvider()
    handle = make_store(request.param, tmp_path_factory.mktemp(request.param), keys=keys)
    try:
        yield handle, keys
    finally:
        handle.close()


def flow(store: StoreHandle, clock: FixedClock) -> tuple[School, str]:
    """Register with guardians, link a guardian account, book (notices to her and both
    guardians), join a group deal with account, device and IP, keep a payment account."""
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        notices=NoticePolicy(reminders=()),
        notifiers={"in_app": Provider()},
    )
    school.students.register(
        "mei",
        name=MEI["name"],
        phone=MEI["phone"],
        email=MEI["email"],
        birth_date=date.fromisoformat(MEI["birth"]),
        guardians=[
            Guardian(
                name=MEI_GUARDIAN["name"],
                phone=MEI_GUARDIAN["phone"],
                email=MEI_GUARDIAN["email"],
                roles=frozenset({GuardianRole.RECEIVE_REMINDERS}),
            )
        ],
    )
    school.students.register("lei", name="Lei")
    school.people.add_guardian("g-dad", **DAD)
    school.people.link("g-dad", "mei", {GuardianRole.RECEIVE_REMINDERS, GuardianRole.PAY})
    start = clock.now() + timedelta(hours=48)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    school.booking.book(slot.id, "mei")
    # the fee account (deprecated) on purpose too: its payment_account record is followed
    with pytest.warns(EduEngineDeprecationWarning, match="set_payment_account"):
        school.fees.set_payment_account("mei", FEE_ACCOUNT)
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=2,
            max_size=4,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    # account= (deprecated) on purpose: the member keeps the account itself, the value
    # whose sealing, shredding and restore these tests follow through the group document
    with pytest.warns(EduEngineDeprecationWarning, match="account="):
        gid = school.deals.open_group("spring", "mei", **PAYMENT).id
    school.payments.add_method("g-dad", METHOD_ACCOUNT, method_id="m-dad", pays_for=["mei"])
    school.desk.leads.capture(
        source="douyin", contact=LeadContact(**LEAD), lead_id="lead-1", interests=["math"]
    )
    return school, gid


def raw_storage(store: StoreHandle) -> str:
    """Everything the store keeps, as stored: the database file, its WAL and its audit
    journals (SQLite), every row of every table (PostgreSQL), the documents' texts
    (memory), and the feed."""
    feed = "\n".join(text for _, text in store.read_feed(0, 1_000_000))
    if store.name == "sqlite":
        assert store.location is not None
        journals = sorted(Path(store.location + ".audit").glob("*"))
        found = [Path(store.location), Path(store.location + "-wal"), *journals]
        data = b"".join(p.read_bytes() for p in found if p.exists())
        return data.decode("utf-8", "replace") + feed
    if store.name == "postgres":
        pg = store.store
        rows: list[str] = []
        with pg.transaction() as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg.schema,),
            ).fetchall()
            assert len(tables) >= 5
            for found in tables:
                table = found["table_name"]
                cur = conn.execute(f'SELECT * FROM "{pg.schema}"."{table}"'.encode())
                rows += [json.dumps(row, default=str, ensure_ascii=False) for row in cur]
        return "\n".join(rows) + feed
    mem = store.store
    return json.dumps(mem.records, ensure_ascii=False) + feed


def assert_no_clear_value(text: str) -> None:
    for value in CLEAR:
        escaped = json.dumps(value)[1:-1]
        assert value not in text and escaped not in text, value
    for value in LOOKED_UP:
        digest = hashlib.sha256(value.encode()).hexdigest()
        assert digest[:16] not in text, f"the plain SHA-256 of {value}"


def test_raw_storage_holds_no_contact_value_in_clear_text(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, _ = sealed
    school, gid = flow(store, clock)
    # lei on mei's device: denied, and the denial is logged with lei's account
    with pytest.raises(AbuseSuspected), pytest.warns(EduEngineDeprecationWarning):
        school.deals.join_group(gid, "lei", account=LEI_ACCOUNT, device_id=PAYMENT["device_id"])
    # the domain still sees every value whole
    profile = school.students.view(OFFICE, "mei")
    assert (profile.name, profile.phone, profile.email) == (
        MEI["name"],
        MEI["phone"],
        MEI["email"],
    )
    assert profile.birth_date == MEI["birth"]
    assert profile.guardians[0].phone == MEI_GUARDIAN["phone"]
    payers = school.students.guardians_with("mei", GuardianRole.PAY, actor=OFFICE)
    assert [(g.name, g.phone, g.email) for g in payers] == [tuple(DAD.values())]
    member = school.deals.get_group(gid, actor=OFFICE).member("mei")
    assert member is not None
    assert (member.account, member.device_id, member.ip) == tuple(PAYMENT.values())
    [decision] = school.deals.risk_decisions("lei", actor=OFFICE)
    assert decision["account"] == LEI_ACCOUNT
    assert decision["reasons"] == [f"device {PAYMENT['device_id']} already in the group"]
    phones = {n.recipient.phone for n in school.notices.for_student("mei", actor=OFFICE)}
    assert {MEI["phone"], MEI_GUARDIAN["phone"], DAD["phone"]} <= phones
    [method] = school.payments.methods_of("mei", actor=OFFICE)
    assert method.account == METHOD_ACCOUNT
    lead = school.desk.leads.lead("lead-1", OFFICE).contact
    assert lead is not None and attrs.asdict(lead) == LEAD
    # ... and the storage none of them (on SQLite, the audit rows of those reads are in
    # the journal, not yet in the database: it is scanned too)
    if store.name == "sqlite":
        assert store.location is not None
        journaled = Path(store.location + ".audit").glob("*.journal")
        assert b"u-office" in b"".join(p.read_bytes() for p in journaled)
    assert_no_clear_value(raw_storage(store))


def test_rotating_the_master_key_keeps_every_record_readable(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, keys = sealed
    school, gid = flow(store, clock)
    before = _reads(school, gid)
    wrapped = _data_keys(store)
    assert set(wrapped) == {"k1"} and wrapped["k1"] >= 3  # mei, lei, the guardian
    assert rotate_master_key(store.unit_of_work, keys, batch=2) == wrapped["k1"]
    assert set(_data_keys(store)) == {"k2"}
    keys.retire("k1")  # nothing wrapped with it is left
    assert _reads(school, gid) == before
    school.students.register("fei", name="Fei Later", phone="13977770009")
    assert school.students.view(OFFICE, "fei").phone == "13977770009"


def test_a_retired_master_key_opens_nothing_after_its_cipher_was_kept() -> None:
    keys = LocalKeyProvider.generate()
    kid, wrapped = keys.wrap(b"k" * 32, "ann")
    assert keys.unwrap(kid, wrapped, "ann") == b"k" * 32  # its cipher made once, kept
    fresh = keys.rotate()
    keys.retire(kid)
    with pytest.raises(UnreadableData, match=kid):
        keys.unwrap(kid, wrapped, "ann")
    # the current key's kept cipher still wraps and opens
    again, rewrapped = keys.wrap(b"k" * 32, "ann")
    assert again == fresh and keys.unwrap(fresh, rewrapped, "ann") == b"k" * 32


def _reads(school: School, gid: str) -> Any:
    return (
        school.students.view(OFFICE, "mei"),
        school.students.guardians_with("mei", GuardianRole.PAY, actor=OFFICE),
        sorted((n.id, n.recipient) for n in school.notices.for_student("mei", actor=OFFICE)),
        school.deals.get_group(gid, actor=OFFICE),
    )


def _data_keys(store: StoreHandle) -> dict[str, int]:
    counts: dict[str, int] = {}
    with store.unit_of_work() as uow:
        for _, doc in uow.records.list(DATA_KEYS):
            counts[doc["kid"]] = counts.get(doc["kid"], 0) + 1
    return counts


def test_erasing_a_student_shreds_her_key_so_no_copy_of_her_values_opens(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, _ = sealed
    school, gid = flow(store, clock)
    # copies a module (or a backup) kept: her raw documents as stored before erasure
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        copies = {
            kind: records.inner.get(kind, key)
            for kind, key in (("student", "mei"), ("group_deal", gid), ("payment_account", "mei"))
        }
    school.students.erase(OFFICE, "mei")
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        assert records.inner.get(DATA_KEYS, "mei") is None
        for kind, doc in copies.items():  # put the old copies back, as a restore would
            assert doc is not None
            records.inner.put(kind, "copy", doc)
        student = records.get("student", "copy")
        group = records.get("group_deal", "copy")
        account = records.get("payment_account", "copy")
        uow.rollback()
    assert student is not None and group is not None and account is not None
    assert [student[f] for f in ("name", "phone", "email", "birth_date")] == [None] * 4
    assert student["guardians"][0]["phone"] is None
    [mine] = [m for m in group["members"] if m["student_id"] == "mei"]
    assert (mine["account"], mine["device_id"], mine["ip"]) == (None, None, None)
    assert account["account"] is None
    # her erased profile reads as erased; the guardian account is another subject's
    assert school.students.view(OFFICE, "mei").erased
    school.students.erase(OFFICE, "mei")  # again: her new key opens nothing of the old
    payers = school.students.guardians_with("lei", GuardianRole.PAY, actor=OFFICE)
    assert payers == []
    assert_no_clear_value(raw_storage(store).replace(DAD["name"], "").replace(DAD["phone"], ""))


def test_a_reused_device_is_still_flagged_and_found_by_its_blind_index(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, _ = sealed
    school = School.build(store, clock=clock)
    school.community.join("g1", "ann")
    school.community.join("g1", "bob")
    school.community.join("g1", "cat")
    device = "dev-shared-81f0"
    for author in ("ann", "bob", "cat"):
        school.community.post("g1", author, f"hello from {author}", device=device)
    # three accounts on one device: the third is held as spam
    assert school.community.flag_of("cat", actor=SYSTEM) == "shared_device"
    assert device not in raw_storage(store)
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        assert records.inner.get("community_device", records.blind(device)) is not None
        assert records.get("community_device", device) == {"members": ["ann", "bob", "cat"]}
    # and the group deals' rule: the same device in a group is denied
    assert SameDevice().level == "deny"


def test_a_value_sealed_for_one_student_does_not_open_as_anothers_nor_altered(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, _ = sealed
    flow(store, clock)
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        doc = records.inner.get("payment_account", "mei")
        assert doc is not None
        records.inner.put("payment_account", "lei", doc)
        assert records.get("payment_account", "lei") == {"account": None}
        [entry] = doc[SEAL]["s"]
        tag, _, body = entry["c"].partition(".")
        raw = bytearray(base64.b64decode(body))
        raw[-1] ^= 1  # one bit of the authentication tag (a base64 letter may carry none)
        flipped = f"{tag}.{base64.b64encode(bytes(raw)).decode()}"
        altered = {SEAL: {"v": 2, "s": [{"p": "account", "c": flipped}]}}
        records.inner.put("payment_account", "mei", altered)
        with pytest.raises(UnreadableData):
            records.get("payment_account", "mei")
        uow.rollback()


def test_sealed_values_moved_to_another_record_of_the_same_subject_do_not_open(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    # the ciphertext is bound to the document's kind and key and to the values' places,
    # not to the subject alone: two notices to mei cannot trade their recipients
    store, _ = sealed
    flow(store, clock)
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        mine = [
            (key, doc)
            for key, doc in records.inner.list("notice")
            if doc["recipient"]["student_id"] == "mei"
        ]
        assert len(mine) >= 2
        (first, first_doc), (second, second_doc) = mine[:2]
        assert first_doc[SEAL]["s"][0]["p"] == second_doc[SEAL]["s"][0]["p"]
        records.inner.put("notice", second, {**second_doc, SEAL: first_doc[SEAL]})
        with pytest.raises(UnreadableData):
            records.get("notice", second)
        # nor in another place of the same document
        entry = first_doc[SEAL]["s"][0]
        first_path, second_path, *rest = entry["p"].split(",")
        swapped = {"p": ",".join([second_path, first_path, *rest]), "c": entry["c"]}
        records.inner.put("notice", first, {**first_doc, SEAL: {"v": 2, "s": [swapped]}})
        with pytest.raises(UnreadableData):
            records.get("notice", first)
        uow.rollback()


def test_removing_a_guardian_shreds_the_cards_he_holds(
    sealed: tuple[StoreHandle, InMemoryKeyProvider], clock: FixedClock
) -> None:
    store, _ = sealed
    school, _ = flow(store, clock)
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        copy = records.inner.get("payment_method", "m-dad")  # as a backup kept it
        # a card filed before cards were sealed under the guardian's own key: his id's
        records.put(
            "payment_method",
            "m-old",
            {
                "holder_id": "g-dad",
                "account": "tok-old-77736",
                "label": "",
                "pays_for": ["mei"],
                "added_at": None,
            },
            index={"for:mei": 0, "for:g-dad": 0},
        )
        uow.commit()
    assert copy is not None and copy["sealed_for"] == "guardian:g-dad"
    old = school.payments.methods_of("mei", actor=OFFICE)
    assert [m.account for m in old] == ["tok-old-77736", METHOD_ACCOUNT]
    school.people.remove_guardian("g-dad")
    with store.unit_of_work() as uow:
        records = uow.records
        assert isinstance(records, SealedRecords)
        records.inner.put("payment_method", "copy", copy)
        assert records.get("payment_method", "copy")["account"] is None  # type: ignore[index]
        uow.rollback()
    # his card is gone for the child it paid for; the old row reads as before
    methods = school.payments.methods_of("mei", actor=OFFICE)
    assert [m.account for m in methods] == ["tok-old-77736"]
    assert METHOD_ACCOUNT not in json.dumps(store.opened_snapshot(), default=str)
    # the shredded card can still be removed by its id: its record and mei's default go
    school.payments.remove_method("m-dad")
    with store.unit_of_work() as uow:
        assert uow.records.get("payment_method", "m-dad") is None
        default = uow.records.get("payment_default", "mei")
        assert default is None or default["method_id"] != "m-dad"
    with pytest.raises(PaymentMethodNotFound):
        school.payments.remove_method("m-dad")
    # erasing the child drops her from the old card that paid for her
    school.students.erase(OFFICE, "mei")
    with store.unit_of_work() as uow:
        assert uow.records.get("payment_method", "m-dad") is None
        assert uow.records.get("payment_method", "m-old")["pays_for"] == []  # type: ignore[index]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_store_kept_for_one_region_refuses_a_student_of_another(
    adapter: str, tmp_path: Path, clock: FixedClock
) -> None:
    store = make_store(adapter, tmp_path, region="cn")
    try:
        school = School.build(store, clock=clock)
        school.students.register("mei", name="Mei")
        assert school.students.view(OFFICE, "mei").region == "cn"
        school.students.register("lei", name="Lei", region="cn")
        with pytest.raises(WrongRegion) as refused:
            school.students.register("eve", name="Eve", region="eu")
        assert (refused.value.region, refused.value.store_region) == ("eu", "cn")
        with store.unit_of_work() as uow:
            assert uow.records.get("student", "eve") is None
        exported = school.segments.export(Segment(), actor=SYSTEM).splitlines()
        assert exported[0].endswith(",region") and exported[1].endswith(",cn")
    finally:
        store.close()


def test_the_local_key_file_is_private_and_rotation_is_seen_by_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "school.sqlite3"
    keys = LocalKeyProvider.beside(path)
    assert (tmp_path / "school.sqlite3.keys").stat().st_mode & 0o077 == 0
    other = LocalKeyProvider.beside(path)  # another process opening the same file
    kid, wrapped = keys.wrap(b"d" * 32, "ann")
    assert other.unwrap(kid, wrapped, "ann") == b"d" * 32
    keys.rotate()
    kid, wrapped = keys.wrap(b"e" * 32, "ann")
    assert kid == "k2" and other.unwrap(kid, wrapped, "ann") == b"e" * 32
    keys.rotate()  # the other process wraps its next key with the new current one
    assert other.wrap(b"f" * 32, "bob")[0] == "k3"


def test_the_rotate_keys_command_rewraps_a_sqlite_stores_keys_and_retires_the_old(
    tmp_path: Path, clock: FixedClock
) -> None:
    from eduengine.ops.stores import store_from_url
    from tests.ops.test_cli import cli

    url = f"sqlite:///{tmp_path}/school.sqlite3?keys=local&region=cn"
    store = store_from_url(url)
    assert isinstance(store, SqliteStore)
    store.migrate()
    School.build(store, clock=clock).students.register("mei", name=MEI["name"])
    store.close()
    assert json.loads((tmp_path / "school.sqlite3.keys").read_text())["current"] == "k1"

    done = cli("rotate-keys", "--retire", url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"current": "k2", "rewrapped": 1, "retired": ["k1"]}
    assert list(json.loads((tmp_path / "school.sqlite3.keys").read_text())["keys"]) == ["k2"]
    again = store_from_url(url)
    try:
        profile = School.build(again, clock=clock).students.view(OFFICE, "mei")
        assert (profile.name, profile.region) == (MEI["name"], "cn")
    finally:
        again.close()
    refused = cli("rotate-keys", url=f"sqlite:///{tmp_path}/school.sqlite3?keys=off")
    assert refused.returncode != 0 and "seals nothing" in refused.stderr
