"""Hostile and odd input gets a 4xx problem, never a 5xx; an unexpected error or a database
outage is problem+json too. Cases are data: (what, method, path, body, status, code)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from tests.conftest import contract_bundle

PROBLEM = "application/problem+json"

CASES: list[tuple[str, str, str, str, int, str]] = [
    ("a bundle nested 100,000 deep", "PUT", "/v1/bundle", "[" * 100_000 + "]" * 100_000,
     422, "invalid_json"),
    ("an attribute integer of 2**64", "POST", "/v1/route",
     '{"category": "030101", "attributes": {"x": ' + str(2**64) + "}}", 422,
     "invalid_request"),
    ("an attribute NaN", "POST", "/v1/route",
     '{"category": "030101", "attributes": {"x": NaN}}', 422, "invalid_request"),
    ("a routing time in year 1", "POST", "/v1/route",
     '{"category": "030101", "as_of": "0001-01-01T00:00:00+08:00"}', 422, "invalid_request"),
    ("a routing time in year 9999", "POST", "/v1/route",
     '{"category": "030101", "as_of": "9999-12-31T23:59:59-08:00"}', 422, "invalid_request"),
    ("an event in year 1", "POST", "/v1/tickets/T1/events",
     '{"type": "dispatched", "unit": "D-CG", "category": "030101",'
     ' "at": "0001-01-01T00:00:00+08:00"}', 422, "invalid_request"),
    ("a rule valid from year 1", "POST", "/v1/rules",
     '{"id": "R-X", "category": "030101", "lead": "D-CG", "basis": "b",'
     ' "valid_from": "0001-01-01T00:00:00+08:00"}', 422, "invalid_request"),
    ("a bundle rule valid until 9999", "PUT", "/v1/bundle",
     '{"rules": [{"id": "R-X", "category": "030101", "lead": "D-CG", "basis": "b",'
     ' "valid_to": "9999-12-31T23:59:59-08:00"}]}', 422, "bundle_invalid"),
    ("a NUL in a ticket id", "POST", "/v1/route",
     '{"category": "030101", "ticket_id": "T\\u0000X"}', 422, "invalid_character"),
    ("a NUL in a path", "GET", "/v1/tickets/T%00X", "", 422, "invalid_character"),
    ("a NUL in a query", "GET", "/v1/disputes?party=D%00", "", 422, "invalid_character"),
    ("a NUL in a rule filter", "GET", "/v1/rules?category=03%000101", "", 422,
     "invalid_character"),
]


@pytest.mark.parametrize(("what", "method", "path", "body", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_hostile_input_gets_a_4xx_problem_naming_what_was_wrong(
        app_client: TestClient, what: str, method: str, path: str, body: str, status: int,
        code: str) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    response = app_client.request(method, path, content=body.encode(),
                                  headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code


def test_a_route_answers_a_normal_decision_for_plain_attribute_values(
        app_client: TestClient) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    response = app_client.post("/v1/route", json={
        "category": "030101", "attributes": {"n": 2**53, "f": 1.5, "b": True, "s": "x"},
        "as_of": "2199-12-31T23:59:59+08:00"})
    assert response.status_code == 200, response.text


def _failing(exc: Exception) -> Any:
    def handler(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return handler


def test_an_unexpected_error_is_a_500_problem_not_plain_text(
        app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    router = app_client.app.state.services.router  # type: ignore[attr-defined]
    monkeypatch.setattr(router, "current", _failing(RuntimeError("boom")))
    client = TestClient(app_client.app, raise_server_exceptions=False,
                        headers=dict(app_client.headers))
    response = client.get("/v1/ruleset")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "internal_error"
    assert "boom" not in response.text  # the detail is logged, not shown


def test_a_database_outage_is_a_503_problem_with_retry_after(
        app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    outage = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    router = app_client.app.state.services.router  # type: ignore[attr-defined]
    monkeypatch.setattr(router, "current", _failing(outage))
    response = app_client.get("/v1/ruleset")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["retry-after"].isdigit()
    assert response.json()["code"] == "database_unavailable"
