"""The read-only pages of the workbench: 派单目录, 责任图谱, 统计 and 审计日志, as an arbiter,
an auditor and a unit's clerk see them."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from api.auth import create_key
from tests.pages.conftest import Workbench

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")

#: a leaf led by the territorial unit: its lead differs in every township
TERRITORIAL_LEAF = "030101"


def api_of(workbench: Workbench) -> TestClient:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        key = create_key(conn, role="router", name="read-pages", unit="O-RX",
                         now=workbench.clock())
    client = TestClient(workbench.app)  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def text_of(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def table_rows(page: str, table_class: str) -> list[list[str]]:
    """The body rows of the table with this class, each as its cells' text."""
    found = re.search(rf'<table class="{table_class}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, f"no table {table_class!r} on the page"
    return [[text_of(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)]


#: every read-only page and a phrase it must show
PAGES = [
    ("/catalogue", "按事项分类"),
    ("/catalogue?by=area", "属地单位"),
    ("/catalogue?by=unit", "协办规则"),
    ("/catalogue?q=违法建设", "找到"),
    (f"/catalogue/categories/{TERRITORIAL_LEAF}", "各街乡由谁主办"),
    ("/catalogue/categories/03", "下级分类"),
    ("/catalogue/rules/R-030101-01", "修订记录"),
    ("/catalogue/units/D-CG", "主办"),
    ("/graphs", "争议与退单热点"),
    ("/graphs?view=matrix&focus=示范区", "派单矩阵"),
    ("/statistics", "指标口径"),
    ("/audit", "哈希链校验通过"),
]


def test_each_read_page_renders_for_an_arbiter_and_unknown_records_are_chinese_404s(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    for url, phrase in PAGES:
        response = browser.get(url)
        assert response.status_code == 200, (url, response.text)
        assert phrase in response.text, url
    for url in ("/catalogue/rules/R-NONE", "/catalogue/categories/99999",
                "/catalogue/units/NOPE"):
        response = browser.get(url)
        assert response.status_code == 404, url
        assert "未找到" in response.text


def test_a_leaf_page_names_the_lead_in_each_township_that_routing_gives(
        workbench: Workbench) -> None:
    page = workbench.signed_in("wangmin").get(f"/catalogue/categories/{TERRITORIAL_LEAF}").text
    shown = {row[0]: row[1] for row in table_rows(page, "leads")}
    api = api_of(workbench)
    townships = api.get("/v1/areas", params={"level": "township"}).json()["items"]
    assert len(townships) > 1 and set(shown) == {t["name"] for t in townships}
    for township in townships:
        routed = api.post("/v1/route", json={"category": TERRITORIAL_LEAF,
                                             "area": township["code"]}).json()
        assert shown[township["name"]] == routed["lead"]["name"]
    assert len(set(shown.values())) == len(townships)


def test_a_rule_page_lists_the_decisions_it_made(workbench: Workbench) -> None:
    api = api_of(workbench)
    routed = api.post("/v1/route", json={"category": TERRITORIAL_LEAF, "area": "110199001",
                                         "ticket_id": "T-READ-0001"}).json()
    rule_id = routed["rule"]["id"]
    page = workbench.signed_in("chakan").get(f"/catalogue/rules/{rule_id}").text
    assert "T-READ-0001" in page and 'href="/tickets/T-READ-0001"' in page
    assert routed["rule"]["basis"] in html.unescape(page)
    assert "第 1 次" in page  # its first revision


def actors_in(page: str) -> set[str]:
    return {row[2] for row in table_rows(page, "audit")}


def test_the_audit_page_filters_by_person(workbench: Workbench) -> None:
    workbench.signed_in("zhaoqiang")  # an entry by someone else
    browser = workbench.signed_in("wangmin")
    everyone = browser.get("/audit").text
    assert len(actors_in(everyone)) > 1
    wangmin = next(a for a in re.findall(r'<option value="([^"]+)"', everyone)
                   if "wangmin" in a)
    page = browser.get("/audit", params={"actor": html.unescape(wangmin)}).text
    assert actors_in(page) == {html.unescape(wangmin)}


def test_the_audit_page_filters_by_object_links_to_it_and_refuses_a_bad_date(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("chakan")  # an auditor signs in as a viewer
    page = browser.get("/audit", params={"subject": "dispute:"}).text
    rows = table_rows(page, "audit")
    assert rows and all(row[4].startswith("争议") for row in rows)
    assert re.search(r'href="/disputes/DSP-[^"]+"', page)
    response = browser.get("/audit", params={"from": "2026-13-01"})
    assert response.status_code == 422
    assert 'id="e-from"' in response.text and "年-月-日" in response.text


def test_a_unit_clerk_or_the_hotline_is_refused_the_audit_page(workbench: Workbench) -> None:
    for login in ("chengguan", "rexian"):
        response = workbench.signed_in(login).get("/audit")
        assert response.status_code == 403
        assert "审计日志仅供" in response.text
        assert "dispute:" not in response.text


@needs_dot
def test_a_unit_graph_is_drawn_in_the_page_with_links_to_drill_down(
        workbench: Workbench) -> None:
    page = workbench.signed_in("wangmin").get(
        "/graphs", params={"view": "unit", "focus": "区城市管理委员会"}).text
    assert "<svg" in page
    # a click on a node in the drawing opens that node's view
    assert re.search(r'<a xlink:href="/graphs\?view=category&(amp;)?focus=03\d*"', page)
    assert "/graphs?view=category&amp;focus=0301" in page or \
        re.search(r'href="/graphs\?view=category&amp;focus=03\d*"', page)
    assert re.search(r'href="/graphs\?view=unit&amp;focus=JD-[A-Z]+"', page)
    # one level-1 category at a time; the others are a click away
    assert re.search(r'href="/graphs\?view=unit&amp;focus=D-CG&amp;category=04"', page)


def test_without_graphviz_the_graph_page_says_so_and_still_links(
        workbench: Workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.render.shutil.which", lambda name: None)
    response = workbench.signed_in("wangmin").get(
        "/graphs", params={"view": "category", "focus": "0301"})
    assert response.status_code == 200
    assert "服务器未安装 Graphviz" in response.text and "<svg" not in response.text
    assert re.search(r'href="/graphs\?view=unit&amp;focus=[^"]+"', response.text)


def test_a_focus_typed_by_name_is_resolved_or_offered_or_refused(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    several = browser.get("/graphs", params={"view": "unit", "focus": "城市管理"})
    assert several.status_code == 200 and "请选择" in several.text
    assert "focus=D-CG" in several.text and "focus=D-CZ" in several.text
    unknown = browser.get("/graphs", params={"view": "unit", "focus": "不存在的单位"})
    assert unknown.status_code == 422
    assert 'id="e-focus"' in unknown.text and "不存在的单位" in unknown.text
    broad = browser.get("/graphs", params={"view": "category", "focus": "城乡建设"}).text
    assert "个末级事项" in broad and "<svg" not in broad
    assert 'href="/graphs?view=category&amp;focus=0301"' in broad


def test_the_statistics_page_shows_formulas_links_the_csv_and_checks_the_period(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    page = browser.get("/statistics").text
    assert "一次派准率 = 一次派准工单数 ÷ 首接工单数" in page
    assert "2026年10月28日" in page  # the last 30 days up to 26 November, in Chinese
    link = re.search(r'href="(/v1/stats/units\?[^"]+format=csv)"', page)
    assert link
    csv = browser.get(html.unescape(link.group(1)))
    assert csv.status_code == 200 and "单位名称" in csv.content.decode("utf-8-sig")
    response = browser.get("/statistics", params={"from": "2026-11-20", "to": "2026-11-01"})
    assert response.status_code == 422
    assert 'id="e-to"' in response.text
