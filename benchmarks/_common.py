"""Helpers shared by the benchmark scripts: databases, memory, percentiles, tables.

Nothing here is timed; the scripts time what they measure themselves.
"""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from api.auth import Caller
from api.db import make_engine, scratch_schema, upgrade
from api.deps import Services
from api.routes.matrix import import_document
from api.settings import AppSettings
from rules.service import Router
from rules.store import Matrix

BENCH_CALLER = Caller("bench", "bench", "admin")


def utc_now() -> datetime:
    return datetime.now(UTC)


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (default: this one), in MiB."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def admin_key(url: str, name: str = "bench") -> str:
    """A fresh admin API key in the database at ``url``."""
    from api.auth import create_key

    db = make_engine(url)
    try:
        with db.begin() as conn:
            return create_key(conn, role="admin", name=name, unit=None, now=utc_now())
    finally:
        db.dispose()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A small Markdown table (it pastes straight into docs/performance.md)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
            f"{mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")



@contextmanager
def fresh_database(url: str | None) -> Iterator[str]:
    """A fresh, migrated database: a temp SQLite file when ``url`` is None; for PostgreSQL a
    new schema ``bench_<hex>`` (dropped afterwards) so other users of the database are not
    touched. Yields the URL to use."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="quanze-bench-") as tmp:
            fresh = f"sqlite:///{Path(tmp) / 'bench.db'}"
            _migrate(fresh)
            yield fresh
        return
    if not url.startswith("postgresql"):
        _migrate(url)
        yield url
        return
    with scratch_schema(url, "bench_") as fresh:
        _migrate(fresh)
        yield fresh


def _migrate(url: str) -> None:
    db = make_engine(url)
    try:
        upgrade(db)
    finally:
        db.dispose()


class _LoadOnlyRouter(Router):
    """A router that does not compile what it is given: loading a bundle into the database
    does not need the engine, and skipping it keeps the loader's time and memory out of the
    figures (the measuring process compiles the city from the database itself)."""

    def install(self, matrix: Matrix) -> None:
        self._matrix = matrix


def load_bundle(url: str, bundle: dict[str, Any], *,
                compile_engine: bool = False) -> dict[str, Any]:
    """Import ``bundle`` through the API's import path (``import_document``); returns the
    change report."""
    db = make_engine(url)
    router: Router = Router(db) if compile_engine else _LoadOnlyRouter(db)
    services = Services(db=db, router=router, settings=AppSettings(database_url=url),
                        clock=utc_now)
    try:
        return import_document(services, BENCH_CALLER, bundle, "merge", "bundle")
    finally:
        router.close()
        db.dispose()


def timed(fn: Callable[..., Any], sink: list[float]) -> Callable[..., Any]:
    """Wrap ``fn`` so each call's duration (s) is appended to ``sink``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - started)

    return wrapper
