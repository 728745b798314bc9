"""Departmental gaps over HTTP (the live engine path, SQLite and PostgreSQL): a category that a
rule gives to a department falls back to that department, never to the street, from the moment
the rule is written (国办函〔2025〕66号 §五)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import contract_bundle


def route(client: TestClient, **body: Any) -> dict[str, Any]:
    body.setdefault("as_of", "2026-11-26T10:00:00+08:00")
    response = client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_gap_of_a_category_a_rule_gives_to_a_department_goes_to_it_at_once(
        app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    before = route(app_client, category="030101", area="110199002",
                   attributes={"location_type": "park"})
    assert (before["lead"]["code"], before["explanation"]["fallback_step"]) == (
        "JD-DH", "territorial")

    created = app_client.post("/v1/rules", json={
        "id": "R-030101-CG", "category": "030101", "area": "110199001", "lead": "D-CG",
        "when": {"location_type": "public_road"}, "basis": "《区城管委三定规定》第三条",
        "valid_from": "2027-01-01T00:00:00+08:00"})
    assert created.status_code == 201, created.text

    # another street, another condition, a ticket dated before the rule starts: still the
    # department's matter
    after = route(app_client, category="030101", area="110199002",
                  attributes={"location_type": "park"})
    assert after["status"] == "fallback"
    assert after["lead"] == {"code": "D-CG", "name": "区城市管理委员会", "kind": "department"}
    assert after["explanation"]["fallback_step"] == "derived_default"
    assert "R-030101-CG" in after["explanation"]["summary"]
    stored = app_client.get(f"/v1/decisions/{after['decision_id']}").json()
    assert stored["lead"]["code"] == "D-CG"

    # a rule that matches still decides, whoever it names
    routed = route(app_client, category="030101", area="110199002", text="私搭",
                   attributes={"location_type": "residential_compound"})
    assert (routed["status"], routed["lead"]["code"]) == ("routed", "JD-DH")

    check = app_client.get("/v1/verify").json()
    unmarked = [f for f in check["findings"] if f["category"] == "030101"
                and f["code"].startswith("departmental_")]
    assert [(f["code"], f["rule_ids"]) for f in unmarked] == [
        ("departmental_derived", ["R-030101-CG"])]
