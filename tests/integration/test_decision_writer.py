"""The decision writer: the DB-API path the routing endpoint stores decisions by."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from api.db import make_engine, upgrade
from rules.service import DecisionWriter
from rules.tables import decisions

NOW = datetime(2026, 11, 26, 2, 0, 0, 123456, tzinfo=UTC)


def row(decision_id: str, **changes: Any) -> dict[str, Any]:
    base = {
        "id": decision_id, "ticket_id": "T-1", "ruleset_version": 3, "ruleset_digest": None,
        "created_at": NOW,
        "as_of": NOW - timedelta(hours=2), "category": "030101", "area": "110199001",
        "status": "routed", "lead": "JD-HP", "rule_id": "R-0301-01",
        "request": {"category": "030101", "text": "小区内有人私搭乱建"},
        "response": {"decision_id": decision_id, "lead": {"code": "JD-HP", "name": "和平街道"},
                     "co_handlers": [], "explanation": {"summary": "规则 R-0301-01 胜出"}},
        "actor": "router:hotline"}
    return base | changes


def stored(db: Engine, decision_id: str) -> dict[str, Any]:
    with db.connect() as conn:
        return dict(conn.execute(select(decisions).where(decisions.c.id == decision_id))
                    .mappings().one())


def raw_columns(db: Engine, decision_id: str) -> tuple[Any, ...]:
    """The values as the database holds them, not as SQLAlchemy reads them back."""
    with db.connect() as conn:
        return tuple(conn.execute(
            text("SELECT ticket_id, ruleset_version, CAST(created_at AS TEXT), "
                 "CAST(as_of AS TEXT), category, area, status, lead, rule_id, "
                 "CAST(request AS TEXT), CAST(response AS TEXT), actor "
                 "FROM decisions WHERE id = :id"), {"id": decision_id}).one())


def test_the_writer_stores_a_decision_exactly_as_sqlalchemy_would(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(decisions), row("dec-orm", response=row("dec-w")["response"]))
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-w")]) == [None]
    finally:
        writer.close()
    assert raw_columns(db, "dec-w") == raw_columns(db, "dec-orm")
    assert stored(db, "dec-w") | {"id": "dec-orm"} == stored(db, "dec-orm")
    assert stored(db, "dec-w")["created_at"] == NOW


def test_a_bad_row_fails_alone_and_its_neighbours_in_the_batch_are_stored(db: Engine) -> None:
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-1")]) == [None]
        errors = writer.write([row("dec-2"), row("dec-1"), row("dec-3")])
    finally:
        writer.close()
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None  # the same id twice: the primary key refuses it
    with db.connect() as conn:
        ids = conn.execute(select(decisions.c.id).order_by(decisions.c.id)).scalars().all()
    assert ids == ["dec-1", "dec-2", "dec-3"]


def test_a_lost_connection_is_replaced_and_the_decision_still_stored(db: Engine) -> None:
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-1")]) == [None]
        writer._connection.driver_connection.close()  # as if the server had gone away
        assert writer.write([row("dec-2")]) == [None]
    finally:
        writer.close()
    assert stored(db, "dec-2")["lead"] == "JD-HP"


def test_the_write_ahead_log_is_checkpointed_by_its_own_thread_not_the_writer(
        tmp_path: Path) -> None:
    path = tmp_path / "quanze.db"
    db = make_engine(f"sqlite:///{path}")
    upgrade(db)
    with db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-first")]) == [None]
        own = writer._connection.driver_connection
        assert own.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        size = path.stat().st_size
        for n in range(40):
            assert writer.write([row(f"dec-{n}-{i}") for i in range(25)]) == [None] * 25
        deadline = time.monotonic() + 10
        while path.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.05)  # the checkpointer copies the log into the file every 0.5 s
        assert path.stat().st_size > size
    finally:
        writer.close()
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_gets_no_checkpointer(url: str) -> None:
    db = make_engine(url)
    try:
        assert DecisionWriter(db)._checkpointer is None
    finally:
        db.dispose()
