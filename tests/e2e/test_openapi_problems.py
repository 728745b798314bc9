"""The OpenAPI document declares every operation's problem responses, and a request that
names an unknown code is answered 422 naming the field (contract.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import AppSettings
from tests.conftest import contract_bundle

PROBLEM = "application/problem+json"
UNAUTHENTICATED = {"/v1/health", "/v1/health/ready"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(AppSettings(database_url="sqlite://")).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items()
            for method, op in item.items()]


def test_every_authenticated_operation_declares_401_403_and_503(
        document: dict[str, Any]) -> None:
    authenticated = [(m, p, op) for m, p, op in operations(document)
                     if p not in UNAUTHENTICATED]
    assert len(authenticated) > 40
    for method, path, op in authenticated:
        assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
        assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)


def test_operations_declare_404_for_path_ids_413_for_bodies_409_for_writes(
        document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        if path in UNAUTHENTICATED:
            continue
        responses = set(op["responses"])
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in op:
            assert {"413", "422"} <= responses, (method, path)
        if op.get("parameters"):
            assert "422" in responses, (method, path)
        if method in {"POST", "PUT", "PATCH"} and path not in {"/v1/route", "/v1/route/batch"}:
            assert "409" in responses, (method, path)


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail"} <= set(problem["required"])
    assert "field" in problem["properties"]
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_routing_call_is_documented_as_authenticated_with_its_own_body(
        document: dict[str, Any]) -> None:
    op = document["paths"]["/v1/route"]["post"]
    assert {"200", "401", "403", "413", "422", "503"} <= set(op["responses"])
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RouteRequest"}
    assert "security" not in op  # the document's bearer requirement applies
    bundle = document["paths"]["/v1/bundle"]["put"]
    assert "requestBody" in bundle and "413" in bundle["responses"]


def test_liveness_and_readiness_need_no_key(document: dict[str, Any]) -> None:
    assert document["paths"]["/v1/health"]["get"]["security"] == []
    assert document["paths"]["/v1/health/ready"]["get"]["security"] == []


UNKNOWN_CODES: list[tuple[str, str, dict[str, Any] | None, str, str]] = [
    ("POST", "/v1/rules", {"id": "R-X", "category": "030101", "lead": "D-XX", "basis": "b"},
     "bundle_invalid", "lead"),
    ("POST", "/v1/areas", {"code": "110199009", "name": "x", "level": "township",
                           "parent": "999", "unit": None}, "bundle_invalid", "parent"),
    ("GET", "/v1/policy?district=999", None, "unknown_area", "district"),
    ("GET", "/v1/graph?view=unit&focus=D-XX", None, "unknown_focus", "focus"),
    ("POST", "/v1/disputes", {"parties": ["D-CG", "JD-HP"], "ticket_id": "T-NONE"},
     "unknown_ticket", "ticket_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "code", "field"), UNKNOWN_CODES,
                         ids=[f"{c[0]} {c[1]}" for c in UNKNOWN_CODES])
def test_an_unknown_code_in_a_request_is_422_naming_the_field(
        app_client: TestClient, method: str, path: str, body: dict[str, Any] | None,
        code: str, field: str) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    response = app_client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_a_body_that_is_not_utf8_is_a_422_problem_like_json_that_does_not_parse(
        app_client: TestClient) -> None:
    for path in ("/v1/route/batch", "/v1/units", "/v1/route"):
        response = app_client.post(path, content=b"\x10\xff-\xfe",
                                   headers={"content-type": "application/json"})
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
