"""What the content digest of a rule-set version costs at city scale.

    python -m benchmarks.bench_digest [--districts 16] [--rounds 5]

The synthetic city (benchmarks.synthetic_city, 16 districts: 55,050 rules) as a ``Matrix``;
each figure is the best of ``rounds`` runs:

1. ``rules.store.content_digest(matrix)`` — the digest from the values (every rule turned into
   its row first): what a caller without rows or sums pays.
2. what ``commit`` adds for a one-rule change: the base's per-kind sums
   (``rules.store.ContentSums``) less the rule's old row and plus its new one, and the digest
   of the sums (scheme 2; scheme 1 hashed the whole matrix on every commit, ~210 ms);
3. from stored rows (extra columns: version, revision, retired, actor): what ``load_matrix``
   adds — it has read them — the sums of every row;
4. for scale, what a one-rule change already costs before it writes: ``validate`` + ``diff``
   (pure; compile and SQL come on top).

Target (self-set): the digest adds at most 0.25 s to a commit or a load of the city, and at
most half of what a one-rule change's validate + diff already cost. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from benchmarks._common import machine, table, verdict
from benchmarks.synthetic_city import make_city
from jurisdiction.model import Jurisdiction
from rules.bundle import parse_bundle
from rules.model import Settings
from rules.store import (
    ChangeReport,
    ChangeSet,
    Matrix,
    content_digest,
    content_sums,
    diff,
    rule_row,
    validate,
)

TARGET_S = 0.25
TARGET_SHARE = 0.5


def best_of(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(machine())
    bundle = parse_bundle(make_city(districts=args.districts))
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    matrix = Matrix.build(1, j, {r.id: r for r in bundle.rules}, bundle.settings or Settings())
    rows = [rule_row(r) for r in matrix.rules.values()]
    stored = [dict(row, version=1, revision=r.revision, retired=False, actor="bench")
              for row, r in zip(rows, matrix.rules.values(), strict=True)]
    sums = content_sums(j, rows, matrix.settings)
    assert sums == content_sums(j, stored, matrix.settings)
    assert sums.digest == content_digest(matrix)
    matrix = replace(matrix, sums=sums)
    print(f"city: {len(j.units)} units, {len(j.areas)} areas, {len(j.categories)} categories, "
          f"{len(matrix.rules)} rules")

    rule = next(iter(matrix.rules.values()))
    change = ChangeSet(rules={rule.id: replace(rule, basis=rule.basis + "（修订）")})

    def one_rule_change() -> None:
        target, _ = validate(matrix, change)
        diff(matrix, target, ChangeReport(1, 1), change)

    old_row = [rule_row(rule)]
    new_row = [rule_row(change.rules[rule.id])]  # type: ignore[arg-type]
    full = best_of(lambda: content_digest(replace(matrix, sums=None)), args.rounds)
    on_commit = best_of(lambda: sums.with_rows("rules", old_row, new_row).digest, args.rounds)
    on_load = best_of(lambda: content_sums(j, stored, matrix.settings), args.rounds)
    before = best_of(one_rule_change, args.rounds)
    worst = max(on_commit, on_load)
    ok_time = worst <= TARGET_S
    ok_share = on_commit <= TARGET_SHARE * before
    print(table([
        ["content_digest(matrix): rows made from values", f"{full * 1000:.0f} ms", "", ""],
        ["added to commit of one rule: sums less / plus its rows", f"{on_commit * 1e3:.3f} ms",
         f"≤ {TARGET_S * 1000:.0f} ms", verdict(on_commit <= TARGET_S)],
        ["added to load: sums of the stored rows", f"{on_load * 1000:.0f} ms",
         f"≤ {TARGET_S * 1000:.0f} ms", verdict(on_load <= TARGET_S)],
        ["one-rule change, validate + diff (already paid)", f"{before * 1000:.0f} ms", "", ""],
        ["commit's digest / (validate + diff)", f"{on_commit / before:.4f}",
         f"≤ {TARGET_SHARE}", verdict(ok_share)],
    ], ["step", f"best of {args.rounds}", "target", "result"]))
    return 0 if ok_time and ok_share else 1


if __name__ == "__main__":
    sys.exit(main())
