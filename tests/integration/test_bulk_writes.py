"""Writing in bulk (COPY on PostgreSQL, executemany on SQLite) stores what SQLAlchemy's
insert would: the decision writer's batches, and jurisdiction.bulk.insert_rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, text

from arbitration import audit
from arbitration.tables import audit_log
from jurisdiction.bulk import insert_rows
from rules.service import DecisionWriter
from rules.tables import decisions
from rules.tables import rules as rules_table
from tests.integration.test_decision_writer import raw_columns, row, stored

AT = datetime(2026, 11, 30, 8, 0, 0, 654321, tzinfo=UTC)


def test_a_batch_of_decisions_is_stored_exactly_as_sqlalchemy_would(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(decisions), [
            row("dec-orm-1", response=row("dec-b-1")["response"]),
            row("dec-orm-2", response=row("dec-b-2")["response"], area=None, lead=None)])
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-b-1"), row("dec-b-2", area=None, lead=None)]) == [
            None, None]
    finally:
        writer.close()
    for n in (1, 2):
        assert raw_columns(db, f"dec-b-{n}") == raw_columns(db, f"dec-orm-{n}")
        assert stored(db, f"dec-b-{n}") | {"id": f"dec-orm-{n}"} == stored(db, f"dec-orm-{n}")


def test_a_batch_with_one_bad_row_fails_that_row_alone(db: Engine) -> None:
    writer = DecisionWriter(db)
    try:
        assert writer.write([row("dec-dup")]) == [None]
        errors = writer.write([row("dec-ok-1"), row("dec-dup"), row("dec-ok-2")])
    finally:
        writer.close()
    assert errors[0] is None and errors[2] is None and errors[1] is not None
    assert stored(db, "dec-ok-1")["id"] == "dec-ok-1"
    assert stored(db, "dec-ok-2")["id"] == "dec-ok-2"


RULE = {"category": "030101", "area": None, "when": {"location_type": ["a", "b"]},
        "text_any": ["违建"], "lead": "JD-HP", "co_handlers": ["D-ZJ"], "basis": "依据",
        "source": "catalog", "priority": 0, "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_to": None, "ruling_id": None, "revision": 1, "retired": False,
        "actor": "cli:test"}


def _rule_text(db: Engine, rule_id: str) -> tuple[object, ...]:
    with db.connect() as conn:
        return tuple(conn.execute(text(
            'SELECT category, area, CAST("when" AS TEXT), CAST(text_any AS TEXT), lead, '
            "CAST(co_handlers AS TEXT), basis, source, priority, valid_from, valid_to, "
            "ruling_id, note, retired, actor FROM rules WHERE id = :id"),
            {"id": rule_id}).one())


def test_rule_rows_inserted_in_bulk_are_those_of_an_insert(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(rules_table), [dict(RULE, id="R-ORM", version=1)])
        insert_rows(conn, rules_table, [dict(RULE, id="R-BULK", version=1),
                                        dict(RULE, id="R-BULK-2", version=1, area="110199")])
    assert _rule_text(db, "R-BULK") == _rule_text(db, "R-ORM")  # note took its default ""
    with db.connect() as conn:
        assert conn.execute(select(rules_table.c.area).where(
            rules_table.c.id == "R-BULK-2")).scalar_one() == "110199"


def test_entries_appended_together_chain_as_if_appended_one_by_one(db: Engine) -> None:
    with db.begin() as conn:
        audit.record(conn, actor="a", action="x", subject="s:0", before=None,
                     after={"n": 0}, at=AT)
        last = audit.record_many(conn, [
            audit.Entry("a", "rule_change", f"rule:R-{i}", None,
                        {"id": f"R-{i}", "basis": "电话13812345678", "when": {"k": ["v"]}},
                        plain=True) for i in range(5)] + [
            audit.Entry("b", "y", "s:1", {"at": AT}, ("t", 1))], at=AT)
        audit.record(conn, actor="a", action="x", subject="s:2", before=None, after=None,
                     at=AT)
    assert last == 7
    with db.connect() as conn:
        checked, problems = audit.verify_log(conn)
        basis = conn.execute(select(audit_log.c.after).where(audit_log.c.seq == 2)
                             ).scalar_one()["basis"]
    assert (checked, problems) == (8, [])
    assert basis == "电话138****5678"
