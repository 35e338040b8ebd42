"""Encryption at rest by default (issue #24): a SQLite store made from a path or a URL
seals contact fields with a key file beside its database, made by the first migrate;
``keys=off`` says clear text is meant; a store written in clear keeps working and one
command seals it; a PostgreSQL store without keys says it stores contacts in clear."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import FixedClock, School
from eduengine.adapters import settings
from eduengine.adapters.sqlite import SqliteStore
from eduengine.deals import GroupDealCampaign
from eduengine.errors import InvalidSetting
from eduengine.ops.stores import store_from_url
from eduengine.payments.fake import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.service_layer.crypto import KeyFile
from eduengine.students import Actor

OFFICE = Actor(id="u-office", role="admin")
NAME, PHONE = "Meimei Defaultseal", "13966660001"
DEVICE, IP, ACCOUNT = "dev-default-9a1c", "198.51.100.77", "wx-acct-66602"


def _raw(path: Path) -> bytes:
    """The database file, its WAL and its audit journals, as stored."""
    journals = sorted(Path(f"{path}.audit").glob("*"))
    found = (path, Path(f"{path}-wal"), *journals)
    return b"".join(p.read_bytes() for p in found if p.is_file())


def _sha(value: str) -> bytes:
    return hashlib.sha256(value.encode()).hexdigest()[:16].encode()


def _school(store: SqliteStore, clock: FixedClock) -> School:
    return School.build(store, clock=clock, gateway=FakePaymentGateway())


def _join_two_groups(school: School, clock: FixedClock) -> tuple[str, str]:
    """mei and lei each open a group of one campaign from the same device, IP and
    account: anti-abuse across groups files sightings of each value."""
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=3,
            max_size=4,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    school.payments.add_method("mei", ACCOUNT, method_id="m-mei")
    g1 = school.deals.open_group("spring", "mei", device_id=DEVICE, ip=IP).id
    clock.advance(timedelta(minutes=5))
    school.payments.add_method("lei", ACCOUNT + "-lei", method_id="m-lei")
    g2 = school.deals.open_group("spring", "lei", device_id=DEVICE).id
    return g1, g2


def test_a_sqlite_store_made_from_a_path_seals_with_a_private_key_file_made_at_migrate(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path)  # the embedded default: no setting at all
    keys_file = tmp_path / "school.sqlite3.keys"
    assert not keys_file.exists()  # making the store touches no file
    store.migrate()
    assert keys_file.exists() and keys_file.stat().st_mode & 0o077 == 0
    school = _school(store, clock)
    school.students.register("mei", name=NAME, phone=PHONE)
    school.students.register("lei", name="Lei")
    g1, g2 = _join_two_groups(school, clock)
    assert school.students.view(OFFICE, "mei").phone == PHONE
    # the same device in another group of the campaign is still seen, by its blind index
    flagged = school.deals.group_risk_decisions(g1, actor=OFFICE)
    assert any(DEVICE in reason for d in flagged for reason in d["reasons"]), flagged
    assert school.deals.group_risk_decisions(g2, actor=OFFICE)
    store.close()
    raw = _raw(path)
    for value in (NAME, PHONE, DEVICE, IP, ACCOUNT):
        assert value.encode() not in raw, value
        assert _sha(value) not in raw, f"the plain SHA-256 of {value}"
    # another process opening the same file reads it with the same key file
    again = SqliteStore(path)
    try:
        assert _school(again, clock).students.view(OFFICE, "mei").name == NAME
    finally:
        again.close()


def test_keys_off_says_clear_text_is_meant(tmp_path: Path, clock: FixedClock) -> None:
    store = store_from_url(f"sqlite:///{tmp_path}/school.sqlite3?keys=off")
    assert isinstance(store, SqliteStore) and store.sealer is None
    store.migrate()
    _school(store, clock).students.register("mei", name=NAME, phone=PHONE)
    store.close()
    assert PHONE.encode() in _raw(tmp_path / "school.sqlite3")
    assert not (tmp_path / "school.sqlite3.keys").exists()
    with pytest.raises(InvalidSetting, match="'local' or 'off'"):
        SqliteStore(tmp_path / "x.sqlite3", keys="of")


def test_a_missing_key_file_beside_a_sealed_database_is_refused_not_replaced(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    _school(store, clock).students.register("mei", name=NAME, phone=PHONE)
    store.close()
    (tmp_path / "school.sqlite3.keys").rename(tmp_path / "elsewhere.keys")
    again = SqliteStore(path)
    try:
        with pytest.raises(InvalidSetting, match=r"key file .* is missing"):
            again.migrate()
        with pytest.raises(InvalidSetting, match="restore the key file"):
            _school(again, clock).students.view(OFFICE, "mei")
        assert not (tmp_path / "school.sqlite3.keys").exists()  # no fresh keys made
    finally:
        again.close()
    plain = SqliteStore(path, keys="off")  # nor read as if it were clear
    try:
        with pytest.raises(InvalidSetting, match="holds sealed contact values"):
            _school(plain, clock).students.view(OFFICE, "mei")
        with pytest.raises(InvalidSetting, match="holds sealed contact values"):
            plain.migrate()
    finally:
        plain.close()
    moved = store_from_url(f"sqlite:///{path}?keys=local:{tmp_path / 'elsewhere.keys'}")
    assert isinstance(moved, SqliteStore)
    try:
        assert _school(moved, clock).students.view(OFFICE, "mei").phone == PHONE
    finally:
        moved.close()


def test_a_plain_store_keeps_working_and_the_seal_command_seals_what_it_holds(
    tmp_path: Path, clock: FixedClock
) -> None:
    from tests.ops.test_cli import cli

    path = tmp_path / "school.sqlite3"
    plain = SqliteStore(path, keys="off")  # as a release before this one wrote it
    plain.migrate()
    school = _school(plain, clock)
    school.students.register("mei", name=NAME, phone=PHONE)
    school.students.register("lei", name="Lei")
    school.community.join("g1", "ann")
    school.community.post("g1", "ann", "hello", device=DEVICE)
    _join_two_groups(school, clock)
    plain.close()
    assert PHONE.encode() in _raw(path) and _sha(DEVICE) in _raw(path)

    # upgraded: the default store reads the clear values and seals what it writes
    upgraded = SqliteStore(path)
    try:
        upgraded.migrate()  # makes the key file: the database holds nothing sealed
        assert (tmp_path / "school.sqlite3.keys").exists()
        school = _school(upgraded, clock)
        assert school.students.view(OFFICE, "mei").phone == PHONE
    finally:
        upgraded.close()

    done = cli("seal", url=f"sqlite:///{path}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["seal"]
    assert report["sealed"] >= 5 and report["refiled"] >= 3, report
    raw = _raw(path)
    for value in (NAME, PHONE, DEVICE, IP, ACCOUNT):
        assert value.encode() not in raw, value
        assert _sha(value) not in raw, f"the plain SHA-256 of {value}"
    again = cli("seal", url=f"sqlite:///{path}")
    assert json.loads(again.stdout)["seal"]["sealed"] == 0

    sealed = SqliteStore(path)
    try:
        school = _school(sealed, clock)
        assert school.students.view(OFFICE, "mei").name == NAME
        [method] = school.payments.methods_of("mei", actor=OFFICE)
        assert method.account == ACCOUNT
        # the sightings moved under the blind index: a third student on the device is
        # still seen across groups, and the device's accounts are still counted
        school.students.register("fei", name="Fei")
        school.payments.add_method("fei", "acct-fei", method_id="m-fei")
        g3 = school.deals.open_group("spring", "fei", device_id=DEVICE).id
        decisions = school.deals.group_risk_decisions(g3, actor=OFFICE)
        reasons = [r for d in decisions for r in d["reasons"]]
        assert any("mei" in r for r in reasons) and any("lei" in r for r in reasons), reasons
        with sealed.unit_of_work() as uow:
            assert uow.records.get("community_device", DEVICE) == {"members": ["ann"]}
    finally:
        sealed.close()


def test_a_postgresql_store_without_keys_says_contacts_are_stored_in_clear(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    pytest.importorskip("psycopg")
    from eduengine.adapters.postgres import PostgresStore

    monkeypatch.setattr(settings, "_clear_warned", False)
    with caplog.at_level(logging.WARNING, logger="eduengine.adapters"):
        store_from_url("postgresql://u@h/db?keys=off")
        assert caplog.messages == []
        sealed = store_from_url(f"postgresql://u@h/db?keys=local:{tmp_path / 'pg.keys'}")
        assert isinstance(sealed, PostgresStore) and sealed.sealer is not None
        assert caplog.messages == []
        store_from_url("postgresql://u@h/db")
        store_from_url("postgresql://u@h/db")
    assert caplog.messages == [settings.CLEAR_CONTACTS]  # once per process
    with pytest.raises(InvalidSetting, match="keys=local"):
        store_from_url("postgresql://u@h/db?keys=local")  # no "beside" for a server


def test_a_key_file_that_may_not_be_made_is_refused_when_first_needed(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "k.keys", may_create=lambda: False)
    with pytest.raises(InvalidSetting, match="missing"):
        keys.current_key_id()
    assert not (tmp_path / "k.keys").exists()
