"""A page of posts is one indexed read on the SQL adapters: the query walks the
``(kind, name, value, key)`` index from the keyset cursor and finds each document by
its primary key, never by scanning the kind's documents (PostgreSQL needs the index's
"C" collation brought back to the documents' to use their key)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest

from eduengine.adapters.sql_common import scan_documents_sql
from eduengine.community.handlers import page_posts, save_post
from eduengine.community.model import Post, PostStatus
from eduengine.kernel.codec import dt_in, micros
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle
from tests.conftest import T0


def _plan(store: StoreHandle, after: tuple[int, str] | None) -> str:
    with store.unit_of_work() as uow:
        execute: Any = uow.execute  # type: ignore[attr-defined]
        dialect: Any = uow.dialect  # type: ignore[attr-defined]
        sql, params = scan_documents_sql(
            "community_post", "group:class:A1", after, 50, True, dialect.index_key_as_record_key
        )
        if store.name == "postgres":
            # an empty table is cheapest to scan: ask whether an index path exists at all
            execute("SET LOCAL enable_seqscan = off", ())
            execute("SET LOCAL enable_bitmapscan = off", ())
            rows = execute("EXPLAIN " + sql, params).fetchall()
            return "\n".join(str(next(iter(dict(r).values()))) for r in rows)
        rows = execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r["detail"]) for r in rows)


@pytest.mark.parametrize("after", [None, (1_000, "p1")])
def test_a_page_walks_the_index_and_reads_each_document_by_key(
    store: StoreHandle, after: tuple[int, str] | None
) -> None:
    if store.name == "memory":
        pytest.skip("the memory adapter bisects a sorted list (see its own tests)")
    plan = _plan(store, after)
    if store.name == "postgres":
        assert "Index Scan using records_pkey on records" in plan, plan
        assert "Seq Scan" not in plan, plan
    else:
        assert "COVERING INDEX sqlite_autoindex_record_index_1" in plan, plan
        assert "USING INDEX sqlite_autoindex_records_1 (kind=? AND key=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # ordered by the index, not sorted after


class _WithoutPages:
    """A record repository without ``scan_documents`` (a host's adapter)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get(self, kind: str, key: str) -> Any:
        return self._inner.get(kind, key)

    def scan(self, kind: str, index: str, **options: Any) -> Any:
        return self._inner.scan(kind, index, **options)


def test_pages_read_the_same_without_scan_documents(store: StoreHandle) -> None:
    # 40 thread starts, many in the same microsecond: the cursor's ties are the hard part
    with store.unit_of_work() as uow:
        for n in range(40):
            at = T0 + timedelta(microseconds=n // 7)
            post = Post(
                id=f"p{n:02d}",
                group_id="class:A1",
                author_id="ann",
                thread_id=f"p{n:02d}",
                reply_to=None,
                text="hi",
                original="hi",
                status=PostStatus.SHOWN,
                reasons=(),
                posted_at=at,
            )
            save_post(uow, post)
        uow.commit()
    for descending in (True, False):
        for limit in (1, 3, 7, 50):
            with store.unit_of_work() as uow:
                plain = _WithoutPages(uow.records)
                pages: list[list[str]] = [[], []]
                for n, records in enumerate((uow.records, plain)):
                    cursor: tuple[int, str] | None = None
                    while True:
                        page = page_posts(
                            cast(UnitOfWork, _Uow(records)),
                            "group:class:A1",
                            limit=limit,
                            after=cursor,
                            descending=descending,
                        )
                        pages[n] += [d["id"] for d in page]
                        if len(page) < limit:
                            break
                        last = page[-1]
                        cursor = (micros(dt_in(last["posted_at"])), last["id"])
                expected = sorted((f"p{n:02d}" for n in range(40)), reverse=descending)
                assert pages[0] == pages[1] == expected, (descending, limit)


class _Uow:
    def __init__(self, records: Any) -> None:
        self.records = records
