"""The demo's history is made through the real API and leaves a true queue behind."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from api import demo
from api.demo.history import seed
from arbitration.audit import verify_log
from tests.conftest import Clock


def test_the_demo_history_bounces_tickets_into_disputes_and_rules_one(
        app_client: TestClient, clock: Clock) -> None:
    assert app_client.put("/v1/bundle", json=demo.district()).status_code == 200
    key = app_client.headers["Authorization"].removeprefix("Bearer ")
    counts = asyncio.run(seed(app_client.app, key, now=clock()))  # type: ignore[arg-type]
    assert counts == {"tickets": 17, "disputes": 6, "rulings": 1}
    queue = app_client.get("/v1/disputes?status=open").json()["disputes"]
    assert len(queue) == 5
    assert {d["reason"] for d in queue} >= {"bounce", "ambiguous"}
    rulings = app_client.get("/v1/rulings").json()["items"]
    assert len(rulings) == 1 and rulings[0]["rule_id"]
    hot = app_client.get("/v1/stats/hotspots?from=2026-11-01&to=2026-12-01").json()
    assert hot["dispute_pairs"][0]["disputes"] == 2
    with app_client.app.state.services.db.connect() as conn:  # type: ignore[attr-defined]
        assert verify_log(conn)[1] == []
