"""Message templates on every adapter: versioned (a planned message keeps its version's
text), refused when saved (not when sent) for a compile error, an unknown variable or
attribute, a sandbox escape or a runaway loop; money in its currency's minor units and
datetimes in the recipient's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.errors import (
    InvalidId,
    TemplateInvalid,
    TemplateNotFound,
    UnknownTemplateVariable,
    WrongType,
)
from eduengine.growth import TemplateRef, TemplateSaved, TemplateService
from eduengine.pricing import Money
from tests.adapters import StoreHandle
from tests.conftest import T0

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
LESSON = {
    "student": {"id": "ann", "name": "安娜"},
    "course": {"id": "py", "title": "Python 入门"},
    "starts_at": datetime(2026, 3, 2, 23, 30, tzinfo=UTC),
    "seats_left": 2,
    "amount": Money("299", "CNY"),
}


def school_on(store: StoreHandle, events: InMemoryEventBus | None = None) -> School:
    return School.build(
        store,
        clock=FixedClock(T0),
        reminders=None,
        publisher=events,
        template_variables={"renewal": {"renew_by": datetime(2026, 4, 1, tzinfo=UTC)}},
    )


def test_a_planned_message_keeps_its_versions_text_after_a_change(store: StoreHandle) -> None:
    events = InMemoryEventBus()
    templates = school_on(store, events).templates
    first = templates.save(
        "lesson", "sms", "zh-CN", "{{ student.name }}：{{ starts_at|time }} 上课"
    )
    planned = first.ref
    assert planned == TemplateRef("lesson", "sms", "zh-CN", 1)
    second = templates.save(
        "lesson", "sms", "zh-CN", "{{ student.name }}：{{ course.title }} {{ starts_at|time }} 开始"
    )
    assert second.version == 2
    assert templates.render(planned, LESSON, tz=SHANGHAI).body == "安娜：07:30 上课"
    assert templates.render(second.ref, LESSON, tz=SHANGHAI).body == "安娜：Python 入门 07:30 开始"
    # a fresh service (another process) reads the same versions
    again = TemplateService(store.unit_of_work)
    assert again.get("lesson", "sms", "zh-CN") == second
    assert again.get("lesson", "sms", "zh-CN", 1) == first
    assert [t.version for t in again.versions("lesson", "sms", "zh-CN")] == [1, 2]
    assert again.render(planned, LESSON, tz=SHANGHAI).ref == planned
    saved = [(e.template_id, e.version) for e in events.events if isinstance(e, TemplateSaved)]
    assert saved == [("lesson/sms/zh-CN", 1), ("lesson/sms/zh-CN", 2)]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{{ student.name ", TemplateInvalid),  # does not compile
        ("{% if seats_left %}left", TemplateInvalid),  # an unclosed block
        ("Hi {{ studnet.name }}", UnknownTemplateVariable),  # no such variable
        ("Hi {{ student.nmae }}", UnknownTemplateVariable),  # no such attribute
        ("{{ credits_left }}", UnknownTemplateVariable),  # a renewal's, not a lesson's
        ("{{ student.__class__.__mro__ }}", TemplateInvalid),  # out of the sandbox
        ("{{ cycler.__init__.__globals__ }}", TemplateInvalid),
        ("{{ amount.__class__.__init__.__globals__['os'] }}", TemplateInvalid),
        ("{% for i in range(99999) %}{{ student.name * 10 }}{% endfor %}", TemplateInvalid),
        (
            "{% for i in range(999) %}{% for j in range(999) %}{% endfor %}{% endfor %}",
            TemplateInvalid,
        ),
        ("{{ 'x' * 1000000000 }}", TemplateInvalid),
        ("{{ [0] * 1000000000 }}", TemplateInvalid),
        ("{{ 10 ** 100000000 }}", TemplateInvalid),
        ("{{ seats_left / 0 }}", TemplateInvalid),
        ("{{ seats_left / 2 }}", TemplateInvalid),  # a float
        ("{{ amount|datetime }}", TemplateInvalid),
    ],
)
def test_a_bad_template_is_refused_when_saved_and_nothing_is_stored(
    store: StoreHandle, body: str, error: type[Exception]
) -> None:
    templates = school_on(store).templates
    with pytest.raises(error):
        templates.save("lesson", "sms", "en", body)
    with pytest.raises(error):
        templates.save("lesson", "email", "en", "fine {{ student.name }}", subject=body)
    with pytest.raises(TemplateNotFound):
        templates.get("lesson", "sms", "en")
    with pytest.raises(TemplateNotFound):
        templates.get("lesson", "email", "en")


def test_unknown_variables_name_the_variable(store: StoreHandle) -> None:
    templates = school_on(store).templates
    with pytest.raises(UnknownTemplateVariable) as caught:
        templates.save("lesson", "sms", "en", "Hi {{ studnet.name }}")
    assert caught.value.variable == "studnet"


def test_money_renders_with_its_currencys_minor_units(store: StoreHandle) -> None:
    templates = school_on(store).templates
    saved = templates.save("lesson", "sms", "en", "{{ amount }} | {{ amount|amount }}")
    for money, text in [
        (Money("299", "CNY"), "299.00 CNY | 299.00"),
        (Money("1500", "JPY"), "1500 JPY | 1500"),
        (Money("1.5", "KWD"), "1.500 KWD | 1.500"),
        (Money("0.1", "USD"), "0.10 USD | 0.10"),
    ]:
        assert templates.render(saved, {**LESSON, "amount": money}, tz=UTC).body == text


def test_datetimes_render_in_the_recipients_zone(store: StoreHandle) -> None:
    templates = school_on(store).templates
    saved = templates.save(
        "lesson",
        "email",
        "en",
        "{{ starts_at }} / {{ starts_at|date }} / {{ starts_at|datetime('%a %H:%M %Z') }}",
        subject="{{ course.title }} on {{ starts_at|date }}",
    )
    shanghai = templates.render(saved, LESSON, tz=SHANGHAI)
    assert shanghai.body == "2026-03-03 07:30 / 2026-03-03 / Tue 07:30 CST"
    assert shanghai.subject == "Python 入门 on 2026-03-03"
    new_york = templates.render(saved, LESSON, tz=NEW_YORK)
    assert new_york.body == "2026-03-02 18:30 / 2026-03-02 / Mon 18:30 EST"


def test_preview_fills_the_kinds_sample_data_and_takes_overrides(store: StoreHandle) -> None:
    templates = school_on(store).templates
    saved = templates.save("lesson", "sms", "en", "{{ student.name }}, {{ seats_left }} left")
    assert templates.preview(saved).body == "Ann Lee, 3 left"
    assert templates.preview(saved, {"seats_left": 1}).body == "Ann Lee, 1 left"


def test_a_schools_own_variables_belong_to_their_kind(store: StoreHandle) -> None:
    templates = school_on(store).templates
    saved = templates.save("renewal", "sms", "en", "Renew by {{ renew_by|date }}")
    assert templates.preview(saved, tz=SHANGHAI).body == "Renew by 2026-04-01"
    with pytest.raises(UnknownTemplateVariable):
        templates.save("lesson", "sms", "en", "Renew by {{ renew_by|date }}")


def test_a_language_falls_back_to_its_shorter_tags(store: StoreHandle) -> None:
    templates = school_on(store).templates
    templates.save("lesson", "sms", "zh", "{{ student.name }} 你好")
    assert templates.get("lesson", "sms", "zh-Hant-TW").language == "zh"
    assert templates.versions("lesson", "sms", "zh-Hant-TW") == []
    with pytest.raises(TemplateNotFound):
        templates.get("lesson", "sms", "en")
    with pytest.raises(TemplateNotFound):
        templates.get("lesson", "sms", "zh-Hant-TW", version=1)  # a version is exact


def test_data_missing_at_send_time_is_a_typed_error(store: StoreHandle) -> None:
    templates = school_on(store).templates
    saved = templates.save("lesson", "sms", "en", "{{ student.name }}")
    with pytest.raises(UnknownTemplateVariable):
        templates.render(saved, {"student": {}}, tz=UTC)
    with pytest.raises(TemplateInvalid):
        templates.render(saved, {"student": {"name": datetime(2026, 1, 1)}}, tz=UTC)  # naive
    with pytest.raises(TemplateInvalid):
        templates.render(saved, {"student": {"name": 1.5}}, tz=UTC)  # a float


def test_bad_arguments_are_refused_before_anything_is_stored(store: StoreHandle) -> None:
    templates = school_on(store).templates
    with pytest.raises(InvalidId):
        templates.save("", "sms", "en", "x")
    with pytest.raises(WrongType):
        templates.save("lesson", "sms", "en", 42)  # type: ignore[arg-type]
    with pytest.raises(WrongType):
        templates.render("lesson/sms/en", LESSON, tz=UTC)  # type: ignore[arg-type]
    with pytest.raises(TemplateNotFound):
        templates.get("lesson", "sms", "en")
