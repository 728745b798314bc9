"""Counters per local day that the statistics sum instead of counting the history: the rules
layer's part — the time zone the days are counted in, the one statement every writer adds
with, and the routing decisions' counts (the tickets' are :mod:`arbitration.rollups`).

A counter row is a key (a day, a unit …) and integers. A writer adds to it with
``INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n`` — the same text on SQLite and
PostgreSQL — in the transaction that stores what changed the count, so the counters commit or
roll back with it. Rows are added to in key order, so two writers never wait for each other
in a cycle.

>>> from datetime import UTC, datetime
>>> def made(hour, lead, status):
...     return {"created_at": datetime(2026, 11, 1, hour, tzinfo=UTC), "lead": lead,
...             "status": status}
>>> rows = [made(17, "D-CG", "routed"), made(15, "D-CG", "fallback"),
...         made(9, None, "out_of_scope")]
>>> decision_counts(rows, zone("Asia/Shanghai"))  # 17:00 UTC is 01:00 the next day
{(datetime.date(2026, 11, 2), 'D-CG'): [1, 1], (datetime.date(2026, 11, 1), 'D-CG'): [1, 0]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Dialect, Table, select

from rules.tables import decision_days, rollup_zone

#: the row of :data:`rules.tables.rollup_zone`
ZONE_ROW = 1
DEFAULT_TIMEZONE = "Asia/Shanghai"
_ZONE = select(rollup_zone.c.timezone).where(rollup_zone.c.id == ZONE_ROW)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def read_zone(conn: Connection) -> ZoneInfo | None:
    """The zone the rollups count days in; None when nothing is rolled up."""
    name = conn.execute(_ZONE).scalar()
    return zone(name) if name else None


def zone_sql(dialect: Dialect) -> str:
    """:func:`read_zone` for a DB-API cursor."""
    quote = dialect.identifier_preparer.quote
    return (f"SELECT {quote('timezone')} FROM {quote(rollup_zone.name)} "
            f"WHERE {quote('id')} = {ZONE_ROW}")


def upsert_sql(dialect: Dialect, table: Table, keys: Sequence[str],
               counts: Sequence[str]) -> str:
    """The statement that adds ``counts`` to the row of ``keys`` (inserting it if new), with
    positional parameters in the driver's style: keys first, then counts."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = [*keys, *counts]
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))}) "
            + _on_conflict_add(dialect, table, keys, counts))


def _on_conflict_add(dialect: Dialect, table: Table, keys: Sequence[str],
                     counts: Sequence[str]) -> str:
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    adds = ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in counts)
    return f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {adds}"


def day_value(dialect: Dialect, day: date) -> Any:
    """A day as the driver takes it (SQLAlchemy's ``Date`` is ISO text on SQLite)."""
    return day.isoformat() if dialect.name == "sqlite" else day


def decision_counts(rows: Iterable[Mapping[str, Any]],
                    tz: ZoneInfo) -> dict[tuple[date, str], list[int]]:
    """Decisions and decisions ``routed`` per (local day, lead) of decision rows; a decision
    without a lead counts nowhere (as in :mod:`arbitration.statistics`)."""
    out: dict[tuple[date, str], list[int]] = {}
    for row in rows:
        lead = row["lead"]
        if lead is None:
            continue
        counts = out.setdefault((row["created_at"].astimezone(tz).date(), lead), [0, 0])
        counts[0] += 1
        counts[1] += row["status"] == "routed"
    return out


def decision_params(dialect: Dialect, counts: Mapping[tuple[date, str], list[int]]
                    ) -> list[tuple[Any, ...]]:
    """:func:`decision_upsert`'s parameters, in key order."""
    return [(day_value(dialect, day), unit, n, routed)
            for (day, unit), (n, routed) in sorted(counts.items())]


def decision_upsert(dialect: Dialect) -> str:
    return upsert_sql(dialect, decision_days, ("day", "unit"), ("decisions", "routed"))


def counted_insert(dialect: Dialect, insert: str) -> str:
    """PostgreSQL: ``insert`` (an ``INSERT INTO decisions …``) and the daily counts of the
    rows it stores, as ONE statement — the days computed by the server in the zone it reads
    in the same statement. :func:`decision_counts` and :func:`decision_upsert` do the same in
    two steps with a read between; here the decision writer waits for one answer per batch.
    Rows are added to in key order (``ORDER BY``), as there."""
    quote = dialect.identifier_preparer.quote
    at, lead, status = quote("created_at"), quote("lead"), quote("status")
    keys, counts = ("day", "unit"), ("decisions", "routed")
    return (f"WITH stored AS ({insert} RETURNING {at}, {lead}, {status}) "
            f"INSERT INTO {quote(decision_days.name)} "
            f"({', '.join(quote(c) for c in (*keys, *counts))}) "
            f"SELECT (stored.{at} AT TIME ZONE z.{quote('timezone')})::date, stored.{lead}, "
            f"count(*), count(*) FILTER (WHERE stored.{status} = 'routed') "
            f"FROM stored CROSS JOIN {quote(rollup_zone.name)} AS z "
            f"WHERE z.{quote('id')} = {ZONE_ROW} AND stored.{lead} IS NOT NULL "
            f"GROUP BY 1, 2 ORDER BY 1, 2 "
            + _on_conflict_add(dialect, decision_days, keys, counts))


def count_decisions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add stored decision rows to :data:`rules.tables.decision_days`, in the caller's
    transaction."""
    if not rows:
        return
    tz = read_zone(conn)
    if tz is None:
        return
    params = decision_params(conn.dialect, decision_counts(rows, tz))
    if params:
        conn.exec_driver_sql(decision_upsert(conn.dialect), params)
