"""Fixed timetables that repeat: an RFC 5545 RRULE (via python-dateutil) plus exclusions.

Sessions keep their wall-clock time in the series' time zone across DST changes
("every Wednesday 20:00 Asia/Shanghai"), and every session lasts exactly as long as the
first (RFC 5545 section 3.8.5.3), also on the night the clocks change.

>>> from datetime import datetime, timedelta
>>> from zoneinfo import ZoneInfo
>>> start = datetime(2026, 3, 2, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
>>> [d.day for d in expand("FREQ=WEEKLY;BYDAY=WE;COUNT=3", start)]
[4, 11, 18]
"""

from __future__ import annotations

import calendar
import functools
import math
from collections.abc import Sequence
from datetime import MAXYEAR, UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import attrs
from dateutil.rrule import rrulestr

from eduengine.booking.model import Slot, WaitlistMode, check_capacity, check_span
from eduengine.errors import (
    InvalidId,
    InvalidInput,
    InvalidRecurrence,
    StartInRule,
    WrongType,
)
from eduengine.kernel.clock import in_own_zone, require_aware
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import MAX_ID_LENGTH, check_id, check_instant

#: A series longer than this is refused (it is almost always an unbounded rule by mistake).
MAX_SESSIONS = 500
#: Every session starts within this long (ten years) of the series' start: the bound that
#: lets a rule with no session at all (``BYMONTH=2;BYMONTHDAY=30``) be refused at once.
HORIZON = timedelta(days=3653)
_HORIZON_YEARS = 12  # calendar years the horizon can touch, with a year to spare
#: The longest rule text taken (a rule naming every part twice is far shorter).
MAX_RULE_LENGTH = 1000
#: The longest series id: its sessions' slot ids (``<series>#001`` ... ``#500``) must
#: still be ids under the input rule.
MAX_SERIES_ID_LENGTH = MAX_ID_LENGTH - len(f"#{MAX_SESSIONS:03d}")

_RULE_PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)


def canonical_rule(rrule: str) -> str:
    """The rule as calendar clients want it: one ``RRULE`` value, upper case, no prefix.

    Refuses a ``DTSTART`` (:class:`StartInRule`; the start argument sets it), other
    properties (``EXDATE``, ``RDATE``: exclusions are an argument), parts RFC 5545 does not
    define (dateutil's ``BYEASTER``) and repeated parts.

    >>> canonical_rule("rrule:freq=weekly;count=3")
    'FREQ=WEEKLY;COUNT=3'
    """
    if not isinstance(rrule, str) or not rrule.strip():
        raise InvalidRecurrence(f"rrule must be a non-empty string, got {rrule!r}")
    if len(rrule) > MAX_RULE_LENGTH or not all(c.isprintable() or c in "\r\n\t" for c in rrule):
        shown = rrule[:40] + "..." if len(rrule) > 40 else rrule
        raise InvalidRecurrence(
            f"rrule must be at most {MAX_RULE_LENGTH} printable characters, got {shown!r}"
        )
    lines = [line.strip() for line in rrule.strip().splitlines() if line.strip()]
    if any(line.upper().startswith("DTSTART") for line in lines):
        raise StartInRule(
            f"rrule {rrule!r} carries a DTSTART; give the first session as dtstart instead"
        )
    if len(lines) != 1:
        raise InvalidRecurrence(f"rrule {rrule!r} must be a single RRULE line")
    text = lines[0].upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if ":" in text:
        raise InvalidRecurrence(f"rrule {rrule!r} is not an RRULE value")
    seen: set[str] = set()
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not eq or not value or name not in _RULE_PARTS or name in seen:
            raise InvalidRecurrence(f"rrule {rrule!r}: bad or repeated part {part!r}")
        seen.add(name)
    if "FREQ" not in seen:
        raise InvalidRecurrence(f"rrule {rrule!r} has no FREQ")
    return text


@attrs.frozen
class Occurrence:
    """One instance of a rule: the wall-clock time the rule names and the instant it is.

    They differ only in a DST gap: ``02:30`` on the night New York skips to 03:00 is the
    instant ``03:30 EDT`` (RFC 5545 reads it with the offset before the gap).
    """

    wall: datetime  # naive
    start: datetime  # aware, in the series' zone, its wall time as a clock shows it


def occurrences(rrule: str, dtstart: datetime) -> list[Occurrence]:
    """Every instance of ``rrule`` from ``dtstart``, before exclusions, in time order.

    ``dtstart`` need not be an instance (a term that starts on a Monday for a Wednesday
    class); the first instance is the first one on or after it. A rule must be bounded
    (``COUNT`` or ``UNTIL``), yield at most :data:`MAX_SESSIONS` sessions within
    :data:`HORIZON` of ``dtstart``, and read the same from its first instance (the
    ``DTSTART`` a calendar feed gives it).
    """
    zoned = in_own_zone(require_aware("dtstart", dtstart))
    if zoned.fold and zoned.replace(fold=0).utcoffset() != zoned.utcoffset():
        raise InvalidRecurrence(
            f"dtstart {dtstart} is the second {zoned:%H:%M} of a night the clocks go back; "
            "a repeating wall-clock time cannot name it"
        )
    text = canonical_rule(rrule)
    parts = dict(part.split("=", 1) for part in text.split(";"))
    count = _count(rrule, parts.pop("COUNT", None))
    until = _until(rrule, parts.pop("UNTIL", None))
    if count is None and until is None:
        raise InvalidRecurrence(f"rrule {rrule!r} never ends; give COUNT or UNTIL")
    probe = ";".join(f"{k}={v}" for k, v in parts.items())
    tz = zoned.tzinfo
    assert tz is not None
    naive = zoned.replace(tzinfo=None)
    if not _some_day_passes(rrule, probe, parts, naive):
        raise InvalidRecurrence(f"rrule {rrule!r} yields no session within {HORIZON.days} days")
    found = _walk(rrule, probe, naive, tz, count, until)
    if not found:
        raise InvalidRecurrence(f"rrule {rrule!r} yields no session")
    if found[0].wall != naive and _walk(rrule, probe, found[0].wall, tz, count, until) != found:
        raise InvalidRecurrence(
            f"rrule {rrule!r} reads differently from its first session {found[0].start}; "
            "start the series there"
        )
    if not isinstance(tz, ZoneInfo | timezone):
        # An unnamed zone (dateutil's tzlocal, a POSIX string) is written as its offset, so
        # the offset must not change over the series.
        offsets = {o.start.utcoffset() for o in found}
        if len(offsets) != 1:
            raise InvalidRecurrence(
                f"dtstart {dtstart}: its time zone changes offset over the series and has no "
                "IANA name; give a zoneinfo.ZoneInfo"
            )
        fixed = timezone(offsets.pop() or timedelta(0))
        found = [Occurrence(o.wall, o.start.astimezone(fixed)) for o in found]
    return found


_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}


def _some_day_passes(rrule: str, probe: str, parts: dict[str, str], naive: datetime) -> bool:
    """Does any day within the horizon pass the rule's month, day and weekday filters?

    A daily rule for 30 February makes dateutil walk day by day to the horizon; this
    looser test (it ignores ``BYWEEKNO``, ``BYSETPOS`` and the n of ``2MO``) refuses
    such a rule in a few milliseconds. Passing it proves nothing; the walk decides.
    """
    try:
        rrulestr(probe, dtstart=naive)  # dateutil's own checks of every value first

        def numbers(name: str) -> set[int]:
            return {int(v) for v in parts[name].split(",")} if name in parts else set()

        months, month_days, year_days = (numbers(n) for n in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY"))
        weekdays = (
            {_WEEKDAYS[d[-2:]] for d in parts["BYDAY"].split(",")} if "BYDAY" in parts else set()
        )
        positions = {abs(p) for p in numbers("BYSETPOS")}
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRecurrence(f"cannot expand rrule {rrule!r}: {exc}") from exc
    finer = ("BYHOUR", "BYMINUTE", "BYSECOND")
    if positions and parts["FREQ"] in ("DAILY", "HOURLY", "MINUTELY", "SECONDLY"):
        # a day (hour, minute) holds one instance per combination of the finer parts
        counted = finer[("DAILY", "HOURLY", "MINUTELY", "SECONDLY").index(parts["FREQ"]) :]
        per_period = math.prod(len(numbers(n)) or 1 for n in counted)
        if min(positions) > per_period:
            return False
    day, last = naive.date(), (naive + HORIZON).date()
    while day <= last:
        if months and day.month not in months:
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            continue
        month_len = calendar.monthrange(day.year, day.month)[1]
        year_len = 365 + calendar.isleap(day.year)
        year_day = day.timetuple().tm_yday
        if (
            (not month_days or day.day in month_days or day.day - month_len - 1 in month_days)
            and (not year_days or year_day in year_days or year_day - year_len - 1 in year_days)
            and (not weekdays or day.weekday() in weekdays)
        ):
            return True
        day += timedelta(days=1)
    return False


def _count(rrule: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_SESSIONS:
        raise InvalidRecurrence(
            f"rrule {rrule!r}: COUNT must be 1 to {MAX_SESSIONS}, got {value!r}"
        )
    return int(value)


def _until(rrule: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRecurrence(
            f"rrule {rrule!r}: UNTIL must be a UTC date-time such as 20261231T235959Z "
            f"(RFC 5545 for a zoned start), got {value!r}"
        ) from None


def _walk(
    rrule: str,
    probe: str,
    naive: datetime,
    tz: tzinfo,
    count: int | None,
    until: datetime | None,
) -> list[Occurrence]:
    # dateutil looks for the next instance up to the year 9999 however long that takes, so a
    # rule with none (30 February) ran for seconds. Years with the same leap-ness and
    # weekday of 1 January are the same calendar, so the rule runs from the last such year
    # run before 9999 (where dateutil stops), and its instances are moved back.
    shift = _calendar_shift(naive.year)
    try:
        rule = rrulestr(probe, dtstart=naive.replace(year=naive.year + shift))
        found: list[Occurrence] = []
        for moved in rule:
            wall = moved.replace(year=moved.year - shift)
            start = (
                wall.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
            )  # a wall time in a DST gap becomes the instant RFC 5545 gives it
            if until is not None and start > until:
                return found
            if wall - naive >= HORIZON:
                break
            found.append(Occurrence(wall, start))
            if len(found) == count:
                return found
            if len(found) > MAX_SESSIONS:
                raise InvalidRecurrence(f"rrule {rrule!r} yields more than {MAX_SESSIONS} sessions")
        else:
            if until is not None and until - HORIZON < naive.replace(tzinfo=tz):
                return found
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRecurrence(f"cannot expand rrule {rrule!r}: {exc}") from exc
    if not found:
        raise InvalidRecurrence(f"rrule {rrule!r} yields no session within {HORIZON.days} days")
    raise InvalidRecurrence(
        f"rrule {rrule!r}: its sessions reach more than {HORIZON.days} days past {naive}"
    )


@functools.lru_cache(maxsize=256)
def _calendar_shift(year: int) -> int:
    """Years to add to ``year`` so the next :data:`_HORIZON_YEARS` years have the same
    calendars (leap years and weekdays) and end as close to 9999 as they can."""

    def shape(y: int) -> tuple[bool, int]:
        return calendar.isleap(y), date(y, 1, 1).weekday()

    wanted = [shape(year + i) for i in range(min(_HORIZON_YEARS, MAXYEAR - year + 1))]
    for first in range(MAXYEAR - len(wanted) + 1, year, -1):
        if all(shape(first + i) == want for i, want in enumerate(wanted)):
            return first - year
    return 0


def expand(
    rrule: str, dtstart: datetime, exdates: Sequence[datetime | date] = ()
) -> list[datetime]:
    """All session starts of ``rrule`` from ``dtstart``, minus ``exdates``.

    An exdate that is a ``datetime`` removes the session starting at that instant (the
    second 01:30 of a night the clocks go back is not the first); a plain ``date`` removes
    every session on that local day.
    """
    return [o.start for o in _kept(rrule, occurrences(rrule, dtstart), exdates)]


def _kept(
    rrule: str, found: Sequence[Occurrence], exdates: Sequence[datetime | date]
) -> list[Occurrence]:
    excluded_instants = set()
    excluded_days = set()
    for ex in exdates:
        if isinstance(ex, datetime):
            excluded_instants.add(micros(require_aware("exdate", ex)))
        elif isinstance(ex, date):
            excluded_days.add(ex)
        else:
            raise InvalidInput(f"exdate must be a datetime or date, got {ex!r}")
    kept = [
        o
        for o in found
        if micros(o.start) not in excluded_instants and o.start.date() not in excluded_days
    ]
    if not kept:
        raise InvalidRecurrence(f"rrule {rrule!r} yields no session after exclusions")
    return kept


def check_exdates(exdates: object) -> list[datetime | date]:
    """``exdates`` if it is a list, tuple or set of aware datetimes (each within the input
    rule's instants) and dates; else an :class:`~eduengine.errors.InvalidInput`.

    >>> check_exdates([date(2026, 4, 1)])
    [datetime.date(2026, 4, 1)]
    """
    if isinstance(exdates, str | bytes) or not isinstance(exdates, list | tuple | set | frozenset):
        raise WrongType(f"exdates must be a list of datetimes or dates, got {exdates!r}")
    for ex in exdates:
        if isinstance(ex, datetime):
            check_instant(ex, "exdate")
        elif not isinstance(ex, date):
            raise InvalidInput(f"exdate must be a datetime or date, got {ex!r}")
    return list(exdates)


def check_series_id(value: object) -> str:
    """A series id: an id (see :func:`~eduengine.kernel.inputs.check_id`) of at most
    :data:`MAX_SERIES_ID_LENGTH` characters, so its sessions' slot ids are ids too.

    >>> check_series_id("python-101")
    'python-101'
    """
    series_id = check_id(value, "series_id")
    if len(series_id) > MAX_SERIES_ID_LENGTH:
        raise InvalidId(
            f"series_id must be at most {MAX_SERIES_ID_LENGTH} characters (its sessions are "
            f"'<series_id>#001' ...), got {len(series_id)}",
            field="series_id",
        )
    return series_id


def session_end(start: datetime, duration: timedelta) -> datetime:
    """``start + duration`` in elapsed time, on the wall clock of ``start``'s zone.

    Python's ``start + duration`` adds wall-clock time, so a 2-hour lesson from 00:30 on
    the night London's clocks go back would last 3 hours.

    >>> london = ZoneInfo("Europe/London")
    >>> session_end(datetime(2026, 10, 25, 0, 30, tzinfo=london), timedelta(hours=2))
    datetime.datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo(key='Europe/London'))
    """
    return (start.astimezone(UTC) + duration).astimezone(start.tzinfo)


def session_id(series_id: str, index: int) -> str:
    """Session slot ids sort in time order: ``<series>#001``, ``<series>#002`` ..."""
    return f"{series_id}#{index:03d}"


@attrs.frozen(kw_only=True)
class Series:
    """A repeating timetable whose sessions are ordinary slots.

    ``rrule`` is kept in its canonical form (:func:`canonical_rule`) and ``dtstart`` is the
    rule's first instance as a wall-clock time in the series' zone: the first session,
    unless an exdate removed it.
    """

    id: str
    course_id: str
    rrule: str
    dtstart: datetime
    duration: timedelta
    capacity: int
    exdates: tuple[datetime | date, ...] = ()
    tutor_id: str | None = None
    slot_ids: tuple[str, ...] = ()

    def occurrences(self) -> list[Occurrence]:
        """The rule's instances, excluded ones included (see :func:`occurrences`)."""
        return occurrences(self.rrule, self.dtstart)

    @classmethod
    def create(
        cls,
        *,
        series_id: str,
        course_id: str,
        rrule: str,
        dtstart: datetime,
        duration: timedelta,
        capacity: int,
        exdates: Sequence[datetime | date] = (),
        tutor_id: str | None = None,
        waitlist_mode: WaitlistMode = WaitlistMode.AUTO,
        offer_ttl: timedelta = timedelta(hours=2),
        now: datetime | None = None,
    ) -> tuple[Series, list[Slot]]:
        """Validate, expand and build the series and one slot per session."""
        check_series_id(series_id)
        check_span(duration, "duration")
        check_capacity(capacity)
        found = occurrences(rrule, dtstart)
        kept = _kept(rrule, found, exdates)
        slots = [
            Slot.create(
                slot_id=session_id(series_id, n),
                course_id=course_id,
                start=o.start,
                end=session_end(o.start, duration),
                capacity=capacity,
                tutor_id=tutor_id,
                series_id=series_id,
                waitlist_mode=waitlist_mode,
                offer_ttl=offer_ttl,
                now=now,
            )
            for n, o in enumerate(kept, start=1)
        ]
        series = cls(
            id=series_id,
            course_id=course_id,
            rrule=canonical_rule(rrule),
            dtstart=found[0].wall.replace(tzinfo=found[0].start.tzinfo),
            duration=duration,
            capacity=capacity,
            exdates=tuple(in_own_zone(x) if isinstance(x, datetime) else x for x in exdates),
            tutor_id=tutor_id,
            slot_ids=tuple(s.id for s in slots),
        )
        return series, slots
