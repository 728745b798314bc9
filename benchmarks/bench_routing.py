"""In-process routing on the synthetic city: load + compile from the database, then decide.

    python -m benchmarks.bench_routing [--database-url URL] [--tickets 20000]

1. A child process builds the city (benchmarks.synthetic_city.make_city, 16 districts) and
   imports it through the API's import path (api.routes.matrix.import_document) into a fresh
   database: a temp SQLite file, or a new schema of the PostgreSQL database given.
2. This process, which has never seen the city, makes a new Router on that database and times
   ``Router.current()`` from cold (load the matrix, compile the shards, create the engine's
   rulesets), with its resident memory before and after.
3. It routes N tickets from make_tickets with ``Router.decide`` (no HTTP, no decision storage)
   and reports p50/p90/p99/max per decision. A sample is checked against the plain evaluator:
   every decision equal, explanation included.
4. The engine path against the plain evaluator, side by side: the same ``--check`` tickets
   decided by ``Router.decide`` and by ``rules.service.evaluate`` in alternating rounds
   (``--rounds``), the median of each side's per-round mean compared.

Targets (issues): p99 <= 1 ms per decision; load + compile <= 10 s; resident memory after
loading the city <= 600 MB; engine path / plain evaluator <= 1.2. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics as stats
import sys
import time
from collections.abc import Callable, Sequence
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
RSS_TARGET_MB = 600.0
RATIO_TARGET = 1.2


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
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating rounds of the engine path against the evaluator")
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

    assert router._live is not None
    shards = router._live.shards  # the live ones: compiling them again would cost memory
    largest = max(shards.values(), key=lambda s: len(s.definition))
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

    checked = tickets[args.warmup:args.warmup + args.check]
    differ = sum(1 for ticket in checked if router.decide(ticket, matrix)[1]
                 != evaluate(ticket, matrix))
    engine_us, plain_us = side_by_side(
        lambda t: router.decide(t, matrix), lambda t: evaluate(t, matrix), checked,
        args.rounds)
    ratio = engine_us / plain_us

    p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
    load_ok, p99_ok = load_s <= LOAD_TARGET_S, p99 <= P99_TARGET_MS
    rss_ok, ratio_ok = rss_after <= RSS_TARGET_MB, ratio <= RATIO_TARGET
    print()
    print(table([
        ["rules / leaf categories", f"{len(matrix.rules):,} / {leaves:,}", ""],
        ["shards (engine rulesets)", f"{len(shards)}", ""],
        ["engine rules (condition patterns) / largest shard",
         f"{sum(len(s.definition) for s in shards.values()):,} / "
         f"{len(largest.definition):,} ({largest.label})", ""],
        ["load + compile (Router.current(), cold)", f"{load_s:.2f} s",
         f"≤ {LOAD_TARGET_S:.0f} s: {verdict(load_ok)}"],
        ["… load_matrix", f"{sum(stages['load_matrix']):.2f} s", ""],
        ["… compile_shards", f"{sum(stages['compile_shards']):.2f} s", ""],
        ["… engine.load (create rulesets)", f"{sum(stages['engine.load']):.2f} s", ""],
        ["heap settled after install (server; full collection + freeze)",
         f"{settle_s:.2f} s", ""],
        ["RSS before / after load", f"{rss_before:,.0f} MB / {rss_after:,.0f} MB "
         f"(+{rss_after - rss_before:,.0f} MB)",
         f"≤ {RSS_TARGET_MB:.0f} MB after: {verdict(rss_ok)}"],
        ["RSS after routing", f"{rss_routed:,.0f} MB", ""],
        [f"decide, {len(samples):,} tickets: p50", f"{p50:.3f} ms", ""],
        ["decide: p90", f"{p90:.3f} ms", ""],
        ["decide: p99", f"{p99:.3f} ms", f"≤ {P99_TARGET_MS:g} ms: {verdict(p99_ok)}"],
        ["decide: max", f"{samples[-1]:.3f} ms", ""],
        ["decide: mean", f"{sum(samples) / len(samples):.3f} ms", ""],
        ["statuses", ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())), ""],
        [f"engine vs plain evaluator ({len(checked):,} tickets, whole decisions)",
         f"{differ} differ", "0"],
        [f"engine path / plain evaluator, mean per ticket (median of {args.rounds} "
         f"alternating rounds)", f"{engine_us:.1f} / {plain_us:.1f} µs = {ratio:.2f}",
         f"≤ {RATIO_TARGET:g}: {verdict(ratio_ok)}"],
    ], ["figure", f"value ({backend})", "target"]))
    router.close()
    db.dispose()
    return 0 if load_ok and p99_ok and rss_ok and ratio_ok and not differ else 1


def side_by_side(engine: Callable[[Any], Any], plain: Callable[[Any], Any],
                 tickets: Sequence[Any], rounds: int) -> tuple[float, float]:
    """Median over ``rounds`` alternating rounds of each side's mean µs per ticket (the
    rounds alternate so that a busy moment of the machine falls on both)."""
    sides: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, sink in ((engine, sides[0]), (plain, sides[1])):
            started = time.perf_counter_ns()
            for ticket in tickets:
                fn(ticket)
            sink.append((time.perf_counter_ns() - started) / 1e3 / len(tickets))
    return stats.median(sides[0]), stats.median(sides[1])


if __name__ == "__main__":
    sys.exit(main())
