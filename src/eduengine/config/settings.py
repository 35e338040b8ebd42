"""A school's settings as one typed, frozen value, loadable from a TOML file and the
environment: what a host keeps in its configuration rather than in code.

``School.build(store, settings)`` takes it; keyword arguments still wire what settings
cannot hold (a payment gateway, a clock, a host's own rules objects).

>>> settings = SchoolSettings.from_toml_text('''
... [cancellation]
... free_until = "12h"
... late_fee = "30.00 CNY"
... [reminders]
... offsets = ["1d", "15m"]
... [levels]
... attendance_xp = 10
... ''')
>>> settings.cancellation.free_until, str(settings.cancellation.late_fee)
(datetime.timedelta(seconds=43200), '30.00 CNY')
>>> settings.reminders.offsets
(datetime.timedelta(days=1), datetime.timedelta(seconds=900))
>>> SchoolSettings.from_toml_text('[cancellation]\\nfree_until = "soon"')
Traceback (most recent call last):
...
eduengine.errors.InvalidSetting: settings: [cancellation] free_until: a duration is a number \
and a unit (d, h, m or s), like "24h" or "1h30m", got 'soon'
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from eduengine.community.model import RateLimit, RateLimits
from eduengine.errors import EduEngineError, InvalidSetting
from eduengine.kernel.money import Money
from eduengine.notices.plan import ReminderPlan
from eduengine.policies.model import CancellationPolicy

__all__ = [
    "ENV_PREFIX",
    "CancellationSettings",
    "CommunitySettings",
    "LevelSettings",
    "ReminderSettings",
    "SchoolSettings",
    "WiringSettings",
    "parse_duration",
]

#: environment variables ``EDUENGINE_<SECTION>__<KEY>`` override the file's values
ENV_PREFIX = "EDUENGINE_"

_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)([dhms]))+")
_PART = re.compile(r"(\d+)([dhms])")


def parse_duration(value: object, where: str = "duration") -> timedelta:
    """``"24h"``, ``"1h30m"``, ``"7d"`` or a number of seconds as a :class:`timedelta`.

    >>> parse_duration("1h30m"), parse_duration(90)
    (datetime.timedelta(seconds=5400), datetime.timedelta(seconds=90))
    """
    if isinstance(value, bool):
        pass
    elif isinstance(value, int) and value >= 0:
        return timedelta(seconds=value)
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip()):
        seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(value))
        return timedelta(seconds=seconds)
    raise InvalidSetting(
        f'{where}: a duration is a number and a unit (d, h, m or s), like "24h" or '
        f'"1h30m", got {value!r}'
    )


def _money(value: object, where: str) -> Money:
    parts = value.split() if isinstance(value, str) else []
    if len(parts) == 2:
        try:
            amount = Decimal(parts[0])
            money = Money(amount, parts[1])
        except (InvalidOperation, EduEngineError) as error:
            raise InvalidSetting(f"{where}: {error}") from None
        if money.amount != amount:
            # a fee is what the school wrote, never rounded behind its back
            raise InvalidSetting(f"{where}: {value!r} has more places than {money.currency} keeps")
        return money
    raise InvalidSetting(
        f'{where}: an amount is a number and a currency, like "30.00 CNY", got {value!r}'
    )


def _count(value: object, where: str, *, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidSetting(f"{where}: a whole number >= 0 is expected, got {value!r}")
    return value


def _batch(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise InvalidSetting(f"{where}: a whole number from 1 to 10000 is expected, got {value!r}")
    return value


def _reaction_wait(value: object, where: str) -> timedelta:
    # under a second is what it usually is: a number of seconds (0.1), or a duration
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if value < 0:
            raise InvalidSetting(f"{where}: a wait >= 0 is expected, got {value!r}")
        wait = timedelta(seconds=value)
    else:
        wait = parse_duration(value, where)
    if wait > timedelta(hours=1):
        raise InvalidSetting(f"{where}: at most one hour is expected, got {value!r}")
    return wait


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(f"{where}: true or false is expected, got {value!r}")
    return value


@attrs.frozen
class CancellationSettings:
    """The ``[cancellation]`` table: :class:`~eduengine.policies.model.CancellationPolicy`."""

    free_until: timedelta = timedelta(hours=24)
    late_fee: Money | None = None
    max_violations: int | None = 3
    period: timedelta = timedelta(days=30)
    restrict_for: timedelta | None = timedelta(days=7)
    max_open_bookings: int | None = None
    max_reschedules: int = 2

    def policy(self) -> CancellationPolicy:
        return CancellationPolicy(
            free_until=self.free_until,
            late_fee=self.late_fee,
            max_violations=self.max_violations,
            period=self.period,
            restrict_for=self.restrict_for,
            max_open_bookings=self.max_open_bookings,
            max_reschedules=self.max_reschedules,
        )


@attrs.frozen
class ReminderSettings:
    """The ``[reminders]`` table: when a booking's reminders go out (``enabled = false``:
    none)."""

    enabled: bool = True
    confirmation: bool = True
    offsets: tuple[timedelta, ...] = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=15))

    def plan(self) -> ReminderPlan | None:
        return (
            ReminderPlan(offsets=self.offsets, confirmation=self.confirmation)
            if self.enabled
            else None
        )


@attrs.frozen
class CommunitySettings:
    """The ``[community]`` table: posting rate limits, stricter for new members."""

    per_minute: int = 5
    per_day: int = 200
    new_per_minute: int = 2
    new_per_day: int = 20
    new_for: timedelta = timedelta(days=7)

    def limits(self) -> RateLimits:
        return RateLimits(
            member=RateLimit(per_minute=self.per_minute, per_day=self.per_day),
            new_member=RateLimit(per_minute=self.new_per_minute, per_day=self.new_per_day),
            new_for=self.new_for,
        )


@attrs.frozen
class LevelSettings:
    """The ``[levels]`` table: ``attendance_xp`` per attended lesson (none: off)."""

    attendance_xp: int | None = None


@attrs.frozen
class WiringSettings:
    """The ``[school]`` table: how the school runs its reactions and which plugins it
    loads (entry-point names of the ``eduengine.plugins`` group; ``["*"]``: every
    installed one)."""

    analytics: bool = True
    notices: bool = True
    inline_projections: bool = True
    settle_payments_after: timedelta = timedelta(minutes=15)
    plugins: tuple[str, ...] = ()
    #: how unmasked reads file their audit rows: ``synchronous`` (in the read's
    #: transaction), ``buffered`` (in batches) or ``journal`` (in batches, journaled in
    #: a file first); ``None``: the store's default (``journal`` on a SQLite database
    #: file or where ``audit_journal`` is named, else ``synchronous``; docs/privacy.md)
    audit: str | None = None
    #: the directory of the audit journals (``None``: beside a SQLite database file)
    audit_journal: str | None = None
    #: events whose reactions an inline school applies together, and how long the
    #: oldest may wait (``School.build``'s ``reaction_batch`` and ``reaction_wait``)
    reaction_batch: int = 100
    reaction_wait: timedelta = timedelta(milliseconds=100)


_Reader = Callable[[object, str], Any]


def _duration(value: object, where: str) -> timedelta:
    return parse_duration(value, where)


def _optional_duration(value: object, where: str) -> timedelta | None:
    return None if value is None or value == "" else parse_duration(value, where)


def _durations(value: object, where: str) -> tuple[timedelta, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise InvalidSetting(f"{where}: a list of durations is expected, got {value!r}")
    return tuple(
        parse_duration(item.strip() if isinstance(item, str) else item, where) for item in value
    )


def _audit_mode(value: object, where: str) -> str:
    if value not in ("synchronous", "buffered", "journal"):
        raise InvalidSetting(
            f"{where}: 'synchronous', 'buffered' or 'journal' is expected, got {value!r}"
        )
    return str(value)


def _folder(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidSetting(f"{where}: a directory path is expected, got {value!r}")
    return value


def _names(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidSetting(f"{where}: a list of names is expected, got {value!r}")
    return tuple(value)


_SECTIONS: dict[str, tuple[str, type[Any], dict[str, _Reader]]] = {
    "school": (
        "wiring",
        WiringSettings,
        {
            "analytics": _flag,
            "notices": _flag,
            "inline_projections": _flag,
            "settle_payments_after": _duration,
            "plugins": _names,
            "audit": _audit_mode,
            "audit_journal": _folder,
            "reaction_batch": _batch,
            "reaction_wait": _reaction_wait,
        },
    ),
    "cancellation": (
        "cancellation",
        CancellationSettings,
        {
            "free_until": _duration,
            "late_fee": lambda v, w: None if v in (None, "") else _money(v, w),
            "max_violations": lambda v, w: _count(v, w, optional=True),
            "period": _duration,
            "restrict_for": _optional_duration,
            "max_open_bookings": lambda v, w: _count(v, w, optional=True),
            "max_reschedules": _count,
        },
    ),
    "reminders": (
        "reminders",
        ReminderSettings,
        {"enabled": _flag, "confirmation": _flag, "offsets": _durations},
    ),
    "community": (
        "community",
        CommunitySettings,
        {
            "per_minute": _count,
            "per_day": _count,
            "new_per_minute": _count,
            "new_per_day": _count,
            "new_for": _duration,
        },
    ),
    "levels": (
        "levels",
        LevelSettings,
        {"attendance_xp": lambda v, w: _count(v, w, optional=True)},
    ),
}

# what an environment variable's text means for each kind of reader
_ENV_TEXT: dict[_Reader, Callable[[str], object]] = {
    _flag: lambda text: {"true": True, "1": True, "false": False, "0": False}.get(
        text.lower(), text
    ),
    _count: lambda text: int(text) if text.isdigit() else text,
}


def _unknown_key(where: str, table: str, key: str, readers: Mapping[str, object]) -> InvalidSetting:
    known = ", ".join(sorted(readers))
    return InvalidSetting(f"{where}: [{table}] has no key {key!r} (known: {known})")


def _env_value(reader: _Reader, text: str) -> object:
    convert = _ENV_TEXT.get(reader)
    if convert is not None:
        return convert(text)
    if text.isdigit():
        return int(text)
    return None if text.lower() in ("", "none") else text


@attrs.frozen
class SchoolSettings:
    """Everything about a school that a host configures rather than codes, each table a
    typed, frozen value; unknown tables and keys are refused (a typo never passes
    silently as a default).

    >>> SchoolSettings().wiring.analytics
    True
    >>> SchoolSettings.from_env({"EDUENGINE_LEVELS__ATTENDANCE_XP": "5"}).levels.attendance_xp
    5
    """

    wiring: WiringSettings = WiringSettings()
    cancellation: CancellationSettings = CancellationSettings()
    reminders: ReminderSettings = ReminderSettings()
    community: CommunitySettings = CommunitySettings()
    levels: LevelSettings = LevelSettings()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "settings") -> SchoolSettings:
        """Settings from parsed TOML (tables of keys), checked key by key."""
        return cls()._merged(data, source)

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "settings") -> SchoolSettings:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InvalidSetting(f"{source}: not valid TOML: {error}") from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> SchoolSettings:
        """Settings from a TOML file (missing tables keep their defaults)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidSetting(
                f"settings file {os.fspath(path)!r} cannot be read: {error}"
            ) from None
        return cls.from_toml_text(text, source=os.fspath(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SchoolSettings:
        """Defaults overridden by ``EDUENGINE_<TABLE>__<KEY>`` variables."""
        return cls().with_env(os.environ if environ is None else environ)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> SchoolSettings:
        """The file at ``path`` (if any), then the environment over it: the usual order
        for a service's configuration."""
        base = cls.from_toml(path) if path is not None else cls()
        return base.with_env(os.environ if environ is None else environ)

    def with_env(self, environ: Mapping[str, str]) -> SchoolSettings:
        """These settings with ``EDUENGINE_<TABLE>__<KEY>`` variables applied over them."""
        data: dict[str, dict[str, object]] = {}
        for name, text in environ.items():
            if not name.startswith(ENV_PREFIX) or "__" not in name:
                continue
            table, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
            if table not in _SECTIONS:
                # EDUENGINE_PG_DSN and the like: variables of other parts of a host
                continue
            readers = _SECTIONS[table][2]
            if key not in readers:
                raise _unknown_key(name, table, key, readers)
            data.setdefault(table, {})[key] = _env_value(readers[key], text)
        return self._merged(data, "environment")

    def _merged(self, data: Mapping[str, Any], source: str) -> SchoolSettings:
        changes: dict[str, Any] = {}
        for table, values in data.items():
            if table not in _SECTIONS:
                raise InvalidSetting(
                    f"{source}: unknown table [{table}] (known: {', '.join(_SECTIONS)})"
                )
            attribute, _kind, readers = _SECTIONS[table]
            if not isinstance(values, Mapping):
                raise InvalidSetting(f"{source}: [{table}] must be a table, got {values!r}")
            fields: dict[str, Any] = {}
            for key, value in values.items():
                reader = readers.get(key)
                if reader is None:
                    raise _unknown_key(source, table, key, readers)
                fields[key] = reader(value, f"{source}: [{table}] {key}")
            try:
                changes[attribute] = attrs.evolve(getattr(self, attribute), **fields)
            except EduEngineError as error:
                raise InvalidSetting(f"{source}: [{table}]: {error}") from None
        settings = attrs.evolve(self, **changes)
        settings._check(source)
        return settings

    def _check(self, source: str) -> None:
        # the domain values check themselves: build each once so a bad combination is
        # refused where the settings are read, not when the first lesson is booked
        for table, make in (
            ("cancellation", self.cancellation.policy),
            ("reminders", self.reminders.plan),
            ("community", self.community.limits),
        ):
            try:
                make()
            except EduEngineError as error:
                raise InvalidSetting(f"{source}: [{table}]: {error}") from None
