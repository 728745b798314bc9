"""Rulings over HTTP, on SQLite and PostgreSQL: the whole loop from a bouncing ticket to a
standing rule that routes the next ticket, and the ruling endpoints' refusals."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import contract_bundle

PROBLEM = "application/problem+json"
TICKET = {"category": "030101", "area": "110199001001",
          "attributes": {"location_type": "residential_compound"}, "text": "小区内有人私搭乱建"}
RULING: dict[str, Any] = {
    "lead": "D-ZJ", "co_handlers": ["JD-HP"], "reasoning": "住建委牵头查处，街道配合",
    "basis": "区长办公会纪要第7号", "document_no": "示政办裁〔2026〕3号",
    "generalize": {"category": "030101", "area": "110199", "when": {}, "text_any": []},
    "retire_rules": []}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def load(client: TestClient) -> None:
    ok(client.put("/v1/bundle", json=contract_bundle()))


def route(client: TestClient, ticket_id: str, minute: int = 0) -> dict[str, Any]:
    return ok(client.post("/v1/route", json={
        **TICKET, "ticket_id": ticket_id, "as_of": f"2026-11-26T09:{minute:02d}:00+08:00"}))


def post_event(client: TestClient, ticket_id: str, minute: int, **body: Any) -> dict[str, Any]:
    return ok(client.post(f"/v1/tickets/{ticket_id}/events",
                          json={**body, "at": f"2026-11-26T09:{minute:02d}:00+08:00"}))


def bounce(client: TestClient, ticket_id: str) -> str:
    """Dispatched to JD-HP, returned, upheld, reassigned to D-ZJ, returned, upheld, and
    reassigned back to JD-HP (A → B → A): the dispute that opens by itself."""
    post_event(client, ticket_id, 1, type="dispatched", unit="JD-HP")
    post_event(client, ticket_id, 5, type="return_requested", unit="JD-HP",
               reason_code="function_overlap", basis="街道只负责巡查发现、上报",
               proposed_unit="D-ZJ")
    post_event(client, ticket_id, 10, type="return_upheld")
    post_event(client, ticket_id, 15, type="reassigned", to_unit="D-ZJ")
    post_event(client, ticket_id, 20, type="return_requested", unit="D-ZJ",
               reason_code="territory_mismatch", basis="小区内事项属地管理",
               proposed_unit="JD-HP")
    post_event(client, ticket_id, 25, type="return_upheld")
    state = post_event(client, ticket_id, 30, type="reassigned", to_unit="JD-HP")
    assert state["status"] == "in_dispute"
    assert state["dispute_id"]
    return str(state["dispute_id"])


def argue_and_claim(client: TestClient, dispute_id: str) -> None:
    ok(client.post(f"/v1/disputes/{dispute_id}/statements", json={
        "unit": "JD-HP", "text": "违建查处是住建委的执法职责", "basis": "街道履职清单第12项",
        "proposed_lead": "D-ZJ"}), 201)
    ok(client.post(f"/v1/disputes/{dispute_id}/statements", json={
        "unit": "D-ZJ", "text": "小区内私搭乱建先由街道劝阻", "basis": "属地管理",
        "proposed_lead": "JD-HP"}), 201)
    claimed = ok(client.post(f"/v1/disputes/{dispute_id}/claim", json={}))
    assert claimed["status"] == "under_review"


def code_of(unit: Any) -> Any:
    return unit["code"] if isinstance(unit, dict) else unit


def test_the_whole_loop_from_a_bouncing_ticket_to_a_standing_rule(
        app_client: TestClient) -> None:
    load(app_client)
    first = route(app_client, "T1")
    assert (first["lead"]["code"], first["rule"]["id"]) == ("JD-HP", "R-0301-01")

    dispute_id = bounce(app_client, "T1")
    dispute = ok(app_client.get(f"/v1/disputes/{dispute_id}"))
    assert (dispute["status"], dispute["reason"]) == ("open", "bounce")
    assert {code_of(p) for p in dispute["parties"]} == {"JD-HP", "D-ZJ"}
    argue_and_claim(app_client, dispute_id)
    version = ok(app_client.get("/v1/ruleset"))["version"]

    preview = ok(app_client.post(f"/v1/disputes/{dispute_id}/ruling/preview", json=RULING))
    assert preview["changed_decisions"]["count"] == 1
    assert preview["changed_decisions"]["sample"][0]["decision_id"] == first["decision_id"]
    assert [t["ticket_id"] for t in preview["open_tickets"]] == ["T1"]
    assert preview["outranks"] == ["R-0301-01"]
    assert preview["outranked_by"] == []
    assert ok(app_client.get("/v1/ruleset"))["version"] == version

    ruled = ok(app_client.post(f"/v1/disputes/{dispute_id}/ruling", json=RULING), 201)
    assert ruled["ruleset_version"] == version + 1
    assert ruled["rule_id"].startswith("RUL-")

    nxt = route(app_client, "T2", minute=40)
    assert nxt["status"] == "routed"
    assert nxt["rule"]["source"] == "ruling"
    assert nxt["rule"]["id"] == ruled["rule_id"]
    assert nxt["rule"]["ruling_id"] == ruled["ruling_id"]
    assert nxt["lead"]["code"] == "D-ZJ"
    assert [c["code"] for c in nxt["co_handlers"]] == ["JD-HP"]
    won = nxt["explanation"]["candidates"][0]
    assert (won["rule_id"], won["outcome"]) == (ruled["rule_id"], "won")
    assert ruled["rule_id"] in nxt["explanation"]["summary"]

    old = ok(app_client.get("/v1/tickets/T1"))
    assert code_of(old["owner"]) == "D-ZJ"
    assert old["status"] != "in_dispute"
    assert old["history"][-1]["type"] == "reassigned"
    assert ok(app_client.get(f"/v1/disputes/{dispute_id}"))["status"] == "ruled"

    rule = ok(app_client.get(f"/v1/rules/{ruled['rule_id']}"))["rule"]
    assert (rule["source"], rule["ruling_id"]) == ("ruling", ruled["ruling_id"])
    assert rule["basis"] == "示政办裁〔2026〕3号 区长办公会纪要第7号"
    shown = ok(app_client.get(f"/v1/rulings/{ruled['ruling_id']}"))
    assert (shown["dispute_id"], shown["document_no"]) == (dispute_id, "示政办裁〔2026〕3号")
    assert shown["rule"]["id"] == ruled["rule_id"]
    assert shown["supersedes"] is None and shown["superseded_by"] is None
    listed = ok(app_client.get("/v1/rulings", params={"category": "0301"}))
    assert [r["id"] for r in listed["items"]] == [ruled["ruling_id"]]
    assert ok(app_client.get("/v1/rulings", params={"category": "09"}))["items"] == []


def test_the_preview_writes_nothing(app_client: TestClient) -> None:
    load(app_client)
    route(app_client, "T1")
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)
    before = ok(app_client.get("/v1/ruleset")), ok(app_client.get(f"/v1/disputes/{dispute_id}"))
    for _ in range(2):
        ok(app_client.post(f"/v1/disputes/{dispute_id}/ruling/preview", json=RULING))
    after = ok(app_client.get("/v1/ruleset")), ok(app_client.get(f"/v1/disputes/{dispute_id}"))
    assert after == before
    assert ok(app_client.get("/v1/rulings"))["items"] == []
    assert code_of(ok(app_client.get("/v1/tickets/T1"))["owner"]) == "JD-HP"


def test_ruling_a_dispute_nobody_claimed_is_409_dispute_not_claimed(
        app_client: TestClient) -> None:
    load(app_client)
    dispute_id = bounce(app_client, "T1")
    for path in ("ruling", "ruling/preview"):
        response = app_client.post(f"/v1/disputes/{dispute_id}/{path}", json=RULING)
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "dispute_not_claimed"


def test_ruling_twice_is_409_and_leaves_one_ruling(app_client: TestClient) -> None:
    load(app_client)
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)
    ok(app_client.post(f"/v1/disputes/{dispute_id}/ruling", json=RULING), 201)
    again = app_client.post(f"/v1/disputes/{dispute_id}/ruling", json=RULING)
    assert again.status_code == 409
    assert again.json()["code"] == "dispute_closed"
    assert len(ok(app_client.get("/v1/rulings"))["items"]) == 1


def test_two_rulings_at_the_same_moment_leave_one_and_a_409(app_client: TestClient) -> None:
    load(app_client)
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def attempt(document_no: str) -> None:
        start.wait()
        body = {**RULING, "document_no": document_no}
        statuses.append(app_client.post(f"/v1/disputes/{dispute_id}/ruling",
                                        json=body).status_code)

    threads = [threading.Thread(target=attempt, args=(f"裁〔2026〕{i}号",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409]
    assert len(ok(app_client.get("/v1/rulings"))["items"]) == 1


def test_unknown_codes_in_a_ruling_are_422_naming_the_field(app_client: TestClient) -> None:
    load(app_client)
    dispute_id = bounce(app_client, "T1")
    argue_and_claim(app_client, dispute_id)
    cases = [
        ({"lead": "D-NOPE"}, "lead"),
        ({"co_handlers": ["D-NOPE"]}, "co_handlers[0]"),
        ({"generalize": {"category": "7777"}}, "generalize.category"),
        ({"generalize": {"category": "030101", "area": "000"}}, "generalize.area"),
        ({"retire_rules": ["R-NOPE"]}, "retire_rules[0]"),
    ]
    for change, field in cases:
        for path in ("ruling/preview", "ruling"):
            response = app_client.post(f"/v1/disputes/{dispute_id}/{path}",
                                       json={**RULING, **change})
            assert response.status_code == 422, response.text
            assert response.json()["field"] == field
    missing = app_client.post(f"/v1/disputes/{dispute_id}/ruling",
                              json={k: v for k, v in RULING.items() if k != "document_no"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "document_no"
    assert ok(app_client.get("/v1/rulings"))["items"] == []


def test_a_later_ruling_names_the_one_it_supersedes(app_client: TestClient) -> None:
    load(app_client)
    first_dispute = bounce(app_client, "T1")
    argue_and_claim(app_client, first_dispute)
    first = ok(app_client.post(f"/v1/disputes/{first_dispute}/ruling", json=RULING), 201)
    second_dispute = bounce(app_client, "T2")
    argue_and_claim(app_client, second_dispute)
    second = ok(app_client.post(f"/v1/disputes/{second_dispute}/ruling", json={
        **RULING, "lead": "D-GZ", "co_handlers": [], "document_no": "示政办裁〔2026〕9号",
        "supersedes": first["ruling_id"]}), 201)

    old = ok(app_client.get(f"/v1/rulings/{first['ruling_id']}"))
    new = ok(app_client.get(f"/v1/rulings/{second['ruling_id']}"))
    assert old["superseded_by"] == second["ruling_id"]
    assert new["supersedes"] == first["ruling_id"]
    assert old["lineage"] == new["lineage"] == [first["ruling_id"], second["ruling_id"]]
    assert old["rule"]["in_force"] is False
    assert route(app_client, "T3", minute=45)["rule"]["id"] == second["rule_id"]
    unknown = app_client.get("/v1/rulings/rlg_nothing")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "ruling_not_found"
