"""Rendering responsibility graphs through the real Graphviz ``dot``: SVG parses and carries
the Chinese labels, PNG is a PNG, and without Graphviz SVG is refused while DOT and JSON
still work."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import networkx as nx
import pytest

from api.render import render, to_dot
from jurisdiction.errors import InvalidInput, Unavailable
from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind
from rules.graphs import category_view, matrix_view, unit_view
from rules.model import TERRITORIAL, Rule, Settings
from rules.store import Matrix

AT = datetime(2026, 1, 1, tzinfo=UTC)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


@pytest.fixture
def matrix() -> Matrix:
    j = Jurisdiction.build(
        [Unit("D-CG", "城管委", UnitKind.DEPARTMENT), Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT),
         Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("JD-XH", "新华街道", UnitKind.STREET),
         Unit("O-RX", "热线中心", UnitKind.OFFICE)],
        [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
         Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP"),
         Area("102", "新华街道", AreaLevel.TOWNSHIP, "1", "JD-XH")],
        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03"),
         Category("0302", "物业管理", "03")])
    rules = [Rule("R-1", "0301", TERRITORIAL, "街道履职清单第3项", co_handlers=("D-CG",)),
             Rule("R-2", "0302", "D-CG", "城管权责清单第7项", area="101"),
             Rule("R-3", "0302", "D-ZJ", "住建权责清单第2项", area="101")]
    return Matrix.build(1, j, {r.id: r for r in rules}, Settings(hotline_office="O-RX"))


def svg_text(data: bytes) -> str:
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    return "".join(root.itertext())


@needs_dot
def test_svg_parses_and_carries_the_chinese_labels(matrix: Matrix) -> None:
    g = category_view(matrix, "03", at=AT)
    text = svg_text(render(g, "svg", title="城乡建设 由谁主办"))
    for label in ("城乡建设 由谁主办", "和平街道", "新华街道", "城管委", "示范区", "图例"):
        assert label in text


@needs_dot
def test_png_starts_with_the_png_signature(matrix: Matrix) -> None:
    data = render(unit_view(matrix, "D-CG", at=AT), "png", title="城管委 的职责")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


@needs_dot
def test_matrix_renders_as_one_table_of_coloured_cells(matrix: Matrix) -> None:
    g = matrix_view(matrix, "1", at=AT).to_graph()
    source = to_dot(g, title="示范区 责任矩阵")
    assert source.count("<TD BGCOLOR=") >= 4 and "cluster_" not in source
    text = svg_text(render(g, "svg", title="示范区 责任矩阵"))
    for label in ("示范区 责任矩阵", "和平街道", "违法建设", "物业管理"):
        assert label in text


def test_dot_source_has_clusters_the_cjk_font_and_status_colours(matrix: Matrix) -> None:
    source = to_dot(category_view(matrix, "03", at=AT), title="城乡建设")
    assert "subgraph cluster_" in source
    assert 'fontname="Noto Sans CJK SC"' in source
    assert "#e53935" in source  # the tie in 和平街道 is drawn red
    assert "#fb8c00" in source  # the gap in 新华街道 is drawn orange


def test_without_graphviz_svg_is_unavailable_but_dot_and_json_work(
        matrix: Matrix, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    g = unit_view(matrix, "D-CG", at=AT)
    with pytest.raises(Unavailable) as err:
        render(g, "svg", title="城管委")
    assert err.value.code == "graphviz_unavailable"
    assert "Graphviz is not installed" in err.value.message
    assert render(g, "dot", title="城管委").decode().startswith("digraph")
    data = json.loads(render(g, "json", title="城管委"))
    assert {n["id"] for n in data["nodes"]} >= {"unit:D-CG"}


def test_an_unknown_format_is_invalid_input(matrix: Matrix) -> None:
    with pytest.raises(InvalidInput):
        render(nx.MultiDiGraph(), "pdf", title="x")
