"""A rule-set version is seen whole or not at all, by this process and by another one.

On SQLite the new version row used to commit alone (pysqlite began no transaction before the
savepoint that inserts it), so another process saw the version 0.4-1 s before its rules and
kept the old rules under the new number."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from rules import admin
from rules.bundle import parse_bundle
from rules.service import Router
from rules.store import commit, current_version, load_matrix
from tests.conftest import contract_bundle

NOW = datetime(2026, 11, 30, tzinfo=UTC)
MARKER = "R-030102-01"


def _bundle(n: int) -> dict[str, Any]:
    data = contract_bundle()
    for rule in data["rules"]:
        if rule["id"] == MARKER:
            rule["basis"] = f"m{n}"
    return data


def test_a_version_row_is_invisible_to_other_connections_until_its_rules_commit(
        db: Engine) -> None:
    router = Router(db, refresh_interval=0.0)
    try:
        admin.apply(db, router, lambda base: admin.bundle_changes(
            parse_bundle(_bundle(0)), base, mode="merge"), actor="t", note="", now=NOW)
        base = router.current()
        change = admin.bundle_changes(parse_bundle(_bundle(1)), base, mode="merge")
        with db.begin() as conn:
            matrix, _ = commit(conn, base, change, actor="t", note="", now=NOW)
            with db.connect() as other:
                assert current_version(other) == base.version
        with db.connect() as other:
            assert current_version(other) == matrix.version
            assert load_matrix(other).rules[MARKER].basis == "m1"
    finally:
        router.close()


WRITER = textwrap.dedent('''
    import json, sys
    from datetime import UTC, datetime
    from api.db import make_engine
    from rules import admin
    from rules.bundle import parse_bundle
    from rules.service import Router

    url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bundles = json.loads(open(path).read())
    db = make_engine(url)
    router = Router(db, refresh_interval=0.0)
    for n in range(1, count + 1):
        data = bundles[n]
        admin.apply(db, router, lambda base: admin.bundle_changes(
            parse_bundle(data), base, mode="merge"), actor="writer", note=str(n),
            now=datetime.now(UTC))
    router.close()
    db.dispose()
''')


@contextmanager
def another_process_importing(database_url: str, tmp_path: Path,
                              count: int) -> Iterator[Callable[[], bool]]:
    """A second process importing ``_bundle(1)`` … ``_bundle(count)``, one version each, while
    the caller reads; yields a function that says whether it has finished. The caller
    imports ``_bundle(0)`` first."""
    bundles = tmp_path / "bundles.json"
    bundles.write_text(json.dumps([_bundle(n) for n in range(count + 1)]))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, database_url, str(bundles),
                               str(count)], cwd=Path(__file__).parents[2])
    try:
        yield lambda: writer.poll() is not None
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    assert writer.returncode == 0


def watch(finished: Callable[[], bool], look: Callable[[], None], *,
          seconds: float = 120) -> None:
    """Call ``look`` until the writer has finished (once more after that), at most
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = finished()
        look()
        if done:
            return


def test_another_process_never_sees_a_version_without_its_rules_while_imports_run(
        db: Engine, database_url: str, tmp_path: Path) -> None:
    count = 20
    router = Router(db, refresh_interval=0.0)
    try:
        admin.apply(db, router, lambda base: admin.bundle_changes(
            parse_bundle(_bundle(0)), base, mode="merge"), actor="t", note="", now=NOW)
        first = router.current().version
    finally:
        router.close()
    seen: set[int] = set()

    def look() -> None:
        with db.connect() as conn:
            head = current_version(conn)
            basis = load_matrix(conn, head).rules[MARKER].basis
        assert basis == f"m{head - first}", f"version {head} was seen with rules {basis}"
        seen.add(head)

    with another_process_importing(database_url, tmp_path, count) as finished:
        watch(finished, look)
    assert max(seen) == first + count
    assert len(seen) > 2  # the reader really looked while the writer wrote
