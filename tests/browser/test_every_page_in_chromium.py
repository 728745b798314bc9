"""Every page of the workbench, opened in Chromium by the role that uses it: it loads without
an error or a failed script, asks no other host for anything (the ``page`` fixture), fits a
1366-pixel-wide office screen without sideways scrolling, and is saved as a screenshot."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, shoot, sign_in


def first(page: Page, server: Server, path: str, key: str) -> Any:
    response = page.request.get(server.url + path, headers={
        "Authorization": f"Bearer {server.admin_key}"})
    assert response.ok, response.text()
    return response.json()[key]


def pages_of(page: Page, server: Server) -> dict[str, list[tuple[str, str]]]:
    """(screenshot name, path) per login, for records the demo holds."""
    dispute = first(page, server, "/v1/disputes?limit=1", "disputes")[0]
    ruling = first(page, server, "/v1/rulings?limit=1", "items")[0]
    rule = first(page, server, "/v1/rules?limit=1", "items")[0]
    ticket = dispute["ticket_id"]
    return {
        "wangmin": [("queue", "/disputes"), ("dispute-detail", f"/disputes/{dispute['id']}"),
                    ("ruling", f"/rulings/{ruling['id']}"),
                    ("catalogue", "/catalogue"),
                    ("catalogue-leaf", f"/catalogue/categories/{dispute['category']}"),
                    ("catalogue-unit", "/catalogue/units/D-CG"),
                    ("catalogue-rule", f"/catalogue/rules/{rule['id']}"),
                    ("graphs", "/graphs"), ("statistics", "/statistics"), ("audit", "/audit")],
        "chengguan": [("clerk-tickets", "/tickets"), ("clerk-disputes", "/disputes")],
        "rexian": [("hotline-returns", "/returns"), ("hotline-tickets", "/tickets"),
                   ("hotline-ticket", f"/tickets/{ticket}")],
    }


@pytest.mark.parametrize("login", ["wangmin", "chengguan", "rexian"])
def test_every_page_opens_fits_the_screen_and_is_captured(page: Page, server: Server,
                                                          login: str) -> None:
    targets = pages_of(page, server)[login]
    sign_in(page, server, login)
    for name, path in targets:
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, (path, response and
                                                                   response.status)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 1366 wide"
        shoot(page, f"page-{name}")


def test_the_queue_uses_a_large_monitor(page: Page, server: Server) -> None:
    page.set_viewport_size({"width": 2560, "height": 1440})
    sign_in(page, server, "wangmin")
    width = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    assert width >= 1500  # the queue widens instead of staying a narrow column
    shoot(page, "queue-2560")


def test_the_sign_in_form_works_from_the_keyboard(page: Page, server: Server) -> None:
    page.goto(server.url + "/login")
    expect(page.get_by_label("用户名")).to_be_focused()
    page.keyboard.type("wangmin")
    page.keyboard.press("Tab")
    expect(page.get_by_label("密码")).to_be_focused()
    page.keyboard.type("qingshui2026")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="争议队列")).to_be_visible()
