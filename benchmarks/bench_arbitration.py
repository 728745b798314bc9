"""The arbitration queue and statistics at 100,000 disputes, and ticket events at a steady rate.

    python -m benchmarks.bench_arbitration [--database-url URL] [--disputes N] [--tickets N]
                                           [--rate R] [--duration S] [--skip-events]

(a) Loads the demo district into a fresh database (a temp SQLite file, or a new schema of the
PostgreSQL database given), then inserts rows directly, in bulk: ``--disputes`` disputes
(two parties each; 60 % open, 20 % under review, 20 % ruled with a ruling), ``--tickets``
tickets with their event histories (every fifth returned once, upheld or rejected, then
reassigned), and as many routing decisions, then runs ANALYZE. Through the app (in-process
``TestClient``, the same ASGI app uvicorn serves) it times, 30 times after 3 warm-ups, the
first page of ``GET /v1/disputes`` (the queue, soonest deadline first) with and without
``status=open``; and 5 times ``GET /v1/stats/units``, ``/v1/stats/hotspots``,
``/v1/stats/summary`` and ``GET /v1/graph?view=hotspots&format=json`` over the data's month.

(b) Starts ``uvicorn --factory api.app:create_app`` on 127.0.0.1 over the same database and
posts ``POST /v1/tickets/{id}/events`` open-loop at ``--rate`` events/s for ``--duration``
seconds: each request is sent at its scheduled moment (a pool of 64 sender threads), whether
or not earlier ones have answered. Tickets go dispatched → return requested → upheld →
reassigned → signed → completed; their events are interleaved so two events of one ticket
are seconds apart. Latency is from sending the event to receiving the ticket's state.

Targets: queue first page ≤ 200 ms. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, text

from api import demo
from api.app import create_app
from api.auth import create_key
from api.db import make_engine
from api.settings import AppSettings
from arbitration import rollups
from arbitration.tables import dispute_parties, disputes, rulings, ticket_events, tickets
from benchmarks._common import (
    admin_key,
    fresh_database,
    load_bundle,
    machine,
    percentile,
    table,
    utc_now,
    verdict,
)
from benchmarks.bench_http import free_port, start_server, wait_ready
from rules.tables import decisions

QUEUE_TARGET_MS = 200.0
BATCH = 10_000
START = datetime(2026, 11, 1, tzinfo=UTC)


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]


def _bulk(db: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.begin() as conn:
        for chunk in _chunks(rows):
            conn.execute(insert(table), chunk)


def populate(db: Engine, bundle: dict[str, Any], n_disputes: int, n_tickets: int,
             seed: int = 7) -> dict[str, float]:
    """Insert the synthetic history; returns seconds per table."""
    rnd = random.Random(seed)
    units = [u["code"] for u in bundle["units"] if u["kind"] != "office"]
    leaves = [c["code"] for c in bundle["categories"] if len(c["code"]) == 6]
    took: dict[str, float] = {}

    t0 = time.perf_counter()
    d_rows, p_rows, r_rows = [], [], []
    for i in range(n_disputes):
        a, b = rnd.sample(units, 2)
        opened = START + timedelta(minutes=rnd.randrange(30 * 24 * 60))
        roll = rnd.random()
        status = "open" if roll < 0.6 else "under_review" if roll < 0.8 else "ruled"
        did = f"DSP-B{i:07d}"
        ruled_at = opened + timedelta(hours=rnd.randrange(1, 120)) if status == "ruled" \
            else None
        deadline = None if status == "ruled" else opened + timedelta(days=2 + rnd.randrange(5))
        category = rnd.choice(leaves)
        d_rows.append({"id": did, "ticket_id": None, "decision_id": None, "category": category,
                       "area": None, "reason": "manual", "status": status, "parties": [a, b],
                       "interim_owner": a, "arbiter": None, "opened_at": opened,
                       "claimed_at": None, "closed_at": ruled_at, "stage_deadline": deadline,
                       "escalated": 0, "ruling_id": f"RUL-B{i:07d}" if ruled_at else None,
                       "state": {"id": did, "status": status, "parties": [a, b],
                                 "ticket_id": None, "category": category, "area": None,
                                 "opened_at": opened.isoformat(), "reason": "manual",
                                 "arbiter": None, "statements": [], "claimed_at": None,
                                 "closed_at": ruled_at.isoformat() if ruled_at else None,
                                 "stage_deadline": deadline.isoformat() if deadline else None}})
        p_rows += [{"dispute_id": did, "unit": a}, {"dispute_id": did, "unit": b}]
        if ruled_at is not None:
            r_rows.append({"id": f"RUL-B{i:07d}", "dispute_id": did, "ticket_id": None,
                           "lead": rnd.choice((a, b)), "co_handlers": [], "reasoning": "…",
                           "basis": "…", "document_no": f"示政办裁〔2026〕{i}号",
                           "generalize": None, "rule_id": None, "retired_rules": [],
                           "supersedes": None, "category": category, "area": None,
                           "ruleset_version": 1, "arbiter": "bench", "at": ruled_at})
    _bulk(db, disputes, d_rows)
    _bulk(db, dispute_parties, p_rows)
    _bulk(db, rulings, r_rows)
    took["disputes (+ parties, rulings)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    t_rows, e_rows, dec_rows = [], [], []
    for i in range(n_tickets):
        tid = f"T-B{i:07d}"
        a, b = rnd.sample(units, 2)
        at = START + timedelta(minutes=rnd.randrange(30 * 24 * 60))
        events: list[dict[str, Any]] = [{"type": "dispatched", "unit": a}]
        if i % 5 == 0:
            events.append({"type": "return_requested", "unit": a, "proposed_unit": b,
                           "reason_code": "territory_mismatch", "basis": "属地管理"})
            if rnd.random() < 0.6:
                events += [{"type": "return_upheld"}, {"type": "reassigned", "to_unit": b}]
            else:
                events.append({"type": "return_rejected"})
        events.append({"type": "signed"})
        for seq, event in enumerate(events, start=1):
            when = at + timedelta(minutes=seq)
            e_rows.append({"ticket_id": tid, "seq": seq, "type": event["type"], "at": when,
                           "recorded_at": when, "actor": "bench",
                           "unit": event.get("unit") or event.get("to_unit"),
                           "event": {**event, "at": when.isoformat()}})
        t_rows.append({"ticket_id": tid, "category": rnd.choice(leaves), "area": None,
                       "status": "signed", "owner": a, "first_receiver": a,
                       "interim_owner": None, "dispatch_count": 1, "dispute_id": None,
                       "state": {}, "event_count": len(events), "created_at": at,
                       "updated_at": at})
        dec_rows.append({"id": f"DEC-B{i:07d}", "ticket_id": tid, "ruleset_version": 1,
                         "created_at": at, "as_of": at, "category": t_rows[-1]["category"],
                         "area": None, "status": "routed" if rnd.random() < 0.85 else "fallback",
                         "lead": a, "rule_id": None, "request": {}, "response": {},
                         "actor": "bench"})
    _bulk(db, tickets, t_rows)
    _bulk(db, ticket_events, e_rows)
    _bulk(db, decisions, dec_rows)
    took[f"tickets (+ {len(e_rows):,} events, decisions)"] = time.perf_counter() - t0
    # The statistics' daily counters, which quanze's writers keep, for the rows inserted
    # behind their back (as migration 0012 fills them). The statistics below are timed over
    # a period of UTC midnights, not of the district's days: counted from the events, as
    # before the rollups (benchmarks/bench_statistics.py times the rollups).
    t0 = time.perf_counter()
    with db.begin() as conn:
        rollups.fill(conn)
    took["the statistics' rollups"] = time.perf_counter() - t0
    # Fresh table statistics, as autovacuum would gather after such a load: without them
    # PostgreSQL plans the statistics queries as quadratic loops.
    t0 = time.perf_counter()
    with db.begin() as conn:
        conn.execute(text("ANALYZE"))
    took["ANALYZE"] = time.perf_counter() - t0
    return took


def time_get(client: TestClient, path: str, *, runs: int = 30,
             warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1e3)
        assert response.status_code == 200
    times.sort()
    return {"median": stats.median(times), "p95": percentile(times, 95), "max": times[-1]}


def bench_reads(url: str) -> tuple[list[list[str]], bool]:
    app = create_app(AppSettings(database_url=url, refresh_interval=60.0))
    rows: list[list[str]] = []
    ok = True
    with TestClient(app) as client:
        with app.state.services.db.begin() as conn:
            key = create_key(conn, role="admin", name="bench", unit=None, now=utc_now())
        client.headers["Authorization"] = f"Bearer {key}"
        first = client.get("/v1/disputes").json()["disputes"]
        assert len(first) == 50, "the queue's first page is not full"
        period = "from=2026-11-01T00:00:00%2B00:00&to=2026-12-06T00:00:00%2B00:00"
        for name, path, target in (
                ("GET /v1/disputes (first page, 50)", "/v1/disputes", QUEUE_TARGET_MS),
                ("GET /v1/disputes?status=open", "/v1/disputes?status=open", QUEUE_TARGET_MS),
                ("GET /v1/stats/units (month)", f"/v1/stats/units?{period}", None),
                ("GET /v1/stats/units?format=csv", f"/v1/stats/units?{period}&format=csv",
                 None),
                ("GET /v1/stats/hotspots", f"/v1/stats/hotspots?{period}", None),
                ("GET /v1/stats/summary", f"/v1/stats/summary?{period}", None),
                ("GET /v1/graph?view=hotspots&format=json",
                 f"/v1/graph?view=hotspots&format=json&{period}", None)):
            runs = 30 if target else 5
            t = time_get(client, path, runs=runs, warmup=3 if target else 1)
            met = "" if target is None else \
                f"≤ {target:.0f} ms: {verdict(t['median'] <= target)}"
            ok = ok and (target is None or t["median"] <= target)
            rows.append([name, f"{t['median']:.1f}", f"{t['p95']:.1f}", f"{t['max']:.1f}",
                         str(runs), met])
    return rows, ok


# -- (b) events at a steady rate ----------------------------------------------------------------

def _event_plan(bundle: dict[str, Any], count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` events over enough tickets that one ticket's events are far apart."""
    units = [u["code"] for u in bundle["units"] if u["kind"] == "department"]
    town = next(a for a in bundle["areas"] if a["level"] == "township")
    leaf = next(c["code"] for c in bundle["categories"] if len(c["code"]) == 6)
    per_ticket = 6
    n_tickets = max(1, count // per_ticket)
    stamp = int(time.time())
    steps: list[list[tuple[str, dict[str, Any]]]] = []
    for i in range(n_tickets):
        tid = f"EV-{stamp}-{i:05d}"
        a, b = units[i % len(units)], units[(i + 1) % len(units)]
        steps.append([
            (tid, {"type": "dispatched", "unit": a, "category": leaf, "area": town["code"]}),
            (tid, {"type": "return_requested", "unit": a, "reason_code": "territory_mismatch",
                   "basis": "属地管理", "proposed_unit": b}),
            (tid, {"type": "return_upheld"}),
            (tid, {"type": "reassigned", "to_unit": b}),
            (tid, {"type": "signed", "unit": b}),
            (tid, {"type": "completed"}),
        ])
    # slot = step * n_tickets + ticket: event k of a ticket follows event k-1 n_tickets later
    return [steps[t][k] for k in range(per_ticket) for t in range(n_tickets)][:count]


def bench_events(url: str, bundle: dict[str, Any], rate: float,
                 duration: float) -> dict[str, Any]:
    key = admin_key(url, "bench-events")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port)
    plan = _event_plan(bundle, int(rate * duration))
    latencies: list[float] = []
    lags: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    try:
        wait_ready(base, proc, timeout=120)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        with httpx.Client(base_url=base, limits=limits, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            # warm-up: one ticket outside the plan
            client.post(f"/v1/tickets/WARM-{port}/events", json=plan[0][1])

            def send(ticket_id: str, body: dict[str, Any], due: float) -> None:
                t0 = time.perf_counter()
                response = client.post(f"/v1/tickets/{ticket_id}/events", json=body)
                took = (time.perf_counter() - t0) * 1e3
                with lock:
                    latencies.append(took)
                    lags.append((t0 - due) * 1e3)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

            start = time.perf_counter() + 0.5
            with ThreadPoolExecutor(max_workers=64) as pool:
                for i, (ticket_id, body) in enumerate(plan):
                    due = start + i / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    pool.submit(send, ticket_id, body, due)
            elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies.sort()
    lags.sort()
    return {"sent": len(plan), "elapsed": elapsed, "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90), "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else float("nan"),
            "lag_p99": percentile(lags, 99), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--disputes", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (≤ 120)")
    parser.add_argument("--skip-events", action="store_true")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 120 and 0 < args.rate <= 1000):
        parser.error("bounded runs only: --duration ≤ 120, --rate ≤ 1000")

    bundle = demo.district()
    print(f"machine: {machine()}")
    with fresh_database(args.database_url) as url:
        backend = make_engine(url)
        print(f"database: {backend.dialect.name}")
        load_bundle(url, bundle)
        took = populate(backend, bundle, args.disputes, args.tickets)
        backend.dispose()
        for what, seconds in took.items():
            print(f"inserted {what} in {seconds:.1f} s")
        rows, ok = bench_reads(url)
        print(table(rows, ["request", "median ms", "p95 ms", "max ms", "runs", "target"]))
        if not args.skip_events:
            result = bench_events(url, bundle, args.rate, args.duration)
            print(f"events: {result['sent']} sent open-loop at {args.rate:g}/s over "
                  f"{result['elapsed']:.1f} s; p50 {result['p50']:.1f} ms, p90 "
                  f"{result['p90']:.1f} ms, p99 {result['p99']:.1f} ms, max "
                  f"{result['max']:.1f} ms; send lag p99 {result['lag_p99']:.1f} ms; "
                  f"failures {len(result['failures'])}")
            for failure in result["failures"][:5]:
                print("  ", failure)
            ok = ok and not result["failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
