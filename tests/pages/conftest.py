"""The workbench's pages, driven through the app in process: the demo district with its
history, and staff accounts of each kind."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import demo
from api.app import create_app
from api.auth import create_key
from api.demo.history import seed
from api.settings import AppSettings
from api.staff import create_user
from tests.conftest import Clock

PASSWORD = "qingshui2026"
#: the clock of tests/conftest.py's ``clock`` fixture, when the demo's history is made
START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

#: the demo's accounts (api.demo.STAFF), by login: (name, role, unit)
STAFF = {login: (name, role, unit) for login, name, role, unit in demo.STAFF}


@dataclass
class Workbench:
    """An app holding the demo district and its history, and a way to sign people in."""

    app: object
    clock: Clock

    def browser(self) -> TestClient:
        """A new browser: its own cookies, nobody signed in."""
        return TestClient(self.app, base_url="http://testserver",  # type: ignore[arg-type]
                          follow_redirects=False)

    def signed_in(self, login: str, password: str = PASSWORD) -> TestClient:
        client = self.browser()
        response = sign_in(client, login, password)
        assert response.status_code == 303, response.text
        return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str) -> object:
    page = client.get("/login")
    return client.post("/login", data={"login": login, "password": password,
                                       "csrf_token": csrf_of(page.text), "next": "/"})


def _load_demo(database_url: str, clock: Clock) -> None:
    """The demo district, its history (made through the API) and the demo's accounts."""
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0), clock=clock)
    with TestClient(app) as api:
        services = app.state.services
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="tests", unit=None, now=clock())
        api.headers["Authorization"] = f"Bearer {key}"
        assert api.put("/v1/bundle", json=demo.district()).status_code == 200
        # In a thread of its own: where Playwright's sync API ran in this process (the
        # browser tests), an event loop is still running in this thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, seed(app, key, now=clock())).result()
        with services.db.begin() as conn:
            for login, (name, role, unit) in STAFF.items():
                create_user(conn, login=login, name=name, role=role, unit=unit,
                            password=PASSWORD, now=clock(), actor="cli:tests")


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo loaded once per test process into a SQLite file that each test copies
    (loading it takes seconds; copying, milliseconds)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    _load_demo(f"sqlite:///{path}", Clock(START))
    return path


@pytest.fixture
def workbench(database_url: str, clock: Clock, demo_sqlite: Path) -> Iterator[Workbench]:
    assert clock() == START
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(demo_sqlite) as source, \
                sqlite3.connect(database_url.removeprefix("sqlite:///")) as copy:
            source.backup(copy)
    else:
        _load_demo(database_url, clock)
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0), clock=clock)
    with TestClient(app):
        yield Workbench(app=app, clock=clock)
