"""The stored forms of documents: the format contract of what the stores hold.

Each case writes a representative value (optional fields set and unset, enums, money,
datetimes in a named zone, empty and filled collections) and compares the document with
the literal one written out here, then reads the literal back. A document the store
holds today must read back the same after any change to how documents are encoded, and
a new write must produce the same dict: change a literal here only with a migration.
Older documents (keys added later missing, keys no longer read still present) read back
too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from eduengine.availability.model import Busy, BusyIndex, Grid, TimeRange, TutorSchedule
from eduengine.booking import seats
from eduengine.booking.model import Booking, BookingStatus
from eduengine.community.model import Post, PostStatus
from eduengine.community.moderation import Word, WordAction
from eduengine.deals.model import (
    Attribution,
    GroupDeal,
    GroupDealCampaign,
    GroupState,
    Member,
    ShareLink,
    Touch,
)
from eduengine.growth.experiments import Experiment, Variant
from eduengine.growth.segments import Segment
from eduengine.growth.templates import MessageTemplate
from eduengine.kernel.money import Money
from eduengine.learning import records as learning
from eduengine.learning.model import (
    AbilityDimension,
    ArchiveEntry,
    Attempt,
    Curriculum,
    KnowledgePoint,
    Unit,
    Work,
    WorkKind,
    WorkState,
)
from eduengine.mastery.model import BktParams
from eduengine.mastery.recommend import Goals
from eduengine.mastery.review import ReviewCard, ReviewSettings
from eduengine.milestones.model import Quest
from eduengine.notices.model import Preferences, QuietHours, Recipient, StaffContact
from eduengine.payments.methods import PaymentMethod
from eduengine.people import access
from eduengine.people.model import Access, FieldSet, Grant, Scope, StaffMember, StaffRole
from eduengine.policies.model import Violation, ViolationKind
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.pricing.rules import Coupon, DiscountKind
from eduengine.rush.model import Entry, RushQueue

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
T1 = datetime(2026, 3, 29, 9, 30, tzinfo=BERLIN)  # the day of the spring change: +02:00
T2 = datetime(2026, 3, 4, 20, 0, 15, 250, tzinfo=SHANGHAI)
T1_TEXT = "2026-03-29T09:30:00+02:00|Europe/Berlin"
T2_TEXT = "2026-03-04T20:00:15.000250+08:00|Asia/Shanghai"
EUR_12_50 = {"amount": "12.50", "currency": "EUR"}
EUR_99 = {"amount": "99.00", "currency": "EUR"}


def _write(value: Any) -> Any:
    return value.to_record()


def _read(cls: Any) -> Callable[[Any], Any]:
    return lambda doc: cls.from_record(doc)


def _read_with_id(cls: Any, id_: str) -> Callable[[Any], Any]:
    return lambda doc: cls.from_record(id_, doc)


def _member(**kw: Any) -> Member:
    return Member(
        **{"student_id": "ann", "status": "joined", "joined_at": T2, "account": None, **kw}
    )


_ENTRY = Entry(student_id="ann", entered_at=T1)
_TOUCH = Touch(token="tok", sharer_id="bob", campaign_id="c1", group_id=None, via="link", at=T1)
_TOUCH_DOC = {
    "token": "tok",
    "sharer_id": "bob",
    "campaign_id": "c1",
    "group_id": None,
    "via": "link",
    "at": T1_TEXT,
}
_CARD = ReviewCard(
    point_id="p1",
    version="v1",
    state=2,
    stability=3.173,
    difficulty=5.282434,
    due=T1,
    last_review=T2,
    step=None,
    reviews=4,
)
_NEW_CARD = ReviewCard(
    point_id="p1",
    version="v1",
    state=1,
    stability=None,
    difficulty=None,
    due=T2,
    last_review=None,
    step=0,
)

#: (id, value, write, read, stored form)
CASES: list[tuple[str, Any, Callable[[Any], Any], Callable[[Any], Any], Any]] = [
    (
        "money",
        Money("12.5", "EUR"),
        _write,
        _read(Money),
        EUR_12_50,
    ),
    (
        "word-defaults",
        Word(text="idiot"),
        _write,
        _read(Word),
        {"text": "idiot", "action": "block", "initials": None},
    ),
    (
        "word",
        Word(text="whatsapp", action=WordAction.HOLD, initials="wa"),
        _write,
        _read(Word),
        {"text": "whatsapp", "action": "hold", "initials": "wa"},
    ),
    (
        "rush-empty",
        RushQueue(slot_id="s1", opens_at=T1, window=timedelta(seconds=2), seed="x"),
        _write,
        _read(RushQueue),
        {
            "slot_id": "s1",
            "opens_at": T1_TEXT,
            "window_us": 2_000_000,
            "seed": "x",
            "entries": [],
            "admitted": False,
            "order": [],
        },
    ),
    (
        "rush",
        RushQueue(
            slot_id="s1",
            opens_at=T1,
            window=timedelta(microseconds=1500),
            seed="x",
            entries=[_ENTRY, Entry(student_id="bob", entered_at=T2)],
            admitted=True,
            order=["bob", "ann"],
        ),
        _write,
        _read(RushQueue),
        {
            "slot_id": "s1",
            "opens_at": T1_TEXT,
            "window_us": 1500,
            "seed": "x",
            "entries": [
                {"student_id": "ann", "entered_at": T1_TEXT},
                {"student_id": "bob", "entered_at": T2_TEXT},
            ],
            "admitted": True,
            "order": ["bob", "ann"],
        },
    ),
    (
        "campaign-defaults",
        GroupDealCampaign(
            id="c1",
            course_id="math",
            list_price=Money("99", "EUR"),
            group_price=Money("12.50", "EUR"),
            required_size=3,
            starts_at=T1,
            ends_at=T2 + timedelta(days=30),
        ),
        _write,
        _read(GroupDealCampaign),
        {
            "id": "c1",
            "course_id": "math",
            "list_price": EUR_99,
            "group_price": EUR_12_50,
            "required_size": 3,
            "max_size": None,
            "duration_s": 86400.0,
            "starts_at": T1_TEXT,
            "ends_at": "2026-04-03T20:00:15.000250+08:00|Asia/Shanghai",
            "max_opened_per_student": 1,
            "max_joined_per_student": 3,
            "force_share": None,
            "course_ids": None,
        },
    ),
    (
        "campaign",
        GroupDealCampaign(
            id="c1",
            course_id="math",
            list_price=Money("99", "EUR"),
            group_price=Money("12.50", "EUR"),
            required_size=3,
            max_size=5,
            duration=timedelta(hours=1, microseconds=500),
            starts_at=T1,
            ends_at=T1 + timedelta(days=30),
            max_opened_per_student=2,
            max_joined_per_student=3,
            force_share=Decimal("0.50"),
            course_ids=frozenset({"physics", "math", "art"}),
        ),
        _write,
        _read(GroupDealCampaign),
        {
            "id": "c1",
            "course_id": "math",
            "list_price": EUR_99,
            "group_price": EUR_12_50,
            "required_size": 3,
            "max_size": 5,
            "duration_s": 3600.0005,
            "starts_at": T1_TEXT,
            "ends_at": "2026-04-28T09:30:00+02:00|Europe/Berlin",
            "max_opened_per_student": 2,
            "max_joined_per_student": 3,
            "force_share": "0.50",
            "course_ids": ["art", "math", "physics"],
        },
    ),
    (
        "deal-empty",
        GroupDeal(
            id="g1",
            campaign_id="c1",
            initiator="ann",
            share_code="ABC",
            opened_at=T1,
            deadline=T2,
            price=Money("12.50", "EUR"),
            required_size=3,
            capacity=5,
        ),
        _write,
        _read(GroupDeal),
        {
            "id": "g1",
            "campaign_id": "c1",
            "initiator": "ann",
            "share_code": "ABC",
            "opened_at": T1_TEXT,
            "deadline": T2_TEXT,
            "price": EUR_12_50,
            "required_size": 3,
            "capacity": 5,
            "state": "open",
            "forced": False,
            "refund_due_since": None,
            "members": [],
        },
    ),
    (
        "deal",
        GroupDeal(
            id="g1",
            campaign_id="c1",
            initiator="ann",
            share_code="ABC",
            opened_at=T1,
            deadline=T2,
            price=Money("12.50", "EUR"),
            required_size=3,
            capacity=5,
            state=GroupState.FAILED,
            forced=True,
            refund_due_since=T2,
            members=[
                _member(),
                _member(
                    student_id="bob",
                    status="paid",
                    account="acct-1",
                    device_id="d1",
                    ip="10.0.0.1",
                    charge_id="ch1",
                    access=True,
                    charge_key="k1",
                    payer_id="mum",
                    course_id="art",
                ),
            ],
        ),
        _write,
        _read(GroupDeal),
        {
            "id": "g1",
            "campaign_id": "c1",
            "initiator": "ann",
            "share_code": "ABC",
            "opened_at": T1_TEXT,
            "deadline": T2_TEXT,
            "price": EUR_12_50,
            "required_size": 3,
            "capacity": 5,
            "state": "failed",
            "forced": True,
            "refund_due_since": T2_TEXT,
            "members": [
                {
                    "student_id": "ann",
                    "status": "joined",
                    "joined_at": T2_TEXT,
                    "account": None,
                    "device_id": None,
                    "ip": None,
                    "charge_id": None,
                    "access": False,
                    "charge_key": None,
                    "payer_id": None,
                    "course_id": None,
                },
                {
                    "student_id": "bob",
                    "status": "paid",
                    "joined_at": T2_TEXT,
                    "account": "acct-1",
                    "device_id": "d1",
                    "ip": "10.0.0.1",
                    "charge_id": "ch1",
                    "access": True,
                    "charge_key": "k1",
                    "payer_id": "mum",
                    "course_id": "art",
                },
            ],
        },
    ),
    (
        "share-link",
        ShareLink(token="tok", sharer_id="bob", campaign_id="c1", group_id="g1", created_at=T2),
        _write,
        _read(ShareLink),
        {
            "token": "tok",
            "sharer_id": "bob",
            "campaign_id": "c1",
            "group_id": "g1",
            "created_at": T2_TEXT,
        },
    ),
    ("touch", _TOUCH, _write, _read(Touch), _TOUCH_DOC),
    (
        "attribution",
        Attribution(student_id="ann", first=_TOUCH, last=_TOUCH, touches=2, referrer=None),
        _write,
        _read(Attribution),
        {
            "student_id": "ann",
            "first": _TOUCH_DOC,
            "last": _TOUCH_DOC,
            "touches": 2,
            "referrer": None,
        },
    ),
    (
        "experiment",
        Experiment(
            key="price-test",
            variants=(
                Variant("control", Decimal("1")),
                Variant(
                    "cheap",
                    Decimal("2.5"),
                    params={
                        "price": Money("12.50", "EUR"),
                        "share": Decimal("0.25"),
                        "trial": timedelta(days=1),
                        "label": "x",
                        "seats": 3,
                        "bold": True,
                    },
                ),
            ),
            coverage=Decimal("0.50"),
            currency="EUR",
            description="cheaper",
        ),
        _write,
        _read(Experiment),
        {
            "key": "price-test",
            "variants": [
                {"key": "control", "weight": "1", "params": {}},
                {
                    "key": "cheap",
                    "weight": "2.5",
                    "params": {
                        "price": {"money": EUR_12_50},
                        "share": {"decimal": "0.25"},
                        "trial": {"microseconds": 86_400_000_000},
                        "label": "x",
                        "seats": 3,
                        "bold": True,
                    },
                },
            ],
            "coverage": "0.50",
            "currency": "EUR",
            "description": "cheaper",
        },
    ),
    (
        "segment-everyone",
        Segment(),
        _write,
        _read(Segment),
        {
            "stages": [],
            "tags_all": [],
            "tags_any": [],
            "tags_none": [],
            "inactive_days": None,
            "active_within_days": None,
            "min_purchases": None,
            "max_purchases": None,
            "has_active_package": None,
            "credits_left_at_most": None,
            "guardian_channel": None,
            "min_spend": None,
            "mastery_below": [],
            "mastery_at_least": [],
        },
    ),
    (
        "segment",
        Segment(
            stages=frozenset({"trial", "active"}),
            tags_all=frozenset({"vip"}),
            tags_any=frozenset({"b", "a"}),
            tags_none=frozenset({"churned"}),
            inactive_days=30,
            active_within_days=90,
            min_purchases=1,
            max_purchases=5,
            has_active_package=False,
            credits_left_at_most=2,
            guardian_channel="email",
            min_spend=Money("99", "EUR"),
            mastery_below={"fractions": "0.6", "algebra": Decimal("0.25")},
            mastery_at_least={"counting": "1"},
        ),
        _write,
        _read(Segment),
        {
            "stages": ["active", "trial"],
            "tags_all": ["vip"],
            "tags_any": ["a", "b"],
            "tags_none": ["churned"],
            "inactive_days": 30,
            "active_within_days": 90,
            "min_purchases": 1,
            "max_purchases": 5,
            "has_active_package": False,
            "credits_left_at_most": 2,
            "guardian_channel": "email",
            "min_spend": ["99.00", "EUR"],
            "mastery_below": [["algebra", "0.25"], ["fractions", "0.6"]],
            "mastery_at_least": [["counting", "1"]],
        },
    ),
    (
        "template",
        MessageTemplate(
            kind="reminder",
            channel="email",
            language="de",
            version=2,
            body="Hallo {{ name }}",
            subject=None,
            saved_at=T1,
        ),
        _write,
        _read(MessageTemplate),
        {
            "kind": "reminder",
            "channel": "email",
            "language": "de",
            "version": 2,
            "body": "Hallo {{ name }}",
            "subject": None,
            "saved_at": T1_TEXT,
        },
    ),
    (
        "violation-no-fee",
        Violation(kind=ViolationKind.NO_SHOW, at=T1, booking_id="b1", slot_id="s1"),
        _write,
        _read(Violation),
        {"kind": "no_show", "at": T1_TEXT, "booking_id": "b1", "slot_id": "s1", "fee": None},
    ),
    (
        "violation",
        Violation(
            kind=ViolationKind.LATE_CANCELLATION,
            at=T2,
            booking_id="b1",
            slot_id="s1",
            fee=Money("12.50", "EUR"),
        ),
        _write,
        _read(Violation),
        {
            "kind": "late_cancellation",
            "at": T2_TEXT,
            "booking_id": "b1",
            "slot_id": "s1",
            "fee": EUR_12_50,
        },
    ),
    (
        "quest-defaults",
        Quest(id="q1", title="Ten lessons", measure="lessons_attended", target=10, ends_at=T2),
        _write,
        _read(Quest),
        {
            "id": "q1",
            "title": "Ten lessons",
            "measure": "lessons_attended",
            "target": 10,
            "ends_at": T2_TEXT,
            "starts_at": None,
            "event_type": None,
            "reward_xp": 0,
            "reward_badge": None,
            "certificate": False,
        },
    ),
    (
        "quest",
        Quest(
            id="q1",
            title="Ten lessons",
            measure="events",
            target=10,
            ends_at=T2,
            starts_at=T1 - timedelta(days=60),
            event_type="booking.seat_booked",
            reward_xp=50,
            reward_badge="gold",
            certificate=True,
        ),
        _write,
        _read(Quest),
        {
            "id": "q1",
            "title": "Ten lessons",
            "measure": "events",
            "target": 10,
            "ends_at": T2_TEXT,
            "starts_at": "2026-01-28T09:30:00+01:00|Europe/Berlin",
            "event_type": "booking.seat_booked",
            "reward_xp": 50,
            "reward_badge": "gold",
            "certificate": True,
        },
    ),
    (
        "payment-method-defaults",
        PaymentMethod(id="m1", holder_id="ann", account="acct-1"),
        _write,
        _read_with_id(PaymentMethod, "m1"),
        {"holder_id": "ann", "account": "acct-1", "label": "", "pays_for": [], "added_at": None},
    ),
    (
        "payment-method",
        PaymentMethod(
            id="m1",
            holder_id="mum",
            account="acct-1",
            label="Visa 4242",
            pays_for=("ann", "bob"),
            added_at=T1,
        ),
        _write,
        _read_with_id(PaymentMethod, "m1"),
        {
            "holder_id": "mum",
            "account": "acct-1",
            "label": "Visa 4242",
            "pays_for": ["ann", "bob"],
            "added_at": T1_TEXT,
        },
    ),
    (
        "recipient",
        Recipient(id="mum", student_id="ann", role="guardian", name="Mum", email="m@x.org"),
        _write,
        _read(Recipient),
        {
            "id": "mum",
            "student_id": "ann",
            "role": "guardian",
            "name": "Mum",
            "phone": None,
            "email": "m@x.org",
        },
    ),
    (
        "preferences-plain",
        Preferences(zone="Europe/Berlin", channels=("email",)),
        _write,
        _read(Preferences),
        {"zone": "Europe/Berlin", "channels": ["email"], "fallback": [], "quiet": None},
    ),
    (
        "preferences",
        Preferences(
            zone="Asia/Shanghai",
            channels=("sms", "email"),
            fallback=("email",),
            quiet=QuietHours(time(22, 0), time(7, 30)),
        ),
        _write,
        _read(Preferences),
        {
            "zone": "Asia/Shanghai",
            "channels": ["sms", "email"],
            "fallback": ["email"],
            "quiet": ["22:00", "07:30"],
        },
    ),
    (
        "staff-contact-plain",
        StaffContact(staff_id="t1"),
        _write,
        _read(StaffContact),
        {
            "staff_id": "t1",
            "name": None,
            "phone": None,
            "email": None,
            "channels": [],
            "fallback": [],
            "zone": None,
            "quiet": None,
        },
    ),
    (
        "staff-contact",
        StaffContact(
            staff_id="t1",
            name="Tom",
            phone="+4930123",
            email="t@x.org",
            channels=("sms",),
            fallback=("email",),
            zone="Europe/Berlin",
            quiet=QuietHours(time(23, 0), time(6, 0)),
        ),
        _write,
        _read(StaffContact),
        {
            "staff_id": "t1",
            "name": "Tom",
            "phone": "+4930123",
            "email": "t@x.org",
            "channels": ["sms"],
            "fallback": ["email"],
            "zone": "Europe/Berlin",
            "quiet": ["23:00", "06:00"],
        },
    ),
    (
        "coupon-percent",
        Coupon(code="SPRING", kind=DiscountKind.PERCENT, value=Decimal("15")),
        _write,
        _read(Coupon),
        {
            "code": "SPRING",
            "kind": "percent",
            "value": "15",
            "valid_from": None,
            "valid_until": None,
            "min_spend": None,
            "max_redemptions": None,
            "max_per_student": 1,
            "course_ids": None,
            "student_id": None,
        },
    ),
    (
        "coupon",
        Coupon(
            code="TENOFF",
            kind=DiscountKind.AMOUNT,
            value=Money("10", "EUR"),
            valid_from=T2,
            valid_until=T1,
            min_spend=Money("99", "EUR"),
            max_redemptions=100,
            max_per_student=1,
            course_ids=frozenset({"math", "art"}),
            student_id="ann",
        ),
        _write,
        _read(Coupon),
        {
            "code": "TENOFF",
            "kind": "amount",
            "value": {"amount": "10.00", "currency": "EUR"},
            "valid_from": T2_TEXT,
            "valid_until": T1_TEXT,
            "min_spend": EUR_99,
            "max_redemptions": 100,
            "max_per_student": 1,
            "course_ids": ["art", "math"],
            "student_id": "ann",
        },
    ),
    (
        "catalogue-item-defaults",
        CatalogueItem(id="i1", kind=ItemKind.COURSE),
        _write,
        _read_with_id(CatalogueItem, "i1"),
        {"kind": "course", "title": "", "credits": None, "valid_for_us": None, "course_id": None},
    ),
    (
        "catalogue-item",
        CatalogueItem(
            id="i1",
            kind=ItemKind.PACKAGE,
            title="Ten lessons",
            credits=10,
            valid_for=timedelta(days=90),
            course_id="math",
        ),
        _write,
        _read_with_id(CatalogueItem, "i1"),
        {
            "kind": "package",
            "title": "Ten lessons",
            "credits": 10,
            "valid_for_us": 7_776_000_000_000,
            "course_id": "math",
        },
    ),
    (
        "price-list",
        PriceList(
            id="l1",
            currency="EUR",
            valid_from=T2,
            valid_until=T1,
            name="spring",
            version=3,
            prices={"i1": Money("12.50", "EUR"), "i2": Money("99", "EUR")},
        ),
        _write,
        _read_with_id(PriceList, "l1"),
        {
            "currency": "EUR",
            "valid_from": T2_TEXT,
            "valid_until": T1_TEXT,
            "name": "spring",
            "version": 3,
            "prices": {"i1": EUR_12_50, "i2": EUR_99},
        },
    ),
    (
        "price-list-open",
        PriceList(id="l1", currency="EUR", valid_from=T1, prices={"i1": Money("12.50", "EUR")}),
        _write,
        _read_with_id(PriceList, "l1"),
        {
            "currency": "EUR",
            "valid_from": T1_TEXT,
            "valid_until": None,
            "name": "",
            "version": 0,
            "prices": {"i1": EUR_12_50},
        },
    ),
    (
        "schedule-defaults",
        TutorSchedule(tutor_id="t1", timezone="Europe/Berlin"),
        _write,
        _read(TutorSchedule),
        {
            "tutor_id": "t1",
            "timezone": "Europe/Berlin",
            "weekly": {},
            "overrides": {},
            "session_us": 3_600_000_000,
            "step_us": 1_800_000_000,
            "buffer_before_us": 0,
            "buffer_after_us": 0,
            "min_notice_us": 0,
            "horizon_us": 5_184_000_000_000,
            "max_per_day": None,
            "grid": "range_start",
        },
    ),
    (
        "schedule",
        TutorSchedule(
            tutor_id="t1",
            timezone="Asia/Shanghai",
            weekly={
                0: (TimeRange(time(9), time(12)), TimeRange(time(14, 30), time(18))),
                5: (TimeRange(time(20), time(0)),),
            },
            overrides={date(2026, 3, 29): (), date(2026, 4, 1): (TimeRange(time(8), time(9)),)},
            session=timedelta(minutes=45),
            step=timedelta(minutes=15),
            buffer_before=timedelta(minutes=5),
            buffer_after=timedelta(minutes=10),
            min_notice=timedelta(hours=12),
            horizon=timedelta(days=30),
            max_per_day=4,
            grid=Grid.CLOCK,
        ),
        _write,
        _read(TutorSchedule),
        {
            "tutor_id": "t1",
            "timezone": "Asia/Shanghai",
            "weekly": {
                "0": [["09:00:00", "12:00:00"], ["14:30:00", "18:00:00"]],
                "5": [["20:00:00", "00:00:00"]],
            },
            "overrides": {"2026-03-29": [], "2026-04-01": [["08:00:00", "09:00:00"]]},
            "session_us": 2_700_000_000,
            "step_us": 900_000_000,
            "buffer_before_us": 300_000_000,
            "buffer_after_us": 600_000_000,
            "min_notice_us": 43_200_000_000,
            "horizon_us": 2_592_000_000_000,
            "max_per_day": 4,
            "grid": "clock",
        },
    ),
    (
        "busy-index",
        BusyIndex(
            [
                Busy(start=T2, end=T2 + timedelta(hours=1), slot_id="s1", booking_id="b1"),
                Busy(start=T1, end=T1 + timedelta(minutes=45), slot_id="s2"),
            ]
        ),
        _write,
        _read(BusyIndex),
        {
            "busy": [
                {
                    "start": T2_TEXT,
                    "end": "2026-03-04T21:00:15.000250+08:00|Asia/Shanghai",
                    "booking_id": "b1",
                    "slot_id": "s1",
                },
                {
                    "start": T1_TEXT,
                    "end": "2026-03-29T10:15:00+02:00|Europe/Berlin",
                    "booking_id": None,
                    "slot_id": "s2",
                },
            ]
        },
    ),
    (
        "bkt-params",
        BktParams(
            prior=Decimal("0.2"),
            learn=Decimal("0.15"),
            guess=Decimal("0.2"),
            slip=Decimal("0.1"),
            forget=Decimal("0.01"),
        ),
        _write,
        _read(BktParams),
        {"prior": "0.2", "learn": "0.15", "guess": "0.2", "slip": "0.1", "forget": "0.01"},
    ),
    (
        "review-settings",
        ReviewSettings(
            version="v2",
            parameters=(0.212, 1.2931, 2.3065),
            desired_retention=0.85,
            maximum_interval_days=365,
        ),
        _write,
        _read(ReviewSettings),
        {
            "version": "v2",
            "parameters": [0.212, 1.2931, 2.3065],
            "desired_retention": 0.85,
            "maximum_interval_days": 365,
        },
    ),
    (
        "review-card",
        _CARD,
        _write,
        _read_with_id(ReviewCard, "p1"),
        {
            "version": "v1",
            "state": 2,
            "step": None,
            "stability": 3.173,
            "difficulty": 5.282434,
            "due": T1_TEXT,
            "last_review": T2_TEXT,
            "reviews": 4,
        },
    ),
    (
        "review-card-new",
        _NEW_CARD,
        _write,
        _read_with_id(ReviewCard, "p1"),
        {
            "version": "v1",
            "state": 1,
            "step": 0,
            "stability": None,
            "difficulty": None,
            "due": T2_TEXT,
            "last_review": None,
            "reviews": 0,
        },
    ),
    (
        "learning-dimensions",
        [AbilityDimension(id="speaking", name="Speaking"), AbilityDimension(id="vocab")],
        learning.dimensions_out,
        learning.dimensions_in,
        {"dimensions": [{"id": "speaking", "name": "Speaking"}, {"id": "vocab", "name": ""}]},
    ),
    (
        "curriculum",
        Curriculum(
            course_id="math",
            title="Maths",
            points=(
                KnowledgePoint(id="count"),
                KnowledgePoint(id="add", name="Adding", prerequisites=("count",)),
            ),
            units=(Unit(id="u1", name="One", points=("count", "add"), dimensions=("speed",)),),
        ),
        learning.curriculum_out,
        lambda doc: learning.curriculum_in("math", doc),
        {
            "title": "Maths",
            "points": [
                {"id": "count", "name": "", "prerequisites": []},
                {"id": "add", "name": "Adding", "prerequisites": ["count"]},
            ],
            "units": [
                {"id": "u1", "name": "One", "points": ["count", "add"], "dimensions": ["speed"]}
            ],
        },
    ),
    (
        "work-assigned",
        Work(
            id="w1",
            assignment_id="a1",
            student_id="ann",
            kind=WorkKind.HOMEWORK,
            course_id="math",
            unit_id=None,
            teacher_id="tom",
            assigned_at=T1,
        ),
        learning.work_out,
        lambda doc: learning.work_in("w1", doc),
        {
            "assignment_id": "a1",
            "student_id": "ann",
            "kind": "homework",
            "course_id": "math",
            "unit_id": None,
            "title": "",
            "points": [],
            "dimensions": [],
            "teacher_id": "tom",
            "assigned_at": T1_TEXT,
            "due_at": None,
            "late_window_us": 0,
            "max_attempts": 1,
            "state": "assigned",
            "attempts": [],
        },
    ),
    (
        "work-graded",
        Work(
            id="w1",
            assignment_id="a1",
            student_id="ann",
            kind=WorkKind.ASSESSMENT,
            course_id="math",
            unit_id="u1",
            title="Fractions",
            points=("add", "count"),
            dimensions=("speed",),
            teacher_id="tom",
            assigned_at=T1,
            due_at=T1 + timedelta(days=7),
            late_window=timedelta(hours=12),
            max_attempts=2,
            state=WorkState.GRADED,
            attempts=[
                Attempt(number=1, submitted_at=T2, late=True, content="42", returned=True),
                Attempt(
                    number=2,
                    submitted_at=T2 + timedelta(days=1),
                    late=False,
                    content=None,
                    score=Decimal("0.85"),
                    rubric=(("accuracy", Decimal("0.9")), ("speed", Decimal("0.80"))),
                    comment="Good",
                    graded_by="tom",
                ),
            ],
        ),
        learning.work_out,
        lambda doc: learning.work_in("w1", doc),
        {
            "assignment_id": "a1",
            "student_id": "ann",
            "kind": "assessment",
            "course_id": "math",
            "unit_id": "u1",
            "title": "Fractions",
            "points": ["add", "count"],
            "dimensions": ["speed"],
            "teacher_id": "tom",
            "assigned_at": T1_TEXT,
            "due_at": "2026-04-05T09:30:00+02:00|Europe/Berlin",
            "late_window_us": 43_200_000_000,
            "max_attempts": 2,
            "state": "graded",
            "attempts": [
                {
                    "number": 1,
                    "submitted_at": T2_TEXT,
                    "late": True,
                    "content": "42",
                    "score": None,
                    "rubric": [],
                    "comment": None,
                    "graded_by": None,
                    "returned": True,
                },
                {
                    "number": 2,
                    "submitted_at": "2026-03-05T20:00:15.000250+08:00|Asia/Shanghai",
                    "late": False,
                    "content": None,
                    "score": "0.85",
                    "rubric": [["accuracy", "0.9"], ["speed", "0.80"]],
                    "comment": "Good",
                    "graded_by": "tom",
                    "returned": False,
                },
            ],
        },
    ),
    (
        "archive-entry",
        ArchiveEntry(
            student_id="ann",
            at=T2,
            kind="work_graded",
            course_id="math",
            ref="w1",
            detail={"score": "0.85", "attempt": 2, "points": ["add"]},
        ),
        lambda entry: learning.entry_out(entry),
        learning.entry_in,
        {
            "student_id": "ann",
            "at": T2_TEXT,
            "kind": "work_graded",
            "course_id": "math",
            "ref": "w1",
            "detail": {"score": "0.85", "attempt": 2, "points": ["add"]},
        },
    ),
    (
        "archive-entry-plain",
        ArchiveEntry(student_id="ann", at=T1, kind="teacher_note", course_id=None, ref="n1"),
        lambda entry: learning.entry_out(entry),
        learning.entry_in,
        {
            "student_id": "ann",
            "at": T1_TEXT,
            "kind": "teacher_note",
            "course_id": None,
            "ref": "n1",
            "detail": {},
        },
    ),
    # written by hand (faster on the seat path and the access check), pinned all the same
    (
        "booking",
        Booking(
            id="b1",
            student_id="ann",
            slot_id="s1",
            status=BookingStatus.NO_SHOW,
            created_at=T1,
            series_id="r1",
        ),
        seats.booking_out,
        seats.booking_in,
        {
            "id": "b1",
            "student_id": "ann",
            "slot_id": "s1",
            "status": "no_show",
            "created_at": T1_TEXT,
            "series_id": "r1",
        },
    ),
    (
        "staff-member",
        StaffMember(
            id="tom",
            role=StaffRole.HEAD_TEACHER,
            class_ids=frozenset({"c2", "c1"}),
            student_ids=frozenset(),
            active=False,
        ),
        access.staff_out,
        lambda doc: access.staff_in("tom", doc),
        {"role": "head_teacher", "class_ids": ["c1", "c2"], "student_ids": [], "active": False},
    ),
    (
        "grant",
        Grant(
            id="g1",
            person_id="tom",
            scope=Scope.MY_STUDENTS,
            fields=FieldSet(contacts=Access.MASKED, birth_date=True),
            starts_at=T2,
            ends_at=T1,
            student_ids=frozenset({"bob", "ann"}),
            revoked_at=T1,
        ),
        access.grant_out,
        lambda doc: access.grant_in("g1", doc),
        {
            "person_id": "tom",
            "scope": "my_students",
            "fields": {"contacts": "masked", "birth_date": True, "payments": False},
            "starts_at": T2_TEXT,
            "ends_at": T1_TEXT,
            "student_ids": ["ann", "bob"],
            "class_ids": [],
            "revoked_at": T1_TEXT,
        },
    ),
    (
        "post",
        Post(
            id="p1",
            group_id="g1",
            author_id="ann",
            thread_id="p1",
            reply_to=None,
            text="call me on 13812345678",
            original="call me on 13812345678",
            status=PostStatus.SHOWN,
            reasons=(),
            posted_at=T2,
        ),
        _write,
        _read(Post),
        {
            "public": "call me on 138****5678",
            "id": "p1",
            "group_id": "g1",
            "author_id": "ann",
            "thread_id": "p1",
            "reply_to": None,
            "text": "call me on 13812345678",
            "original": None,
            "status": "shown",
            "reasons": [],
            "posted_at": T2_TEXT,
            "device_id": None,
            "moderator_id": None,
            "decided_at": None,
            "erased": False,
            "seq": 0,
        },
    ),
    (
        "post-masked",
        Post(
            id="p2",
            group_id="g1",
            author_id="bob",
            thread_id="p1",
            reply_to="p1",
            text="you ***",
            original="you idiot",
            status=PostStatus.MASKED,
            reasons=("word:idiot",),
            posted_at=T1,
            device_id="d1",
            moderator_id="tom",
            decided_at=T2,
            seq=7,
        ),
        _write,
        _read(Post),
        {
            "public": None,
            "id": "p2",
            "group_id": "g1",
            "author_id": "bob",
            "thread_id": "p1",
            "reply_to": "p1",
            "text": "you ***",
            "original": "you idiot",
            "status": "masked",
            "reasons": ["word:idiot"],
            "posted_at": T1_TEXT,
            "device_id": "d1",
            "moderator_id": "tom",
            "decided_at": T2_TEXT,
            "erased": False,
            "seq": 7,
        },
    ),
    (
        "goals",
        Goals(points=("p1", "p2"), courses=()),
        _write,
        _read(Goals),
        {"points": ["p1", "p2"], "courses": []},
    ),
]


def _same(read: Any, value: Any) -> None:
    if isinstance(value, BusyIndex):
        assert list(read) == list(value)
    else:
        assert read == value
        assert type(read) is type(value)


@pytest.mark.parametrize(
    ("value", "write", "read", "doc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_value_is_stored_in_its_pinned_form(
    value: Any, write: Callable[[Any], Any], read: Callable[[Any], Any], doc: Any
) -> None:
    assert write(value) == doc


@pytest.mark.parametrize(
    ("value", "write", "read", "doc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_pinned_form_reads_back_the_value(
    value: Any, write: Callable[[Any], Any], read: Callable[[Any], Any], doc: Any
) -> None:
    _same(read(doc), value)


def test_datetimes_read_back_in_their_zone() -> None:
    card = ReviewCard.from_record("p1", _doc("review-card"))
    assert card.due.tzinfo is BERLIN and card.last_review is not None
    assert card.last_review.tzinfo is SHANGHAI
    rush = RushQueue.from_record(
        {
            "slot_id": "s",
            "opens_at": T1_TEXT,
            "window_us": 1,
            "seed": "x",
            "entries": [],
            "admitted": False,
            "order": [],
        }
    )
    assert rush.opens_at.tzinfo is BERLIN and rush.opens_at.utcoffset() == timedelta(hours=2)


def _doc(case_id: str) -> Any:
    return next(c[4] for c in CASES if c[0] == case_id)


def _value(case_id: str) -> Any:
    return next(c[1] for c in CASES if c[0] == case_id)


_OLD_CAMPAIGN = {k: v for k, v in _doc("campaign-defaults").items() if k != "course_ids"}
_OLD_DEAL = {
    **{k: v for k, v in _doc("deal").items() if k != "refund_due_since"},
    "members": [
        {k: v for k, v in m.items() if k not in ("charge_key", "payer_id", "course_id")}
        for m in _doc("deal")["members"]
    ],
}

#: documents written by older releases: (id, document, read, value)
OLDER: list[tuple[str, Any, Callable[[Any], Any], Any]] = [
    (
        "campaign-before-course-ids",
        _OLD_CAMPAIGN,
        _read(GroupDealCampaign),
        _value("campaign-defaults"),
    ),
    (
        "deal-before-refunds-and-payers",
        _OLD_DEAL,
        _read(GroupDeal),
        GroupDeal(
            id="g1",
            campaign_id="c1",
            initiator="ann",
            share_code="ABC",
            opened_at=T1,
            deadline=T2,
            price=Money("12.50", "EUR"),
            required_size=3,
            capacity=5,
            state=GroupState.FAILED,
            forced=True,
            members=[
                _member(),
                _member(
                    student_id="bob",
                    status="paid",
                    account="acct-1",
                    device_id="d1",
                    ip="10.0.0.1",
                    charge_id="ch1",
                    access=True,
                ),
            ],
        ),
    ),
    (
        "coupon-before-student-coupons",
        {k: v for k, v in _doc("coupon-percent").items() if k != "student_id"},
        _read(Coupon),
        Coupon(code="SPRING", kind=DiscountKind.PERCENT, value=Decimal("15")),
    ),
    (
        "preferences-before-fallback-and-quiet",
        {"zone": "Europe/Berlin", "channels": ["email"]},
        _read(Preferences),
        Preferences(zone="Europe/Berlin", channels=("email",)),
    ),
    ("staff-contact-bare", {"staff_id": "t1"}, _read(StaffContact), StaffContact(staff_id="t1")),
    (
        "bkt-before-forgetting",
        {"prior": "0.2", "learn": "0.15", "guess": "0.2", "slip": "0.1"},
        _read(BktParams),
        BktParams(
            prior=Decimal("0.2"), learn=Decimal("0.15"), guess=Decimal("0.2"), slip=Decimal("0.1")
        ),
    ),
    (
        "quest-before-windows-and-rewards",
        {
            "id": "q1",
            "title": "Ten lessons",
            "measure": "lessons_attended",
            "target": 10,
            "ends_at": T2_TEXT,
            "reward_xp": 0,
        },
        _read(Quest),
        _value("quest-defaults"),
    ),
    (
        "word-with-a-key-no-longer-read",
        {"text": "idiot", "action": "block", "initials": None, "score": 3},
        _read(Word),
        Word(text="idiot"),
    ),
    (
        "schedule-before-grids",
        {k: v for k, v in _doc("schedule-defaults").items() if k != "grid"},
        _read(TutorSchedule),
        _value("schedule-defaults"),
    ),
    ("busy-index-none", None, _read(BusyIndex), BusyIndex()),
    ("no-dimensions", None, learning.dimensions_in, []),
]


@pytest.mark.parametrize(
    ("doc", "read", "value"), [c[1:] for c in OLDER], ids=[c[0] for c in OLDER]
)
def test_older_documents_still_read(doc: Any, read: Callable[[Any], Any], value: Any) -> None:
    _same(read(doc), value)
