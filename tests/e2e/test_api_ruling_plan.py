"""What a ruling's preview and the ruling itself answer over HTTP, on SQLite and PostgreSQL:
the open tickets the ruling re-dispatches (those the preview listed), the decisions it
changes, the warnings, and the refusal of a ruling whose plan moved since its preview."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_api_rulings import (
    RULING,
    argue_and_claim,
    bounce,
    code_of,
    load,
    ok,
    post_event,
    route,
)

HAN = re.compile(r"[\u4e00-\u9fff]")


def preview(client: TestClient, dispute_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(client.post(f"/v1/disputes/{dispute_id}/ruling/preview", json=body))


def rule(client: TestClient, dispute_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(client.post(f"/v1/disputes/{dispute_id}/ruling", json=body), 201)


def disputed(client: TestClient) -> str:
    load(client)
    route(client, "T1")
    dispute_id = bounce(client, "T1")
    argue_and_claim(client, dispute_id)
    return dispute_id


def test_an_open_ticket_the_preview_would_re_route_is_re_dispatched_by_the_ruling(
        app_client: TestClient) -> None:
    load(app_client)
    route(app_client, "T1")
    assert code_of(route(app_client, "T2", minute=2)["lead"]) == "JD-HP"
    post_event(app_client, "T2", 3, type="dispatched", unit="JD-HP")
    post_event(app_client, "T2", 4, type="signed", unit="JD-HP")
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)

    seen = preview(app_client, dispute_id, RULING)
    assert {t["ticket_id"]: (t["new_lead"], t["why"]) for t in seen["open_tickets"]} == {
        "T1": ("D-ZJ", "ruling"), "T2": ("D-ZJ", "rule")}
    ruled = rule(app_client, dispute_id, RULING)

    t2 = ok(app_client.get("/v1/tickets/T2"))
    assert code_of(t2["owner"]) == "D-ZJ"
    assert t2["history"][-1]["type"] == "reassigned"
    assert ruled["ruling_id"] in t2["history"][-1]["note"]
    assert [t["ticket_id"] for t in ruled["open_tickets"]] == ["T1", "T2"]


def test_a_ticket_the_hotline_placed_elsewhere_is_listed_as_kept_and_stays(
        app_client: TestClient) -> None:
    load(app_client)
    route(app_client, "T1")
    route(app_client, "T2", minute=2)
    post_event(app_client, "T2", 3, type="dispatched", unit="D-GZ")
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)

    seen = preview(app_client, dispute_id, RULING)
    assert [t["ticket_id"] for t in seen["open_tickets"]] == ["T1"]
    assert seen["open_tickets_kept"] == [
        {"ticket_id": "T2", "holder": "D-GZ", "new_lead": "D-ZJ", "reason": "placed_elsewhere"}]
    ruled = rule(app_client, dispute_id, RULING)
    assert ruled["open_tickets_kept"] == seen["open_tickets_kept"]
    assert code_of(ok(app_client.get("/v1/tickets/T2"))["owner"]) == "D-GZ"


def test_a_ruling_that_only_adds_a_co_handler_changes_the_decisions_it_would_make(
        app_client: TestClient) -> None:
    dispute_id = disputed(app_client)
    same_lead = {**RULING, "lead": "@territorial", "co_handlers": ["D-ZJ", "D-GZ", "D-CG"]}
    seen = preview(app_client, dispute_id, same_lead)
    assert seen["changed_decisions"]["count"] == 1
    assert seen["changed_decisions"]["lead_changed"] == 0
    assert seen["changed_decisions"]["sample"][0]["changes"] == ["co_handlers", "rule_id"]
    assert [(t["ticket_id"], t["why"]) for t in seen["open_tickets"]] == [("T1", "ruling")]


def test_a_ruling_without_generalize_warns_that_it_writes_no_rule(
        app_client: TestClient) -> None:
    dispute_id = disputed(app_client)
    one_off = {**RULING, "generalize": None}
    seen = preview(app_client, dispute_id, one_off)
    assert [w["code"] for w in seen["warnings"]] == ["no_rule_written"]
    assert HAN.search(seen["warnings"][0]["message"])
    ruled = rule(app_client, dispute_id, one_off)
    assert ruled["rule_id"] is None
    assert ruled["warnings"] == seen["warnings"]


def test_a_fixed_street_named_beyond_its_own_area_warns_and_suggests_the_territorial_role(
        app_client: TestClient) -> None:
    dispute_id = disputed(app_client)
    district_wide = {**RULING, "generalize": {**RULING["generalize"], "area": None}}
    seen = preview(app_client, dispute_id, district_wide)
    assert [(w["code"], w["field"], w["unit"]) for w in seen["warnings"]] == [
        ("fixed_territorial_outside_scope", "co_handlers[0]", "JD-HP")]
    message = seen["warnings"][0]["message"]
    assert "@territorial" in message and "和平街道" in message and HAN.search(message)
    as_lead = preview(app_client, dispute_id, {**district_wide, "lead": "JD-DH",
                                               "co_handlers": []})
    assert [(w["code"], w["field"]) for w in as_lead["warnings"]] == [
        ("fixed_territorial_outside_scope", "lead")]
    inside = {**RULING, "generalize": {**RULING["generalize"], "area": "110199001"}}
    assert preview(app_client, dispute_id, inside)["warnings"] == []
    role = {**district_wide, "co_handlers": ["@territorial"]}
    assert preview(app_client, dispute_id, role)["warnings"] == []
    ruled = rule(app_client, dispute_id, district_wide)  # a warning does not block
    assert ruled["warnings"] == seen["warnings"]


def test_a_ruling_whose_plan_moved_since_its_preview_is_409_and_writes_nothing(
        app_client: TestClient) -> None:
    dispute_id = disputed(app_client)
    seen = preview(app_client, dispute_id, RULING)
    route(app_client, "T2", minute=2)
    post_event(app_client, "T2", 3, type="dispatched", unit="JD-HP")  # now it would move too
    stale = app_client.post(f"/v1/disputes/{dispute_id}/ruling",
                            json={**RULING, "plan_digest": seen["plan_digest"]})
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "ruling_plan_changed"
    assert ok(app_client.get("/v1/rulings"))["items"] == []
    fresh = preview(app_client, dispute_id, RULING)
    ruled = rule(app_client, dispute_id, {**RULING, "plan_digest": fresh["plan_digest"]})
    assert ruled["plan_digest"] == fresh["plan_digest"]
    assert [t["ticket_id"] for t in ruled["open_tickets"]] == ["T1", "T2"]


def test_a_department_led_ruling_counts_the_fallbacks_it_moves_beyond_its_own_scope(
        app_client: TestClient) -> None:
    dispute_id = disputed(app_client)
    gap = ok(app_client.post("/v1/route", json={
        "ticket_id": "T9", "category": "030101", "area": "110199002",
        "as_of": "2026-11-26T09:40:00+08:00"}))
    assert gap["status"] == "fallback" and code_of(gap["lead"]) == "JD-DH"
    # Scoped to 和平街道, but a department-led rule makes 030101 departmental in the whole
    # district (国办函〔2025〕66号): 东湖街道's gap now goes to the department.
    narrow = {**RULING, "co_handlers": [], "generalize": {
        "category": "030101", "area": "110199001", "when": {}, "text_any": ["私搭"]}}
    seen = preview(app_client, dispute_id, narrow)
    changed = {d["decision_id"]: d for d in seen["changed_decisions"]["sample"]}
    assert changed[gap["decision_id"]]["after"]["lead"] == "D-ZJ"
    rule(app_client, dispute_id, narrow)
    replay = ok(app_client.get(f"/v1/decisions/{gap['decision_id']}/replay?version=current"))
    assert replay["same"] is False and code_of(replay["replayed"]["lead"]) == "D-ZJ"
