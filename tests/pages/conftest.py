"""The workbench's pages, driven through the app in process: the demo district with its
history, and staff accounts of each kind."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

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

#: login -> (name, role, unit)
STAFF = {
    "wangmin": ("王敏", "arbiter", None),
    "zhaoqiang": ("赵强", "arbiter", None),
    "chengguan": ("陈光", "unit", "D-CG"),
    "weijian": ("魏健", "unit", "D-WJ"),
    "rexian": ("李红", "router", "O-RX"),
    "chakan": ("查看员", "viewer", None),
}


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


@pytest.fixture
def workbench(database_url: str, clock: Clock) -> Iterator[Workbench]:
    app = create_app(AppSettings(database_url=database_url, refresh_interval=0.0), clock=clock)
    with TestClient(app) as api:
        services = app.state.services
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="tests", unit=None, now=clock())
        api.headers["Authorization"] = f"Bearer {key}"
        assert api.put("/v1/bundle", json=demo.district()).status_code == 200
        asyncio.run(seed(app, key, now=clock()))
        with services.db.begin() as conn:
            for login, (name, role, unit) in STAFF.items():
                create_user(conn, login=login, name=name, role=role, unit=unit,
                            password=PASSWORD, now=clock(), actor="cli:tests")
        yield Workbench(app=app, clock=clock)
