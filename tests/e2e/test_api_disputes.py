"""Disputes over HTTP: opened by an ambiguous routing or by hand, the queue, claims,
statements, escalation of overdue disputes and the detail an arbiter rules on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.schemas import DecisionOut
from arbitration.tables import rulings
from tests.conftest import Clock, contract_bundle
from tests.e2e.test_api_tickets import MON, assert_audit_intact, key, post

PROBLEM = "application/problem+json"


def load_tied(client: TestClient) -> None:
    """The contract bundle with a second rule on 030102 naming another lead: a tie."""
    bundle = contract_bundle()
    bundle["rules"].append({"id": "R-030102-02", "category": "030102", "lead": "D-ZJ",
                            "basis": "会议纪要", "valid_from": "2026-01-01T00:00:00+08:00"})
    response = client.put("/v1/bundle", json=bundle)
    assert response.status_code == 200, response.text


def open_by_hand(client: TestClient, **body: Any) -> dict[str, Any]:
    body.setdefault("parties", ["D-CG", "JD-HP"])
    response = client.post("/v1/disputes", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_an_ambiguous_routing_opens_a_dispute_named_in_the_decision(
        app_client: TestClient) -> None:
    load_tied(app_client)
    response = app_client.post("/v1/route", json={
        "ticket_id": "T20", "category": "030102", "area": "110199001",
        "as_of": "2026-11-26T09:00:00+08:00"})
    assert response.status_code == 200, response.text
    decision = response.json()
    DecisionOut.model_validate(decision, strict=True)
    assert decision["status"] == "ambiguous"
    assert decision["dispute_id"] and decision["dispute_id"].startswith("DSP-20261126-")
    stored = app_client.get(f"/v1/decisions/{decision['decision_id']}").json()
    assert stored["dispute_id"] == decision["dispute_id"]

    d = app_client.get(f"/v1/disputes/{decision['dispute_id']}").json()
    assert d["reason"] == "ambiguous" and d["status"] == "open"
    assert sorted(p["code"] for p in d["parties"]) == ["D-CG", "D-ZJ"]
    assert d["interim_owner"]["code"] == decision["lead"]["code"]
    assert d["decision"]["explanation"]["tied_rules"] == decision["explanation"]["tied_rules"]
    ticket = app_client.get("/v1/tickets/T20").json()
    assert ticket["status"] == "in_dispute"
    assert ticket["dispute_id"] == decision["dispute_id"]
    assert ticket["interim_owner"] == decision["lead"]
    assert (ticket["category"], ticket["area"]) == ("030102", "110199001")

    # Routing the same ticket again names the dispute already open, not a new one.
    again = app_client.post("/v1/route", json={"ticket_id": "T20", "category": "030102",
                                               "area": "110199001"}).json()
    assert again["dispute_id"] == decision["dispute_id"]
    assert len(app_client.get("/v1/disputes").json()["disputes"]) == 1
    # Without a ticket id the dispute still opens; a routed ticket opens none.
    loose = app_client.post("/v1/route", json={"category": "030102", "area": "110199002"})
    assert loose.json()["dispute_id"] is not None
    plain = app_client.post("/v1/route", json={"ticket_id": "T21", "category": "090101"})
    assert plain.json()["dispute_id"] is None
    assert app_client.get("/v1/tickets/T21").status_code == 404
    assert_audit_intact(app_client)


def test_the_queue_lists_the_soonest_deadline_first_with_filters_and_pages(
        app_client: TestClient, clock: Clock) -> None:
    load_tied(app_client)
    start = clock.now
    clock.now = start + timedelta(hours=2)
    late = open_by_hand(app_client, parties=["D-CG", "JD-HP"], category="030102")
    clock.now = start
    early = open_by_hand(app_client, parties=["D-ZJ", "JD-HP"], category="030101")
    clock.now = start + timedelta(hours=1)
    middle = open_by_hand(app_client, parties=["D-SW", "D-CG"], category="090101")

    queue = app_client.get("/v1/disputes").json()["disputes"]
    assert [d["id"] for d in queue] == [early["id"], middle["id"], late["id"]]
    assert all(d["overdue"] is False for d in queue)

    def ids(**params: Any) -> list[str]:
        response = app_client.get("/v1/disputes", params=params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["disputes"]]

    assert ids(party="D-CG") == [middle["id"], late["id"]]
    assert ids(category="0301") == [early["id"], late["id"]]
    assert ids(category="090101") == [middle["id"]]
    assert ids(status="under_review") == []
    assert app_client.get("/v1/disputes?status=lost").status_code == 422

    # Claiming moves a dispute to the back: its ruling is due later than the others' claims.
    assert app_client.post(f"/v1/disputes/{early['id']}/claim").status_code == 200
    assert ids(status="open") == [middle["id"], late["id"]]
    assert ids()[-1] == early["id"]

    # Pages of one, by keyset.
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if after:
            params["after"] = after
        page = app_client.get("/v1/disputes", params=params).json()
        seen += [d["id"] for d in page["disputes"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ids()
    assert app_client.get("/v1/disputes?after=garbage").status_code == 422

    clock.now = start + timedelta(days=10)
    assert ids(overdue=True) == [middle["id"], late["id"], early["id"]]
    assert ids(overdue=False) == []


def test_only_one_arbiter_can_claim_a_dispute(app_client: TestClient) -> None:
    load_tied(app_client)
    d = open_by_hand(app_client)
    ann, bob = key(app_client, "arbiter", "ann"), key(app_client, "arbiter", "bob")
    first = app_client.post(f"/v1/disputes/{d['id']}/claim", json={"arbiter": "mallory"},
                            headers=ann)
    assert first.status_code == 200, first.text
    assert first.json()["arbiter"] == "ann"  # the caller, not the body
    assert first.json()["status"] == "under_review"
    second = app_client.post(f"/v1/disputes/{d['id']}/claim", headers=bob)
    assert second.status_code == 409
    assert second.headers["content-type"].startswith(PROBLEM)
    assert second.json()["code"] == "dispute_claimed"
    again = app_client.post(f"/v1/disputes/{d['id']}/claim", headers=ann)
    assert again.status_code == 200
    assert [e["type"] for e in again.json()["events"]] == ["opened", "claimed"]
    unit = key(app_client, "unit", "cg", "D-CG")
    assert app_client.post(f"/v1/disputes/{d['id']}/claim", headers=unit).status_code == 403
    assert app_client.post("/v1/disputes/DSP-NOPE/claim").status_code == 404
    assert_audit_intact(app_client)


def test_statements_come_from_parties_speaking_for_their_own_unit(
        app_client: TestClient) -> None:
    load_tied(app_client)
    d = open_by_hand(app_client)
    url = f"/v1/disputes/{d['id']}/statements"
    stranger = app_client.post(url, json={"unit": "D-SW", "text": "与我无关"})
    assert stranger.status_code == 422
    assert stranger.json()["code"] == "not_a_party" and stranger.json()["field"] == "unit"
    hp = key(app_client, "unit", "hp", "JD-HP")
    impostor = app_client.post(url, json={"unit": "D-CG", "text": "街道负责"}, headers=hp)
    assert impostor.status_code == 403
    assert app_client.post(url, json={"unit": "JD-HP"}, headers=hp).status_code == 422
    ok = app_client.post(url, headers=hp, json={
        "unit": "JD-HP", "text": "属地只负责巡查发现", "basis": "街道履职清单第12项",
        "proposed_lead": "D-CG"})
    assert ok.status_code == 201, ok.text
    statement = ok.json()["statements"][0]
    assert statement["unit"]["code"] == "JD-HP"
    assert statement["proposed_lead"]["code"] == "D-CG"
    assert app_client.post(url, json={"unit": "D-CG", "text": "应由街道牵头"}).status_code == 201
    detail = app_client.get(f"/v1/disputes/{d['id']}").json()
    assert [s["unit"]["code"] for s in detail["statements"]] == ["JD-HP", "D-CG"]
    assert_audit_intact(app_client)


def test_overdue_disputes_are_flagged_and_escalated_once_per_deadline(
        app_client: TestClient, clock: Clock) -> None:
    load_tied(app_client)
    d = open_by_hand(app_client)
    fresh_clock = clock.now
    assert app_client.post("/v1/disputes/escalate").json()["escalated"] == 0
    # Opened Thursday 26 November 10:00: claim due Monday 30 November 10:00 (two working days).
    assert d["stage_deadline"] == "2026-11-30T10:00:00+08:00"
    clock.now = datetime(2026, 11, 30, 2, 1, tzinfo=UTC)
    assert app_client.post("/v1/disputes/escalate").json()["escalated"] == 1
    assert app_client.post("/v1/disputes/escalate").json()["escalated"] == 0
    detail = app_client.get(f"/v1/disputes/{d['id']}").json()
    assert detail["escalated"] == 1
    assert detail["events"][-1]["type"] == "escalated"
    assert detail["events"][-1]["payload"]["stage"] == "open"
    queue = app_client.get("/v1/disputes?overdue=true").json()["disputes"]
    assert [q["id"] for q in queue] == [d["id"]] and queue[0]["overdue"] is True
    # Claimed late, it gets a new deadline; missing that one escalates it again.
    assert app_client.post(f"/v1/disputes/{d['id']}/claim").status_code == 200
    clock.now = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
    assert app_client.post("/v1/disputes/escalate").json()["escalated"] == 1
    assert app_client.get(f"/v1/disputes/{d['id']}").json()["escalated"] == 2
    viewer = key(app_client, "viewer", "v")
    assert app_client.post("/v1/disputes/escalate", headers=viewer).status_code == 403
    assert fresh_clock < clock.now
    assert_audit_intact(app_client)


def test_a_dispute_shows_the_ticket_path_and_similar_past_rulings(
        app_client: TestClient) -> None:
    load_tied(app_client)
    post(app_client, "T30", type="dispatched", unit="D-CG", at=MON, category="030102",
         area="110199001001")
    d = open_by_hand(app_client, parties=["D-CG", "JD-HP"], ticket_id="T30")
    assert d["interim_owner"]["code"] == "D-CG" and d["category"] == "030102"
    ticket = app_client.get("/v1/tickets/T30").json()
    assert ticket["status"] == "in_dispute" and ticket["dispute_id"] == d["id"]
    services = app_client.app.state.services  # type: ignore[attr-defined]
    row = {"co_handlers": ["D-ZJ"], "reasoning": "属地牵头", "basis": "会商纪要",
           "document_no": "示政办裁〔2026〕3号", "retired_rules": [], "arbiter": "ann",
           "at": services.clock(), "lead": "JD-HP"}
    with services.db.begin() as conn:
        conn.execute(insert(rulings), [
            {**row, "id": "RUL-1", "dispute_id": "DSP-old-1", "category": "0301",
             "area": "110199001"},                       # ancestor category, same township
            {**row, "id": "RUL-2", "dispute_id": "DSP-old-2", "category": "030102",
             "area": None},                              # district-wide
            {**row, "id": "RUL-3", "dispute_id": "DSP-old-3", "category": "030102",
             "area": "110199002"},                       # another township
            {**row, "id": "RUL-4", "dispute_id": "DSP-old-4", "category": "090101",
             "area": "110199001"},                       # another category branch
        ])
    detail = app_client.get(f"/v1/disputes/{d['id']}").json()
    assert sorted(r["ruling_id"] for r in detail["similar_rulings"]) == ["RUL-1", "RUL-2"]
    assert detail["similar_rulings"][0]["lead"]["code"] == "JD-HP"
    assert [u["code"] for u in detail["ticket"]["path"]] == ["D-CG"]
    assert [e["type"] for e in detail["ticket"]["history"]] == ["dispatched", "dispute_opened"]
    assert detail["decision"] is None
    # A second dispute on the same ticket is refused while the first is open.
    again = app_client.post("/v1/disputes", json={"parties": ["D-CG"], "ticket_id": "T30"})
    assert again.status_code == 409 and again.json()["code"] == "dispute_already_open"
    assert len(app_client.get("/v1/disputes").json()["disputes"]) == 1
    unknown = app_client.post("/v1/disputes", json={"parties": ["D-XX"]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "parties.0"
    assert app_client.get("/v1/disputes/DSP-NOPE").status_code == 404
    assert_audit_intact(app_client)
