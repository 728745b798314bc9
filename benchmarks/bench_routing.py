"""In-process routing on the synthetic city: load + compile from the database, then decide.

    python -m benchmarks.bench_routing [--database-url URL] [--tickets 20000]

1. A child process builds the city (benchmarks.synthetic_city.make_city, 16 districts) and
   imports it through the API's import path (api.routes.matrix.import_document) into a fresh
   database: a temp SQLite file, or a new schema of the PostgreSQL database given.
2. This process, which has never seen the city, makes a new Router on that database and times
   ``Router.current()`` from cold (load the matrix, compile the shards, create the engine's
   rulesets), with its resident memory before and after.
3. It routes N tickets from make_tickets with ``Router.decide`` (no HTTP, no decision storage)
   and reports p50/p90/p99/max per decision. A sample is checked against the plain evaluator.

Targets (the issue): p99 <= 1 ms per decision; load + compile <= 10 s. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
from datetime import datetime
from typing import Any

from benchmarks._common import (
    fresh_database,
    load_bundle,
    machine,
    percentile,
    rss_mb,
    table,
    timed,
    verdict,
)
from benchmarks.synthetic_city import make_city, make_tickets

P99_TARGET_MS = 1.0
LOAD_TARGET_S = 10.0


def _build(url: str, districts: int, seed: int) -> dict[str, Any]:
    """Runs in a child process: generate the city and import it."""
    started = time.perf_counter()
    city = make_city(districts=districts, seed=seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    report = load_bundle(url, city)
    return {"generate_s": generated, "import_s": time.perf_counter() - started,
            "version": report["ruleset_version"], "added": report["added"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file; a PostgreSQL URL "
                        "gets a fresh schema that is dropped afterwards")
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000,
                        help="tickets routed before measuring (not counted)")
    parser.add_argument("--check", type=int, default=2_000,
                        help="tickets also decided by the plain evaluator, to compare")
    args = parser.parse_args(argv)

    from sqlalchemy import make_url

    with fresh_database(args.database_url) as url:
        backend = make_url(url).get_backend_name()
        print(f"machine: {machine()}; database: {backend}", flush=True)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            built = pool.apply(_build, (url, args.districts, args.seed))
        print(f"built city in a child process: generated in {built['generate_s']:.2f} s, "
              f"imported in {built['import_s']:.1f} s (version {built['version']}, "
              f"added {built['added']})", flush=True)
        return _measure(url, backend, args)


def _measure(url: str, backend: str, args: argparse.Namespace) -> int:
    import rules.service as service
    from api.db import make_engine
    from rules.engine import Engine
    from rules.service import Router, evaluate, ticket_from_request

    # Time the three stages of Router.current() by wrapping what it calls (no code changed).
    stages: dict[str, list[float]] = {"load_matrix": [], "compile_shards": [], "engine.load": []}
    service.load_matrix = timed(service.load_matrix, stages["load_matrix"])  # type: ignore[attr-defined]
    service.compile_shards = timed(service.compile_shards, stages["compile_shards"])  # type: ignore[attr-defined]
    Engine.load = timed(Engine.load, stages["engine.load"])  # type: ignore[method-assign]

    db = make_engine(url)
    router = Router(db)
    gc.collect()
    rss_before = rss_mb()
    started = time.perf_counter()
    matrix = router.current()
    load_s = time.perf_counter() - started
    rss_after = rss_mb()
    # What the server does after each install (api.app.settle_heap), timed: it also leaves
    # the heap as a server's is while it routes.
    from api.app import settle_heap

    started = time.perf_counter()
    settle_heap()
    settle_s = time.perf_counter() - started

    from rules.compiler import compile_shards

    shards = compile_shards(matrix.rules.values(), matrix.jurisdiction)
    largest = max(shards.values(), key=lambda s: len(s.rule_ids))
    leaves = len(matrix.jurisdiction.category_leaves())

    city = make_city(districts=args.districts, seed=args.seed)
    requests = make_tickets(city, args.warmup + args.tickets)
    now = datetime.fromisoformat(requests[0]["as_of"])
    tickets = [ticket_from_request(r, now) for r in requests]
    del city
    for ticket in tickets[:args.warmup]:
        router.decide(ticket, matrix)
    samples: list[float] = []
    statuses: dict[str, int] = {}
    clock = time.perf_counter_ns
    gc.collect()
    for ticket in tickets[args.warmup:]:
        t0 = clock()
        _, decision = router.decide(ticket)
        samples.append((clock() - t0) / 1e6)
        statuses[decision.status.value] = statuses.get(decision.status.value, 0) + 1
    samples.sort()
    rss_routed = rss_mb()

    differ = 0
    for ticket in tickets[args.warmup:args.warmup + args.check]:
        _, live = router.decide(ticket, matrix)
        plain = evaluate(ticket, matrix)
        if (live.status, live.lead, live.co_handlers, live.rule and live.rule.id) != (
                plain.status, plain.lead, plain.co_handlers, plain.rule and plain.rule.id):
            differ += 1

    p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
    load_ok, p99_ok = load_s <= LOAD_TARGET_S, p99 <= P99_TARGET_MS
    print()
    print(table([
        ["rules / leaf categories", f"{len(matrix.rules):,} / {leaves:,}", ""],
        ["shards (engine rulesets)", f"{len(shards)}", ""],
        ["largest shard", f"{len(largest.rule_ids)} rules ({largest.label})", ""],
        ["load + compile (Router.current(), cold)", f"{load_s:.2f} s",
         f"≤ {LOAD_TARGET_S:.0f} s: {verdict(load_ok)}"],
        ["… load_matrix", f"{sum(stages['load_matrix']):.2f} s", ""],
        ["… compile_shards", f"{sum(stages['compile_shards']):.2f} s", ""],
        ["… engine.load (create rulesets)", f"{sum(stages['engine.load']):.2f} s", ""],
        ["heap settled after install (server; full collection + freeze)",
         f"{settle_s:.2f} s", ""],
        ["RSS before / after load", f"{rss_before:,.0f} MB / {rss_after:,.0f} MB "
         f"(+{rss_after - rss_before:,.0f} MB)", ""],
        ["RSS after routing", f"{rss_routed:,.0f} MB", ""],
        [f"decide, {len(samples):,} tickets: p50", f"{p50:.3f} ms", ""],
        ["decide: p90", f"{p90:.3f} ms", ""],
        ["decide: p99", f"{p99:.3f} ms", f"≤ {P99_TARGET_MS:g} ms: {verdict(p99_ok)}"],
        ["decide: max", f"{samples[-1]:.3f} ms", ""],
        ["decide: mean", f"{sum(samples) / len(samples):.3f} ms", ""],
        ["statuses", ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())), ""],
        [f"engine vs plain evaluator ({min(args.check, args.tickets):,} tickets)",
         f"{differ} differ", ""],
    ], ["figure", f"value ({backend})", "target"]))
    router.close()
    db.dispose()
    return 0 if load_ok and p99_ok else 1


if __name__ == "__main__":
    sys.exit(main())
