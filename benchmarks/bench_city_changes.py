"""Rule changes on the synthetic city: what a PATCH costs, how soon a second replica uses it,
whether the replica's event loop keeps running meanwhile, and memory over the versions.

    python -m benchmarks.bench_city_changes [--database-url URL] [--changes 50]

A child process generates the 16-district city and imports it into a fresh database (a temp
SQLite file; for PostgreSQL a new schema, dropped at the end). Then:

- the **writer** is this process: the app (``api.app.create_app``, as ``quanze serve`` makes
  it) driven in process through Starlette's TestClient; it sends ``--changes`` times
  ``PATCH /v1/rules/{id}`` to one district's rule, each time with a condition of another
  value, so a new condition pattern appears (and the last one goes) every version: the shard
  holding them (~480 patterns) is compiled and its engine ruleset made anew (a change of a
  lead, an area or a validity window compiles nothing);
- the **replica** is a second OS process (multiprocessing, spawn) holding its own ``Router``
  as the server's lifespan does (``start_refreshing``: polling every ``refresh_interval``,
  and LISTEN on PostgreSQL; ``HeapSettler`` after each install). Its asyncio event loop runs a
  ticker every 5 ms and records how late each tick is (the loop's lag) while it waits for
  each version; it reports the moment ``Router.current()`` is the new version and a decision
  under it names that version (``time.monotonic``, one clock for all processes on Linux).

Figures: PATCH latency (the client's wall time, median and max), change → used by the
replica (from the PATCH sent, and from its answer), the replica's largest event-loop lag
while changes arrived, shards compiled per change (writer and replica), and RSS of both
processes after ``--warmup`` changes and at the end. Each change's replica latency is taken
after the PATCH answered; the next PATCH is sent once the replica has it.

Targets (issue 12): PATCH ≤ 150 ms (median); a change used by the replica ≤ 1 s (max);
the replica's loop lag ≤ 100 ms (max; a reload on the loop blocked it for seconds); RSS
growth over the changes ≤ 20 MB in each process. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from benchmarks._common import (
    admin_key,
    fresh_database,
    load_bundle,
    machine,
    rss_mb,
    table,
    utc_now,
    verdict,
)
from benchmarks.synthetic_city import make_city

PATCH_TARGET_S = 0.150
REPLICA_TARGET_S = 1.0
LAG_TARGET_S = 0.100
GROWTH_TARGET_MB = 20.0
TICK_S = 0.005


def _build(url: str, districts: int, seed: int) -> dict[str, Any]:
    """Runs in a child process: generate the city and import it."""
    started = time.perf_counter()
    report = load_bundle(url, make_city(districts=districts, seed=seed))
    return {"import_s": time.perf_counter() - started, "version": report["ruleset_version"]}


def _replica(url: str, refresh: float, pipe: Connection) -> None:
    """The second replica: a Router refreshing itself as the server's does, and an event
    loop whose lag is measured while it waits for each version."""
    from api.app import HeapSettler
    from api.db import make_engine
    from rules.service import Router, ticket_from_request

    db = make_engine(url)
    router = Router(db, refresh_interval=refresh, on_install=HeapSettler())
    started = time.perf_counter()
    router.current()
    router.start_refreshing()
    load_s = time.perf_counter() - started

    async def run() -> None:
        loop = asyncio.get_running_loop()
        lags: list[float] = []

        async def ticker() -> None:
            while True:
                before = time.monotonic()
                await asyncio.sleep(TICK_S)
                lags.append(time.monotonic() - before - TICK_S)

        ticking = asyncio.create_task(ticker())
        pipe.send(("ready", rss_mb(), load_s))
        while True:
            message = await loop.run_in_executor(None, pipe.recv)
            if message is None:
                break
            if message == "rss":
                gc.collect()
                pipe.send(("rss", rss_mb()))
                continue
            version, ticket = message
            lags.clear()
            deadline = time.monotonic() + 30
            while router.current().version < version and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            used, _ = router.decide(ticket_from_request(ticket, utc_now()))
            seen = time.monotonic()
            compiled = router.last_compile.compiled if router.last_compile else -1
            pipe.send(("seen", seen, used.version, max(lags, default=0.0), compiled,
                       used.digest))
        ticking.cancel()

    try:
        asyncio.run(run())
    finally:
        router.close()
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file; a PostgreSQL URL "
                        "gets a fresh schema that is dropped afterwards")
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5,
                        help="changes made before the first RSS reading (not counted)")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient
    from sqlalchemy import make_url

    from api.app import create_app
    from api.settings import AppSettings

    with fresh_database(args.database_url) as url:
        backend = make_url(url).get_backend_name()
        refresh = AppSettings().refresh_interval
        print(f"machine: {machine()}; database: {backend}; refresh_interval {refresh:g} s",
              flush=True)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            built = pool.apply(_build, (url, args.districts, args.seed))
        print(f"city imported in a child process in {built['import_s']:.1f} s "
              f"(version {built['version']})", flush=True)
        key = admin_key(url)
        here, there = ctx.Pipe()
        replica = ctx.Process(target=_replica, args=(url, refresh, there), daemon=True)
        replica.start()
        app = create_app(AppSettings(database_url=url, refresh_interval=refresh))
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            kind, replica_rss_start, replica_load_s = here.recv()
            assert kind == "ready"
            router = app.state.services.router
            matrix = router.current()
            rule = next(r for _, r in sorted(matrix.rules.items())
                        if r.area is not None and not r.when and not r.text_any
                        and r.valid_to is None)
            ticket = {"category": rule.category, "area": rule.area}
            print(f"rule {rule.id} (category {rule.category}, area {rule.area}); "
                  f"{len(matrix.rules):,} rules; replica loaded the city in "
                  f"{replica_load_s:.1f} s", flush=True)
            patch_s: list[float] = []
            from_sent: list[float] = []
            from_answer: list[float] = []
            lags: list[float] = []
            compiled: list[int] = []
            replica_compiled: list[int] = []
            mismatched = 0
            rss_start = replica_start = 0.0
            for n in range(args.warmup + args.changes):
                if n == args.warmup:
                    gc.collect()
                    rss_start = rss_mb()
                    here.send("rss")
                    replica_start = here.recv()[1]
                sent = time.monotonic()
                response = client.patch(f"/v1/rules/{rule.id}",
                                        json={"when": {"bench_change": [f"v{n}"]}})
                answered = time.monotonic()
                if response.status_code != 200:
                    raise SystemExit(f"PATCH failed: {response.status_code} {response.text}")
                version = response.json()["ruleset_version"]
                here.send((version, ticket))
                _, seen, used, lag, replica_compiles, digest = here.recv()
                if used != version or digest != router.current().digest:
                    mismatched += 1
                if n < args.warmup:
                    continue
                patch_s.append(answered - sent)
                from_sent.append(seen - sent)
                from_answer.append(seen - answered)
                lags.append(lag)
                stats = router.last_compile
                compiled.append(stats.compiled if stats else -1)
                replica_compiled.append(replica_compiles)
            gc.collect()
            rss_end = rss_mb()
            here.send("rss")
            replica_end = here.recv()[1]
            here.send(None)
        replica.join(timeout=60)

    median_patch = statistics.median(patch_s)
    growth, replica_growth = rss_end - rss_start, replica_end - replica_start
    ok = {"patch": median_patch <= PATCH_TARGET_S,
          "replica": max(from_sent) <= REPLICA_TARGET_S and not mismatched,
          "lag": max(lags) <= LAG_TARGET_S,
          "memory": growth <= GROWTH_TARGET_MB and replica_growth <= GROWTH_TARGET_MB}
    ms = 1e3
    print()
    print(table([
        [f"PATCH /v1/rules/{{id}} ({args.changes} changes): median / p90 / max",
         f"{median_patch * ms:.0f} / {sorted(patch_s)[int(0.9 * len(patch_s))] * ms:.0f} / "
         f"{max(patch_s) * ms:.0f} ms",
         f"≤ {PATCH_TARGET_S * ms:.0f} ms: {verdict(ok['patch'])}"],
        ["shards compiled per change: writer / replica (max)",
         f"{max(compiled)} / {max(replica_compiled)}", ""],
        ["change → used by the second replica, from PATCH sent: median / max",
         f"{statistics.median(from_sent) * ms:.0f} / {max(from_sent) * ms:.0f} ms",
         f"≤ {REPLICA_TARGET_S:g} s: {verdict(ok['replica'])}"],
        ["… from the PATCH's answer: median / max",
         f"{statistics.median(from_answer) * ms:.0f} / {max(from_answer) * ms:.0f} ms", ""],
        ["… decisions naming another version or digest", str(mismatched), "0"],
        ["replica event-loop lag while changes arrive: median of maxima / max",
         f"{statistics.median(lags) * ms:.1f} / {max(lags) * ms:.1f} ms",
         f"≤ {LAG_TARGET_S * ms:.0f} ms: {verdict(ok['lag'])}"],
        [f"writer RSS over {args.changes} versions (after {args.warmup} warm-up)",
         f"{rss_start:,.0f} → {rss_end:,.0f} MB ({growth:+.1f} MB)",
         f"≤ {GROWTH_TARGET_MB:g} MB: {verdict(growth <= GROWTH_TARGET_MB)}"],
        [f"replica RSS over {args.changes} versions",
         f"{replica_start:,.0f} → {replica_end:,.0f} MB ({replica_growth:+.1f} MB) "
         f"(at its start {replica_rss_start:,.0f} MB)",
         f"≤ {GROWTH_TARGET_MB:g} MB: {verdict(replica_growth <= GROWTH_TARGET_MB)}"],
    ], ["figure", "value", "target"]))
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
