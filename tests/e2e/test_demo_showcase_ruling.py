"""The demo's showcase ruling is one an arbiter would sign: it names no fixed street outside
its own area, and the history leaves the matrix as coherent as it found it."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from api import demo
from api.demo.history import seed
from tests.conftest import Clock


def test_the_demo_ruling_names_the_territorial_role_and_leaves_the_matrix_coherent(
        app_client: TestClient, clock: Clock) -> None:
    district = demo.district()
    assert app_client.put("/v1/bundle", json=district).status_code == 200
    key = app_client.headers["Authorization"].removeprefix("Bearer ")
    asyncio.run(seed(app_client.app, key, now=clock()))  # type: ignore[arg-type]
    territorial = {u["code"] for u in district["units"]
                   if u["kind"] in ("street", "township", "community")}
    rulings = app_client.get("/v1/rulings").json()["items"]
    rule = app_client.get(f"/v1/rules/{rulings[0]['rule_id']}").json()["rule"]
    assert rule["area"] is None  # generalised to the whole district ...
    assert not {rule["lead"], *rule["co_handlers"]} & territorial  # ... so no fixed street
    assert "@territorial" in rule["co_handlers"]

    errors = [f for f in app_client.get("/v1/verify").json()["findings"]
              if f["severity"] == "error"]  # and the history made no new error
    assert [(f["code"], f["rule_ids"]) for f in errors] == [
        ("overlap", ["R-040104-02", "R-040104-03"])]
