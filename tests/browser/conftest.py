"""The workbench in a real browser: Debian's Chromium driven by Playwright
(../shared/browser-testing.md; never ``playwright install``). A real server (uvicorn, in a
thread) serves the demo district with its history and accounts, on SQLite and, when
``QUANZE_TEST_DATABASE_URL`` is set, on PostgreSQL.

Where Chromium or Playwright is missing the tests are skipped, unless
``QUANZE_REQUIRE_BROWSER=1`` (CI sets it): then they fail.

Every page a test opens is saved as a screenshot in ``QUANZE_SCREENSHOT_DIR`` (default
``build/screenshots``); ``QUANZE_DOCS_SCREENSHOTS=1`` also refreshes the ones in
docs/screenshots that the README shows."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from api.app import create_app
from api.auth import create_key
from api.db import scratch_schema
from api.deps import utc_now
from api.settings import AppSettings
from tests.conftest import BACKENDS, PG_URL, Clock
from tests.pages.conftest import PASSWORD, _load_demo

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium")
REQUIRED = os.environ.get("QUANZE_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("QUANZE_SCREENSHOT_DIR", ROOT / "build" / "screenshots"))
DOCS_SHOTS = ROOT / "docs" / "screenshots"


def _unavailable() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if CHROMIUM is None:
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    missing = _unavailable()
    if missing is not None:
        if REQUIRED:
            pytest.fail(f"QUANZE_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"])
        yield browser
        browser.close()


@dataclass
class Server:
    url: str
    database_url: str
    admin_key: str
    app: Any
    #: requests the pages made to any other host (must stay empty: offline networks)
    outside: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo served by uvicorn on a free port, with the real clock."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("browser") / "quanze.db"
        yield from _serve(f"sqlite:///{path}")
    else:
        assert PG_URL is not None
        with scratch_schema(PG_URL, "b_") as url:
            yield from _serve(url)


def _serve(database_url: str) -> Iterator[Server]:
    _load_demo(database_url, Clock(utc_now()))
    app = create_app(AppSettings(database_url=database_url))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    with app.state.services.db.begin() as conn:
        key = create_key(conn, role="admin", name="browser tests", unit=None, now=utc_now())
    try:
        yield Server(url=f"http://127.0.0.1:{port}", database_url=database_url,
                     admin_key=key, app=app)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page(chromium: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser context (no cookies) at the size of a district office's screen,
    that fails the test if a page asks any other host for anything."""
    context = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                   viewport={"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []

    def watch(req: Any) -> None:
        if urlsplit(req.url).hostname not in ("127.0.0.1", None) \
                and not req.url.startswith(("data:", "blob:")):
            server.outside.append(req.url)

    page.on("request", watch)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not server.outside, f"pages asked other hosts: {server.outside}"
    assert not errors, f"scripts failed on the page: {errors}"


def sign_in(page: Page, server: Server, login: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("用户名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def shoot(page: Page, name: str, *, docs: bool = False) -> None:
    """Save the page as ``name``.png; ``docs``: one of the README's screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    if docs and os.environ.get("QUANZE_DOCS_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=DOCS_SHOTS / f"{name}.png")
