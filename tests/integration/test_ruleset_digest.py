"""Each rule-set version carries a content digest: committing stores it, a decision records
the digest of the matrix it used, replay compares it, and a version whose rows were changed
after its commit is not served (issue 9 §2). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from api.app import create_app
from api.settings import AppSettings
from jurisdiction.errors import RulesetCorrupt
from jurisdiction.model import Jurisdiction
from jurisdiction.tables import ruleset_versions
from rules import admin
from rules.bundle import parse_bundle
from rules.model import Ticket
from rules.service import Router
from rules.store import Matrix, content_digest, load_matrix
from rules.tables import decisions
from rules.tables import rules as rules_table
from tests.conftest import contract_bundle
from tests.integration.test_version_atomicity import (
    MARKER,
    _bundle,
    another_process_importing,
    watch,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)
TICKET = {"category": "030102", "area": "110199001"}  # R-030102-01: D-CG leads


@pytest.fixture
def client(loaded_client: TestClient) -> TestClient:
    return loaded_client


@contextmanager
def fresh_server(database_url: str, client: TestClient) -> Iterator[TestClient]:
    """Another server on the same database: it reads the rows, not this one's memory."""
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0))
    with TestClient(app) as fresh:
        fresh.headers.update(client.headers)
        yield fresh


def db_of(client: TestClient) -> Engine:
    return client.app.state.services.db  # type: ignore[attr-defined,no-any-return]


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def recorded_digest(db: Engine, version: int) -> str | None:
    with db.connect() as conn:
        return conn.execute(select(ruleset_versions.c.digest)
                            .where(ruleset_versions.c.version == version)).scalar_one()


def tamper(db: Engine, version: int, rule_id: str, **values: Any) -> None:
    """What a hand-written UPDATE (or a broken restore) does: change a committed row."""
    with db.begin() as conn:
        changed = conn.execute(update(rules_table).where(rules_table.c.id == rule_id,
                                                         rules_table.c.version == version)
                               .values(**values)).rowcount
    assert changed == 1


def test_committing_a_version_stores_the_digest_of_its_content(client: TestClient) -> None:
    db = db_of(client)
    version = ok(client.get("/v1/ruleset"))["version"]
    bundle = parse_bundle(contract_bundle())
    expected = content_digest(Matrix.build(
        0, Jurisdiction.build(bundle.units, bundle.areas, bundle.categories),
        {r.id: r for r in bundle.rules}, bundle.settings or load_matrix_settings(db)))
    assert recorded_digest(db, version) == expected
    listed = ok(client.get("/v1/versions"))["versions"]
    assert listed[0] == {**listed[0], "version": version, "digest": expected}
    ok(client.patch("/v1/rules/R-030102-01", json={"basis": "《区城管委三定规定》第四条"}))
    assert recorded_digest(db, version + 1) not in (None, expected)
    with db.connect() as conn:
        loaded = load_matrix(conn, version + 1)
    assert loaded.digest == loaded.recorded_digest == recorded_digest(db, version + 1)
    # the content of an earlier version committed again has that version's digest
    ok(client.post(f"/v1/versions/{version}/activate"))
    assert recorded_digest(db, version + 2) == expected


def load_matrix_settings(db: Engine) -> Any:
    with db.connect() as conn:
        return load_matrix(conn).settings


def test_a_decision_records_the_digest_of_the_version_it_used(client: TestClient) -> None:
    db = db_of(client)
    version = ok(client.get("/v1/ruleset"))["version"]
    single = ok(client.post("/v1/route", json=TICKET))
    batch = ok(client.post("/v1/route/batch", json={"tickets": [TICKET]}))["decisions"][0]
    for document in (single, batch):
        assert document["ruleset_digest"] == recorded_digest(db, version)
        assert ok(client.get(f"/v1/decisions/{document['decision_id']}"))[
            "ruleset_digest"] == recorded_digest(db, version)
        with db.connect() as conn:
            stored = conn.execute(select(decisions.c.ruleset_digest).where(
                decisions.c.id == document["decision_id"])).scalar_one()
        assert stored == recorded_digest(db, version)
        replay = ok(client.get(f"/v1/decisions/{document['decision_id']}/replay"))
        assert replay["same"] is True and replay["digest_matches"] is True


def test_replay_of_a_tampered_version_is_not_the_same_even_when_lead_and_rule_match(
        database_url: str, client: TestClient) -> None:
    db = db_of(client)
    version = ok(client.get("/v1/ruleset"))["version"]
    decision = ok(client.post("/v1/route", json=TICKET))
    tamper(db, version, "R-030102-01", basis="改过的依据")
    with fresh_server(database_url, client) as fresh:
        replay = ok(fresh.get(f"/v1/decisions/{decision['decision_id']}/replay"))
    assert replay["replayed"]["lead"] == decision["lead"]
    assert replay["replayed"]["rule"]["id"] == decision["rule"]["id"]
    assert replay["digest_matches"] is False
    assert replay["same"] is False


def test_replay_of_a_version_whose_lead_was_changed_in_sql_says_not_same(
        database_url: str, client: TestClient) -> None:
    db = db_of(client)
    version = ok(client.get("/v1/ruleset"))["version"]
    decision = ok(client.post("/v1/route", json=TICKET))
    tamper(db, version, "R-030102-01", lead="D-ZJ")
    with fresh_server(database_url, client) as fresh:
        replay = ok(fresh.get(f"/v1/decisions/{decision['decision_id']}/replay"))
    assert replay["replayed"]["lead"]["code"] == "D-ZJ"
    assert (replay["same"], replay["digest_matches"]) == (False, False)


def test_a_fresh_router_refuses_a_tampered_version_and_serves_the_previous_one(
        database_url: str, client: TestClient) -> None:
    db = db_of(client)
    good = ok(client.get("/v1/ruleset"))["version"]
    ok(client.patch("/v1/rules/R-030102-01", json={"basis": "第二版"}))
    bad = good + 1
    tamper(db, bad, "R-030102-01", lead="D-ZJ")
    with db.connect() as conn, pytest.raises(RulesetCorrupt) as refused:
        load_matrix(conn, bad)
    assert refused.value.code == "ruleset_digest_mismatch"
    router = Router(db, refresh_interval=0.0)
    try:
        assert router.current().version == good
        assert router.status()["unservable"]["version"] == bad
        assert router.status()["unservable"]["code"] == "ruleset_digest_mismatch"
        assert [f.code for f in router.findings()] == ["version_unservable"]
        assert "摘要" in router.findings()[0].message
    finally:
        router.close()

    # a server started now says so, and routes by the previous version
    with fresh_server(database_url, client) as fresh:
        health = ok(fresh.get("/v1/health"))
        assert health["status"] == "degraded" and health["serving_version"] == good
        routed = ok(fresh.post("/v1/route", json=TICKET))
        assert routed["ruleset_version"] == good and routed["lead"]["code"] == "D-CG"
        assert routed["ruleset_digest"] == recorded_digest(db, good)


def test_no_change_is_built_on_a_tampered_version_but_activating_a_good_one_is(
        database_url: str, client: TestClient) -> None:
    db = db_of(client)
    good = ok(client.get("/v1/ruleset"))["version"]
    ok(client.patch("/v1/rules/R-030102-01", json={"basis": "第二版"}))
    bad = good + 1
    tamper(db, bad, "R-030102-01", lead="D-ZJ")
    with fresh_server(database_url, client) as fresh:
        refused = fresh.patch("/v1/rules/R-0301-01", json={"basis": "别的改动"})
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "ruleset_digest_mismatch"
        with db.connect() as conn:
            assert load_matrix(conn, verify=False).version == bad  # nothing written
        tampered = fresh.post(f"/v1/versions/{bad}/activate")  # not a way back
        assert tampered.status_code == 409
        assert tampered.json()["code"] == "ruleset_digest_mismatch"
        ok(fresh.post(f"/v1/versions/{good}/activate"))
        assert recorded_digest(db, bad + 1) == recorded_digest(db, good)
        routed = ok(fresh.post("/v1/route", json=TICKET))
        assert routed["ruleset_version"] == bad + 1 and routed["lead"]["code"] == "D-CG"
        assert ok(fresh.get("/v1/health"))["degraded"] is False


def test_rows_from_before_digests_replay_with_digest_matches_null(client: TestClient) -> None:
    db = db_of(client)
    version = ok(client.get("/v1/ruleset"))["version"]
    decision = ok(client.post("/v1/route", json=TICKET))
    with db.begin() as conn:
        conn.execute(update(decisions).values(ruleset_digest=None))
        conn.execute(update(ruleset_versions).values(digest=None))
    replay = ok(client.get(f"/v1/decisions/{decision['decision_id']}/replay"))
    assert replay["same"] is True and replay["digest_matches"] is None
    router = Router(db, refresh_interval=0.0)  # nothing recorded: nothing to refuse
    try:
        assert router.current().version == version
        assert router.status()["degraded"] is False
    finally:
        router.close()


def test_under_another_version_digest_matches_says_whether_the_content_is_the_same(
        client: TestClient) -> None:
    version = ok(client.get("/v1/ruleset"))["version"]
    decision = ok(client.post("/v1/route", json=TICKET))
    ok(client.patch("/v1/rules/R-0301-01", json={"basis": "别的规则的依据"}))
    later = ok(client.get(f"/v1/decisions/{decision['decision_id']}/replay?version=current"))
    # other rules, the same answer: the replay compares answers across versions
    assert (later["same"], later["digest_matches"]) == (True, False)
    ok(client.post(f"/v1/versions/{version}/activate"))
    again = ok(client.get(f"/v1/decisions/{decision['decision_id']}/replay?version=current"))
    assert again["replayed_version"] == version + 2
    assert (again["same"], again["digest_matches"]) == (True, True)


def test_while_another_process_imports_every_decision_carries_its_versions_digest(
        db: Engine, database_url: str, tmp_path: Path) -> None:
    count = 15
    router = Router(db, refresh_interval=0.0)
    used: dict[int, set[str]] = {}

    def look() -> None:
        matrix, decision = router.decide(Ticket(**TICKET, as_of=NOW))
        assert decision.rule is not None
        basis = matrix.rules[MARKER].basis
        assert basis == f"m{matrix.version - first}", (matrix.version, basis)
        used.setdefault(matrix.version, set()).add(matrix.digest)

    try:
        admin.apply(db, router, lambda base: admin.bundle_changes(
            parse_bundle(_bundle(0)), base, mode="merge"), actor="t", note="", now=NOW)
        first = router.current().version
        with another_process_importing(database_url, tmp_path, count) as finished:
            watch(finished, look)
        assert router.status()["degraded"] is False
    finally:
        router.close()
    assert max(used) == first + count and len(used) > 2
    for version, digests in used.items():
        assert digests == {recorded_digest(db, version)}, version
