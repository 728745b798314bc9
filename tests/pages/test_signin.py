"""Signing in to the workbench: who gets in, who is refused, and what a session allows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.staff import IDLE_MINUTES, LOCK_MINUTES, MAX_FAILURES
from tests.pages.conftest import PASSWORD, Workbench, csrf_of, sign_in


def test_a_visitor_is_sent_to_the_sign_in_form(workbench: Workbench) -> None:
    browser = workbench.browser()
    response = browser.get("/disputes?status=open")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdisputes%3Fstatus%3Dopen"
    form = browser.get(response.headers["location"]).text
    assert "用户名" in form and "密码" in form and "登录" in form


@pytest.mark.parametrize(("login", "start"), [
    ("wangmin", "/disputes"), ("chengguan", "/tickets"), ("rexian", "/returns")])
def test_each_role_starts_on_its_own_page(workbench: Workbench, login: str, start: str) -> None:
    browser = workbench.signed_in(login)
    assert browser.get("/").headers["location"] == start


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
        workbench: Workbench) -> None:
    browser = workbench.browser()
    for login in ("wangmin", "nobody"):
        response = sign_in(browser, login, "wrongpass123")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
        assert "quanze_session" not in response.cookies


def test_repeated_wrong_passwords_lock_the_account(workbench: Workbench) -> None:
    browser = workbench.browser()
    for _ in range(MAX_FAILURES):
        sign_in(browser, "zhaoqiang", "wrongpass123")
    response = sign_in(browser, "zhaoqiang", PASSWORD)
    assert response.status_code == 403
    assert "锁定" in response.text
    workbench.clock.now += timedelta(minutes=LOCK_MINUTES, seconds=1)
    assert sign_in(browser, "zhaoqiang", PASSWORD).status_code == 303


def test_a_sign_in_without_its_csrf_token_is_refused(workbench: Workbench) -> None:
    browser = workbench.browser()
    browser.get("/login")
    response = browser.post("/login", data={"login": "wangmin", "password": PASSWORD})
    assert response.status_code == 403
    assert "quanze_session" not in response.cookies


def test_a_form_without_its_csrf_token_is_refused(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    response = browser.post("/logout", data={})
    assert response.status_code == 403
    assert "安全" in response.text or "失效" in response.text
    assert browser.get("/").status_code == 303  # still signed in
    assert browser.get("/").headers["location"] == "/disputes"


def test_an_idle_session_expires_and_says_so(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    workbench.clock.now += timedelta(minutes=IDLE_MINUTES + 1)
    response = browser.get("/disputes")
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    assert "登录已过期" in browser.get(response.headers["location"]).text


def test_signing_out_ends_the_session(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    token = browser.cookies["quanze_session"]
    page = browser.get("/login").text  # any page with a form carries the session's token
    response = browser.post("/logout", data={"csrf_token": csrf_of(
        browser.get("/disputes", follow_redirects=True).text)})
    assert response.status_code == 303
    browser.cookies.set("quanze_session", token)
    assert browser.get("/disputes").status_code == 303
    assert page


def test_the_session_reads_the_api_but_cannot_write_it(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    assert browser.get("/v1/disputes").status_code == 200
    assert browser.post("/v1/disputes/escalate").status_code == 401


def test_the_api_docs_load_nothing_from_outside(workbench: Workbench) -> None:
    html = workbench.browser().get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    assert workbench.browser().get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_every_page_forbids_inline_scripts_framing_and_other_hosts(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    for path in ("/disputes", "/graphs", "/statistics", "/catalogue", "/audit"):
        response = browser.get(path)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'wasm-unsafe-eval';" in policy
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert response.headers["x-frame-options"] == "DENY"
