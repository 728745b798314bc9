"""A slow or absent database never freezes the server: health answers while a decision
write hangs, the route gives up with a 503 problem, and the matrix is refreshed by a thread
of its own rather than by requests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth import create_key
from api.settings import AppSettings
from rules import admin
from rules.bundle import parse_bundle
from rules.service import Router
from tests.conftest import contract_bundle, run_on_a_fresh_loop

PROBLEM = "application/problem+json"


@pytest.fixture
def stalled_client(database_url: str) -> Iterator[tuple[TestClient, threading.Event]]:
    """An app whose decision writes hang until the event is set: another connection holds
    the lock every write of a decision needs (a frozen database, as the writer sees it)."""
    app = create_app(AppSettings(database_url=database_url, write_timeout=0.5))
    released = threading.Event()
    with TestClient(app) as client:
        services = app.state.services
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="t", unit=None,
                             now=datetime.now(UTC))
        client.headers["Authorization"] = f"Bearer {key}"
        assert client.put("/v1/bundle", json=contract_bundle()).status_code == 200
        locker = services.db.raw_connection()
        raw = locker.driver_connection
        if services.db.dialect.name == "sqlite":
            raw.execute("BEGIN IMMEDIATE")  # the one write lock (the writer waits its turn)
        else:
            raw.execute("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")
        try:
            yield client, released
        finally:
            released.set()
            raw.rollback()
            locker.close()


def test_health_answers_while_a_decision_write_hangs_and_the_route_gives_up_with_503(
        stalled_client: tuple[TestClient, threading.Event]) -> None:
    client, released = stalled_client
    app, headers = client.app, dict(client.headers)

    async def scenario() -> tuple[httpx.Response, httpx.Response, bool]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as c:
            route = asyncio.ensure_future(c.post("/v1/route", json={"category": "030102"}))
            await asyncio.sleep(0.05)
            health = await c.get("/v1/health")
            pending_while_healthy = not route.done()
            return await route, health, pending_while_healthy

    route, health, pending_while_healthy = run_on_a_fresh_loop(scenario())
    assert health.status_code == 200
    assert pending_while_healthy  # health was answered while the write still hung
    assert route.status_code == 503
    assert route.headers["content-type"].startswith(PROBLEM)
    assert route.headers["retry-after"].isdigit()
    assert route.json()["code"] == "database_unavailable"
    released.set()


def _import(db: Engine, router: Router, basis: str) -> int:
    data = contract_bundle()
    data["rules"][1]["basis"] = basis
    matrix, _ = admin.apply(db, router, lambda base: admin.bundle_changes(
        parse_bundle(data), base, mode="merge"), actor="t", note="", now=datetime.now(UTC))
    return matrix.version


def test_a_refreshing_router_serves_from_memory_and_picks_up_other_writers(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = Router(db, refresh_interval=0.0)
    reader = Router(db, refresh_interval=0.02)
    try:
        first = _import(db, writer, "a")
        reader.start_refreshing()
        assert reader.current().version == first
        second = _import(db, writer, "b")
        deadline = time.monotonic() + 20
        while reader.current().version != second and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.current().rules["R-030102-01"].basis == "b"

        monkeypatch.setattr(reader, "_db", _NoDatabase())
        assert reader.current().version == second  # memory only, while the database is away
        time.sleep(0.1)  # the refresher fails quietly meanwhile and keeps the matrix
        assert reader.current().version == second
    finally:
        reader.close()
        writer.close()


class _NoDatabase:
    def connect(self) -> Any:
        raise ConnectionError("the database is away")
