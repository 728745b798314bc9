"""Shared fixtures. Storage tests run on SQLite, and on PostgreSQL too when
QUANZE_TEST_DATABASE_URL is set (each backend gets a fresh schema)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth import create_key
from api.db import make_engine, scratch_schema, upgrade
from api.settings import AppSettings

T = TypeVar("T")

PG_URL = os.environ.get("QUANZE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


class Clock:
    """A settable clock for the app (decisions, deadlines)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quanze.db'}"
        return
    assert PG_URL is not None
    with scratch_schema(PG_URL, "t_") as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database the CLI commands of a test use (``QUANZE_DATABASE_URL``)."""
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    return database_url


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))


@pytest.fixture
def app_client(database_url: str, clock: Clock) -> Iterator[TestClient]:
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0), clock=clock)
    with TestClient(app) as client:
        services = app.state.services
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="tests", unit=None, now=clock())
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


@pytest.fixture
def loaded_client(app_client: TestClient) -> TestClient:
    """An admin's client of an app holding the contract bundle."""
    assert app_client.put("/v1/bundle", json=contract_bundle()).status_code == 200
    return app_client


def contract_bundle() -> dict[str, Any]:
    """The bundle of contract.md, extended a little."""
    return {
        "units": [
            {"code": "JD-HP", "name": "和平街道", "kind": "street"},
            {"code": "JD-DH", "name": "东湖街道", "kind": "street"},
            {"code": "D-ZJ", "name": "区住房和城乡建设委员会", "kind": "department"},
            {"code": "D-GZ", "name": "区规划和自然资源分局", "kind": "department"},
            {"code": "D-CG", "name": "区城市管理委员会", "kind": "department"},
            {"code": "D-SW", "name": "区税务局", "kind": "department"},
            {"code": "O-ZF", "name": "示范区人民政府办公室", "kind": "office"},
            {"code": "O-RX", "name": "示范区12345热线中心", "kind": "office"},
        ],
        "areas": [
            {"code": "110199", "name": "示范区", "level": "district", "parent": None,
             "unit": "O-ZF"},
            {"code": "110199001", "name": "和平街道", "level": "township", "parent": "110199",
             "unit": "JD-HP"},
            {"code": "110199001001", "name": "和平里社区", "level": "community",
             "parent": "110199001", "unit": None},
            {"code": "110199002", "name": "东湖街道", "level": "township", "parent": "110199",
             "unit": "JD-DH"},
        ],
        "categories": [
            {"code": "03", "name": "城乡建设", "parent": None},
            {"code": "0301", "name": "违法建设", "parent": "03"},
            {"code": "030101", "name": "小区内私搭乱建", "parent": "0301",
             "departmental": False, "default_unit": None},
            {"code": "030102", "name": "道路两侧违建", "parent": "0301"},
            {"code": "09", "name": "财税", "parent": None},
            {"code": "0901", "name": "税务", "parent": "09"},
            {"code": "090101", "name": "发票问题", "parent": "0901", "departmental": True,
             "default_unit": "D-SW"},
        ],
        "settings": {"hotline_office": "O-RX", "timezone": "Asia/Shanghai"},
        "rules": [
            {"id": "R-0301-01", "category": "0301", "area": None,
             "when": {"location_type": ["residential_compound", "public_road"]},
             "text_any": ["违建", "私搭"], "lead": "@territorial",
             "co_handlers": ["D-ZJ", "D-GZ"],
             "basis": "《示范区街道履职事项清单》第12项", "source": "catalog", "priority": 0,
             "valid_from": "2026-01-01T00:00:00+08:00", "valid_to": None},
            {"id": "R-030102-01", "category": "030102", "area": None, "lead": "D-CG",
             "co_handlers": ["@territorial"], "basis": "《区城管委三定规定》第三条",
             "valid_from": "2026-01-01T00:00:00+08:00"},
        ],
    }


def run_on_a_fresh_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` in a thread of its own: where Playwright's sync API ran in
    this process (the browser tests, on the same xdist worker), an event loop is still
    running in this thread and ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
