"""No change can brick the service: what the engine cannot serve is never committed; a
server whose newest version cannot be loaded serves the last good one and says so; the way
back needs no SQL; a replacing import that would retire much must be confirmed."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.cli import main
from api.settings import AppSettings
from rules import admin
from rules.bundle import parse_bundle
from rules.service import Router
from rules.store import commit, current_version
from tests.conftest import contract_bundle

NOW = datetime(2026, 11, 30, tzinfo=UTC)
PROBLEM = "application/problem+json"


def too_many_rules(count: int = 513) -> list[dict[str, Any]]:
    """More distinct values of one attribute under one category than durable_rules takes
    under one node (512); 4,096 distinct conditions on one category hit the 4,095-rule cap
    of a ruleset the same way, more slowly. (Rules without conditions cost the engine
    nothing: they are found by the category and area index.)"""
    return [{"id": f"R-BIG-{i}", "category": "030101", "lead": "D-ZJ", "basis": "b",
             "when": {"floor": [f"f{i}"]}} for i in range(count)]


@pytest.fixture
def client(loaded_client: TestClient) -> TestClient:
    return loaded_client


def test_a_bundle_the_engine_cannot_serve_is_refused_and_nothing_is_written(
        client: TestClient) -> None:
    before = client.get("/v1/ruleset").json()["version"]
    big = {"rules": too_many_rules()}
    response = client.put("/v1/bundle", json=big)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "shard_too_large"
    assert client.get("/v1/ruleset").json()["version"] == before
    assert client.post("/v1/route", json={"category": "030102"}).status_code == 200
    assert client.get("/v1/rules/R-BIG-0").status_code == 404


def test_a_rule_the_engine_refuses_is_not_committed(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from jurisdiction.errors import EngineRefused
    from rules import engine

    def refuse(name: str, definition: Any) -> int:
        raise EngineRefused("the rule engine refused ruleset (test)", ruleset=name)

    before = client.get("/v1/ruleset").json()["version"]
    monkeypatch.setattr(engine, "_create", refuse)
    response = client.post("/v1/rules", json={"id": "R-NEW", "category": "030101",
                                              "lead": "D-CG", "basis": "b",
                                              "when": {"floor": ["roof"]}})
    assert response.status_code == 422
    assert response.json()["code"] == "engine_refused"
    monkeypatch.undo()
    assert client.get("/v1/ruleset").json()["version"] == before
    assert client.get("/v1/rules/R-NEW").status_code == 404


def _commit_unservable(db: Engine) -> int:
    """A version the engine cannot load, written past the checks (as an older quanze did)."""
    router = Router(db, refresh_interval=0.0)
    try:
        base = router.current()
        data = copy.deepcopy(contract_bundle())
        data["rules"] += too_many_rules()
        change = admin.bundle_changes(parse_bundle(data), base, mode="merge")
        with db.begin() as conn:
            matrix, _ = commit(conn, base, change, actor="old quanze", note="", now=NOW)
        return matrix.version
    finally:
        router.close()


def test_a_server_whose_newest_version_cannot_load_serves_the_last_good_one_and_says_so(
        database_url: str, client: TestClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    good = services.router.current().version
    bad = _commit_unservable(services.db)

    # A server started now: it starts, routes by the last good version, and says so.
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0))
    with TestClient(app) as fresh:
        fresh.headers.update(client.headers)
        health = fresh.get("/v1/health").json()
        assert health["status"] == "degraded"
        assert health["serving_version"] == good
        assert health["unservable"]["version"] == bad
        decision = fresh.post("/v1/route", json={"category": "030102"}).json()
        assert decision["ruleset_version"] == good
        codes = [f["code"] for f in fresh.get("/v1/verify").json()["findings"]]
        assert "version_unservable" in codes
        versions = fresh.get("/v1/versions").json()
        assert versions["serving_version"] == good
        assert [v["version"] for v in versions["versions"]][:2] == [bad, good]

    # The way back from the shell, without SQL.
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    assert main(["versions", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["degraded"] is True and listed["serving_version"] == good
    assert main(["versions", "activate", str(good)]) == 0
    assert f"版本 {good}" in capsys.readouterr().out
    with services.db.connect() as conn:
        restored = current_version(conn)
    assert restored == bad + 1
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0))
    with TestClient(app) as fresh:
        fresh.headers.update(client.headers)
        health = fresh.get("/v1/health").json()
        assert health == {"status": "ok", "serving_version": restored, "degraded": False,
                          "unservable": None}
        assert fresh.get("/v1/ruleset").json()["counts"]["rules"] == 2


def test_activating_a_version_the_engine_cannot_serve_is_refused(
        client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    bad = _commit_unservable(services.db)
    good = bad + 1
    assert client.post(f"/v1/versions/{bad - 1}/activate").status_code == 200
    response = client.post(f"/v1/versions/{bad}/activate")
    assert response.status_code == 422
    assert response.json()["code"] == "shard_too_large"
    assert client.get("/v1/ruleset").json()["version"] == good


def test_a_replace_retiring_more_than_a_fifth_of_the_rules_must_be_confirmed(
        client: TestClient) -> None:
    before = client.get("/v1/ruleset").json()["version"]
    half = copy.deepcopy(contract_bundle())
    half["rules"] = half["rules"][:1]  # retires one of two live rules
    refused = client.put("/v1/bundle?mode=replace", json=half)
    assert refused.status_code == 409
    assert refused.json()["code"] == "confirm_required"
    dry = client.put("/v1/bundle?mode=replace&confirm=true&dry_run=true", json=half)
    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True
    assert dry.json()["retired"]["rules"] == 1
    assert client.get("/v1/ruleset").json()["version"] == before
    done = client.put("/v1/bundle?mode=replace&confirm=true", json=half)
    assert done.status_code == 200
    assert done.json()["dry_run"] is False
    assert client.get("/v1/ruleset").json()["version"] == before + 1
