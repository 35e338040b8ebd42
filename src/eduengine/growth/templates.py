"""Message templates per kind, channel and language, rendered in Jinja2's sandbox.

A template's body (and an email's subject) is Jinja2 text over the variables its kind
provides (:data:`VARIABLES`: the student, the course, the lesson's time, seats, an
amount ...; a school adds its own per kind). Everything is checked when a template is
saved, never when a message is sent: it must compile, name only variables its kind
provides (an unknown one is :class:`~eduengine.errors.UnknownTemplateVariable`), and
render with the kind's sample data under ``StrictUndefined`` (so ``student.nmae`` is
refused too). The sandbox refuses access to Python internals; a rendering longer than
:data:`MAX_OUTPUT` characters, loops over ``range`` of more than :data:`MAX_STEPS` steps in
all, and a text repeated past :data:`MAX_OUTPUT` are refused.

Money renders with its currency's minor units (``299.00 CNY``, ``1500 JPY``;
``{{ amount|amount }}`` gives the number alone) and datetimes in the recipient's zone
(``2026-03-02 17:00``; ``{{ starts_at|time }}`` the time of day, ``{{ starts_at|date }}``
the date, ``{{ starts_at|datetime("%m月%d日 %H:%M") }}`` any ``strftime`` format).

>>> from datetime import datetime, timezone
>>> from zoneinfo import ZoneInfo
>>> from eduengine.kernel.money import Money
>>> text = compile_template("开课提醒：{{ student.name }}，{{ course.title }} 于 "
...                         "{{ starts_at|time }} 开始，费用 {{ amount }}", kind="lesson")
>>> render(text, {"student": {"id": "ann", "name": "安娜"},
...               "course": {"id": "py", "title": "Python 入门"},
...               "starts_at": datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc),
...               "amount": Money("299", "CNY")}, tz=ZoneInfo("Asia/Shanghai"))
'开课提醒：安娜，Python 入门 于 17:00 开始，费用 299.00 CNY'
>>> compile_template("Hi {{ studnet.name }}", kind="lesson")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eduengine.errors.UnknownTemplateVariable: the template uses 'studnet', which kind 'lesson' ...
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import attrs
import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from eduengine.errors import TemplateInvalid, UnknownTemplateVariable
from eduengine.kernel.money import Money
from eduengine.kernel.records import reader, writer

__all__ = [
    "MAX_OUTPUT",
    "MAX_STEPS",
    "SAMPLE",
    "VARIABLES",
    "MessageTemplate",
    "RenderedMessage",
    "TemplateRef",
    "compile_template",
    "render",
    "sample_for",
]

#: the longest rendered message, in characters
MAX_OUTPUT = 20_000
#: the longest template source, in characters
MAX_SOURCE = 20_000

_SAMPLE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: sample values of the variables every kind provides: what :func:`preview` shows when
#: no sample is given, and what a template is tried with when it is saved
SAMPLE: Mapping[str, Any] = {
    "school": {"name": "Example School"},
    "student": {"id": "s-1", "name": "Ann Lee"},
    "guardian": {"name": "Mei Lee"},
    "course": {"id": "c-1", "title": "Python 101"},
    "lesson": {"id": "slot-1", "title": "Loops"},
    "starts_at": _SAMPLE_TIME,
    "ends_at": _SAMPLE_TIME.replace(hour=10),
    "seats": 8,
    "seats_left": 3,
    "credits_left": 2,
    "amount": Money("299.00", "CNY"),
    "link": "https://school.example/s/abc",
}

#: the variables each kind provides, by name (a kind not listed provides every one of
#: :data:`SAMPLE`); a school passes its own with ``TemplateService(variables=...)``
VARIABLES: Mapping[str, frozenset[str]] = {
    "lesson": frozenset(
        {
            "school",
            "student",
            "guardian",
            "course",
            "lesson",
            "starts_at",
            "ends_at",
            "seats",
            "seats_left",
            "amount",
            "link",
        }
    ),
    "renewal": frozenset(
        {"school", "student", "guardian", "course", "credits_left", "amount", "link"}
    ),
}


def _in_zone(value: Any, tz: tzinfo) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TemplateInvalid(f"a template variable holds a naive datetime: {value!r}")
        return value.astimezone(tz)
    if isinstance(value, Mapping):
        return {k: _in_zone(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_in_zone(v, tz) for v in value]
    return value


def _finalize(value: Any) -> Any:
    # how a bare {{ value }} prints: money with its currency, time without seconds
    if isinstance(value, Money):
        return f"{value.amount:.{value.places}f} {value.currency}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        raise TemplateInvalid(f"the template renders a float ({value!r}): pass Decimal")
    return value


def _amount(value: Money) -> str:
    if not isinstance(value, Money):
        raise TemplateInvalid(f"|amount needs money, got {value!r}")
    return f"{value.amount:.{value.places}f}"


def _datetime(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not isinstance(value, datetime):
        raise TemplateInvalid(f"|datetime needs a datetime, got {value!r}")
    return value.strftime(fmt)


#: the most loop steps ``range`` may hand out in one rendering, over all its calls
MAX_STEPS = 10_000

_steps: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")


def _bounded_range(*args: int) -> range:
    # the sandbox caps one range at 100 000 items, but not nested loops: count them all
    found = range(*args)
    budget = _steps.get(None)
    if budget is not None:
        budget[0] += len(found)
        if budget[0] > MAX_STEPS:
            raise TemplateInvalid(f"the template loops more than {MAX_STEPS} times")
    return found


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with ``*`` and ``**`` bounded: ``"x" * 10**9`` would build a
    gigabyte before the output's length is checked."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise TemplateInvalid(f"the template raises to a power above 64: {right!r}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_OUTPUT:
                    raise TemplateInvalid(
                        f"the template repeats a text past {MAX_OUTPUT} characters"
                    )
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    env = _Sandbox(
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.globals["range"] = _bounded_range
    env.filters["amount"] = _amount
    env.filters["datetime"] = _datetime
    env.filters["date"] = lambda v: _datetime(v, "%Y-%m-%d")
    env.filters["time"] = lambda v: _datetime(v, "%H:%M")
    return env


_ENV = _environment()


def sample_for(kind: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The sample values of a kind's variables (``extra``: a school's own)."""
    names = VARIABLES.get(kind)
    sample = dict(SAMPLE if names is None else {n: SAMPLE[n] for n in names if n in SAMPLE})
    sample.update(extra or {})
    return sample


def compile_template(
    source: str,
    *,
    kind: str,
    variables: Mapping[str, Any] | None = None,
) -> jinja2.Template:
    """Compile ``source`` for ``kind`` and try it on the kind's sample data (plus the
    school's own ``variables``, name -> sample value); refuses with
    :class:`~eduengine.errors.TemplateInvalid` or
    :class:`~eduengine.errors.UnknownTemplateVariable`."""
    if not isinstance(source, str):
        raise TemplateInvalid(f"a template is text, got {source!r}")
    if len(source) > MAX_SOURCE:
        raise TemplateInvalid(f"a template has at most {MAX_SOURCE} characters, got {len(source)}")
    try:
        parsed = _ENV.parse(source)
        compiled = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateInvalid(
            f"the template does not compile: {exc.message} (line {exc.lineno})"
        ) from None
    sample = sample_for(kind, variables)
    for name in sorted(jinja2.meta.find_undeclared_variables(parsed)):
        if name not in sample:
            raise UnknownTemplateVariable(
                f"the template uses {name!r}, which kind {kind!r} does not provide "
                f"(it provides {', '.join(sorted(sample))})",
                name,
            )
    render(compiled, sample, tz=UTC)
    return compiled


def render(template: jinja2.Template, context: Mapping[str, Any], *, tz: tzinfo) -> str:
    """Render a compiled template with ``context``, datetimes in the recipient's zone
    ``tz``; a variable it lacks, a forbidden access or a text over :data:`MAX_OUTPUT`
    characters raises :class:`~eduengine.errors.TemplateInvalid`."""
    values = _in_zone(dict(context), tz)
    parts: list[str] = []
    size = 0
    budget = _steps.set([0])
    try:
        for part in template.generate(values):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateInvalid(f"the message renders longer than {MAX_OUTPUT} characters")
            parts.append(part)
    except jinja2.UndefinedError as exc:
        name = str(exc.message or "").split("'")[1:2]
        raise UnknownTemplateVariable(
            f"the template uses something its data does not have: {exc.message}",
            name[0] if name else "",
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateInvalid(f"the template tried something the sandbox forbids: {exc}") from None
    except TemplateInvalid:
        raise
    except (TypeError, ValueError, ArithmeticError, LookupError, OverflowError) as exc:
        raise TemplateInvalid(f"the template fails on its data: {exc}") from None
    finally:
        _steps.reset(budget)
    return "".join(parts)


@attrs.frozen(kw_only=True)
class MessageTemplate:
    """One saved version of a message template: ``kind`` (what the message is about:
    ``lesson``, ``renewal``, a school's own), ``channel`` (``sms``, ``email``,
    ``wechat`` ...), ``language`` (a BCP 47 tag, ``zh-CN``), ``version`` (1, 2 ...), the
    ``body`` and an optional ``subject``. A planned message keeps :attr:`ref`, so it is
    sent as this version says even after a newer one is saved."""

    kind: str
    channel: str
    language: str
    version: int
    body: str
    subject: str | None = None
    saved_at: datetime

    @property
    def template_id(self) -> str:
        return f"{self.kind}/{self.channel}/{self.language}"

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(self.kind, self.channel, self.language, self.version)

    def to_record(self) -> dict[str, Any]:
        return _template_out(self)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> MessageTemplate:
        return _template_in(data)


@attrs.frozen
class TemplateRef:
    """Names one version of a template: what a planned message stores."""

    kind: str
    channel: str
    language: str
    version: int

    @property
    def template_id(self) -> str:
        return f"{self.kind}/{self.channel}/{self.language}"


@attrs.frozen(kw_only=True)
class RenderedMessage:
    """A message ready to send, naming the template version it came from."""

    ref: TemplateRef
    subject: str | None
    body: str


_template_out = writer(MessageTemplate)
_template_in = reader(MessageTemplate)
