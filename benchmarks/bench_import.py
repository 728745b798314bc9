"""Import of the synthetic city into a fresh database, through the API's import path.

    python -m benchmarks.bench_import [--database-url URL] [--districts 16]

Generates the city (``benchmarks.synthetic_city``, 16 districts: 55,050 rules), migrates a
fresh database (a temp SQLite file, or a new schema of the PostgreSQL database at ``URL``,
dropped afterwards) and imports the bundle with ``import_document`` (what ``quanze import``
and ``PUT /v1/bundle`` call), the engine check included (``Router.prepare``: every shard
compiled and created in durable_rules before the commit). Prints the time of each step and
checks the result: the rule count, the audit chain (``verify_log``) and the content digest
of the version as loaded back. Targets (issue 12): ≤ 10 s on SQLite, ≤ 20 s on PostgreSQL.
Exits 1 on a miss or a failed check.

The same script times another checkout's import (the code before this change, say) when run
with that checkout first on the path, side by side in one session:

    PYTHONPATH=/path/to/old/checkout python /path/to/this/benchmarks/bench_import.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

import arbitration.audit
import rules.admin
import rules.store
from api.db import make_engine
from benchmarks._common import fresh_database, load_bundle, machine, table, verdict
from benchmarks.synthetic_city import make_city
from rules.service import Router
from rules.tables import rules as rules_table

TARGETS = {"sqlite": 10.0, "postgresql": 20.0}


def _timing(owner: Any, name: str, sink: dict[str, float]) -> Callable[[], None]:
    """Wrap ``owner.name`` to add each call's time to ``sink[name]``; returns the undo. (A
    step the code does not have is left out: the script also times older checkouts.)"""
    original = getattr(owner, name, None)
    if original is None:
        return lambda: None

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink[name] = sink.get(name, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--districts", type=int, default=16)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    city = make_city(districts=args.districts)
    generated = time.perf_counter() - started
    steps: dict[str, float] = {}
    with fresh_database(args.database_url) as url:
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        undo = [_timing(rules.store, "validate", steps),
                _timing(rules.store, "diff", steps),
                _timing(rules.store, "_write_revisions", steps),
                _timing(arbitration.audit, "record_many", steps),
                _timing(Router, "prepare", steps)]
        try:
            started = time.perf_counter()
            report = load_bundle(url, city)
            elapsed = time.perf_counter() - started
        finally:
            for u in undo:
                u()
        db = make_engine(url)
        try:
            with db.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(rules_table)).scalar()
                checked, problems = arbitration.audit.verify_log(conn)
                matrix = rules.store.load_matrix(conn)
        finally:
            db.dispose()

    target = TARGETS[dialect]
    added = report["added"]["rules"]
    ok_checks = (stored == added == len(city["rules"]) and not problems
                 and matrix.is_intact and matrix.digest == matrix.recorded_digest)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; database: {dialect}; "
          f"city: {args.districts} districts, {len(city['rules']):,} rules "
          f"(generated in {generated:.2f} s)")
    rows = [["import (import_document, all steps)", f"{elapsed:.2f} s",
             f"≤ {target:.0f} s: {verdict(elapsed <= target)}"]]
    for name, label in (("validate", "… validate the change"), ("diff", "… diff"),
                        ("_write_revisions", "… write the revision rows"),
                        ("record_many", "… audit entries (one per rule)"),
                        ("prepare", "… engine check (compile + create rulesets)")):
        rows.append([label, f"{steps.get(name, 0.0):.2f} s", ""])
    rows.append(["rules stored / added / in the bundle",
                 f"{stored:,} / {added:,} / {len(city['rules']):,}", ""])
    rows.append(["audit chain", f"{checked:,} entries, {len(problems)} problems", ""])
    rows.append(["content digest as loaded = as committed",
                 "yes" if matrix.digest == matrix.recorded_digest else "NO", ""])
    print(table(rows, ["step", "time", "target"]))
    return 0 if elapsed <= target and ok_checks else 1


if __name__ == "__main__":
    sys.exit(main())
