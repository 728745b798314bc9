"""Intake flags (受理口径) end to end: a category not accepted by 12345, or transferred to
110 / 119 / 120 / 122, is stored, exported, read from a duty list, and routed as
``out_of_scope`` with ``lead: null`` — by the engine and by the plain evaluator alike."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.schemas import DecisionOut
from jurisdiction.errors import BundleInvalid
from rules.dutylist import read_duty_list, write_duty_list
from rules.service import evaluate, ticket_from_request
from tests.conftest import contract_bundle
from tests.e2e.test_api_routing import load, route

AS_OF = "2026-11-26T10:00:00+08:00"


def flagged_bundle() -> dict[str, Any]:
    bundle = copy.deepcopy(contract_bundle())
    bundle["categories"] += [
        {"code": "06", "name": "治安", "parent": None, "intake": "transfer_110"},
        {"code": "0601", "name": "打架斗殴", "parent": "06"},
        {"code": "060101", "name": "酒后滋事", "parent": "0601"},
        {"code": "030103", "name": "已起诉的违建纠纷", "parent": "0301",
         "intake": "not_accepted"},
    ]
    bundle["rules"].append({"id": "R-06", "category": "06", "lead": "@territorial",
                            "basis": "旧目录：治安类派属地", "valid_from": AS_OF})
    return bundle


def test_a_flagged_category_routes_out_of_scope_with_the_flag_instead_of_a_lead(
        app_client: TestClient) -> None:
    load(app_client, flagged_bundle())
    decision = route(app_client, category="060101", area="110199001", text="有人打架")
    assert (decision["status"], decision["lead"], decision["rule"]) == ("out_of_scope", None,
                                                                        None)
    assert decision["co_handlers"] == [] and decision["dispute_id"] is None
    assert decision["intake"] == {"code": "transfer_110", "label": "转110（公安）",
                                  "category": "06"}
    stored = app_client.get(f"/v1/decisions/{decision['decision_id']}").json()
    assert stored["intake"]["code"] == "transfer_110"
    replay = app_client.get(f"/v1/decisions/{decision['decision_id']}/replay").json()
    assert replay["same"] is True
    not_accepted = route(app_client, category="030103", area="110199001")
    assert (not_accepted["status"], not_accepted["intake"]["label"]) == ("out_of_scope",
                                                                         "不予受理")
    routed = route(app_client, category="030101", area="110199001",
                   attributes={"location_type": "residential_compound"}, text="违建")
    assert routed["status"] == "routed" and routed["intake"] is None


@pytest.mark.parametrize("category", ["06", "0601", "060101", "030103", "030101", "030102"])
def test_the_engine_and_the_plain_evaluator_agree_on_flagged_categories(
        app_client: TestClient, category: str) -> None:
    load(app_client, flagged_bundle())
    services = app_client.app.state.services  # type: ignore[attr-defined]
    matrix = services.router.current()
    request = {"category": category, "area": "110199001", "as_of": AS_OF, "text": "违建"}
    ticket = ticket_from_request(request, datetime.fromisoformat(AS_OF))
    _, live = services.router.decide(ticket, matrix)
    plain = evaluate(ticket, matrix)
    assert (live.status, live.lead, live.intake) == (plain.status, plain.lead, plain.intake)


def test_the_flag_survives_bundle_export_and_the_category_api(
        app_client: TestClient) -> None:
    load(app_client, flagged_bundle())
    exported = {c["code"]: c for c in app_client.get("/v1/bundle").json()["categories"]}
    assert exported["06"]["intake"] == "transfer_110"
    assert "intake" not in exported["0601"]
    listed = {c["code"]: c for c in app_client.get("/v1/categories").json()["items"]}
    assert (listed["030103"]["intake"], listed["030101"]["intake"]) == ("not_accepted", None)
    created = app_client.post("/v1/categories", json={
        "code": "0602", "name": "火情", "parent": "06", "intake": "transfer_119"})
    assert created.status_code == 201, created.text
    assert route(app_client, category="0602")["intake"]["code"] == "transfer_119"
    bad = app_client.post("/v1/categories", json={
        "code": "0603", "name": "x", "parent": "06", "intake": "transfer_999"})
    assert bad.status_code == 422 and bad.json()["field"] == "intake"
    refused = app_client.put("/v1/bundle", json={
        **flagged_bundle(), "categories": [{"code": "08", "name": "x", "intake": "maybe"}]})
    assert refused.status_code == 422
    assert any(p["location"] == "categories[0].intake" for p in refused.json()["problems"])


def test_the_documented_decision_shape_allows_out_of_scope() -> None:
    DecisionOut.model_validate({
        "decision_id": "d", "ruleset_version": 1, "status": "out_of_scope", "lead": None,
        "co_handlers": [], "rule": None, "as_of": AS_OF,
        "explanation": {"summary": "…", "candidates": []},
        "intake": {"code": "transfer_120", "label": "转120（急救）", "category": "06"}},
        strict=True)


def test_the_duty_list_carries_the_flag_in_one_optional_column(tmp_path: Path) -> None:
    from openpyxl import load_workbook
    path = tmp_path / "duty-list.xlsx"
    write_duty_list(flagged_bundle(), path)
    sheet = load_workbook(path)["分类"]
    header = [c.value for c in sheet[1]]
    assert "受理类型" in header and "扩展字段" not in header  # a column, not a JSON note
    cells = {row[0]: row[header.index("受理类型")]
             for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert (cells["06"], cells["030103"], cells["0601"]) == ("转110", "不予受理", None)
    read = {c["code"]: c for c in read_duty_list(path)["categories"]}
    assert (read["06"].get("intake"), read["030103"].get("intake")) == ("transfer_110",
                                                                        "not_accepted")
    assert "intake" not in read["0601"]


def test_a_duty_list_with_a_bad_intake_value_names_the_row(tmp_path: Path) -> None:
    from openpyxl import load_workbook
    path = tmp_path / "duty-list.xlsx"
    write_duty_list(flagged_bundle(), path)
    workbook = load_workbook(path)
    sheet = workbook["分类"]
    header = [c.value for c in sheet[1]]
    column = header.index("受理类型") + 1
    sheet.cell(row=2, column=column, value="转999")
    sheet.cell(row=3, column=column, value="转120（急救）")
    workbook.save(path)
    with pytest.raises(BundleInvalid) as caught:
        read_duty_list(path)
    problems = [p.as_dict() for p in caught.value.problems]
    assert [p["location"] for p in problems] == ["分类!2"], problems
