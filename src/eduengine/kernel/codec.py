"""Text forms for values stored in JSON documents and SQL columns.

An aware datetime becomes ``<ISO-8601>|<zone key>`` so a ``ZoneInfo`` survives the trip:

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> when = datetime(2026, 3, 4, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
>>> dt_out(when)
'2026-03-04T20:00:00+08:00|Asia/Shanghai'
>>> dt_in(dt_out(when)) == when and dt_in(dt_out(when)).tzinfo == when.tzinfo
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from eduengine.kernel.clock import zone_key

#: texts of recent instants: a seat's notices and reminders write the same few (the
#: class's start, the booking time) a dozen times. Only plain datetimes in a ZoneInfo
#: (equal only to itself) or a fixed offset (equal ones print alike) are kept: two other
#: tzinfos may compare equal and still name different zones.
_TEXTS: dict[tuple[datetime, tzinfo | None, int], str] = {}
_KEPT = 4096


def dt_out(value: datetime) -> str:
    tz = value.tzinfo
    plain = type(value) is datetime and type(tz) in (ZoneInfo, timezone)
    if plain:
        # with one tzinfo, datetimes compare by wall time, not fold: the key holds both
        text = _TEXTS.get((value, tz, value.fold))
        if text is not None:
            return text
    # a dateutil or pytz zone comes back as the ZoneInfo of the same name
    text = f"{value.isoformat()}|{zone_key(tz) or ''}"
    if plain:
        if len(_TEXTS) >= _KEPT:
            _TEXTS.clear()
        _TEXTS[value, tz, value.fold] = text
    return text


#: instants of recent texts: every command on a slot reads its start and end again
#: (datetimes are immutable, so one parsed value serves every read of the same text)
_INSTANTS: dict[str, datetime] = {}


def dt_in(text: str) -> datetime:
    if type(text) is not str:  # refused by the parser, as it is
        return _dt_in(text)
    value = _INSTANTS.get(text)
    if value is None:
        value = _dt_in(text)
        if len(_INSTANTS) >= _KEPT:
            _INSTANTS.clear()
        _INSTANTS[text] = value
    return value


def _dt_in(text: str) -> datetime:
    stamp, _, zone = text.partition("|")
    value = datetime.fromisoformat(stamp)
    if not zone:
        return value
    tz = ZoneInfo(zone)
    # Keep the wall time as written where it names this instant: a rule's start in a DST
    # gap (02:30 on the spring change) or the second 01:30 of the autumn one.
    for fold in (0, 1):
        local = value.replace(tzinfo=tz, fold=fold)
        if local.utcoffset() == value.utcoffset():
            return local
    return value.astimezone(tz)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Microseconds since the Unix epoch: the integer an index files a time under.

    >>> micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC instant ``value`` microseconds after the epoch (inverse of :func:`micros`)."""
    return EPOCH + timedelta(microseconds=value)
