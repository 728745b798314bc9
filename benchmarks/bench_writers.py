"""Concurrent writers through one app: do they all succeed, and how long does the last wait?

    python -m benchmarks.bench_writers [--database-url URL] [--writers N] [--rounds N]

One app (Starlette's TestClient; each synchronous route runs in the app's thread pool) on a
fresh database with the contract bundle, then, from ``--writers`` threads at once:

1. creates of ``--writers`` different rules (``POST /v1/rules``);
2. ``--rounds`` edits of each of those rules (``PATCH /v1/rules/{id}``);
3. a mix of 300 calls: routes, ticket events (``dispatched``) and rule creates;
4. one create of a rule id that exists (the only answer that should be a 409).

Prints the answers by status and the slowest answer of each step. Issue 9 §5: writers queue
or retry; only true conflicts are 409. Exits 1 when any step has an answer it should not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import AppSettings
from benchmarks._common import admin_key, fresh_database, machine, table
from tests.conftest import contract_bundle


def _rule(i: int) -> dict[str, Any]:
    return {"id": f"R-B-{i:03d}", "category": "030101", "area": "110199002", "lead": "D-CG",
            "basis": f"第{i}项", "valid_from": "2026-01-01T00:00:00+08:00"}


def _run(calls: list[Callable[[], httpx.Response]], threads: int,
         ) -> tuple[Counter[int], float]:
    def timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
        start = time.monotonic()
        status = call().status_code
        return status, time.monotonic() - start

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(timed, calls))
    return Counter(s for s, _ in results), max(t for _, t in results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    p.add_argument("--writers", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    n = args.writers
    rows = []
    ok = True
    with fresh_database(args.database_url) as url:
        key = admin_key(url)
        with TestClient(create_app(AppSettings(database_url=url))) as c:
            c.headers["Authorization"] = f"Bearer {key}"
            assert c.put("/v1/bundle", json=contract_bundle()).status_code == 200
            steps: list[tuple[str, list[Callable[[], httpx.Response]], set[int]]] = [
                (f"{n} creates of different rules",
                 [lambda i=i: c.post("/v1/rules", json=_rule(i)) for i in range(n)], {201}),
                (f"{n * args.rounds} edits of {n} rules",
                 [lambda i=i, r=r: c.patch(f"/v1/rules/R-B-{i:03d}", json={"basis": f"{r}"})
                  for r in range(args.rounds) for i in range(n)], {200}),
                ("300 routes, ticket events and creates", [
                    (lambda i=i: c.post("/v1/route", json={"category": "030102"})) if i % 3 == 0
                    else (lambda i=i: c.post(f"/v1/tickets/B-{i}/events", json={
                        "type": "dispatched", "unit": "D-CG", "category": "030102",
                        "area": "110199001"})) if i % 3 == 1
                    else (lambda i=i: c.post("/v1/rules", json=_rule(1000 + i)))
                    for i in range(300)], {200, 201}),
                ("a create of an existing rule id",
                 [lambda: c.post("/v1/rules", json=_rule(0))], {409}),
            ]
            for name, calls, expected in steps:
                statuses, slowest = _run(calls, n)
                ok = ok and set(statuses) <= expected
                rows.append((name, ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items())),
                             f"{slowest:.2f}"))
    print(f"{'PostgreSQL' if args.database_url else 'SQLite'}, {n} threads, {machine()}")
    print(table(rows, ["step", "answers", "slowest (s)"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
