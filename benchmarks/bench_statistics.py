"""Statistics at 1,000,000 tickets (issue 12): the rollups against the history.

    python -m benchmarks.bench_statistics [--database-url URL] [--tickets N] [--runs N]
                                          [--raw-runs N] [--events N]

Loads the synthetic city's units, areas and categories (``synthetic_city --districts 16``,
without its rules: 862 units) into a fresh database (a temp SQLite file, or a new schema of
the PostgreSQL database given, dropped afterwards), then inserts in bulk (COPY on
PostgreSQL, executemany on SQLite) ``--tickets`` tickets received in November 2026 (Beijing
time) with their event histories, their disputes and rulings and one routing decision each:

- every ticket dispatched to a unit (busy units get more: weights 1/rank^0.8), signed, and
  most completed;
- 20 % returned: 60 % of those upheld and reassigned to the unit proposed, the others
  rejected; 1 % closed as out of scope after an upheld return;
- 1.5 % bounced A → B → A over several days, which opens a dispute (A, B) and makes A
  receive the ticket on two days (the rollups' links); 0.5 % disputed by hand (so 2 % of
  the tickets disputed: the issue's city day has 1,000 disputes for 60,000 tickets); 2 % of
  the disputes ruled (its 20 rulings a day);
- the unit a return proposes drawn like any unit (850 units: some hundred thousand
  distinct return pairs in the month, the hotspots' hardest case);
- one decision per ticket naming its first unit (85 % routed, 10 % fallback, 5 % none).

It then fills the rollups from that history with ``arbitration.rollups.fill`` (what migration
0012 runs) and runs ANALYZE. Through the app (in-process ``TestClient``) it times each
``/v1/stats/*`` endpoint for the month, ``--runs`` times after two warm-ups, and for
comparison counts the same figures from the history (``rolled_up=False``) ``--raw-runs``
times (default 0: at 1,000,000 tickets that takes a minute and a half on PostgreSQL and
several on SQLite).
Finally it records ``--events`` ticket events through ``record_ticket_event`` (one write
transaction each, as the API does) with the rollups kept and with their update left out, in
alternating blocks of 100, and prints what keeping them adds per event.

Target: each endpoint's median ≤ 200 ms on PostgreSQL (and on SQLite, reported). Exits 1 on a
miss.
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy import event as sql_event

from api.app import create_app
from api.auth import create_key
from api.db import make_engine
from api.settings import AppSettings
from arbitration import rollups, service, statistics
from arbitration.policy import DEFAULT_POLICY
from arbitration.tables import dispute_parties, disputes, rulings, ticket_events, tickets
from arbitration.tickets import Event
from benchmarks._common import (
    fresh_database,
    load_bundle,
    machine,
    percentile,
    table,
    utc_now,
    verdict,
)
from benchmarks.synthetic_city import make_city
from jurisdiction.bulk import insert_rows
from jurisdiction.tables import UTCDateTime
from rules.admin import write_transaction
from rules.tables import decisions

TARGET_MS = 200.0
#: the share of disputes ruled: the issue's city day has 20 rulings for 1,000 disputes (the
#: others withdrawn, or settled by the hotline's designation)
RULED = 0.02
CST = ZoneInfo("Asia/Shanghai")
MONTH_START = datetime(2026, 11, 1, tzinfo=CST)
DAYS = 30
CHUNK = 50_000
PERIOD = "from=2026-11-01&to=2026-12-01"
ENDPOINTS = (
    ("GET /v1/stats/units (month, every unit)", f"/v1/stats/units?{PERIOD}"),
    ("GET /v1/stats/units?format=csv", f"/v1/stats/units?{PERIOD}&format=csv"),
    ("GET /v1/stats/summary", f"/v1/stats/summary?{PERIOD}"),
    ("GET /v1/stats/hotspots", f"/v1/stats/hotspots?{PERIOD}"),
    ("GET /v1/stats/trends (5 weeks)", f"/v1/stats/trends?{PERIOD}"),
)


def city_places() -> dict[str, Any]:
    """The city's units, areas and categories, without its rules."""
    city = make_city(districts=16)
    return {**city, "rules": []}


# -- the history ------------------------------------------------------------------------------


#: the columns of the rows made as tuples, in order (the small tables are made as dicts)
EVENT_COLUMNS = ("ticket_id", "seq", "type", "at", "recorded_at", "actor", "unit", "event")
TICKET_COLUMNS = ("ticket_id", "category", "area", "status", "owner", "first_receiver",
                  "interim_owner", "dispatch_count", "dispute_id", "state", "event_count",
                  "created_at", "updated_at")
DECISION_COLUMNS = ("id", "ticket_id", "ruleset_version", "created_at", "as_of", "category",
                    "status", "lead", "request", "response", "actor")
APPLIED = {"territorial_unit": None, "library_until": 2026}


class _Story:
    """One ticket's events as they are told, each some minutes after the last (rows of
    ``ticket_events``, in :data:`EVENT_COLUMNS`)."""

    def __init__(self, ticket_id: str, at: datetime) -> None:
        self.ticket_id, self.at = ticket_id, at
        self.events: list[tuple[Any, ...]] = []
        self.dispatches = 0

    def add(self, kind: str, minutes: int, **fields: Any) -> None:
        self.at += timedelta(minutes=minutes)
        self.dispatches += kind in ("dispatched", "reassigned")
        body = {"type": kind, "at": self.at.isoformat(), **fields, "applied": APPLIED}
        self.events.append((self.ticket_id, len(self.events) + 1, kind, self.at, self.at,
                            "bench", fields.get("unit") or fields.get("to_unit"),
                            orjson.dumps(body).decode()))


def _dispute(did: str, ticket_id: str, category: str, parties: list[str], opened: datetime,
             reason: str, rnd: random.Random, out: dict[str, list[Any]]) -> None:
    ruled = (opened + timedelta(hours=rnd.randrange(2, 120)) if rnd.random() < RULED
             else None)
    status = "ruled" if ruled else "open"
    out["disputes"].append({
        "id": did, "ticket_id": ticket_id, "decision_id": None, "category": category,
        "area": None, "reason": reason, "status": status, "parties": parties,
        "interim_owner": parties[0], "arbiter": None, "opened_at": opened, "claimed_at": None,
        "closed_at": ruled, "stage_deadline": None if ruled else opened + timedelta(days=3),
        "escalated": 0, "ruling_id": f"R{did}" if ruled else None,
        "state": {"id": did, "status": status, "parties": parties}})
    out["dispute_parties"] += [{"dispute_id": did, "unit": u} for u in parties]
    if ruled:
        out["rulings"].append({
            "id": f"R{did}", "dispute_id": did, "ticket_id": ticket_id,
            "lead": rnd.choice(parties), "co_handlers": [], "reasoning": "…", "basis": "…",
            "document_no": f"市政办裁〔2026〕{did}号", "generalize": None, "rule_id": None,
            "retired_rules": [], "supersedes": None, "category": category, "area": None,
            "ruleset_version": 1, "arbiter": "bench", "at": ruled})


def history(first: int, count: int, units: list[str], weights: list[float],
            leaves: list[str], seed: int) -> dict[str, list[Any]]:
    """Rows of tickets ``first`` … ``first + count - 1`` (see the module's docstring)."""
    rnd = random.Random(seed)
    out: dict[str, list[Any]] = {name: [] for name in TABLES}
    picks = rnd.choices(units, weights, k=2 * count)
    statuses = rnd.choices(("routed", "fallback", "unrouted"), (85, 10, 5), k=count)
    start = MONTH_START.astimezone(UTC)
    for n in range(count):
        i = first + n
        tid = f"T-{i:07d}"
        a, b = picks[2 * n], picks[2 * n + 1]
        if a == b:
            b = units[(units.index(a) + 1) % len(units)]
        category = rnd.choice(leaves)
        story = _Story(tid, start + timedelta(seconds=rnd.randrange(DAYS * 86400)))
        story.add("dispatched", 0, unit=a, category=category)
        received = story.at
        add = story.add
        owner: str | None = a
        roll = rnd.random()
        if roll < 0.015:  # A → B → A: a bounce, a dispute, A receives it on two days
            add("return_requested", rnd.randrange(30, 600), unit=a, proposed_unit=b,
                reason_code="territory_mismatch", basis="属地管理")
            add("return_upheld", rnd.randrange(30, 300))
            add("reassigned", rnd.randrange(5, 120), to_unit=b)
            add("return_requested", rnd.randrange(60, 1800), unit=b, proposed_unit=a,
                reason_code="territory_mismatch", basis="属地管理")
            add("return_upheld", rnd.randrange(30, 300))
            add("reassigned", rnd.randrange(24 * 60, 48 * 60), to_unit=a)
            did = f"DB{i:07d}"
            _dispute(did, tid, category, [a, b], story.at, "bounce", rnd, out)
            add("dispute_opened", 0, unit=a, dispute_id=did)
            owner = None
        elif roll < 0.215:  # returned once
            add("return_requested", rnd.randrange(30, 2 * 24 * 60), unit=a, proposed_unit=b,
                reason_code="territory_mismatch", basis="属地管理")
            if rnd.random() < 0.6:
                add("return_upheld", rnd.randrange(30, 600))
                if rnd.random() < 0.05:
                    add("closed_out_of_scope", rnd.randrange(30, 600), unit="O-RX",
                        outcome=rnd.choice(("informed", "terminated", "transferred")),
                        basis="非受理范围")
                    owner = None
                else:
                    add("reassigned", rnd.randrange(5, 600), to_unit=b)
                    owner = b
            else:
                add("return_rejected", rnd.randrange(30, 600))
        if owner is not None:
            add("signed", rnd.randrange(10, 24 * 60), unit=owner)
            if rnd.random() < 0.7:
                add("completed", rnd.randrange(60, 5 * 24 * 60))
        if 0.215 <= roll < 0.22:
            opened = story.at + timedelta(minutes=rnd.randrange(10, 600))
            _dispute(f"DM{i:07d}", tid, category, [a, b], opened, "manual", rnd, out)
        events = story.events
        out["ticket_events"] += events
        out["tickets"].append((
            tid, category, None, "completed" if events[-1][2] == "completed" else "signed",
            owner, a, None, story.dispatches, None, "{}", len(events), received, story.at))
        status = statuses[n]
        made = received - timedelta(seconds=rnd.randrange(1, 300))
        out["decisions"].append((
            f"DEC-{i:07d}", tid, 1, made, made, category, status,
            None if status == "unrouted" else a, "{}", "{}", "bench"))
    return out


TABLES = {"tickets": tickets, "ticket_events": ticket_events, "decisions": decisions,
          "disputes": disputes, "dispute_parties": dispute_parties, "rulings": rulings}
#: the tables made as tuples, with their columns
TUPLES = {"tickets": TICKET_COLUMNS, "ticket_events": EVENT_COLUMNS,
          "decisions": DECISION_COLUMNS}


def _sqlite_time(value: datetime) -> str:
    """A UTC time as SQLAlchemy stores it on SQLite (``2026-11-01 01:02:03.000000``)."""
    return value.isoformat(" ", "microseconds")[:26]


def write(conn: Connection, table: Table, columns: tuple[str, ...],
          rows: list[tuple[Any, ...]]) -> None:
    """Rows already in the driver's terms (JSON as text, times aware and in UTC), in bulk:
    COPY on PostgreSQL, executemany on SQLite (times as SQLAlchemy's text)."""
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, \
                cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    times = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    converted = []
    for row in rows:
        values = list(row)
        for i in times:
            values[i] = _sqlite_time(values[i])
        converted.append(tuple(values))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) "
                         f"VALUES ({', '.join('?' * len(columns))})", converted)


def load(db: Engine, places: dict[str, Any], n_tickets: int) -> dict[str, float]:
    """Insert the history in chunks; returns seconds per step and the row counts."""
    units = [u["code"] for u in places["units"] if u["kind"] != "office"]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(units))]
    leaves = [c["code"] for c in places["categories"] if len(c["code"]) == 6]
    rows = dict.fromkeys(TABLES, 0)
    generating = inserting = 0.0
    if db.dialect.name == "sqlite":
        # a page cache that holds the indexes being filled (the default 2 MB made the
        # inserts 3× slower past a few hundred thousand rows)
        @sql_event.listens_for(db, "connect")
        def _cache(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA cache_size = -1000000")

        db.dispose()
    for first in range(0, n_tickets, CHUNK):
        t0 = time.perf_counter()
        chunk = history(first, min(CHUNK, n_tickets - first), units, weights, leaves,
                        seed=first)
        t1 = time.perf_counter()
        with db.begin() as conn:
            for name, table_ in TABLES.items():
                if name in TUPLES:
                    write(conn, table_, TUPLES[name], chunk[name])
                else:
                    insert_rows(conn, table_, chunk[name])
                rows[name] += len(chunk[name])
        generating += t1 - t0
        inserting += time.perf_counter() - t1
    print("rows: " + ", ".join(f"{name} {n:,}" for name, n in rows.items()))
    return {"generate the history (Python)": generating, "insert it in bulk": inserting}


# -- timing -------------------------------------------------------------------------------------


def _times(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"median": stats.median(times), "p95": percentile(times, 95), "max": times[-1]}


def bench_endpoints(url: str, runs: int) -> tuple[list[list[str]], bool]:
    app = create_app(AppSettings(database_url=url, refresh_interval=60.0))
    rows: list[list[str]] = []
    ok = True
    with TestClient(app) as client:
        with app.state.services.db.begin() as conn:
            key = create_key(conn, role="admin", name="bench", unit=None, now=utc_now())
        client.headers["Authorization"] = f"Bearer {key}"
        for name, path in ENDPOINTS:
            def get(path: str = path) -> None:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:300])

            t = _times(get, runs, warmup=2)
            met = t["median"] <= TARGET_MS
            ok = ok and met
            rows.append([name, f"{t['median']:.1f}", f"{t['p95']:.1f}", f"{t['max']:.1f}",
                         str(runs), f"≤ {TARGET_MS:.0f} ms: {verdict(met)}"])
    return rows, ok


def bench_raw(db: Engine, runs: int) -> list[list[str]]:
    """The same figures counted from the history (the path before the rollups, and today's
    for a period not made of whole days)."""
    period = statistics.Period(MONTH_START, MONTH_START + timedelta(days=DAYS))
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("units", lambda c: statistics.unit_statistics(c, period, rolled_up=False)),
        ("summary", lambda c: statistics.summary(c, period, rolled_up=False)),
        ("hotspots", lambda c: statistics.hotspots(c, period, rolled_up=False)),
        ("trends", lambda c: statistics.weekly_trends(c, period, rolled_up=False)),
    ]
    rows = []
    with db.connect() as conn:
        for name, call in calls:
            t = _times(partial(call, conn), runs, warmup=0)
            rows.append([f"{name}, counted from the history", f"{t['median']:.0f}",
                         f"{t['max']:.0f}", str(runs)])
    return rows


# -- the cost per event ---------------------------------------------------------------------


@contextmanager
def rollups_left_out() -> Iterator[None]:
    """``record_ticket_event`` as before the rollups: their update replaced by nothing."""
    original = rollups.record_change

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    setattr(rollups, "record_change", nothing)  # noqa: B010 (the service reads it there)
    try:
        yield
    finally:
        setattr(rollups, "record_change", original)  # noqa: B010


def _ticket_plan(tag: str, n_tickets: int, units: list[str]) -> list[tuple[str, Event]]:
    """Tickets dispatched → return requested → upheld → reassigned → signed, one event of
    each ticket in turn."""
    at = datetime.now(CST).replace(microsecond=0) - timedelta(hours=1)
    steps = []
    for i in range(n_tickets):
        tid = f"EV-{tag}-{i:05d}"
        a, b = units[i % len(units)], units[(i + 7) % len(units)]
        steps.append([
            (tid, Event("dispatched", at, unit=a, category="010101")),
            (tid, Event("return_requested", at, unit=a, reason_code="territory_mismatch",
                        basis="属地管理", proposed_unit=b)),
            (tid, Event("return_upheld", at)),
            (tid, Event("reassigned", at, to_unit=b)),
            (tid, Event("signed", at, unit=b)),
        ])
    return [steps[t][k] for k in range(5) for t in range(n_tickets)]


def _record(db: Engine, plan: list[tuple[str, Event]]) -> float:
    t0 = time.perf_counter()
    for ticket_id, event in plan:
        with write_transaction(db) as conn:
            service.record_ticket_event(conn, ticket_id=ticket_id, event=event, actor="bench",
                                        now=utc_now(), policy=DEFAULT_POLICY)
    return (time.perf_counter() - t0) / len(plan) * 1e6


def bench_events(db: Engine, units: list[str], n_events: int) -> dict[str, float]:
    """µs per event with the rollups kept and left out, alternating blocks of 100 events."""
    blocks = max(2, n_events // 100)
    kept: list[float] = []
    left: list[float] = []
    for block in range(blocks):
        plan = _ticket_plan(f"{block}", 20, units)
        if block % 2 == 0:
            kept.append(_record(db, plan))
        else:
            with rollups_left_out():
                left.append(_record(db, plan))
    return {"kept": stats.median(kept), "left out": stats.median(left),
            "blocks": float(blocks)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--raw-runs", type=int, default=0,
                        help="times to count the figures from the history too (1 on "
                        "PostgreSQL: about 90 s at 1,000,000 tickets)")
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args(argv)
    if not 0 < args.tickets <= 2_000_000:
        parser.error("--tickets between 1 and 2,000,000")

    print(f"machine: {machine()}")
    places = city_places()
    with fresh_database(args.database_url) as url:
        db = make_engine(url)
        print(f"database: {db.dialect.name}; {args.tickets:,} tickets in November 2026")
        load_bundle(url, places)
        took = load(db, places, args.tickets)
        t0 = time.perf_counter()
        with db.begin() as conn:
            written = rollups.fill(conn)
        took["fill the rollups (migration 0012's fill)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with db.begin() as conn:
            conn.execute(text("ANALYZE"))
        took["ANALYZE"] = time.perf_counter() - t0
        for what, seconds in took.items():
            print(f"{what}: {seconds:.1f} s")
        print("rollup rows: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))

        rows, ok = bench_endpoints(url, args.runs)
        print(table(rows, ["request (rollups)", "median ms", "p95 ms", "max ms", "runs",
                           "target"]))
        if args.raw_runs:
            print(table(bench_raw(db, args.raw_runs),
                        ["the same, counted from the history", "median ms", "max ms",
                         "runs"]))
        if args.events:
            units = [u["code"] for u in places["units"] if u["kind"] == "department"]
            cost = bench_events(db, units, args.events)
            print(f"ticket events, one write transaction each ({cost['blocks']:.0f} blocks "
                  f"of 100, alternating): rollups kept {cost['kept']:.0f} µs/event, left "
                  f"out {cost['left out']:.0f} µs/event: "
                  f"+{cost['kept'] - cost['left out']:.0f} µs")
        db.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
