"""Writers queue, they do not race: concurrent matrix edits, ticket events and rulings all
succeed, on SQLite and PostgreSQL, through one app and through two apps sharing a database;
only a true conflict (a rule id that exists) is a 409.

Threads are started together behind a barrier and call one app (Starlette's TestClient runs
each synchronous route in the app's thread pool), so the writes really overlap. Before the
writers queued, 16 of 20 creates of different rules got 409 ``ruleset_conflict`` on
PostgreSQL, and on SQLite most creates and ticket events got 503 ``database is locked``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import create_key
from api.deps import Services
from api.settings import AppSettings
from arbitration import rulings
from arbitration.tables import rulings as rulings_table
from arbitration.tables import ticket_events
from jurisdiction.tables import ruleset_versions
from tests.conftest import contract_bundle
from tests.integration.test_rulings import bounce, claim, request

WRITERS = 20


def services_of(client: TestClient) -> Services:
    s: Services = client.app.state.services  # type: ignore[attr-defined]
    return s


def new_rule(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"R-C-{i:02d}", "category": "030101", "area": "110199002", "lead": "D-CG",
            "basis": f"《示范区街道履职事项清单》第{i}项",
            "valid_from": "2026-01-01T00:00:00+08:00", **extra}


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def version_count(s: Services) -> int:
    with s.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ruleset_versions))
                   .scalar_one())


def test_concurrent_creates_of_different_rules_all_succeed(app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    s = services_of(app_client)
    before = version_count(s)

    responses = at_once([lambda i=i: app_client.post("/v1/rules", json=new_rule(i))
                         for i in range(WRITERS)])

    assert statuses(responses) == {201: WRITERS}, [r.text for r in responses
                                                   if r.status_code != 201][:1]
    # one new version each, and every rule is live in the router and the database
    assert sorted(r.json()["ruleset_version"] for r in responses) == list(
        range(before + 1, before + 1 + WRITERS))
    assert version_count(s) == before + WRITERS
    live = app_client.get("/v1/rules", params={"limit": 5000}).json()
    assert {new_rule(i)["id"] for i in range(WRITERS)} <= {r["id"] for r in live["items"]}


def test_concurrent_edits_of_different_rules_all_succeed(app_client: TestClient) -> None:
    bundle = contract_bundle()
    bundle["rules"] += [new_rule(i) for i in range(10)]
    assert app_client.put("/v1/bundle", json=bundle).status_code == 200
    rounds = 2

    responses = at_once([
        lambda i=i, n=n: app_client.patch(f"/v1/rules/R-C-{i:02d}",
                                          json={"basis": f"第{i}项（第{n}次修订）"})
        for n in range(rounds) for i in range(10)])

    assert statuses(responses) == {200: 10 * rounds}, [r.text for r in responses
                                                       if r.status_code != 200][:1]
    for i in range(10):
        rule = app_client.get(f"/v1/rules/R-C-{i:02d}").json()
        assert rule["rule"]["revision"] == 1 + rounds  # no edit was lost or applied twice


def test_creating_one_rule_id_at_once_gives_one_201_and_409_rule_exists_for_the_rest(
        app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200

    responses = at_once([lambda: app_client.post("/v1/rules", json=new_rule(7))
                         for _ in range(8)])

    assert statuses(responses) == {201: 1, 409: 7}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"rule_exists"}


def test_ticket_events_routes_and_rule_edits_at_once_all_succeed(
        app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    dispatched = {"type": "dispatched", "unit": "D-CG", "category": "030102",
                  "area": "110199001", "at": "2026-11-26T09:00:00+08:00"}
    calls: list[Callable[[], httpx.Response]] = []
    for i in range(10):
        calls.append(lambda i=i: app_client.post("/v1/route", json={
            "category": "030102", "ticket_id": f"T-R-{i}"}))
        calls.append(lambda i=i: app_client.post(f"/v1/tickets/T-E-{i}/events",
                                                 json=dispatched))
        calls.append(lambda i=i: app_client.post("/v1/rules", json=new_rule(i)))

    responses = at_once(calls)

    assert statuses(responses) == {200: 20, 201: 10}, [
        r.text for r in responses if r.status_code >= 300][:1]
    with services_of(app_client).db.connect() as conn:
        events = conn.execute(select(func.count()).select_from(ticket_events)).scalar_one()
    assert events == 10


def test_a_ruling_and_rule_edits_at_once_all_succeed(app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    s = services_of(app_client)
    disputes = []
    for ticket in ("T1", "T2"):
        dispute_id = bounce(s, ticket)
        claim(s, dispute_id)
        disputes.append(dispute_id)

    def ruling(dispute_id: str) -> str:
        done = rulings.rule_dispute(s.db, s.router, dispute_id, request(), arbiter="tests",
                                    actor="tests", now=s.clock(),
                                    after=s.after_matrix_change)
        return str(done["ruling_id"])

    calls: list[Callable[[], Any]] = [lambda d=d: ruling(d) for d in disputes]
    calls += [lambda i=i: app_client.post("/v1/rules", json=new_rule(i)).status_code
              for i in range(10)]

    outcomes = at_once(calls)

    assert all(o.startswith("rlg_") for o in outcomes[:2])
    assert outcomes[2:] == [201] * 10
    with s.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rulings_table)).scalar_one() == 2


@pytest.fixture
def two_apps(database_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps (as two server processes would be) on one database, each with its own
    engine, pool and in-process queue: only the database can order their writers."""
    clients = []
    with TestClient(create_app(AppSettings(database_url=database_url))) as first:
        s = services_of(first)
        with s.db.begin() as conn:
            key = create_key(conn, role="admin", name="tests", unit=None,
                             now=datetime.now(UTC))
        first.headers["Authorization"] = f"Bearer {key}"
        assert first.put("/v1/bundle", json=contract_bundle()).status_code == 200
        clients.append(first)
        with TestClient(create_app(AppSettings(database_url=database_url))) as second:
            second.headers["Authorization"] = f"Bearer {key}"
            clients.append(second)
            yield first, second


def test_two_servers_creating_different_rules_at_once_all_succeed(
        two_apps: tuple[TestClient, TestClient]) -> None:
    first, second = two_apps

    responses = at_once([lambda i=i: (first, second)[i % 2].post("/v1/rules", json=new_rule(i))
                         for i in range(12)])

    assert statuses(responses) == {201: 12}, [r.text for r in responses
                                              if r.status_code != 201][:1]
    assert len({r.json()["ruleset_version"] for r in responses}) == 12
