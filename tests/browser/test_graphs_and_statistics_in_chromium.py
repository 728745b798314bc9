"""责任图谱, 统计 and 审计日志 in a real browser: a graph opened from a unit's name and drilled
down to a category (drawn by the server's Graphviz, and by the WebAssembly Graphviz in the
browser where the server has none), the statistics' charts and their Excel download, the
audit log filtered by person. Every page runs under the content security policy the
workbench sends (``script-src 'self'``, plus ``'wasm-unsafe-eval'`` for the in-browser
Graphviz; api.pages.web.CONTENT_SECURITY_POLICY), so an inline script or an eval would leave
a chart undrawn."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, shoot, sign_in

#: a category node in a drawing (Graphviz writes its links as xlink:href)
CATEGORY_NODE = ".graph-canvas svg a[*|href*='view=category']"


def _drawn_size(page: Page, selector: str) -> dict[str, Any]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not laid out"
    assert box["width"] > 100 and box["height"] > 100, box
    return box


def _open_a_unit_from_its_name(page: Page, server: Server) -> str:
    page.goto(server.url + "/graphs")  # the hotspots: units that fight, by name
    unit = page.locator("section.drill a[href*='view=unit']").first
    name = unit.inner_text()
    unit.click()
    expect(page).to_have_url(re.compile(r"view=unit&focus="))
    expect(page.locator("figure.graph figcaption")).to_contain_text(name)
    return name


def test_a_graph_opens_from_a_units_name_and_drills_down_to_a_category(
        page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin")
    _open_a_unit_from_its_name(page, server)
    expect(page.locator(".graph-canvas svg").first).to_be_visible()
    box = _drawn_size(page, ".graph-canvas svg")
    shoot(page, "graph-unit", docs=True)
    node = page.locator(CATEGORY_NODE).first
    found = re.search(r"focus=(\d+)", node.get_attribute("xlink:href") or "")
    assert found, "the category node links nowhere"
    node.click()
    expect(page).to_have_url(re.compile(rf"view=category&focus={found.group(1)}$"))
    expect(page.locator("figure.graph figcaption")).to_contain_text("由谁主办")
    _drawn_size(page, ".graph-canvas svg")
    shoot(page, "graph-category")
    print(f"unit view drawn at {box['width']:.0f}×{box['height']:.0f} px")


def test_without_graphviz_on_the_server_the_browser_draws_the_graph_and_keeps_its_links(
        page: Page, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.render.shutil.which", lambda name: None)
    sign_in(page, server, "wangmin")
    _open_a_unit_from_its_name(page, server)
    expect(page.locator("#graph-canvas")).to_have_attribute("data-state", "drawn",
                                                            timeout=30_000)
    _drawn_size(page, "#graph-canvas svg")
    expect(page.get_by_text("本图由浏览器绘制")).to_be_visible()
    shoot(page, "graph-unit-in-browser")
    page.locator(CATEGORY_NODE).first.click()
    expect(page).to_have_url(re.compile(r"view=category&focus=\d+"))
    expect(page.locator("#graph-canvas")).to_have_attribute("data-state", "drawn",
                                                            timeout=30_000)
    _drawn_size(page, "#graph-canvas svg")


def test_the_matrix_map_shows_lead_units_by_status_and_opens_a_units_view(
        page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin")
    page.goto(server.url + "/graphs?view=matrix&focus=示范区")
    expect(page.get_by_role("list", name="图例")).to_contain_text("有规则")
    first = page.locator("table.matrix td a").first
    expect(first).to_be_visible()
    shoot(page, "graph-matrix")
    first.click()
    expect(page).to_have_url(re.compile(r"view=unit&focus="))


def test_the_statistics_page_draws_its_charts_and_its_excel_download_opens(
        page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin")
    page.goto(server.url + "/statistics")
    for chart in ("chart-units", "chart-weeks", "chart-hotspots"):
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
        _drawn_size(page, f"#{chart} svg, #{chart} canvas")
    expect(page.locator("#chart-weeks")).to_contain_text("一次派准率")
    shoot(page, "statistics", docs=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 Excel（全部表格）").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as f:
        book = load_workbook(io.BytesIO(f.read()), read_only=True)
    assert book.sheetnames == ["全区汇总", "各单位指标", "每周趋势", "热点", "指标口径"]
    header = next(book["每周趋势"].iter_rows(values_only=True))
    assert header[:2] == ("周次", "开始") and "一次派准率" in header


def test_the_audit_log_filters_by_person_and_shows_the_chains_state(
        page: Page, server: Server) -> None:
    sign_in(page, server, "chakan")  # an auditor
    page.goto(server.url + "/audit")
    expect(page.get_by_text("哈希链校验通过")).to_be_visible()
    person = page.get_by_label("操作人")
    choice = person.locator("option").nth(1).get_attribute("value")
    assert choice
    person.select_option(choice)
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    for i in range(rows.count()):
        expect(rows.nth(i).locator("td").nth(2)).to_have_text(choice)
    shoot(page, "audit-log", docs=True)
