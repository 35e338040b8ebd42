"""The indexed record queries (``scan``, ``count``) on every adapter, against a brute-force
scan of the same data kept in a plain dict."""

from __future__ import annotations

import itertools
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine.errors import InvalidInput
from tests.adapters import StoreHandle

KEYS = st.sampled_from([f"k{i}" for i in range(8)])
NAMES = st.sampled_from(["due", "xp", "xp:class:a"])
VALUES = st.integers(min_value=-5, max_value=5)
INDEX = st.dictionaries(NAMES, VALUES, max_size=3)
BOUND = st.none() | VALUES

FRESH_KIND = itertools.count()

operation: st.SearchStrategy[tuple[str, str, dict[str, int]]] = st.one_of(
    st.tuples(st.just("put"), KEYS, INDEX),
    st.tuples(st.just("delete"), KEYS, st.just({})),
    # reads teach a SQL unit of work which documents have no index entries to clear
    st.tuples(st.sampled_from(["get", "get_many", "get_across"]), KEYS, st.just({})),
)


def run(uow: Any, kind: str, op: str, key: str, index: dict[str, int]) -> None:
    if op == "put":
        uow.records.put(kind, key, {"key": key}, index=index)
    elif op == "delete":
        uow.records.delete(kind, key)
    elif op == "get":
        uow.records.get(kind, key)
    elif op == "get_across" and hasattr(uow.records, "get_across"):
        # what the unit of work read or wrote already is answered from memory (SQLite)
        cast(Any, uow.records).get_across({kind: [key, "k0"], "other": [key]})
    else:
        cast(Any, uow.records).get_many(kind, [key, "k0"])


def brute_scan(
    model: dict[str, dict[str, int]],
    name: str,
    lo: int | None,
    hi: int | None,
    limit: int | None,
    descending: bool,
) -> list[tuple[str, int]]:
    rows = sorted(
        (value, key)
        for key, entries in model.items()
        for n, value in entries.items()
        if n == name and (lo is None or value >= lo) and (hi is None or value <= hi)
    )
    if descending:
        rows.reverse()
    if limit is not None:
        rows = rows[:limit]
    return [(key, value) for value, key in rows]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(operation, max_size=25),
    queries=st.lists(
        st.tuples(NAMES, BOUND, BOUND, st.none() | st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    rolled_back=st.lists(operation, max_size=5),
)
def test_scan_and_count_match_a_brute_force_scan(
    store: StoreHandle,
    ops: list[tuple[str, str, dict[str, int]]],
    queries: list[tuple[str, int | None, int | None, int | None, bool]],
    rolled_back: list[tuple[str, str, dict[str, int]]],
) -> None:
    kind = f"idx{next(FRESH_KIND)}"  # the store outlives one example: a kind of its own
    model: dict[str, dict[str, int]] = {}
    with store.unit_of_work() as uow:
        for op, key, index in ops:
            run(uow, kind, op, key, index)
            if op == "put":
                model[key] = dict(index)
            elif op == "delete":
                model.pop(key, None)
        # a unit of work reads its own index writes
        for name, lo, hi, limit, desc in queries:
            assert uow.records.scan(
                kind, name, lo=lo, hi=hi, limit=limit, descending=desc
            ) == brute_scan(model, name, lo, hi, limit, desc)
        uow.commit()
    with store.unit_of_work() as uow:
        for op, key, index in rolled_back:  # never committed: must leave no trace
            run(uow, kind, op, key, index)
    with store.unit_of_work() as uow:
        for name, lo, hi, limit, desc in queries:
            expected = brute_scan(model, name, lo, hi, limit, desc)
            assert uow.records.scan(kind, name, lo=lo, hi=hi, limit=limit, descending=desc) == (
                expected
            )
            assert uow.records.count(kind, name, lo=lo, hi=hi) == len(
                brute_scan(model, name, lo, hi, None, False)
            )
        assert sorted(k for k, _ in uow.records.list(kind)) == sorted(model)


def test_documents_read_together_are_what_get_reads_and_the_index_stays_right(
    store: StoreHandle,
) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("groups", "g1", {"open": True}, index={"due": 10})
        uow.records.put("groups", "g2", {"open": True})
        uow.commit()
    with store.unit_of_work() as uow:
        found = cast(Any, uow.records).get_many("groups", ["g2", "g3", "g1"])
        assert found == {"g1": {"open": True}, "g2": {"open": True}, "g3": None}
        assert list(found) == ["g1", "g2", "g3"]  # locked, and given, in key order
        # g1 had an index entry, g3 none: a put after the read clears and files right
        uow.records.put("groups", "g1", {"open": False})
        uow.records.put("groups", "g2", {"open": False}, index={"due": 5})
        uow.records.put("groups", "g3", {"open": False}, index={"due": 7})
        uow.records.put("groups", "g2", {"open": False})
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.scan("groups", "due") == [("g3", 7)]
        assert cast(Any, uow.records).get_many("groups", []) == {}


def test_a_document_put_without_an_index_leaves_every_index(store: StoreHandle) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("groups", "g1", {"open": True}, index={"due": 10})
        uow.commit()
    with store.unit_of_work() as uow:
        uow.records.put("groups", "g1", {"open": False})
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.scan("groups", "due") == []
        assert uow.records.get("groups", "g1") == {"open": False}


@pytest.mark.parametrize("bad", [1.5, "10", True, 2**63, None])
def test_an_index_value_that_is_not_a_64_bit_integer_is_refused_and_writes_nothing(
    store: StoreHandle, bad: Any
) -> None:
    before = store.snapshot()
    with pytest.raises(InvalidInput), store.unit_of_work() as uow:
        uow.records.put("groups", "g1", {"x": 1}, index={"due": bad})
        uow.commit()
    assert store.snapshot() == before


def test_a_document_read_again_in_one_unit_of_work_is_as_last_written_and_never_shared(
    store: StoreHandle,
) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("profile", "ann", {"tags": ["a"], "xp": 1})
        uow.commit()
    with store.unit_of_work() as uow:
        first = uow.records.get("profile", "ann")
        assert first == {"tags": ["a"], "xp": 1}
        first["tags"].append("changed in place")  # a caller's copy, not the stored one
        assert uow.records.get("profile", "ann") == {"tags": ["a"], "xp": 1}
        assert uow.records.get("profile", "bob") is None
        uow.records.put("profile", "bob", {"xp": 2})
        assert uow.records.get("profile", "bob") == {"xp": 2}
        uow.records.delete("profile", "ann")
        assert uow.records.get("profile", "ann") is None
        uow.records.put("profile", "ann", {"xp": 3})
        assert uow.records.get("profile", "ann") == {"xp": 3}
        # rolled back: none of it happened
    with store.unit_of_work() as uow:
        assert uow.records.get("profile", "ann") == {"tags": ["a"], "xp": 1}
        assert uow.records.get("profile", "bob") is None
        uow.records.put("profile", "bob", {"xp": 4})
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.get("profile", "bob") == {"xp": 4}


def test_a_document_put_again_with_the_index_it_had_keeps_it_and_one_put_differently_changes_it(
    store: StoreHandle,
) -> None:
    with store.unit_of_work() as uow:
        for key, due in (("a", 1), ("b", 2), ("c", 3)):
            uow.records.put("tallies", key, {"n": 0}, index={"due": due, "day": 10})
        uow.commit()
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    with store.unit_of_work() as uow:
        found = cast(Any, uow.records).get_many("tallies", ["a", "b", "c", "d"])
        assert [doc and doc["n"] for doc in found.values()] == [0, 0, 0, None]
        uow.records.put("tallies", "a", {"n": 1}, index={"day": 10, "due": 1})  # the same
        uow.records.put("tallies", "b", {"n": 1}, index={"due": 5})  # moved, one dropped
        uow.records.put("tallies", "c", {"n": 1})  # none any more
        uow.records.put("tallies", "d", {"n": 1}, index={"due": 4})  # new
        uow.records.put("tallies", "d", {"n": 2}, index={"due": 4})  # again, the same
        uow.commit()
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
        # the entries a and d kept are not deleted and written again
        cleared = [s for s in statements if s.startswith("DELETE FROM record_index")]
        assert cleared == [
            f"DELETE FROM record_index WHERE kind = 'tallies' AND key = '{k}'" for k in "bc"
        ]
        filed = [s for s in statements if s.startswith("INSERT INTO record_index")]
        assert len(filed) == 2, filed  # b's and d's first
    with store.unit_of_work() as uow:
        assert uow.records.scan("tallies", "due") == [("a", 1), ("d", 4), ("b", 5)]
        assert uow.records.scan("tallies", "day") == [("a", 10)]
        assert [(k, d["n"]) for k, d in uow.records.list("tallies")] == [
            ("a", 1),
            ("b", 1),
            ("c", 1),
            ("d", 2),
        ]


def test_documents_put_together_are_stored_like_one_put_each(store: StoreHandle) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("marks", "old", {"at": 1}, index={"due": 7})
        uow.commit()
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    with store.unit_of_work() as uow:
        records = cast(Any, uow.records)
        records.get_many("marks", ["x", "y"])
        records.put_many("marks", {"y": {"at": 2}, "x": {"at": 3}, "old": {"at": 4}})
        uow.commit()
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
        writes = [s for s in statements if s.startswith("INSERT INTO records")]
        # x and y, read with no entries, in one statement; old on its own (its entry goes)
        assert len(writes) == 2 and "'x'" in writes[1] and "'y'" in writes[1], writes
    with store.unit_of_work() as uow:
        assert [(k, d["at"]) for k, d in uow.records.list("marks")] == [
            ("old", 4),
            ("x", 3),
            ("y", 2),
        ]
        assert uow.records.scan("marks", "due") == []


def test_documents_of_several_kinds_read_at_once_are_what_get_reads(store: StoreHandle) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("rooms", "r1", {"url": "u"}, index={"due": 3})
        uow.records.put("prefs", "ann", {"zone": "UTC"})
        uow.commit()
    with store.unit_of_work() as uow:
        get_across = getattr(uow.records, "get_across", None)
        if get_across is None:
            pytest.skip(f"the {store.name} adapter reads one kind per query (get_many)")
        found = get_across({"rooms": ["r2", "r1"], "prefs": ["ann"]})
        assert found == {
            ("prefs", "ann"): {"zone": "UTC"},
            ("rooms", "r1"): {"url": "u"},
            ("rooms", "r2"): None,
        }
        assert uow.records.get("rooms", "r1") == {"url": "u"}
        # r1 keeps its entry, r2 is filed: the index stays right after the read
        uow.records.put("rooms", "r1", {"url": "v"}, index={"due": 3})
        uow.records.put("rooms", "r2", {"url": "w"}, index={"due": 1})
        uow.records.put("prefs", "ann", {"zone": "Asia/Tokyo"}, index={"due": 2})
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.scan("rooms", "due") == [("r2", 1), ("r1", 3)]
        assert uow.records.scan("prefs", "due") == [("ann", 2)]
        assert uow.records.get("rooms", "r1") == {"url": "v"}


def test_documents_read_at_once_again_are_answered_as_this_unit_of_work_left_them(
    store: StoreHandle,
) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("rooms", "r1", {"url": "u"}, index={"due": 3})
        uow.records.put("rooms", "r2", {"url": "u2"})
        uow.commit()
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    with store.unit_of_work() as uow:
        get_across = getattr(uow.records, "get_across", None)
        if get_across is None:
            pytest.skip(f"the {store.name} adapter reads one kind per query (get_many)")
        assert uow.records.get("rooms", "r1") == {"url": "u"}
        uow.records.put("rooms", "r2", {"url": "changed"})  # held back, not written yet
        uow.records.put("rooms", "r3", {"url": "new"}, index={"due": 1})
        uow.records.delete("rooms", "r1")
        statements.clear()
        found = get_across({"rooms": ["r3", "r1", "r2", "r4"], "prefs": ["ann"]})
        # as this unit of work left them, in the order get_across always answered
        assert list(found.items()) == [
            (("prefs", "ann"), None),
            (("rooms", "r1"), None),
            (("rooms", "r2"), {"url": "changed"}),
            (("rooms", "r3"), {"url": "new"}),
            (("rooms", "r4"), None),
        ]
        if store.name == "sqlite":
            # only the documents it never saw are read: one statement, their keys alone
            [select] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            assert "'r4'" in select and "'ann'" in select
            assert "'r1'" not in select and "'r2'" not in select and "'r3'" not in select
            statements.clear()
            assert get_across({"rooms": ["r4"], "prefs": ["ann"]})[("rooms", "r4")] is None
            assert statements == []  # all of them known now
        uow.records.put("rooms", "r4", {"url": "four"}, index={"due": 2})
        uow.commit()
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
    with store.unit_of_work() as uow:
        assert uow.records.scan("rooms", "due") == [("r3", 1), ("r4", 2)]
        assert uow.records.get("rooms", "r2") == {"url": "changed"}


def test_documents_held_ahead_are_read_once_and_parsed_only_when_got(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.unit_of_work() as uow:
        uow.records.put("rooms", "r1", {"url": "u"}, index={"due": 3})
        uow.records.put("prefs", "ann", {"quiet": True})
        uow.commit()
    with store.unit_of_work() as uow:
        hold = getattr(uow.records, "hold_across", None)
        if hold is None:
            pytest.skip(f"the {store.name} adapter holds nothing ahead (get_many)")
        parsed: list[object] = []
        inner: Any = getattr(uow.records, "inner", uow.records)
        json_in = inner._json_in

        def counted(text: object) -> object:
            parsed.append(text)
            return json_in(text)

        monkeypatch.setattr(inner, "_json_in", counted)
        statements: list[str] = []
        if store.name == "sqlite":
            store.store.connection().set_trace_callback(statements.append)
        assert hold({"rooms": ["r1", "r9"], "prefs": ["ann"]}) is None
        assert parsed == []  # a read-ahead parses nothing it is not asked for
        if store.name == "sqlite":
            assert len([s for s in statements if "SELECT" in s.upper()]) == 1
            statements.clear()
        assert uow.records.get("rooms", "r1") == {"url": "u"}
        assert uow.records.get("rooms", "r9") is None
        assert uow.records.get("prefs", "ann") == {"quiet": True}
        if store.name == "sqlite":
            store.store.connection().set_trace_callback(None)
            assert statements == []  # each answered from what was held
            assert len(parsed) == 2  # and parsed once, when got
        uow.records.put("rooms", "r1", {"url": "changed"})
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.get("rooms", "r1") == {"url": "changed"}
        assert uow.records.scan("rooms", "due") == []


def test_writes_held_back_are_read_by_every_later_statement_and_dropped_with_a_rollback(
    store: StoreHandle,
) -> None:
    keys = [f"k{n}" for n in range(5)]
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    with store.unit_of_work() as uow:
        records = cast(Any, uow.records)
        if hasattr(records, "get_many"):
            records.get_many("held", keys)  # known absent: their writes can wait
        for n, key in enumerate(keys):
            uow.records.put("held", key, {"n": n}, index={"due": 10 - n})
        uow.commit()
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
        # five documents and their entries: one statement each, at commit
        writes = [s for s in statements if s.startswith("INSERT INTO record")]
        assert len(writes) == 2, writes
    with store.unit_of_work() as uow:
        records = cast(Any, uow.records)
        if hasattr(records, "get_many"):
            records.get_many("held", ["a", "b"])
        uow.records.put("held", "a", {"n": 1}, index={"due": 3})
        uow.records.put("held", "b", {"n": 2})
        # every read after a write sees it: a scan, a count, a list, a plain statement
        assert uow.records.scan("held", "due", lo=3, hi=6) == [("a", 3), ("k4", 6)]
        assert uow.records.count("held", "due") == 6
        assert [k for k, _ in uow.records.list("held")][:2] == ["a", "b"]
        execute = getattr(uow, "execute", None)
        if execute is not None:
            row = execute("SELECT COUNT(*) AS n FROM records WHERE kind = 'held'").fetchone()
            assert row["n"] == 7
        uow.records.put("held", "b", {"n": 3}, index={"due": 1})  # held again, with entries
        assert uow.records.scan("held", "due", hi=3) == [("b", 1), ("a", 3)]
        uow.records.delete("held", "a")
        assert uow.records.get("held", "a") is None
        uow.commit()
    with store.unit_of_work() as uow:
        records = cast(Any, uow.records)
        if hasattr(records, "get_many"):
            records.get_many("held", ["c"])
        uow.records.put("held", "c", {"n": 4}, index={"due": 0})
        uow.records.put("held", "b", {"n": 5}, index={"due": 1})
        # no commit: what was held back is dropped with the rest
    with store.unit_of_work() as uow:
        assert uow.records.get("held", "c") is None
        assert uow.records.get("held", "b") == {"n": 3}
        assert uow.records.scan("held", "due", hi=6) == [("b", 1), ("k4", 6)]
