"""The stored text of an instant: ``dt_out`` remembers recent texts, and a remembered one
is always the text the instant would get afresh (issue #22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import tz as dateutil_tz

from eduengine.kernel.clock import zone_key
from eduengine.kernel.codec import dt_in, dt_out

NEW_YORK = ZoneInfo("America/New_York")


def fresh(value: datetime) -> str:
    return f"{value.isoformat()}|{zone_key(value.tzinfo) or ''}"


def test_equal_datetimes_that_print_differently_get_their_own_text() -> None:
    autumn = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # the hour that comes twice
    gap = datetime(2026, 3, 8, 2, 30, tzinfo=NEW_YORK)  # the hour that never comes
    utc = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    cases = [
        autumn,
        autumn.replace(fold=1),  # equal to the first (one zone: wall time), another instant
        gap,
        datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),  # the same instant as the gap's 02:30
        utc,
        utc.astimezone(NEW_YORK),
        utc.astimezone(ZoneInfo("Asia/Shanghai")),
        utc.astimezone(timezone(timedelta(0), "Z")),
        utc.astimezone(timezone(timedelta(hours=-5))),
        # dateutil zones of one rule compare equal but name different zones: not kept
        utc.astimezone(dateutil_tz.gettz("America/New_York")),
        utc.astimezone(dateutil_tz.gettz("US/Eastern")),
    ]
    for _ in range(3):  # the second and third rounds are answered from what was kept
        for value in cases:
            assert dt_out(value) == fresh(value)
            back = dt_in(dt_out(value))
            assert back == value and back.utcoffset() == value.utcoffset()
    assert dt_out(autumn) != dt_out(autumn.replace(fold=1))
    assert dt_out(cases[-2]).endswith("|America/New_York")
    assert dt_out(cases[-1]).endswith("|US/Eastern")


def test_many_instants_are_all_printed_right() -> None:
    start = datetime(2026, 1, 1, tzinfo=NEW_YORK)
    for hours in range(0, 24 * 400, 7):  # more than are kept, across both DST changes
        value = start + timedelta(hours=hours)
        assert dt_out(value) == fresh(value)
        assert dt_out(value.astimezone(UTC)) == fresh(value.astimezone(UTC))


def test_a_text_read_again_gives_the_instant_it_names_with_its_zone_and_fold() -> None:
    # dt_in keeps the instants of recent texts (a slot's start and end are read by every
    # command on it, issue #22): what it hands back again must be what the text says
    london = ZoneInfo("Europe/London")
    second = datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=london)  # the repeated hour
    for value in (second, second.replace(fold=0), second.astimezone(UTC)):
        text = dt_out(value)
        first, again = dt_in(text), dt_in(text)
        assert again is first
        assert (again, again.tzinfo, again.fold, dt_out(again)) == (
            value, value.tzinfo, value.fold, text
        )  # fmt: skip
    # the two 01:30s are an hour apart (as instants: one zone's datetimes compare by wall time)
    first_half = dt_in(dt_out(second.replace(fold=0))).astimezone(UTC)
    assert dt_in(dt_out(second)).astimezone(UTC) - first_half == timedelta(hours=1)
