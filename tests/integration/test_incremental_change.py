"""A change costs what it changes (issue 12): a one-rule change compiles at most the shard of
the conditions it adds or drops (none for a change of a lead, an area or a validity window)
and keeps every other ruleset, a replica reads only the rows written since the version it serves and
swaps the new one in off its event loop, and memory stays flat over 1,000 versions.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from api import demo
from api.app import HeapSettler, create_app
from api.settings import AppSettings
from jurisdiction.errors import RulesetCorrupt
from jurisdiction.tables import ruleset_versions
from rules import admin, service
from rules.bundle import parse_bundle
from rules.compiler import compile_shards
from rules.model import Rule, Settings
from rules.service import Router, evaluate, ticket_from_request
from rules.store import Matrix, content_digest, content_digest_v1, load_matrix
from rules.tables import rules as rules_table
from tests.conftest import contract_bundle

NOW = datetime(2026, 11, 30, tzinfo=UTC)
#: the README's example ticket; R-030101-01 routes it in the demo district
TICKET = {"category": "030101", "area": "110199001001",
          "attributes": {"location_type": "residential_compound"}, "text": "小区内有人私搭乱建"}
RULE = "R-030101-01"


@pytest.fixture
def router(db: Engine) -> Iterator[Router]:
    router = Router(db, refresh_interval=0.0)
    admin.apply(db, router, lambda base: admin.bundle_changes(
        parse_bundle(demo.district()), base, mode="merge"), actor="t", note="", now=NOW)
    yield router
    router.close()


def change(db: Engine, router: Router, build: Callable[[Matrix], Any]) -> Matrix:
    matrix, _ = admin.apply(db, router, build, actor="t", note="", now=NOW)
    return matrix


def shard_digests(router: Router) -> dict[Any, str]:
    assert router._live is not None
    return {key: shard.digest for key, shard in router._live.shards.items()}


NEW_RULE = Rule("R-NEW-01", "030101", "D-ZJ", "《示范区街道履职事项清单》第99项", priority=3)


#: (what the change does, the change, most shards it may compile: the engine holds conditions,
#: shared by every rule that states them, so only a change of conditions compiles)
CHANGES: list[tuple[str, Callable[[Matrix], Any], int]] = [
    ("a condition of one rule", admin.patch_rule(
        RULE, {"when": {"location_type": ["residential_compound", "a_new_place"]}}), 1),
    ("the lead of one rule", admin.patch_rule(RULE, {"lead": "D-ZJ"}), 0),
    ("the validity of one rule", admin.patch_rule(
        RULE, {"valid_from": "2020-01-01T00:00:00+08:00"}), 0),
    ("one rule added", admin.create_rule(NEW_RULE), 0),
    ("one rule with a condition added", admin.create_rule(
        replace(NEW_RULE, id="R-NEW-02", when={"floor": ("roof",)})), 1),
    ("one rule moved to another top-level category",
     admin.patch_rule(RULE, {"category": "0501"}), 2),
    ("one rule retired", admin.retire_rules([RULE]), 1),
]


@pytest.mark.parametrize(("what", "build", "most"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_one_rule_change_compiles_only_the_shards_of_that_rule(
        db: Engine, router: Router, what: str, build: Callable[[Matrix], Any],
        most: int) -> None:
    before = shard_digests(router)
    created = router._engine.created
    matrix = change(db, router, build)
    stats = router.last_compile
    assert stats is not None and stats.version == matrix.version
    assert stats.compiled <= most, what
    assert stats.reused >= len(before) - most
    assert router._engine.created - created <= stats.compiled
    after = shard_digests(router)
    # the same shards as compiling the whole matrix anew
    assert after == {key: shard.digest for key, shard in
                     compile_shards(matrix.rules.values(), matrix.jurisdiction).items()}
    assert len([key for key in after if before.get(key) != after[key]]) <= most


def test_a_change_of_a_condition_creates_one_ruleset_and_of_a_lead_none(
        db: Engine, router: Router) -> None:
    created = router._engine.created
    change(db, router, admin.patch_rule(RULE, {"when": {"location_type": ["a_new_place"]}}))
    assert router.last_compile is not None and router.last_compile.compiled == 1
    assert router._engine.created == created + 1
    change(db, router, admin.patch_rule(RULE, {"lead": "D-ZJ"}))
    assert router.last_compile is not None and router.last_compile.compiled == 0
    assert router._engine.created == created + 1  # the same conditions: every ruleset kept


def test_the_digest_a_change_records_is_the_digest_of_its_content(
        db: Engine, router: Router) -> None:
    for _, build, _ in CHANGES:
        matrix = change(db, router, build)
        assert matrix.digest == content_digest(replace(matrix, sums=None))
        with db.connect() as conn:
            loaded = load_matrix(conn, matrix.version)
        assert loaded.digest == loaded.recorded_digest == matrix.digest
        assert loaded.rules == matrix.rules


def test_a_replica_reads_only_what_changed_and_routes_by_it_naming_the_version(
        db: Engine, router: Router) -> None:
    replica = Router(db, refresh_interval=0.0)
    try:
        ticket = ticket_from_request(TICKET, NOW)
        _, decision = replica.decide(ticket)
        assert decision.lead != "D-ZJ"
        matrix = change(db, router, admin.patch_rule(RULE, {"lead": "D-ZJ"}))
        used, decision = replica.decide(ticket)
        assert (used.version, decision.lead) == (matrix.version, "D-ZJ")
        assert replica.last_compile is not None and replica.last_compile.compiled == 0
        assert used.digest == used.recorded_digest == matrix.digest
        # a new condition: the replica compiles the one shard that holds it
        matrix = change(db, router, admin.patch_rule(
            RULE, {"when": {"location_type": ["a_new_place"]}}))
        used, decision = replica.decide(replace(ticket, attributes={
            "location_type": "a_new_place"}))
        assert (used.version, decision.rule and decision.rule.id) == (matrix.version, RULE)
        assert replica.last_compile is not None and replica.last_compile.compiled == 1
        assert used.rules == matrix.rules
    finally:
        replica.close()


def test_a_decision_under_a_matrix_whose_rulesets_are_gone_is_made_by_the_plain_evaluator(
        db: Engine, router: Router) -> None:
    ticket = ticket_from_request(TICKET, NOW)
    old = router.current()
    for lead in ("D-ZJ", "D-CG", "D-ZJ"):  # two loads later, old's rulesets may be deleted
        change(db, router, admin.patch_rule(RULE, {"when": {"location_type": [
            "residential_compound", lead]}, "lead": lead}))
    assert router._routes_of(old) is None
    used, decision = router.decide(ticket, old)
    assert used is old
    assert decision == evaluate(ticket, old)


def test_a_replica_swaps_a_new_version_in_without_blocking_its_event_loop(
        db: Engine, database_url: str, router: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    # On PostgreSQL the replica polls once a minute: only the commit's NOTIFY can wake it.
    postgres = database_url.startswith("postgresql")
    interval = 60.0 if postgres else 0.05
    reloads: list[tuple[str, bool]] = []
    real_load_since = service.load_since

    def slow_load_since(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        reloads.append((threading.current_thread().name, on_loop))
        time.sleep(2.0)  # a reload that takes long: the loop must keep answering meanwhile
        return real_load_since(*args, **kwargs)

    monkeypatch.setattr(service, "load_since", slow_load_since)
    app = create_app(AppSettings(database_url=database_url, refresh_interval=interval))
    with TestClient(app) as replica:
        replica.get("/v1/health")
        matrix = change(db, router, admin.patch_rule(RULE, {"lead": "D-ZJ"}))
        slowest = 0.0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            started = time.monotonic()
            health = replica.get("/v1/health")
            slowest = max(slowest, time.monotonic() - started)
            assert health.status_code == 200
            if app.state.services.router.current().version == matrix.version:
                break
            time.sleep(0.01)
        assert app.state.services.router.current().version == matrix.version
        assert reloads and all(not on_loop for _, on_loop in reloads), reloads
        assert slowest < 1.0, f"/v1/health took {slowest:.2f} s while the replica reloaded"
        ticket = ticket_from_request(TICKET, NOW)
        used, decision = app.state.services.router.decide(ticket)
        assert (used.version, decision.lead) == (matrix.version, "D-ZJ")


def test_memory_stays_flat_over_a_thousand_versions(db: Engine, database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the engine's memory does not depend on the database")
    router = Router(db, refresh_interval=0.0, on_install=HeapSettler())
    try:
        admin.apply(db, router, lambda base: admin.bundle_changes(
            parse_bundle(contract_bundle()), base, mode="merge"), actor="t", note="", now=NOW)
        ticket = ticket_from_request({"category": "030102", "area": "110199001"}, NOW)

        def versions(first: int, count: int) -> None:
            for n in range(first, first + count):
                # a new condition every version: its shard and ruleset are made anew
                change(db, router, admin.patch_rule("R-030102-01",
                                                    {"when": {"floor": [f"f{n}"]}}))
                router.decide(ticket)

        versions(0, 50)
        created = router._engine.created
        gc.collect()
        start = psutil.Process().memory_info().rss
        versions(50, 1000)
        gc.collect()
        growth = (psutil.Process().memory_info().rss - start) / 2**20
        assert router._engine.created - created == 1000  # each version made a ruleset
        assert router._engine.ruleset_count <= 2 * len(shard_digests(router))
        # before: +105 MB (125 KB of engine session per deleted ruleset)
        assert growth < 20, f"RSS grew {growth:.1f} MB over 1,000 versions"
    finally:
        router.close()


def test_a_version_committed_before_digest_scheme_2_is_still_verified_by_scheme_1(
        db: Engine, router: Router) -> None:
    matrix = router.current()
    legacy = content_digest_v1(matrix)
    assert legacy != matrix.digest
    with db.begin() as conn:  # as migration 0011 leaves a version committed before it
        conn.execute(update(ruleset_versions).where(ruleset_versions.c.version == matrix.version)
                     .values(digest=legacy, digest_scheme=None))
    with db.connect() as conn:
        loaded = load_matrix(conn, matrix.version)
    assert loaded.digest == loaded.recorded_digest == legacy
    # a decision that recorded the scheme-1 digest matches the same content under scheme 2
    assert matrix.has_digest(legacy) and matrix.has_digest(matrix.digest)
    assert not matrix.has_digest(content_digest_v1(replace(matrix, settings=Settings())))
    # a change on it is committed under scheme 2, and a replica reads it incrementally
    replica = Router(db, refresh_interval=0.0)
    try:
        replica.current()
        changed = change(db, router, admin.patch_rule(RULE, {"lead": "D-ZJ"}))
        assert replica.current().digest == changed.digest == changed.recorded_digest
        assert replica.last_compile is not None and replica.last_compile.compiled == 0
        with db.begin() as conn:  # a row changed by hand under the old version is found
            conn.execute(update(rules_table).where(rules_table.c.id == RULE,
                                                   rules_table.c.version == changed.version)
                         .values(lead="D-CG"))
        with db.connect() as conn, pytest.raises(RulesetCorrupt):
            load_matrix(conn, changed.version)
    finally:
        replica.close()


def test_a_change_made_on_a_replica_behind_the_head_reads_and_compiles_only_what_changed(
        db: Engine, router: Router) -> None:
    # Another replica's commit not yet picked up (its refresher has not run): the change is
    # built on the head read as the version served plus the rows written since, and only the
    # shards of both changes are compiled (before: the whole city read and compiled again,
    # and kept as a second matrix; found by benchmarks/bench_city_day.py).
    behind = Router(db, refresh_interval=3600.0)
    try:
        served = behind.current()
        # both changes add a condition, so the engine has something to compile
        other = change(db, router, admin.patch_rule(RULE, {
            "lead": "D-ZJ", "when": {"location_type": ["a_new_place"]}}))
        assert behind.current() is served  # it has not looked since
        created = behind._engine.created
        matrix = change(db, behind, admin.create_rule(replace(NEW_RULE,
                                                              when={"floor": ("roof",)})))
        assert matrix.version == other.version + 1
        stats = behind.last_compile
        assert stats is not None and stats.version == matrix.version
        assert 1 <= stats.compiled <= 2
        assert behind._engine.created - created <= 2
        assert behind._loaded is None  # no whole matrix read from the store
        assert matrix.rules[RULE].lead == "D-ZJ" and NEW_RULE.id in matrix.rules
        assert shard_digests(behind) == {key: shard.digest for key, shard in compile_shards(
            matrix.rules.values(), matrix.jurisdiction).items()}
        with db.connect() as conn:
            assert load_matrix(conn, matrix.version).digest == matrix.digest
    finally:
        behind.close()


def test_a_change_on_a_replica_whose_refresher_catches_up_meanwhile_compiles_only_it(
        db: Engine, router: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    # The replica read the head as its served version plus what changed; before the change
    # is compiled its refresher installs the other replica's version: the change is
    # compiled against that one (two changes a second apart did this in bench_city_day).
    behind = Router(db, refresh_interval=3600.0)
    try:
        behind.current()
        # both changes add a condition, so the engine has something to compile
        other = change(db, router, admin.patch_rule(RULE, {
            "lead": "D-ZJ", "when": {"location_type": ["a_new_place"]}}))
        real_commit = admin.commit

        def commit_while_the_refresher_installs(*args: Any, **kwargs: Any) -> Any:
            behind._refresh()  # what its refresher thread does when the NOTIFY arrives
            assert behind.current().version == other.version
            return real_commit(*args, **kwargs)

        monkeypatch.setattr(admin, "commit", commit_while_the_refresher_installs)
        matrix = change(db, behind, admin.create_rule(replace(NEW_RULE,
                                                              when={"floor": ("roof",)})))
        stats = behind.last_compile
        assert stats is not None and stats.version == matrix.version
        assert 1 <= stats.compiled <= 2
        assert shard_digests(behind) == {key: shard.digest for key, shard in compile_shards(
            matrix.rules.values(), matrix.jurisdiction).items()}
    finally:
        behind.close()
