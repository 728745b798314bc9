"""How long the decision writer's batch takes while the event loop is busy, at CPython's
default GIL switch interval (5 ms) and at 0.5 ms.

    python -m benchmarks.bench_gil [--database-url URL] [--batches 150]

A thread stands in for the busy event loop (pure-Python work, never blocking); another
writes decisions with ``rules.service.DecisionWriter`` in batches of eight, as the group
commit does, into a fresh database (a temp SQLite file, or a new schema of the PostgreSQL
database at URL). Each time the writer gets an answer from the database it needs the GIL
back; with the loop busy it gets it when the loop is forced to yield, after the switch
interval. Latency per batch, median and p90, both settings in turns, two rounds. Target (on
PostgreSQL, whose answers take a network wait; SQLite's writes return at once and are only
reported): the median at 0.5 ms at most two thirds of the one at 5 ms. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from api.db import make_engine
from benchmarks._common import fresh_database, machine, table, verdict
from benchmarks.bench_privacy import NOW, _document
from rules.service import DecisionWriter

DEFAULT_INTERVAL = 0.005
SWITCH_INTERVAL = 0.0005


def _rows(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{i:08d}", "ticket_id": f"T-{i}", "ruleset_version": 3,
             "ruleset_digest": None, "created_at": NOW + timedelta(microseconds=i),
             "as_of": NOW, "category": "030101", "area": "110199001", "status": "routed",
             "lead": "JD-HP", "rule_id": "R-0301-01", "request": {"category": "030101"},
             "response": _document(f"d{i}"), "actor": "router:bench"} for i in range(n)]


def _batches(writer: DecisionWriter, rows: list[dict[str, Any]], interval: float
             ) -> list[float]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(300))

    latencies: list[float] = []

    def write() -> None:
        for start in range(0, len(rows), 8):
            t0 = time.perf_counter()
            errors = writer.write(rows[start:start + 8])
            latencies.append(time.perf_counter() - t0)
            assert errors == [None] * len(errors), errors

    loop = threading.Thread(target=busy)
    loop.start()
    try:
        writing = threading.Thread(target=write)
        writing.start()
        writing.join()
    finally:
        stop.set()
        loop.join()
        sys.setswitchinterval(previous)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--batches", type=int, default=150)
    args = parser.parse_args(argv)
    results: dict[float, list[float]] = {DEFAULT_INTERVAL: [], SWITCH_INTERVAL: []}
    with fresh_database(args.database_url) as url:
        db = make_engine(url)
        writer = DecisionWriter(db)
        try:
            writer.write(_rows("warm", 8))
            for rnd in range(2):
                for interval in results:
                    results[interval] += _batches(
                        writer, _rows(f"r{rnd}-{interval}", 8 * args.batches), interval)
        finally:
            writer.close()
            db.dispose()
    medians = {k: statistics.median(v) * 1e3 for k, v in results.items()}
    rows = [[f"{k * 1e3:g} ms", f"{medians[k]:.2f}",
             f"{sorted(v)[int(len(v) * 0.9)] * 1e3:.2f}", len(v)] for k, v in results.items()]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; database: "
          f"{url.split(':', 1)[0]}; batches of 8 decisions while a thread keeps the GIL busy")
    print(table(rows, ["switch interval", "batch median ms", "batch p90 ms", "batches"]))
    ratio = medians[SWITCH_INTERVAL] / medians[DEFAULT_INTERVAL]
    judged = url.startswith("postgresql")
    ok = ratio <= 2 / 3 or not judged
    print(f"\nmedian at {SWITCH_INTERVAL * 1e3:g} ms ÷ at 5 ms: {ratio:.2f} "
          f"(≤ 0.67: {verdict(ok) if judged else 'reported (SQLite)'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
