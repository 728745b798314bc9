"""Signing in, in a real browser: the words on the form, and every refusal."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import update

from api.staff import IDLE_MINUTES
from api.tables import staff_sessions
from tests.browser.conftest import Server, shoot, sign_in


def test_an_arbiter_signs_in_and_lands_on_the_dispute_queue(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    shoot(page, "sign-in", docs=True)
    sign_in(page, server, "wangmin")
    expect(page.get_by_role("heading", name="争议队列")).to_be_visible()
    nav = page.get_by_role("navigation", name="主导航")
    for name in ("争议队列", "派单目录", "责任图谱", "统计", "审计日志"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_text("已超期").first).to_be_visible()
    shoot(page, "dispute-queue", docs=True)


def test_a_wrong_password_is_refused_on_the_form(page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin", "not-the-password-1")
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page.get_by_label("用户名")).to_have_value("wangmin")
    shoot(page, "sign-in-refused")


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, server: Server) -> None:
    page.goto(server.url + "/login")
    page.locator("input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_label("用户名").fill("wangmin")
    page.get_by_label("密码").fill("qingshui2026")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("页面已失效")
    sign_in(page, server, "wangmin")
    page.locator("form[action='/logout'] input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", name="无权访问")).to_be_visible()
    page.goto(server.url + "/disputes")
    expect(page.get_by_role("heading", name="争议队列")).to_be_visible()  # still signed in


def test_an_expired_session_asks_to_sign_in_again(page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin")
    expect(page.get_by_role("heading", name="争议队列")).to_be_visible()
    long_ago = server.app.state.services.clock() - timedelta(minutes=IDLE_MINUTES + 1)
    with server.app.state.services.db.begin() as conn:
        conn.execute(update(staff_sessions).where(staff_sessions.c.ended_at.is_(None))
                     .values(last_seen_at=long_ago))
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("登录已过期")
    expect(page.get_by_label("用户名")).to_be_visible()
    shoot(page, "session-expired")


def test_the_api_documents_open_offline(page: Page, server: Server) -> None:
    page.goto(server.url + "/docs")
    # Swagger UI lays out the whole OpenAPI document first: on a loaded 2-core machine that
    # took longer than the default 5 s (CI, load average 7)
    expect(page.get_by_text("/v1/route").first).to_be_visible(timeout=30_000)
    shoot(page, "api-docs")
