"""Schemathesis against the served OpenAPI document: every operation, with inputs generated
from its schema (valid ones and invalid ones), answers no 5xx and nothing its document does
not declare (status, content type, headers, body schema).

Bounded for CI: one app per database (SQLite, and PostgreSQL with
``QUANZE_TEST_DATABASE_URL``), the contract bundle restored before each operation, a dozen
inputs per operation and generation mode, and as many again on ids that exist. Set
``QUANZE_FUZZ_EXAMPLES`` for a longer run, ``QUANZE_FUZZ_RANDOM=1`` for new inputs (CI sends
the same ones every run); ``QUANZE_FUZZ_REPORT=FILE`` appends what each
operation was sent and answered (docs/reliability.md quotes it)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
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
from api.auth import create_key
from api.db import scratch_schema
from api.settings import AppSettings
from tests.conftest import BACKENDS, PG_URL, Clock, contract_bundle

#: inputs per operation, generation mode and kind of ids (random, existing)
EXAMPLES = int(os.environ.get("QUANZE_FUZZ_EXAMPLES", "12"))
REPORT = os.environ.get("QUANZE_FUZZ_REPORT")
#: CI sends the same inputs every run; QUANZE_FUZZ_RANDOM=1 explores new ones
DERANDOMIZE = not os.environ.get("QUANZE_FUZZ_RANDOM")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

#: the served document; building the app opens nothing (the lifespan does)
DOCUMENT = create_app(AppSettings(database_url="sqlite://")).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items()
              for method in item]
TICKETS = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_client(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per database for the whole module (a fresh database per operation cost more
    than the fuzzing); each test restores the matrix itself."""
    if request.param == "sqlite":
        database: contextlib.AbstractContextManager[str] = contextlib.nullcontext(
            f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'quanze.db'}")
    else:
        assert PG_URL is not None
        database = scratch_schema(PG_URL, "t_")
    clock = Clock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    with database as url:
        app = create_app(AppSettings(database_url=url, refresh_interval=0.0), clock=clock)
        with TestClient(app) as client:
            with app.state.services.db.begin() as conn:
                key = create_key(conn, role="admin", name="fuzz", unit=None, now=clock())
            client.headers["Authorization"] = f"Bearer {key}"
            yield client


def known_ids(client: TestClient, path: str) -> dict[str, Any]:
    """Ids that exist, for the path parameters of ``path`` (random ids reach little beyond a
    404): the contract bundle's codes, and a ticket, decision and dispute made here."""
    known: dict[str, Any] = {"rule_id": "R-0301-01", "version": 1}
    known["code"] = {"units": "D-CG", "areas": "110199001",
                     "categories": "030101"}.get(path.split("/")[2], "")
    if "{ticket_id}" in path or "{decision_id}" in path or "{dispute_id}" in path:
        ticket = f"T-FUZZ-{next(TICKETS)}"
        decision = client.post("/v1/route", json={
            "ticket_id": ticket, "category": "030101", "area": "110199001"}).json()
        known["decision_id"] = decision["decision_id"]
        assert client.post(f"/v1/tickets/{ticket}/events", json={
            "type": "dispatched", "unit": "JD-HP"}).status_code == 200
        known["ticket_id"] = ticket
        dispute = client.post("/v1/disputes", json={
            "parties": ["D-CG", "JD-HP"], "ticket_id": ticket})
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
    request: dict[str, Any] = {"headers": headers, "params": kwargs.get("params")}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    return client.request(kwargs["method"], kwargs["url"], **request)


@pytest.mark.parametrize(("method", "path"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_inputs_get_no_5xx_and_only_documented_answers(
        fuzz_client: TestClient, method: str, path: str) -> None:
    restored = fuzz_client.put("/v1/bundle?mode=replace&confirm=true", json=contract_bundle())
    assert restored.status_code == 200, restored.text
    operation = SCHEMA[path][method]
    statuses: collections.Counter[int] = collections.Counter()

    def explore(strategy: Any) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  derandomize=DERANDOMIZE, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            response = _send(fuzz_client, case)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        run()

    explore(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    if "requestBody" in DOCUMENT["paths"][path][method.lower()] or any(
            p.location != "header" for p in operation.iter_parameters()):
        explore(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    known = known_ids(fuzz_client, path)
    if known:
        explore(operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                      path_parameters=known))
    assert statuses, "no request was sent"
    if REPORT:
        with open(REPORT, "a") as out:
            out.write(json.dumps({"operation": f"{method} {path}", "statuses": statuses}) + "\n")
