"""Tickets over HTTP: dispatch, sign-in, returns and their review, bounces, time limits in
working days, refused events, Idempotency-Key, unit keys, per-district policy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.auth import create_key
from arbitration.audit import verify_log
from arbitration.tables import audit_log, ticket_events
from tests.conftest import Clock, contract_bundle

PROBLEM = "application/problem+json"
MON = "2026-11-23T09:00:00+08:00"


def load(client: TestClient) -> None:
    response = client.put("/v1/bundle", json=contract_bundle())
    assert response.status_code == 200, response.text


def post(client: TestClient, ticket_id: str, **event: Any) -> dict[str, Any]:
    response = client.post(f"/v1/tickets/{ticket_id}/events", json=event)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(client: TestClient, ticket_id: str, status: int, **event: Any) -> dict[str, Any]:
    response = client.post(f"/v1/tickets/{ticket_id}/events", json=event)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return dict(response.json())


def returned(unit: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "return_requested", "unit": unit, "at": at,
            "reason_code": "territory_mismatch", "basis": "《示范区街道履职事项清单》第12项",
            **extra}


def counts(client: TestClient, ticket_id: str) -> tuple[int, int]:
    """(events stored for the ticket, audit entries)."""
    db = client.app.state.services.db  # type: ignore[attr-defined]
    with db.connect() as conn:
        events = conn.execute(select(func.count()).select_from(ticket_events)
                              .where(ticket_events.c.ticket_id == ticket_id)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return events, entries


def assert_audit_intact(client: TestClient) -> None:
    db = client.app.state.services.db  # type: ignore[attr-defined]
    with db.connect() as conn:
        checked, problems = verify_log(conn)
    assert checked > 0
    assert problems == []


def key(client: TestClient, role: str, name: str, unit: str | None = None) -> dict[str, str]:
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        secret = create_key(conn, role=role, name=name, unit=unit, now=services.clock())
    return {"Authorization": f"Bearer {secret}"}


def test_a_dispatched_ticket_is_signed_in_by_its_owner(app_client: TestClient) -> None:
    load(app_client)
    t = post(app_client, "T1", type="dispatched", unit="D-CG", at=MON, category="030102",
             area="110199001")
    assert t["owner"] == {"code": "D-CG", "name": "区城市管理委员会", "kind": "department"}
    assert t["first_receiver"]["code"] == "D-CG"
    assert t["dispatch_count"] == 1 and t["status"] == "dispatched"
    assert t["return_deadline"] == "2026-11-24T09:00:00+08:00"
    t = post(app_client, "T1", type="signed", unit="D-CG", at="2026-11-23T09:10:00+08:00")
    assert t["status"] == "signed" and t["accepted"] is True
    assert [e["type"] for e in t["history"]] == ["dispatched", "signed"]
    assert app_client.get("/v1/tickets/T1").json() == t
    assert_audit_intact(app_client)


def test_an_upheld_return_leaves_the_ticket_with_its_interim_owner_until_reassigned(
        app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T2", type="dispatched", unit="D-CG", at=MON)
    t = post(app_client, "T2", **returned("D-CG", "2026-11-23T11:00:00+08:00",
                                          proposed_unit="JD-HP"))
    assert t["status"] == "return_pending"
    assert t["pending_return"]["basis"] == "《示范区街道履职事项清单》第12项"
    t = post(app_client, "T2", type="return_upheld", at="2026-11-23T14:00:00+08:00")
    assert t["owner"] is None
    assert t["interim_owner"]["code"] == "D-CG"  # the first receiver keeps the citizen
    t = post(app_client, "T2", type="reassigned", to_unit="JD-HP",
             at="2026-11-23T14:05:00+08:00")
    assert t["owner"]["code"] == "JD-HP" and t["interim_owner"] is None
    assert t["dispatch_count"] == 2
    assert [u["code"] for u in t["returned_by"]] == ["D-CG"]
    assert_audit_intact(app_client)


def test_a_return_needs_a_reason_code_and_a_basis(app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T2b", type="dispatched", unit="D-CG", at=MON)
    body = refused(app_client, "T2b", 422, type="return_requested", unit="D-CG", at=MON,
                   reason_code="territory_mismatch")
    assert body["field"] == "basis"
    body = refused(app_client, "T2b", 422, **returned("D-CG", MON, reason_code="lazy"))
    assert body["code"] == "invalid_reason_code"


def bounce(client: TestClient, ticket_id: str) -> dict[str, Any]:
    """D-CG returns, JD-HP returns, and the hotline sends it back to D-CG (A → B → A)."""
    post(client, ticket_id, type="dispatched", unit="D-CG", at=MON, category="030102",
         area="110199001")
    post(client, ticket_id, **returned("D-CG", "2026-11-23T10:00:00+08:00"))
    post(client, ticket_id, type="return_upheld", at="2026-11-23T10:30:00+08:00")
    post(client, ticket_id, type="reassigned", to_unit="JD-HP", at="2026-11-23T11:00:00+08:00")
    post(client, ticket_id, **returned("JD-HP", "2026-11-23T12:00:00+08:00",
                                       reason_code="function_overlap"))
    post(client, ticket_id, type="return_upheld", at="2026-11-23T13:00:00+08:00")
    return post(client, ticket_id, type="reassigned", to_unit="D-CG",
                at="2026-11-23T14:00:00+08:00")


def test_a_ticket_bounced_back_to_a_unit_that_returned_it_opens_a_dispute(
        app_client: TestClient) -> None:
    load(app_client)
    t = bounce(app_client, "T3")
    assert t["status"] == "in_dispute"
    assert t["dispute_id"] and t["dispute_id"].startswith("DSP-20261123-")
    assert t["interim_owner"]["code"] == "D-CG"  # the first receiver holds it meanwhile
    assert t["history"][-1]["type"] == "dispute_opened"
    d = app_client.get(f"/v1/disputes/{t['dispute_id']}").json()
    assert d["reason"] == "bounce"
    assert [p["code"] for p in d["parties"]] == ["D-CG", "JD-HP"]
    assert d["ticket_id"] == "T3" and d["category"] == "030102"
    assert [e["type"] for e in d["ticket"]["history"]][-2:] == ["reassigned", "dispute_opened"]
    assert_audit_intact(app_client)


def test_the_third_dispatch_without_an_accepting_unit_opens_a_bounce_cap_dispute(
        app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T4", type="dispatched", unit="D-CG", at=MON)
    for i, (unit, nxt) in enumerate((("D-CG", "JD-HP"), ("JD-HP", "D-ZJ"))):
        post(app_client, "T4", **returned(unit, f"2026-11-23T1{i}:00:00+08:00"))
        post(app_client, "T4", type="return_upheld", at=f"2026-11-23T1{i}:10:00+08:00")
        t = post(app_client, "T4", type="reassigned", to_unit=nxt,
                 at=f"2026-11-23T1{i}:20:00+08:00")
    assert t["dispatch_count"] == 3 and t["status"] == "in_dispute"
    d = app_client.get(f"/v1/disputes/{t['dispute_id']}").json()
    assert d["reason"] == "bounce_cap"
    assert [p["code"] for p in d["parties"]] == ["D-CG", "JD-HP", "D-ZJ"]


def test_a_late_return_is_refused_with_its_deadline_in_working_days(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    clock.now = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)
    # Dispatched the day before National Day: 1–7 October are holidays.
    t = post(app_client, "T5", type="dispatched", unit="D-CG", at="2026-09-30T09:00:00+08:00")
    assert t["return_deadline"] == "2026-10-08T09:00:00+08:00"
    before = counts(app_client, "T5")
    body = refused(app_client, "T5", 409, **returned("D-CG", "2026-10-08T09:30:00+08:00"))
    assert body["code"] == "return_window_passed"
    assert body["context"]["deadline"] == "2026-10-08T09:00:00+08:00"
    assert "2026-10-08T09:00:00+08:00" in body["detail"]
    assert counts(app_client, "T5") == before
    # Within the window (a holiday is not counted), the same return is taken.
    post(app_client, "T6", type="dispatched", unit="D-CG", at="2026-09-30T09:00:00+08:00")
    assert post(app_client, "T6", **returned("D-CG", "2026-10-07T20:00:00+08:00"))[
        "status"] == "return_pending"


def test_out_of_order_events_are_refused_and_nothing_is_written(
        app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T7", type="dispatched", unit="D-CG", at=MON)
    post(app_client, "T7", type="signed", unit="D-CG", at="2026-11-23T09:05:00+08:00")
    before = counts(app_client, "T7")
    assert refused(app_client, "T7", 409, type="signed", unit="D-CG",
                   at="2026-11-23T09:06:00+08:00")["code"] == "already_signed"
    assert refused(app_client, "T7", 409, type="signed", unit="D-CG",
                   at="2026-11-23T09:00:00+08:00")["code"] == "event_out_of_order"
    post(app_client, "T7", type="completed", at="2026-11-24T09:00:00+08:00")
    before = counts(app_client, "T7")
    body = refused(app_client, "T7", 409, **returned("D-CG", "2026-11-24T10:00:00+08:00"))
    assert body["code"] == "ticket_completed"
    assert refused(app_client, "T7", 422, type="teleported", at=MON)["field"] == "type"
    assert refused(app_client, "T7", 422, type="dispute_opened", at=MON)["field"] == "type"
    assert counts(app_client, "T7") == before
    assert len(app_client.get("/v1/tickets/T7").json()["history"]) == 3
    assert_audit_intact(app_client)


def test_an_unknown_ticket_is_404_and_unknown_units_are_422(app_client: TestClient) -> None:
    load(app_client)
    assert app_client.get("/v1/tickets/NOPE").status_code == 404
    body = refused(app_client, "NOPE", 404, type="signed", unit="D-CG", at=MON)
    assert body["code"] == "ticket_not_found"
    body = refused(app_client, "NOPE", 422, type="dispatched", unit="D-XX", at=MON)
    assert body["field"] == "unit" and body["code"] == "unknown_unit"
    assert refused(app_client, "NOPE", 422, type="dispatched", unit="D-CG",
                   at="2026-11-23T09:00:00")["field"] == "at"  # no time zone
    assert refused(app_client, "NOPE", 422, type="dispatched", unit="D-CG",
                   at="2027-01-01T09:00:00+08:00")["code"] == "event_in_future"
    assert counts(app_client, "NOPE")[0] == 0


def test_a_retried_request_with_the_same_idempotency_key_is_applied_once(
        app_client: TestClient) -> None:
    load(app_client)
    headers = {"Idempotency-Key": "op-42"}
    body = {"type": "dispatched", "unit": "D-CG"}  # `at` defaults to now
    first = app_client.post("/v1/tickets/T8/events", json=body, headers=headers)
    assert first.status_code == 200, first.text
    before = counts(app_client, "T8")
    again = app_client.post("/v1/tickets/T8/events", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert counts(app_client, "T8") == before
    other = app_client.post("/v1/tickets/T8/events", json={**body, "unit": "JD-HP"},
                            headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    # Without the key the same dispatch is a new event, and refused: it already has D-CG.
    assert app_client.post("/v1/tickets/T8/events", json=body).status_code == 409
    assert len(app_client.get("/v1/tickets/T8").json()["history"]) == 1


def test_a_unit_key_posts_events_only_for_its_own_unit(app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T9", type="dispatched", unit="D-CG", at=MON)
    cg = key(app_client, "unit", "cg", "D-CG")
    hp = key(app_client, "unit", "hp", "JD-HP")
    viewer = key(app_client, "viewer", "v")
    sign = {"type": "signed", "unit": "D-CG", "at": "2026-11-23T09:30:00+08:00"}
    assert app_client.post("/v1/tickets/T9/events", json=sign, headers=hp).status_code == 403
    assert app_client.post("/v1/tickets/T9/events", json=sign,
                           headers=viewer).status_code == 403
    assert app_client.post("/v1/tickets/T9/events", json={
        "type": "dispatched", "unit": "D-CG", "at": MON}, headers=cg).status_code == 403
    assert app_client.post("/v1/tickets/T9/events", json=sign, headers=cg).status_code == 200
    assert app_client.get("/v1/tickets/T9", headers=viewer).json()["status"] == "signed"


def test_a_ticket_takes_its_category_and_area_from_its_routing_decision(
        app_client: TestClient) -> None:
    load(app_client)
    routed = app_client.post("/v1/route", json={
        "ticket_id": "T10", "category": "030102", "area": "110199001",
        "as_of": "2026-11-23T08:00:00+08:00"})
    assert routed.status_code == 200
    t = post(app_client, "T10", type="dispatched", unit=routed.json()["lead"]["code"], at=MON)
    assert (t["category"], t["area"]) == ("030102", "110199001")


def test_a_district_policy_sets_the_return_window(app_client: TestClient) -> None:
    load(app_client)
    assert app_client.get("/v1/policy").json()["source"] == "builtin"
    bad = app_client.put("/v1/policy", json={"return_windows": {"standard": -1}})
    assert bad.status_code == 422 and bad.json()["field"] == "return_windows.standard"
    put = app_client.put("/v1/policy?district=110199001",
                         json={"return_windows": {"standard": 3, "complex": 5}})
    assert put.status_code == 200, put.text
    assert put.json()["district"] == "110199" and put.json()["revision"] == 1
    assert app_client.get("/v1/policy?district=110199").json()["policy"][
        "return_windows"] == {"standard": 3.0, "complex": 5.0}
    assert app_client.get("/v1/policy").json()["source"] == "builtin"
    viewer = key(app_client, "viewer", "v")
    assert app_client.put("/v1/policy", json={}, headers=viewer).status_code == 403
    t = post(app_client, "T11", type="dispatched", unit="D-CG", at=MON, area="110199001")
    assert t["return_deadline"] == "2026-11-26T09:00:00+08:00"
    post(app_client, "T11", **returned("D-CG", "2026-11-25T09:00:00+08:00"))
    # Another district (none set) keeps the built-in window of one working day.
    post(app_client, "T12", type="dispatched", unit="D-CG", at=MON)
    assert refused(app_client, "T12", 409, **returned("D-CG", "2026-11-25T09:00:00+08:00"))[
        "code"] == "return_window_passed"
    assert_audit_intact(app_client)
