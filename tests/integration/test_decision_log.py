"""The server's group commit (``open_decision_log``): on the event loop with asyncio
connections on PostgreSQL, from a thread on SQLite. Both store rows as SQLAlchemy would,
count them by day, fail a bad row alone, and survive a lost connection."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from rules.service import DecisionBatch, LoopDecisionLog, open_decision_log
from rules.tables import decision_days, decisions
from tests.conftest import run_on_a_fresh_loop
from tests.integration.test_decision_writer import raw_columns, row, stored


def outcomes(db: Engine, rows: list[dict[str, Any]], *, between: Any = None
             ) -> list[BaseException | None]:
    """Submit ``rows`` together on a fresh loop, wait for each, close the log; optionally
    ``await between(log)`` after a first write of ``rows[0]`` alone."""
    async def scenario() -> list[BaseException | None]:
        log = open_decision_log(db)
        try:
            first: list[BaseException | None] = []
            if between is not None:
                await log.submit(rows[0])
                await between(log)
                first, rest = [None], rows[1:]
            else:
                rest = rows
            futures = [log.submit(r) for r in rest]
            results = await asyncio.gather(*futures, return_exceptions=True)
            return first + [r if isinstance(r, BaseException) else None for r in results]
        finally:
            await log.aclose()
    return run_on_a_fresh_loop(scenario())


def test_the_server_writes_decisions_on_the_loop_on_postgresql_and_by_a_thread_on_sqlite(
        db: Engine) -> None:
    kind = LoopDecisionLog if db.dialect.name == "postgresql" else DecisionBatch
    assert isinstance(open_decision_log(db), kind)


def test_a_batch_is_stored_exactly_as_sqlalchemy_would_and_counted_by_day(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(decisions), row("dec-orm", response=row("dec-1")["response"]))
    assert outcomes(db, [row(f"dec-{n}") for n in (1, 2, 3)]) == [None] * 3
    assert raw_columns(db, "dec-1") == raw_columns(db, "dec-orm")
    assert stored(db, "dec-1") | {"id": "dec-orm"} == stored(db, "dec-orm")
    with db.connect() as conn:
        counts = conn.execute(select(decision_days)).all()
    # 02:00 UTC is 10:00 in Beijing, the demo zone; the ORM row is not a group commit's
    assert [(r.day, r.unit, r.decisions, r.routed) for r in counts] == [
        (date(2026, 11, 26), "JD-HP", 3, 3)]


def test_a_bad_row_fails_alone_and_its_neighbours_are_stored(db: Engine) -> None:
    results = outcomes(db, [row("dec-1"), row("dec-2"), row("dec-1"), row("dec-3")],
                       between=_nothing)
    assert [r is None for r in results] == [True, True, False, True]  # the id twice
    with db.connect() as conn:
        ids = conn.execute(select(decisions.c.id).order_by(decisions.c.id)).scalars().all()
        routed = conn.execute(select(decision_days.c.decisions)).scalar()
    assert ids == ["dec-1", "dec-2", "dec-3"]
    assert routed == 3  # the refused row is not counted


def test_a_lost_connection_is_replaced_and_the_decision_still_stored(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("the thread's writer has its own test (test_decision_writer)")

    async def lose_connection(log: LoopDecisionLog) -> None:
        assert log._connection is not None  # the first decision was written on it
        await log._connection.close()  # as if the server had gone away

    assert outcomes(db, [row("dec-1"), row("dec-2")], between=lose_connection) == [None] * 2
    assert stored(db, "dec-2")["lead"] == "JD-HP"


async def _nothing(log: Any) -> None:
    return None


def test_decisions_submitted_while_a_write_is_under_way_go_together_in_the_next(
        db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("the thread's batches have their own test (test_decision_writer)")
    log = LoopDecisionLog(db)
    batches: list[int] = []
    write = log._write

    async def counted(rows: list[dict[str, Any]]) -> list[Exception | None]:
        batches.append(len(rows))
        return await write(rows)

    async def scenario() -> None:
        log._write = counted  # type: ignore[method-assign]
        try:
            first = log.submit(row("dec-1"))
            await asyncio.sleep(0)  # the write of dec-1 is under way
            await asyncio.gather(first, *(log.submit(row(f"dec-{n}")) for n in (2, 3, 4)))
        finally:
            await log.aclose()

    run_on_a_fresh_loop(scenario())
    assert batches == [1, 3]
    assert all(stored(db, f"dec-{n}") for n in (1, 2, 3, 4))
