"""The workbench's pages, driven through the app in process: the demo district with its
history, and staff accounts of each kind."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text

from api import demo
from api.app import create_app
from api.auth import create_key
from api.db import make_engine
from api.demo.history import seed
from api.settings import AppSettings
from api.staff import create_user
from tests.conftest import PG_URL, Clock, run_on_a_fresh_loop

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
        run_on_a_fresh_loop(seed(app, key, now=clock()))
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


@pytest.fixture(scope="session")
def demo_postgres() -> Iterator[tuple[Engine, str]]:
    """The demo loaded once per test process into a PostgreSQL database of its own, which
    each test clones (``CREATE DATABASE … TEMPLATE``: about 0.3 s, against 5 s to load).
    Yields an engine that creates databases, and the demo's database name."""
    assert PG_URL is not None
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"quanze_demo_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _load_demo(_database(name), Clock(START))
        yield admin, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _database(name: str) -> str:
    """PG_URL, on the database ``name``."""
    assert PG_URL is not None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _demo_copy(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """A database holding the demo for one test: a copy of the loaded one."""
    if database_url.startswith("sqlite:///"):
        source_path = request.getfixturevalue("demo_sqlite")
        with sqlite3.connect(source_path) as source, \
                sqlite3.connect(database_url.removeprefix("sqlite:///")) as copy:
            source.backup(copy)
        yield database_url
        return
    admin, demo_name = request.getfixturevalue("demo_postgres")
    name = f"quanze_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{demo_name}"'))
    try:
        yield _database(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def workbench(request: pytest.FixtureRequest, database_url: str,
              clock: Clock) -> Iterator[Workbench]:
    assert clock() == START
    with _demo_copy(request, database_url) as url:
        app = create_app(AppSettings(database_url=url, refresh_interval=0.0), clock=clock)
        with TestClient(app):
            yield Workbench(app=app, clock=clock)
