"""One input rule for every id, integer, instant and duration a public command takes.

Every service checks its arguments with these functions before any unit of work opens,
so bad input is refused the same way on every adapter (an :class:`~eduengine.errors.
InvalidInput` subclass, HTTP 422) and no storage driver ever sees it: a NUL byte, a lone
surrogate or a 64-bit overflow is never a ``PersistenceError`` that a client would retry.

>>> check_id("python-101", "slot_id")
'python-101'
>>> check_id("a\\x00b", "slot_id")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eduengine.errors.InvalidId: slot_id must be ... got 'a\\x00b'
>>> check_int(2**63, "capacity", high=MAX_CAPACITY)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eduengine.errors.OutOfRange: capacity must be an integer from 0 to 1000000, got 9223372036854775808
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine.errors import InvalidId, NaiveDatetime, OutOfRange, WrongType

#: The longest id a command accepts (characters). Ids are keys, not text: 128 holds a
#: UUID, a URL-safe slug or a host's composite key with room to spare.
MAX_ID_LENGTH = 128

#: The most seats one slot, series or group may hold.
MAX_CAPACITY = 1_000_000

#: The largest count or size a command takes (batch sizes, limits, XP amounts ...).
MAX_COUNT = 1_000_000_000

#: The earliest and latest instant a command takes. Far enough apart for any school,
#: far enough inside ``datetime``'s range that adding a duration never overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)

#: The longest duration a command takes (windows, validity, notice periods).
MAX_DURATION = timedelta(days=100 * 366)


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is an id: a non-empty ``str`` of at most :data:`MAX_ID_LENGTH`
    printable characters (no NUL, no control characters, no lone surrogates), not only
    white space; else :class:`~eduengine.errors.InvalidId`."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_ID_LENGTH
        or not value.isprintable()
        or value.isspace()
    ):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
        raise InvalidId(
            f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} printable "
            f"characters, got {shown!r}",
            field=what,
        )
    return value


def check_optional_id(value: object, what: str = "id") -> str | None:
    """``None``, or ``value`` checked by :func:`check_id`."""
    return None if value is None else check_id(value, what)


def check_ids(values: object, what: str = "ids") -> list[str]:
    """A list, tuple or set of ids (each checked by :func:`check_id`), as a list."""
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise WrongType(f"{what} must be a list of ids, got {values!r}", field=what)
    return [check_id(v, what) for v in values]


def check_int(value: object, what: str, *, low: int = 0, high: int = MAX_COUNT) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) from ``low`` to ``high``; else
    :class:`~eduengine.errors.WrongType` or :class:`~eduengine.errors.OutOfRange`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WrongType(f"{what} must be an integer, got {value!r}", field=what)
    if not low <= value <= high:
        raise OutOfRange(
            f"{what} must be an integer from {low} to {high}, got {value!r}", field=what
        )
    return value


def check_instant(value: object, what: str) -> datetime:
    """``value`` if it is an aware ``datetime`` from :data:`EARLIEST` to :data:`LATEST`;
    else :class:`~eduengine.errors.NaiveDatetime` or :class:`~eduengine.errors.OutOfRange`."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise NaiveDatetime(what, value)
    try:
        offset = value.utcoffset()
    except (OverflowError, ValueError) as exc:
        raise OutOfRange(f"{what} has an unusable time zone: {exc}", field=what) from exc
    if offset is None:
        raise NaiveDatetime(what, value)
    # compare in local terms first: converting datetime.max (+offset) to UTC overflows
    naive = value.replace(tzinfo=None)
    if not EARLIEST.replace(tzinfo=None) + timedelta(days=2) <= naive <= (
        LATEST.replace(tzinfo=None) - timedelta(days=2)
    ) or not EARLIEST <= value <= LATEST:
        raise OutOfRange(
            f"{what} must be between {EARLIEST.date()} and {LATEST.date()}, got {value!r}",
            field=what,
        )
    return value


def check_optional_instant(value: object, what: str) -> datetime | None:
    """``None``, or ``value`` checked by :func:`check_instant`."""
    return None if value is None else check_instant(value, what)


def check_duration(
    value: object,
    what: str,
    *,
    low: timedelta = timedelta(0),
    high: timedelta = MAX_DURATION,
) -> timedelta:
    """``value`` if it is a ``timedelta`` from ``low`` to ``high``; else
    :class:`~eduengine.errors.WrongType` or :class:`~eduengine.errors.OutOfRange`.

    >>> check_duration(timedelta(hours=1), "valid_for")
    datetime.timedelta(seconds=3600)
    """
    if not isinstance(value, timedelta):
        raise WrongType(f"{what} must be a timedelta, got {value!r}", field=what)
    if not low <= value <= high:
        raise OutOfRange(f"{what} must be from {low} to {high}, got {value!r}", field=what)
    return value


def check_text(value: object, what: str, *, max_length: int = 10_000) -> str:
    """Free text (a name, a note, a message): a ``str`` of at most ``max_length``
    characters without NUL or lone surrogates (line breaks and tabs are fine)."""
    if not isinstance(value, str):
        raise WrongType(f"{what} must be a string, got {value!r}", field=what)
    if len(value) > max_length or "\x00" in value or _has_surrogate(value):
        raise InvalidId(
            f"{what} must be at most {max_length} characters without NUL or lone "
            f"surrogates",
            field=what,
        )
    return value


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
