"""closed_out_of_scope over HTTP: only the hotline office posts it, and it ends the ticket."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_api_tickets import MON, key, load, post, refused

LATER = "2026-11-23T10:00:00+08:00"
CLOSE: dict[str, Any] = {"type": "closed_out_of_scope", "unit": "O-RX", "outcome": "informed",
                         "basis": "《北京市接诉即办工作条例》第二十条：告知诉求人向有关机构反映",
                         "at": LATER}


def returned_as_not_duty(client: TestClient, ticket_id: str) -> None:
    post(client, ticket_id, type="dispatched", unit="D-CG", at=MON, category="030101",
         area="110199001")
    post(client, ticket_id, type="return_requested", unit="D-CG", at=MON,
         reason_code="not_government_duty", basis="业主与物业的合同纠纷")
    post(client, ticket_id, type="return_upheld", at=MON)


def test_the_hotline_office_closes_an_upheld_out_of_scope_return(
        app_client: TestClient) -> None:
    load(app_client)
    returned_as_not_duty(app_client, "T-OOS")
    state = post(app_client, "T-OOS", **CLOSE)
    assert state["status"] == "closed_out_of_scope"
    assert state["holder"] is None and state["owner"] is None
    assert state["out_of_scope"]["outcome"] == "informed"
    assert app_client.get("/v1/tickets/T-OOS").json()["status"] == "closed_out_of_scope"
    problem = refused(app_client, "T-OOS", 409, type="reassigned", to_unit="JD-HP", at=LATER)
    assert problem["code"] == "ticket_closed"


def test_only_the_hotline_office_may_close_a_ticket_as_out_of_scope(
        app_client: TestClient) -> None:
    load(app_client)
    returned_as_not_duty(app_client, "T-OOS")
    problem = refused(app_client, "T-OOS", 422, **{**CLOSE, "unit": "D-CG"})
    assert (problem["code"], problem["field"]) == ("not_hotline_office", "unit")
    for role, unit in (("unit", "D-CG"), ("router", "D-CG")):
        response = app_client.post("/v1/tickets/T-OOS/events", json=CLOSE,
                                   headers=key(app_client, role, f"{role}-cg", unit))
        assert response.status_code == 403, response.text
    hotline = key(app_client, "unit", "rx", "O-RX")
    response = app_client.post("/v1/tickets/T-OOS/events", json=CLOSE, headers=hotline)
    assert response.status_code == 200, response.text


def test_a_closure_with_an_unknown_outcome_is_422_naming_the_field(
        app_client: TestClient) -> None:
    load(app_client)
    returned_as_not_duty(app_client, "T-OOS")
    problem = refused(app_client, "T-OOS", 422, **{**CLOSE, "outcome": "ignored"})
    assert (problem["code"], problem["field"]) == ("invalid_outcome", "outcome")


def test_the_hotline_may_record_a_request_it_closed_without_dispatching(
        app_client: TestClient) -> None:
    load(app_client)
    state = post(app_client, "T-110", **{**CLOSE, "outcome": "transferred",
                                         "category": "030101", "area": "110199001"})
    assert (state["status"], state["dispatch_count"]) == ("closed_out_of_scope", 0)
