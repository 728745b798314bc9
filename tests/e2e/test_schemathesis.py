"""Schemathesis against the served OpenAPI document: every operation, with inputs generated
from its schema (valid ones and invalid ones), answers no 5xx and nothing its document does
not declare (status, content type, headers, body schema).

Bounded for CI: a few dozen inputs per operation on a fresh app with the contract bundle, on
SQLite and (``QUANZE_TEST_DATABASE_URL``) PostgreSQL. Set ``QUANZE_FUZZ_EXAMPLES`` for a
longer run; ``QUANZE_FUZZ_REPORT=FILE`` appends what each operation was sent and answered."""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import AppSettings
from tests.conftest import contract_bundle

#: inputs per operation and generation mode (positive and negative)
EXAMPLES = int(os.environ.get("QUANZE_FUZZ_EXAMPLES", "12"))
REPORT = os.environ.get("QUANZE_FUZZ_REPORT")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

#: the served document; building the app opens nothing (the lifespan does)
DOCUMENT = create_app(AppSettings(database_url="sqlite://")).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items()
              for method in item]


def known_ids(client: TestClient, path: str) -> dict[str, Any]:
    """Ids that exist, for the path parameters of ``path`` (random ids reach little beyond a
    404): the contract bundle's codes, and a ticket, decision and dispute made here."""
    known: dict[str, Any] = {"rule_id": "R-0301-01", "version": 1}
    known["code"] = {"units": "D-CG", "areas": "110199001",
                     "categories": "030101"}.get(path.split("/")[2], "")
    if "{ticket_id}" in path or "{decision_id}" in path or "{dispute_id}" in path:
        decision = client.post("/v1/route", json={
            "ticket_id": "T-FUZZ", "category": "030101", "area": "110199001"}).json()
        known["decision_id"] = decision["decision_id"]
        assert client.post("/v1/tickets/T-FUZZ/events", json={
            "type": "dispatched", "unit": "JD-HP"}).status_code == 200
        known["ticket_id"] = "T-FUZZ"
        dispute = client.post("/v1/disputes", json={
            "parties": ["D-CG", "JD-HP"], "ticket_id": "T-FUZZ"})
        assert dispute.status_code == 201, dispute.text
        known["dispute_id"] = dispute.json()["id"]
    return {name: known[name] for name in _path_parameters(path) if name in known}


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _send(client: TestClient, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    # The admin key of the fixture, not the one generated for the security scheme.
    headers = {name: value for name, value in (kwargs.get("headers") or {}).items()
               if name.lower() != "authorization"}
    request: dict[str, Any] = {"headers": headers,
                               "params": kwargs.get("params")}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    return client.request(kwargs["method"], kwargs["url"], **request)


@pytest.mark.parametrize(("method", "path"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_inputs_get_no_5xx_and_only_documented_answers(
        app_client: TestClient, method: str, path: str) -> None:
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    operation = SCHEMA[path][method]
    known = known_ids(app_client, path)
    statuses: collections.Counter[int] = collections.Counter()
    takes_input = "requestBody" in DOCUMENT["paths"][path][method.lower()] or any(
        operation.iter_parameters())
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input else [])
    def explore(strategy: Any) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            response = _send(app_client, case)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        run()

    for mode in modes:
        explore(operation.as_strategy(generation_mode=mode))
        if known:
            explore(operation.as_strategy(generation_mode=mode, path_parameters=known))
    assert statuses, "no request was sent"
    if REPORT:
        with open(REPORT, "a") as out:
            out.write(json.dumps({"operation": f"{method} {path}", "statuses": statuses}) + "\n")
