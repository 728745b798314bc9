"""A NUL character in any string of a JSON body is a 422 problem on every database, found by
schemathesis on PostgreSQL (a unit named "…\\u0000" answered 500 there)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import contract_bundle

NUL = "\u0000"
BODIES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("a unit's name", "POST", "/v1/units", {"code": "D-X", "name": f"x{NUL}", "kind": "office"}),
    ("a routed text", "POST", "/v1/route", {"category": "030101", "text": f"违建{NUL}"}),
    ("a rule's note", "POST", "/v1/rules", {"id": "R-N", "category": "030101", "lead": "D-CG",
                                           "basis": "b", "note": NUL}),
    ("a bundle unit's name", "PUT", "/v1/bundle",
     {"units": [{"code": "D-X", "name": f"x{NUL}", "kind": "office"}]}),
    ("an event's note", "POST", "/v1/tickets/T-N/events",
     {"type": "dispatched", "unit": "D-CG", "category": "030101", "note": NUL}),
]


@pytest.mark.parametrize(("what", "method", "path", "body"), BODIES,
                         ids=[b[0] for b in BODIES])
def test_a_nul_in_a_body_string_is_a_422_problem(
        app_client: TestClient, what: str, method: str, path: str, body: dict[str, Any]) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    response = app_client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_character"


def test_a_backslash_before_u0000_is_plain_text_not_a_nul(app_client: TestClient) -> None:
    name = "x\\u0000"  # the six characters \ u 0 0 0 0, escaped in JSON as \\u0000
    response = app_client.post("/v1/units", json={"code": "D-X", "name": name, "kind": "office"})
    assert response.status_code == 201, response.text
    units = app_client.get("/v1/units").json()["items"]
    assert {"code": "D-X", "name": name} in [{k: u[k] for k in ("code", "name")} for u in units]
