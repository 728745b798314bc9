"""The routing core over HTTP: import, route, decisions, versions, bad input."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from api.schemas import DecisionOut
from tests.conftest import contract_bundle

PROBLEM = "application/problem+json"


def load(client: TestClient, bundle: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.put("/v1/bundle", json=bundle or contract_bundle())
    assert response.status_code == 200, response.text
    return dict(response.json())


def route(client: TestClient, **body: Any) -> dict[str, Any]:
    body.setdefault("as_of", "2026-11-26T10:00:00+08:00")
    response = client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    DecisionOut.model_validate(response.json(), strict=True)  # the documented shape
    return dict(response.json())


def test_a_ticket_routes_to_the_territorial_lead_with_co_handlers_and_basis(
        app_client: TestClient) -> None:
    load(app_client)
    d = route(app_client, ticket_id="T1", category="030101", area="110199001001",
              attributes={"location_type": "residential_compound"}, text="小区内有人私搭乱建")
    assert d["status"] == "routed"
    assert d["lead"] == {"code": "JD-HP", "name": "和平街道", "kind": "street"}
    assert [c["code"] for c in d["co_handlers"]] == ["D-ZJ", "D-GZ"]
    assert d["rule"]["id"] == "R-0301-01"
    assert d["rule"]["basis"] == "《示范区街道履职事项清单》第12项"
    assert d["explanation"]["candidates"][0] == {
        "rule_id": "R-0301-01", "outcome": "won", "step": "won",
        "reason": d["explanation"]["candidates"][0]["reason"]}
    stored = app_client.get(f"/v1/decisions/{d['decision_id']}")
    assert stored.status_code == 200
    assert stored.json() == d


def test_a_ticket_without_the_keyword_falls_back_to_the_territorial_unit(
        app_client: TestClient) -> None:
    load(app_client)
    d = route(app_client, category="030101", area="110199002",
              attributes={"location_type": "public_road"}, text="有人堆放杂物")
    assert d["status"] == "fallback"
    assert d["lead"]["code"] == "JD-DH"
    assert d["explanation"]["fallback_step"] == "territorial"
    assert d["explanation"]["candidates"][0]["step"] == "text"


def test_a_departmental_matter_never_falls_back_to_a_township(app_client: TestClient) -> None:
    load(app_client)
    d = route(app_client, category="090101", area="110199001001")
    assert d["status"] == "fallback"
    assert d["lead"]["code"] == "D-SW"
    assert d["explanation"]["fallback_step"] == "category_default"


def test_a_ticket_with_no_area_and_no_rule_is_held_by_the_hotline_office(
        app_client: TestClient) -> None:
    load(app_client)
    d = route(app_client, category="030101")
    assert d["status"] == "unrouted"
    assert d["lead"]["code"] == "O-RX"


def test_an_empty_matrix_routes_nothing_and_says_so(app_client: TestClient) -> None:
    response = app_client.post("/v1/route", json={"category": "030101"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == "category"


def test_a_tie_between_different_leads_is_ambiguous(app_client: TestClient) -> None:
    bundle = contract_bundle()
    bundle["rules"].append({"id": "R-030102-02", "category": "030102", "lead": "D-ZJ",
                            "basis": "会议纪要", "valid_from": "2026-01-01T00:00:00+08:00"})
    load(app_client, bundle)
    d = route(app_client, category="030102", area="110199001")
    assert d["status"] == "ambiguous"
    assert d["lead"]["code"] == "JD-HP"
    assert sorted(d["explanation"]["tied_rules"]) == ["R-030102-01", "R-030102-02"]


def test_unknown_codes_are_422_naming_the_field(app_client: TestClient) -> None:
    load(app_client)
    for body, field in (({"category": "999999"}, "category"),
                        ({"category": "030101", "area": "nowhere"}, "area")):
        response = app_client.post("/v1/route", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["field"] == field


def test_malformed_and_oversize_requests_are_refused_with_the_limit(
        app_client: TestClient) -> None:
    load(app_client)
    assert app_client.post("/v1/route", json={"area": "x"}).status_code == 422
    assert app_client.post("/v1/route", content=b"{not json",
                           headers={"content-type": "application/json"}).status_code == 422
    big = app_client.post("/v1/route", json={"category": "030101", "text": "字" * 10_001})
    assert big.status_code == 413
    assert "10000" in big.json()["detail"]
    batch = app_client.post("/v1/route/batch", json={"tickets": [{"category": "030101"}] * 1001})
    assert batch.status_code == 413
    naive = app_client.post("/v1/route", json={"category": "030101",
                                               "as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def test_batch_routing_answers_in_order(app_client: TestClient) -> None:
    load(app_client)
    response = app_client.post("/v1/route/batch", json={"tickets": [
        {"category": "090101"}, {"category": "030102", "area": "110199002"}]})
    assert response.status_code == 200
    leads = [d["lead"]["code"] for d in response.json()["decisions"]]
    assert leads == ["D-SW", "D-CG"]


def test_a_bundle_with_problems_writes_nothing_and_lists_every_problem(
        app_client: TestClient) -> None:
    load(app_client)
    bad = copy.deepcopy(contract_bundle())
    bad["rules"][0]["lead"] = "D-NOPE"
    bad["rules"][1]["valid_from"] = "2026-01-01"
    bad["areas"][1]["unit"] = "JD-NOPE"
    response = app_client.put("/v1/bundle?mode=replace", json=bad)
    assert response.status_code == 422
    locations = {p["location"] for p in response.json()["problems"]}
    assert "rules[1].valid_from" in locations
    bad["rules"][1]["valid_from"] = "2026-01-01T00:00:00+08:00"
    response = app_client.put("/v1/bundle?mode=replace", json=bad)
    locations = {p["location"] for p in response.json()["problems"]}
    assert {"areas[1].unit"} <= locations
    assert app_client.get("/v1/ruleset").json()["version"] == 1


def test_export_then_import_is_lossless(app_client: TestClient) -> None:
    load(app_client)
    exported = app_client.get("/v1/bundle").json()
    again = app_client.put("/v1/bundle?mode=replace", json=exported).json()
    assert again["ruleset_version"] == again["previous_version"] == 1
    assert app_client.get("/v1/bundle").json() == exported


def test_a_rule_change_makes_a_new_version_used_at_once_and_old_decisions_replay(
        app_client: TestClient) -> None:
    load(app_client)
    before = route(app_client, category="030102", area="110199001")
    assert before["lead"]["code"] == "D-CG"
    patch = app_client.patch("/v1/rules/R-030102-01", json={"lead": "D-ZJ"})
    assert patch.status_code == 200, patch.text
    assert patch.json()["ruleset_version"] == 2
    after = route(app_client, category="030102", area="110199001")
    assert after["lead"]["code"] == "D-ZJ"
    assert after["ruleset_version"] == 2
    assert after["rule"]["revision"] == 2
    replay = app_client.get(f"/v1/decisions/{before['decision_id']}/replay").json()
    assert replay["same"] is True
    assert replay["replayed_version"] == 1
    now = app_client.get(f"/v1/decisions/{before['decision_id']}/replay?version=current").json()
    assert now["same"] is False
    history = app_client.get("/v1/rules/R-030102-01").json()["history"]
    assert [h["revision"] for h in history] == [1, 2]


def test_a_retired_rule_stops_routing(app_client: TestClient) -> None:
    load(app_client)
    assert app_client.post("/v1/rules/R-030102-01/retire").status_code == 200
    d = route(app_client, category="030102", area="110199001")
    assert d["status"] == "fallback"
    assert app_client.get("/v1/rules/R-030102-01").json()["active"] is False


def test_creating_a_rule_with_unknown_units_is_422_naming_the_field(
        app_client: TestClient) -> None:
    load(app_client)
    response = app_client.post("/v1/rules", json={
        "id": "R-NEW", "category": "030101", "lead": "D-NOPE", "basis": "x"})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "lead"
    dup = app_client.post("/v1/rules", json={
        "id": "R-030102-01", "category": "030101", "lead": "D-CG", "basis": "x"})
    assert dup.status_code == 409


def test_units_areas_and_categories_can_be_edited(app_client: TestClient) -> None:
    load(app_client)
    r = app_client.post("/v1/units", json={"code": "D-SJ", "name": "区市场监督管理局",
                                           "kind": "department"})
    assert r.status_code == 201
    r = app_client.put("/v1/areas/110199002", json={
        "code": "110199002", "name": "东湖街道", "level": "township", "parent": "110199",
        "unit": "D-NOPE"})
    assert r.status_code == 422
    units = app_client.get("/v1/units?kind=department").json()["items"]
    assert "D-SJ" in {u["code"] for u in units}


def test_verify_reports_gaps_and_overlaps_with_codes(app_client: TestClient) -> None:
    bundle = contract_bundle()
    bundle["rules"].append({"id": "R-030102-02", "category": "030102", "lead": "D-ZJ",
                            "basis": "会议纪要", "valid_from": "2026-01-01T00:00:00+08:00"})
    load(app_client, bundle)
    report = app_client.get("/v1/verify").json()
    codes = {f["code"] for f in report["findings"]}
    assert {"gap", "overlap"} <= codes
    assert report["ok"] is False


def test_requests_without_a_valid_key_are_401(app_client: TestClient) -> None:
    response = app_client.get("/v1/ruleset", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)


def test_a_retired_rule_created_again_continues_its_revisions(app_client: TestClient) -> None:
    load(app_client)
    assert app_client.post("/v1/rules/R-030102-01/retire").status_code == 200
    again = app_client.post("/v1/rules", json={
        "id": "R-030102-01", "category": "030102", "lead": "D-CG", "basis": "复用编号"})
    assert again.status_code == 201, again.text
    history = app_client.get("/v1/rules/R-030102-01").json()["history"]
    assert [(h["revision"], h["retired"]) for h in history] == [(1, False), (2, True), (3, False)]
