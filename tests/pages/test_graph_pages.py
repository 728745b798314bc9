"""责任图谱 beyond the server's Graphviz: the DOT drawn in the browser where the server has no
``dot``, and the matrix map as a table of lead units coloured by status."""

from __future__ import annotations

import html
import json
import re

import pytest

from api.pages.graphs import MATRIX_STATUSES
from tests.pages.conftest import Workbench
from tests.pages.test_read_pages import TERRITORIAL_LEAF, text_of


def _dot_of(page: str) -> str:
    found = re.search(r'<script type="application/json" id="graph-dot">(.*?)</script>', page,
                      re.S)
    assert found, "the page carries no DOT source"
    dot = json.loads(found.group(1))
    assert isinstance(dot, str)
    return dot


@pytest.mark.parametrize(("view", "focus"), [
    ("unit", "D-CG"), ("category", "0301"), ("area", "110199001"), ("hotspots", "")])
def test_without_graphviz_the_page_carries_the_dot_for_the_browser_to_draw(
        workbench: Workbench, monkeypatch: pytest.MonkeyPatch, view: str, focus: str) -> None:
    monkeypatch.setattr("api.render.shutil.which", lambda name: None)
    response = workbench.signed_in("wangmin").get("/graphs", params={"view": view,
                                                                     "focus": focus})
    assert response.status_code == 200
    page = response.text
    assert "<svg" not in page
    assert '<script src="/static/vendor/viz/viz-global.js"></script>' in page
    assert '<script src="/static/graphs.js"></script>' in page
    assert 'id="graph-canvas"' in page and "服务器未安装 Graphviz" in page
    dot = _dot_of(page)
    assert dot.startswith("digraph")
    # the nodes keep their drill-down: a click in the browser's drawing opens the same views
    assert re.search(r'URL="/graphs\?view=unit&(amp;)?focus=[^"]+"', dot), dot[:500]


def test_with_graphviz_the_page_draws_on_the_server_and_loads_no_wasm(
        workbench: Workbench) -> None:
    page = workbench.signed_in("wangmin").get("/graphs", params={"view": "unit",
                                                                 "focus": "D-CG"}).text
    if "<svg" not in page:
        pytest.skip("Graphviz not installed")
    assert "viz-global.js" not in page and 'id="graph-dot"' not in page


def test_the_static_drawing_scripts_and_their_licences_are_served(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    for path in ("/static/vendor/viz/viz-global.js", "/static/vendor/echarts/echarts.min.js",
                 "/static/graphs.js", "/static/statistics.js",
                 "/static/vendor/viz/LICENSE", "/static/vendor/echarts/LICENSE"):
        assert browser.get(path).status_code == 200, path


def _matrix_rows(page: str) -> list[str]:
    found = re.search(r'<table class="matrix">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, "no matrix table"
    return re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)


def test_the_matrix_map_shows_the_lead_in_each_cell_coloured_by_status_with_a_legend(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    page = browser.get("/graphs", params={"view": "matrix", "focus": "示范区",
                                          "category": "03"}).text
    legend = re.search(r'<ul class="legend"[^>]*>(.*?)</ul>', page, re.S)
    assert legend
    for _, name in MATRIX_STATUSES:
        assert name in text_of(legend.group(1))
    rows = _matrix_rows(page)
    assert rows
    # the territorial leaf: every township leads it itself
    leaf = next(r for r in rows if f"focus={TERRITORIAL_LEAF}\"" in r)
    cells = re.findall(r'<td class="status-(\w+)" title="([^"]*)">(.*?)</td>', leaf, re.S)
    assert cells and all(status == "rule" for status, _, _ in cells)
    assert all(text_of(body) == "属地" for _, _, body in cells)
    assert all("主办" in html.unescape(title) for _, title, _ in cells)
    # a cell's lead opens its unit view; a row its category's, a column its township's
    assert re.search(r'<td class="status-\w+" title="[^"]*"><a href="/graphs\?view=unit&amp;'
                     r'focus=[A-Z]', page)
    assert 'href="/graphs?view=area&amp;focus=110199' in page
    statuses = set(re.findall(r'<td class="status-(\w+)"', page))
    assert statuses <= {s for s, _ in MATRIX_STATUSES}
    assert "<svg" not in page  # a table, not a drawing


def test_the_matrix_map_names_a_departments_lead_by_its_short_name(
        workbench: Workbench) -> None:
    page = workbench.signed_in("wangmin").get("/graphs", params={
        "view": "matrix", "focus": "示范区", "category": "04"}).text
    bodies = [text_of(b) for b in re.findall(r'<td class="status-\w+" title="[^"]*">(.*?)</td>',
                                            page, re.S)]
    departments = [b for b in bodies if b not in ("属地", "—")]
    assert departments, "no department leads in 04: pick a category where one does"
    assert all(len(b.split("（")[0]) <= 7 for b in departments)


def test_a_streets_busy_unit_view_is_paged_by_level_two_category(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    page = browser.get("/graphs", params={"view": "unit", "focus": "JD-HP"}).text
    subs = re.search(r'<nav class="chips" aria-label="按二级分类查看">(.*?)</nav>', page, re.S)
    assert subs, "the street's busiest level-1 category is drawn whole"
    current = re.search(r'category=(\d+)"\s+aria-current="page"', subs.group(1))
    assert current and len(current.group(1)) == 4  # a level-2 category is drawn
    drawn = set(re.findall(r'xlink:href="/graphs\?view=category&amp;focus=(\d+)"', page))
    if drawn:  # drawn on the server: every category in it lies within the level-2 one
        assert all(c.startswith(current.group(1)) for c in drawn), drawn
    whole = browser.get("/graphs", params={"view": "unit", "focus": "JD-HP",
                                           "category": current.group(1)[:2]}).text
    # the level-1 chip opens its busiest part again
    assert re.search(rf'category={current.group(1)}"\s+aria-current="page"', whole)
