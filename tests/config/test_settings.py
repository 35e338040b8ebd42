"""A school's settings from TOML and the environment (issue #27): each table reaches the
school it builds, the environment wins over the file, and a bad value or a typo is a
typed refusal that names where it is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine import FixedClock, InMemoryStore, School
from eduengine.config import SchoolSettings, parse_duration
from eduengine.errors import InvalidSetting
from eduengine.kernel.money import Money
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

SETTINGS = """
[school]
analytics = false
notices = false
inline_projections = true
settle_payments_after = "30m"

[cancellation]
free_until = "12h"
late_fee = "30.00 CNY"
max_violations = 2
restrict_for = "3d"

[reminders]
offsets = ["1d", "15m"]

[community]
per_minute = 1
new_per_minute = 1

[levels]
attendance_xp = 10
"""


def test_a_settings_file_reaches_the_school_it_builds(store: StoreHandle, tmp_path: Path) -> None:
    path = tmp_path / "school.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    settings = SchoolSettings.load(path, environ={})
    clock = FixedClock(T0)
    school = School.build(store, settings, clock=clock)
    policy = school.policies.policy
    assert policy.free_until == timedelta(hours=12)
    assert policy.late_fee == Money("30.00", "CNY")
    assert policy.max_violations == 2 and policy.restrict_for == timedelta(days=3)
    assert school.payments.settle_after == timedelta(minutes=30)
    table = school.rules()
    assert "projection analytics" not in table and "projection notices" not in table
    assert "projection attendance_xp" in table
    # attendance XP from one line of settings, no host code
    start = T0 + timedelta(hours=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 3)
    booking = school.booking.book(slot.id, "ann")
    clock.set(start + timedelta(minutes=5))
    school.booking.mark_attended(booking.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 10


def test_without_settings_the_defaults_hold(store: StoreHandle) -> None:
    plain, configured = School.build(store), School.build(store, SchoolSettings())
    assert plain.policies.policy == configured.policies.policy
    assert list(plain.rules()) == list(configured.rules())


def test_a_keyword_argument_wins_over_the_settings() -> None:
    settings = SchoolSettings.from_toml_text('[school]\nsettle_payments_after = "1h"')
    school = School.build(InMemoryStore(), settings, settle_payments_after=timedelta(minutes=5))
    assert school.payments.settle_after == timedelta(minutes=5)


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "school.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    env = {
        "EDUENGINE_CANCELLATION__FREE_UNTIL": "6h",
        "EDUENGINE_SCHOOL__ANALYTICS": "true",
        "EDUENGINE_LEVELS__ATTENDANCE_XP": "none",
        "EDUENGINE_REMINDERS__OFFSETS": "2h,10m",
        # another part of the host's configuration is not ours to refuse
        "EDUENGINE_PG_DSN": "postgresql://x",
    }
    settings = SchoolSettings.load(path, environ=env)
    assert settings.cancellation.free_until == timedelta(hours=6)
    assert settings.cancellation.late_fee == Money("30.00", "CNY")  # from the file
    assert settings.wiring.analytics is True
    assert settings.levels.attendance_xp is None
    assert settings.reminders.offsets == (timedelta(hours=2), timedelta(minutes=10))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[cancelation]\nfree_until = '1h'", "unknown table [cancelation]"),
        ("[cancellation]\nfree_untill = '1h'", "[cancellation] has no key 'free_untill'"),
        ("[cancellation]\nfree_until = 'soon'", "[cancellation] free_until"),
        ("[cancellation]\nlate_fee = 30", "[cancellation] late_fee"),
        ("[cancellation]\nlate_fee = '30.001 CNY'", "[cancellation] late_fee"),
        ("[cancellation]\nlate_fee = '30 XXQ'", "[cancellation] late_fee"),
        ("[school]\nanalytics = 'no'", "[school] analytics"),
        ("[levels]\nattendance_xp = -5", "[levels] attendance_xp"),
        ("[reminders]\noffsets = '1h'\nconfirmation = 1", "[reminders] confirmation"),
        ("[school]\nplugins = [1]", "[school] plugins"),
        ("cancellation = 3", "[cancellation] must be a table"),
        ("[cancellation\n", "not valid TOML"),
    ],
)
def test_a_bad_setting_is_refused_naming_where(text: str, where: str) -> None:
    with pytest.raises(InvalidSetting, match=None) as refused:
        SchoolSettings.from_toml_text(text, source="school.toml")
    assert where in str(refused.value)
    assert str(refused.value).startswith("school.toml")


def test_a_bad_environment_variable_is_refused_naming_it() -> None:
    with pytest.raises(InvalidSetting, match="EDUENGINE_SCHOOL__ANALYTIX"):
        SchoolSettings.from_env({"EDUENGINE_SCHOOL__ANALYTIX": "true"})
    with pytest.raises(InvalidSetting, match=r"environment: \[levels\] attendance_xp"):
        SchoolSettings.from_env({"EDUENGINE_LEVELS__ATTENDANCE_XP": "ten"})


def test_a_missing_file_is_a_setting_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match="cannot be read"):
        SchoolSettings.from_toml(tmp_path / "nope.toml")


def test_settings_are_frozen() -> None:
    settings = SchoolSettings()
    with pytest.raises(AttributeError):
        settings.wiring = settings.wiring  # type: ignore[misc]


@given(
    days=st.integers(0, 400),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
def test_a_written_duration_reads_back(days: int, hours: int, minutes: int, seconds: int) -> None:
    text = f"{days}d{hours}h{minutes}m{seconds}s"
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_duration(text) == expected
    assert parse_duration(int(expected.total_seconds())) == expected


def test_the_reactions_batch_and_wait_come_from_the_settings() -> None:
    settings = SchoolSettings.from_toml_text('[school]\nreaction_batch = 1\nreaction_wait = "2s"')
    runner = School.build(InMemoryStore(), settings).projections
    assert (runner.defer_events, runner.defer_wait) == (1, 2.0)
    default = School.build(InMemoryStore(), SchoolSettings()).projections
    assert (default.defer_events, default.defer_wait) == (100, 0.1)
    # a keyword argument wins over the settings
    assert School.build(InMemoryStore(), settings, reaction_batch=7).projections.defer_events == 7
    quick = SchoolSettings.from_toml_text("[school]\nreaction_wait = 0.25")
    assert School.build(InMemoryStore(), quick).projections.defer_wait == 0.25
    bad_ones = ("reaction_batch = 0", "reaction_batch = true", 'reaction_wait = "2h"')
    for bad in (*bad_ones, "reaction_wait = -1", "reaction_wait = 5000"):
        with pytest.raises(InvalidSetting, match=bad.split(" ")[0]):
            SchoolSettings.from_toml_text(f"[school]\n{bad}")
