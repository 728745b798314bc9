"""Rule changes on the demo district: how soon another process routes by them, and memory.

    python -m benchmarks.bench_versions [--database-url URL] [--changes 20] [--versions 1000]

(a) Change latency. This process is the writer: it commits a rule change through
    ``rules.admin.apply`` (PATCH-like: the winning rule of a fixed ticket gets another lead),
    alternating between two leads. A separate OS process (multiprocessing, spawn) is the reader:
    its own Router on the same database, with the configured ``refresh_interval``
    (QUANZE_REFRESH_INTERVAL, default 0.25 s), routes the ticket in a loop (every ~1 ms) until
    the decision names the new lead, and reports the time (``time.monotonic``, one clock for
    all processes on Linux). The latency is counted from the moment ``apply`` is called (an
    upper bound: it includes validation, the commit and the writer's own install) and also
    from the moment it returned. Repeated ``--changes`` times.
(b) Memory. One Router installs ``--versions`` successive rule-set versions, each one changed
    rule (through ``rules.admin.apply``, which installs each version in that Router, and
    ``api.app.HeapSettler`` after each install, as the server does): its lead flips and its
    ``valid_from`` moves by a second, so its compiled condition is new every version and its
    engine ruleset is made anew (and an old one deleted) every version; RSS is taken after a
    warm-up of ``--warmup`` versions and at the end.

Targets: a change is used by routing <= 1 s after its commit (issue 5); RSS grows <= 20 MB
over 1,000 versions (issue 12). Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from api import demo
from benchmarks._common import (
    fresh_database,
    load_bundle,
    machine,
    rss_mb,
    table,
    utc_now,
    verdict,
)

LATENCY_TARGET_S = 1.0
GROWTH_TARGET_MB = 20.0
#: the README's example ticket: a compound, with words the demo's rules test
TICKET = {"category": "030101", "area": "110199001001",
          "attributes": {"location_type": "residential_compound"},
          "text": "小区内有人私搭乱建"}


def _ticket() -> Any:
    from rules.service import ticket_from_request

    return ticket_from_request(TICKET, utc_now())


def _reader(url: str, refresh: float, pipe: Connection) -> None:
    """The other server process: route the ticket until the expected lead shows."""
    from api.db import make_engine
    from rules.service import Router

    db = make_engine(url)
    router = Router(db, refresh_interval=refresh)
    ticket = _ticket()
    router.decide(ticket)
    pipe.send(("ready", rss_mb()))
    while True:
        expected = pipe.recv()
        if expected is None:
            break
        deadline = time.monotonic() + 30
        while True:
            _, decision = router.decide(ticket)
            if decision.lead == expected:
                pipe.send(("seen", time.monotonic(), router.current().version))
                break
            if time.monotonic() > deadline:
                pipe.send(("timeout", time.monotonic(),
                           f"{router.current().version} (lead {decision.lead})"))
                break
            time.sleep(0.001)
    pipe.send(("rss", rss_mb()))
    router.close()
    db.dispose()


def _flip(db: Any, router: Any, rule_id: str, lead: str, n: int, *,
          condition: bool = False) -> None:
    """Flip the rule's lead; with ``condition``, also give it a condition with a value new
    every version (beside the ticket's own, so the rule still routes it): a new condition
    pattern every version, so the engine's shard is built anew and an old one deleted each
    version. (A lead, an area or a validity window compiles nothing; flipping a condition
    back and forth would reuse the rulesets the engine keeps for the previous generation.)"""
    from rules import admin

    fields: dict[str, Any] = {"lead": lead}
    if condition:
        fields["when"] = {"location_type": [TICKET["attributes"]["location_type"], f"v{n}"]}
    admin.apply(db, router, admin.patch_rule(rule_id, fields), actor="bench:bench",
                note=f"bench change {n}", now=utc_now())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)

    from api.db import make_engine
    from api.settings import AppSettings
    from rules.service import Router

    refresh = AppSettings().refresh_interval
    with fresh_database(args.database_url) as url:
        load_bundle(url, demo.district())
        db = make_engine(url)
        from api.app import HeapSettler

        writer = Router(db, refresh_interval=refresh, on_install=HeapSettler())
        matrix, decision = writer.decide(_ticket())
        if decision.rule is None or decision.lead is None:
            raise SystemExit(f"the benchmark ticket is not routed by a rule: {decision}")
        rule = decision.rule
        units = sorted(code for code, unit in matrix.jurisdiction.units.items()
                       if unit.kind.value == "department" and code != decision.lead)
        leads = [units[0], decision.lead]  # the lead flips between these two
        print(f"machine: {machine()}; database: {url.split(':', 1)[0]}; "
              f"refresh_interval {refresh:g} s; rule {rule.id} (lead {rule.lead} → "
              f"{leads[0]} ↔ {leads[1]})", flush=True)

        # (a) change latency, seen by another OS process
        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe()
        reader = ctx.Process(target=_reader, args=(url, refresh, there), daemon=True)
        reader.start()
        kind, reader_rss_start = here.recv()
        assert kind == "ready"
        from_call: list[float] = []
        from_return: list[float] = []
        timeouts = 0
        for n in range(args.changes):
            lead = leads[n % 2]
            here.send(lead)
            time.sleep(0.05)  # the reader is polling the old answer
            called = time.monotonic()
            _flip(db, writer, rule.id, lead, n)
            returned = time.monotonic()
            kind, seen, version = here.recv()
            if kind == "timeout":
                timeouts += 1
                print(f"change {n}: the reader still routes by version {version} 30 s after "
                      f"the writer committed version {writer.current().version}", flush=True)
            from_call.append(seen - called)
            from_return.append(seen - returned)
        here.send(None)
        _, reader_rss_end = here.recv()
        reader.join(timeout=30)

        # (b) memory over successive versions, in the writer's Router
        ticket = _ticket()
        versions_before = writer.current().version
        flips = args.changes  # keeps the alternation going: every apply makes a version
        for _ in range(args.warmup):
            _flip(db, writer, rule.id, leads[flips % 2], flips, condition=True)
            flips += 1
            writer.decide(ticket)
        gc.collect()
        rss_start = rss_mb()
        started = time.perf_counter()
        for _ in range(args.versions):
            _flip(db, writer, rule.id, leads[flips % 2], flips, condition=True)
            flips += 1
            writer.decide(ticket)  # the version is used, not only installed
        per_version = (time.perf_counter() - started) / args.versions
        gc.collect()
        rss_end = rss_mb()
        rulesets = writer._engine.ruleset_count  # the engine keeps only the live shards
        created = writer._engine.created
        versions_after = writer.current().version
        writer.close()
        db.dispose()

    worst, median = max(from_call), statistics.median(from_call)
    growth = rss_end - rss_start
    latency_ok = worst <= LATENCY_TARGET_S and not timeouts
    memory_ok = growth <= GROWTH_TARGET_MB
    print()
    print(table([
        [f"change → used by another process ({args.changes} changes), from apply() called: "
         "median / max", f"{median * 1e3:.0f} ms / {worst * 1e3:.0f} ms",
         f"≤ {LATENCY_TARGET_S:g} s: {verdict(latency_ok)}"],
        ["… from apply() returned: median / max",
         f"{statistics.median(from_return) * 1e3:.0f} ms / {max(from_return) * 1e3:.0f} ms", ""],
        ["… reader timeouts (30 s)", str(timeouts), ""],
        ["reader process RSS: start / end", f"{reader_rss_start:.0f} MB / "
         f"{reader_rss_end:.0f} MB", ""],
        [f"RSS over {args.versions} versions (after {args.warmup} warm-up): start / end",
         f"{rss_start:.0f} MB / {rss_end:.0f} MB (+{growth:.1f} MB)",
         f"≤ {GROWTH_TARGET_MB:g} MB: {verdict(memory_ok)}"],
        ["engine rulesets live at the end / created in all", f"{rulesets} / {created}", ""],
        ["versions installed", f"{versions_before + args.warmup} → {versions_after}", ""],
        ["apply + install + one decision, per version", f"{per_version * 1e3:.1f} ms", ""],
    ], ["figure", "value", "target"]))
    return 0 if latency_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
