"""Bad (and borderline) values for fuzzing the public command API.

Each strategy draws what a careless or hostile client could send where an id, a count, an
instant or a duration belongs. Fuzz tests call a command with one of them and assert the
command either succeeds or is refused with an ``EduEngineError`` that changed nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

#: strings no id may be: empty, blank, NUL, control characters, lone surrogates, huge
bad_id_strings: st.SearchStrategy[str] = st.one_of(
    st.just(""),
    st.just("   "),
    st.just("a\x00b"),
    st.just("\x00"),
    st.just("line\nbreak"),
    st.just("tab\tid"),
    st.just("\x1b[31m"),
    st.just("\ud800"),
    st.just("ok\udfffok"),
    st.just("x" * 1_000_000),
    st.text(min_size=129, max_size=300),
    st.text(st.characters(codec=None, categories=["Cc", "Cs"]), min_size=1, max_size=5),
)

#: any text at all, including perfectly good ids
any_text: st.SearchStrategy[str] = st.one_of(st.text(max_size=40), bad_id_strings)

#: values of the wrong type where an id belongs
wrong_type_ids: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.integers(),
    st.just(["a"]),
    st.just({"a": 1}),
    st.just(b"bytes"),
    st.just(1.5),
    st.just(math.nan),
)

#: anything a client might send as an id
any_id: st.SearchStrategy[Any] = st.one_of(any_text, wrong_type_ids)

#: integers far outside any sensible count or capacity, and non-integers
bad_ints: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([-1, -(2**63), 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
    st.integers(),
    st.just(True),
    st.just(1.0),
    st.just(math.nan),
    st.just(math.inf),
    st.just(Decimal("NaN")),
    st.just("3"),
    st.none(),
)

_ZONES = [ZoneInfo("Europe/London"), ZoneInfo("America/Santiago"), ZoneInfo("Australia/Lord_Howe")]

#: instants that are naive, at the ends of datetime's range, or ambiguous local times
bad_instants: st.SearchStrategy[Any] = st.one_of(
    st.just(datetime.max),
    st.just(datetime.min),
    st.just(datetime.max.replace(tzinfo=UTC)),
    st.just(datetime.min.replace(tzinfo=UTC)),
    st.just(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23)))),
    st.just(datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-23)))),
    st.just(datetime(2026, 3, 2, 9, 0)),  # naive
    st.sampled_from(_ZONES).map(  # the repeated hour of a DST fall-back, either fold
        lambda z: datetime(2026, 10, 25, 1, 30, tzinfo=z)
    ),
    st.just(datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=ZoneInfo("Europe/London"))),
    st.just(datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/London"))),  # skipped
    st.datetimes(timezones=st.just(UTC)),
    st.none(),
    st.just("2026-03-02T09:00:00Z"),
)

#: durations that are negative, huge, or not durations at all
bad_durations: st.SearchStrategy[Any] = st.one_of(
    st.just(timedelta.max),
    st.just(timedelta.min),
    st.just(timedelta(days=-1)),
    st.just(timedelta(0)),
    st.timedeltas(),
    st.none(),
    st.just(60),
    st.just(1.5),
)

#: amounts and currencies money must refuse
bad_amounts: st.SearchStrategy[Any] = st.one_of(
    st.just(1.5),
    st.just(math.nan),
    st.just(Decimal("NaN")),
    st.just(Decimal("Infinity")),
    st.just(Decimal("-1")),
    st.just(Decimal("1e30")),
    st.just("abc"),
    st.none(),
)
bad_currencies: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["", "cny", "XXX", "ABC", "CNY\x00", "\ud800\ud800\ud800"]),
    st.none(),
    st.just(156),
)
