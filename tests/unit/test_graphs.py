"""Responsibility graphs as pure functions over a small hand-built matrix: who leads and who
assists what, where; gaps and ties highlighted; views too big to read refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import networkx as nx
import pytest

from jurisdiction.errors import InvalidInput, LimitExceeded
from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind
from rules.graphs import (
    area_view,
    category_view,
    matrix_view,
    to_json,
    unit_view,
)
from rules.model import TERRITORIAL, Rule, Settings
from rules.store import Matrix

AT = datetime(2026, 1, 1, tzinfo=UTC)
DISTRICT, HP, XH, HPL = "110199", "110199001", "110199002", "110199001001"


def small_matrix() -> Matrix:
    """Two streets of one district; 0301 goes to the street (属地), 030102 to 城管委 in the
    whole district, 030201 ties in 和平街道 and has no rule in 新华街道, 0401 is a
    departmental matter with no rule at all."""
    j = Jurisdiction.build(
        [Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT), Unit("D-CG", "城管委", UnitKind.DEPARTMENT),
         Unit("D-SW", "水务局", UnitKind.DEPARTMENT), Unit("JD-HP", "和平街道", UnitKind.STREET),
         Unit("JD-XH", "新华街道", UnitKind.STREET), Unit("O-RX", "热线中心", UnitKind.OFFICE),
         Unit("U-SS", "自来水公司", UnitKind.UTILITY)],
        [Area(DISTRICT, "示范区", AreaLevel.DISTRICT, None, None),
         Area(HP, "和平街道", AreaLevel.TOWNSHIP, DISTRICT, "JD-HP"),
         Area(XH, "新华街道", AreaLevel.TOWNSHIP, DISTRICT, "JD-XH"),
         Area(HPL, "和平里社区", AreaLevel.COMMUNITY, HP, None)],
        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03"),
         Category("030101", "小区违建", "0301"), Category("030102", "道路违建", "0301"),
         Category("0302", "物业管理", "03"), Category("030201", "物业服务", "0302"),
         Category("04", "市政设施", None),
         Category("0401", "供水", "04", departmental=True, default_unit="U-SS")])
    rules = [
        Rule("R-1", "0301", TERRITORIAL, "街道履职清单第3项", area=DISTRICT,
             co_handlers=("D-CG",)),
        Rule("R-2", "030102", "D-CG", "城管权责清单第7项", area=DISTRICT, co_handlers=("D-ZJ",)),
        Rule("R-3", "030201", "D-ZJ", "住建权责清单第2项", area=HP),
        Rule("R-4", "030201", "D-CG", "城管权责清单第9项", area=HP),
        Rule("R-5", "030101", "D-CG", "城管权责清单第8项", area=DISTRICT,
             when={"location_type": ("public_road",)}, co_handlers=("D-ZJ",)),
        Rule("R-6", "030101", "D-SW", "水务清单第1项", area=HPL),
        Rule("R-7", "030102", "D-SW", "旧清单", area=DISTRICT,
             valid_to=datetime(2025, 1, 1, tzinfo=UTC)),
    ]
    return Matrix.build(1, j, {r.id: r for r in rules}, Settings(hotline_office="O-RX"))


@pytest.fixture
def matrix() -> Matrix:
    return small_matrix()


def edge(g: nx.MultiDiGraph, u: str, v: str, relation: str) -> dict[str, object]:
    data: dict[str, object] = g.edges[u, v, relation]
    return data


# -- unit view -----------------------------------------------------------------------------

def test_unit_view_shows_led_and_assisted_categories_weighted_by_rules(matrix: Matrix) -> None:
    g = unit_view(matrix, "D-CG", at=AT)
    assert isinstance(g, nx.DiGraph)
    centre = g.nodes["unit:D-CG"]
    assert (centre["label"], centre["kind"], centre["focus"]) == ("城管委", "unit", True)
    led = {v for _, v, k in g.out_edges("unit:D-CG", keys=True) if k == "leads"}
    assert led == {"category:030101", "category:030102", "category:030201"}
    assert edge(g, "unit:D-CG", "category:0301", "assists")["weight"] == 1
    assert all(g.nodes[c]["cluster"] == "category:03"
               for c in g if g.nodes[c]["kind"] == "category")
    assert g.graph["clusters"]["category:03"] == "城乡建设"


def test_unit_view_places_each_role_in_the_rule_areas(matrix: Matrix) -> None:
    g = unit_view(matrix, "D-CG", at=AT)
    assert edge(g, "category:030201", f"area:{HP}", "leads")["weight"] == 1
    assert edge(g, "category:0301", f"area:{DISTRICT}", "assists")["weight"] == 1
    assert g.nodes[f"area:{HP}"]["label"] == "和平街道"


def test_unit_view_weights_shared_work_by_rule_count(matrix: Matrix) -> None:
    g = unit_view(matrix, "D-CG", at=AT)
    shares = {v: d["weight"] for _, v, k, d in g.out_edges("unit:D-CG", keys=True, data=True)
              if k == "shares_work"}
    # D-ZJ co-handles; the streets lead R-1 (属地) which D-CG assists.
    assert shares == {"unit:D-ZJ": 2, "unit:JD-HP": 1, "unit:JD-XH": 1}
    assert all(d["relation"] == "shares_work" for _, _, d in g.edges(data=True)
               if d["relation"] == "shares_work")


def test_unit_view_follows_territorial_role_to_the_units_own_township(matrix: Matrix) -> None:
    g = unit_view(matrix, "JD-HP", at=AT)
    assert edge(g, "unit:JD-HP", "category:0301", "leads")["weight"] == 1
    assert g.has_edge("category:0301", f"area:{HP}", "leads")
    assert f"area:{XH}" not in g and f"area:{DISTRICT}" not in g
    assert edge(g, "unit:JD-HP", "unit:D-CG", "shares_work")["weight"] == 1


def test_unit_view_ignores_expired_rules(matrix: Matrix) -> None:
    g = unit_view(matrix, "D-SW", at=AT)
    assert "category:030102" not in g
    assert g.has_edge("category:030101", f"area:{HPL}", "leads")
    before = unit_view(matrix, "D-SW", at=datetime(2024, 6, 1, tzinfo=UTC))
    assert before.has_edge("unit:D-SW", "category:030102", "leads")


def test_unit_view_filters_by_category_subtree_and_unit_kind(matrix: Matrix) -> None:
    g = unit_view(matrix, "D-CG", at=AT, category="0302")
    assert {n for n in g if g.nodes[n]["kind"] == "category"} == {"category:030201"}
    g = unit_view(matrix, "D-CG", at=AT, unit_kind="department")
    partners = {v for _, v, k in g.out_edges("unit:D-CG", keys=True) if k == "shares_work"}
    assert partners == {"unit:D-ZJ"}


def test_unit_view_over_the_node_cap_names_the_count_the_cap_and_the_filters(
        matrix: Matrix) -> None:
    assert unit_view(matrix, "D-CG", at=AT).number_of_nodes() == 10
    with pytest.raises(LimitExceeded) as err:
        unit_view(matrix, "D-CG", at=AT, max_nodes=9)
    assert err.value.code == "graph_too_large"
    assert err.value.context["node_count"] == 10 and err.value.context["max_nodes"] == 9
    assert "10 nodes" in err.value.message and "cap of 9" in err.value.message
    assert "category=" in err.value.message and "unit_kind=" in err.value.message


# -- category view -------------------------------------------------------------------------

def test_category_view_of_a_subtree_aggregates_cells_per_township(matrix: Matrix) -> None:
    g = category_view(matrix, "03", at=AT, district=DISTRICT)
    hp, xh = g.nodes[f"area:{HP}"], g.nodes[f"area:{XH}"]
    assert (hp["status"], hp["cells_rule"], hp["cells_ambiguous"]) == ("ambiguous", 2, 1)
    assert (xh["status"], xh["cells_rule"], xh["cells_gap"]) == ("gap", 2, 1)
    assert hp["cluster"] == f"district:{DISTRICT}"
    assert g.graph["clusters"][f"district:{DISTRICT}"] == "示范区"


def test_category_view_shows_who_leads_and_assists_in_each_township(matrix: Matrix) -> None:
    g = category_view(matrix, "03", at=AT)
    # 和平街道 leads 030101 by rule and holds 030201 as interim owner of a tie.
    hp_leads = edge(g, "unit:JD-HP", f"area:{HP}", "leads")
    assert (hp_leads["weight"], hp_leads["status"]) == (2, "ambiguous")
    xh_leads = edge(g, "unit:JD-XH", f"area:{XH}", "leads")
    assert (xh_leads["weight"], xh_leads["status"]) == (1, "rule")
    # 030201 has no rule in 新华街道, but R-3 gives it to 住建委 elsewhere: a departmental
    # matter, so its gap goes to 住建委, not to the street (国办函〔2025〕66号)
    assert edge(g, "unit:D-ZJ", f"area:{XH}", "leads")["status"] == "gap"
    assert edge(g, "unit:D-CG", f"area:{HP}", "leads")["status"] == "rule"
    assert edge(g, "unit:D-CG", f"area:{HP}", "assists")["weight"] == 1
    assert edge(g, "unit:D-ZJ", f"area:{XH}", "assists")["weight"] == 1


def test_category_view_names_the_deciding_rules_with_their_basis(matrix: Matrix) -> None:
    g = category_view(matrix, "03", at=AT)
    rules = {n for n in g if g.nodes[n]["kind"] == "rule"}
    assert rules == {"rule:R-1", "rule:R-2", "rule:R-3", "rule:R-4"}
    assert "街道履职清单第3项" in g.nodes["rule:R-1"]["tooltip"]
    assert g.nodes["rule:R-1"]["basis"] == "街道履职清单第3项"
    assert edge(g, "rule:R-1", f"area:{XH}", "decides")["weight"] == 1
    assert edge(g, "rule:R-3", f"area:{HP}", "decides")["status"] == "ambiguous"
    assert g.has_edge("category:03", "rule:R-2", "contains")


def test_category_view_of_an_unruled_departmental_leaf_is_all_gap(matrix: Matrix) -> None:
    g = category_view(matrix, "0401", at=AT)
    assert {g.nodes[f"area:{t}"]["status"] for t in (HP, XH)} == {"gap"}
    assert edge(g, "unit:U-SS", f"area:{HP}", "leads")["status"] == "gap"
    assert not [n for n in g if g.nodes[n]["kind"] == "rule"]


def test_category_view_over_the_node_cap_raises(matrix: Matrix) -> None:
    with pytest.raises(LimitExceeded) as err:
        category_view(matrix, "03", at=AT, max_nodes=5)
    assert err.value.code == "graph_too_large"
    assert "district=" in err.value.message


# -- area view -----------------------------------------------------------------------------

def test_area_view_shows_the_territorial_unit_and_the_departments_acting_there(
        matrix: Matrix) -> None:
    g = area_view(matrix, HP, at=AT)
    centre = f"area:{HP}"
    assert edge(g, "unit:JD-HP", centre, "governs")["relation"] == "governs"
    assert edge(g, "unit:JD-HP", centre, "leads")["weight"] == 1
    assert edge(g, "unit:D-CG", centre, "leads")["weight"] == 3
    assert edge(g, "unit:D-CG", centre, "assists")["weight"] == 1
    assert edge(g, "unit:D-ZJ", centre, "assists")["weight"] == 2
    # R-6 is scoped to a community inside the township.
    assert edge(g, "unit:D-SW", centre, "leads")["weight"] == 1
    assert g.nodes["unit:D-CG"]["cluster"] == "category:03"
    assert g.graph["clusters"]["category:03"] == "城乡建设"


def test_area_view_leaves_out_rules_of_other_townships(matrix: Matrix) -> None:
    g = area_view(matrix, XH, at=AT)
    assert edge(g, "unit:D-CG", f"area:{XH}", "leads")["weight"] == 2
    assert "unit:D-SW" not in g


def test_area_view_filters_by_unit_kind_but_keeps_the_territorial_unit(
        matrix: Matrix) -> None:
    g = area_view(matrix, HP, at=AT, unit_kind="utility")
    assert set(g) == {f"area:{HP}", "unit:JD-HP"}


def test_area_view_of_a_district_is_refused(matrix: Matrix) -> None:
    with pytest.raises(InvalidInput) as err:
        area_view(matrix, DISTRICT, at=AT)
    assert err.value.code == "invalid_area_level"


def test_area_view_over_the_node_cap_raises(matrix: Matrix) -> None:
    with pytest.raises(LimitExceeded, match="cap of 2"):
        area_view(matrix, HP, at=AT, max_nodes=2)


# -- matrix view ---------------------------------------------------------------------------

def test_matrix_view_gives_each_cell_its_status_lead_and_rule(matrix: Matrix) -> None:
    v = matrix_view(matrix, DISTRICT, at=AT)
    assert [r.code for r in v.rows] == ["030101", "030102", "030201", "0401"]
    assert [c.code for c in v.columns] == [HP, XH]
    assert v.counts() == {"rule": 4, "fallback": 3, "ambiguous": 1, "overlap": 0,
                          "unrouted": 0, "out_of_scope": 0}
    cell = v.cell("030102", XH)
    assert (cell.status, cell.lead, cell.rule_id, cell.co_handlers) == \
        ("rule", "D-CG", "R-2", ("D-ZJ",))
    tie = v.cell("030201", HP)
    assert (tie.status, tie.lead, tie.tied_rules) == ("ambiguous", "JD-HP", ("R-3", "R-4"))
    gap = v.cell("0401", HP)
    assert (gap.status, gap.lead, gap.fallback_step) == ("fallback", "U-SS", "category_default")


def test_matrix_view_filters_by_category_subtree(matrix: Matrix) -> None:
    v = matrix_view(matrix, DISTRICT, at=AT, category="0302")
    assert [r.code for r in v.rows] == ["030201"]
    assert v.rows[0].group == "城乡建设"


def test_matrix_view_as_graph_and_table(matrix: Matrix) -> None:
    v = matrix_view(matrix, DISTRICT, at=AT)
    g = v.to_graph()
    assert g.graph["view"] == "matrix"
    assert [c["name"] for c in g.graph["columns"]] == ["和平街道", "新华街道"]
    cell = g.nodes[f"cell:030201@{XH}"]
    assert (cell["kind"], cell["status"], cell["lead_name"]) == ("cell", "fallback", "住建委")
    assert g.number_of_edges() == 0
    table = v.to_table()
    assert table[0] == ["分类", "和平街道", "新华街道"]
    assert table[2][1] == "城管委（rule）"


def test_matrix_view_over_the_cell_cap_raises(matrix: Matrix) -> None:
    with pytest.raises(LimitExceeded) as err:
        matrix_view(matrix, DISTRICT, at=AT, max_cells=7)
    assert err.value.code == "graph_too_large" and err.value.context["cell_count"] == 8


def test_matrix_view_needs_a_district(matrix: Matrix) -> None:
    with pytest.raises(InvalidInput):
        matrix_view(matrix, HP, at=AT)


# -- json ----------------------------------------------------------------------------------

def test_to_json_carries_every_attribute(matrix: Matrix) -> None:
    data = to_json(unit_view(matrix, "D-CG", at=AT))
    assert set(data) >= {"nodes", "edges"}
    node = next(n for n in data["nodes"] if n["id"] == "unit:D-CG")
    assert node["label"] == "城管委" and node["kind"] == "unit"
    shares = [e for e in data["edges"] if e["relation"] == "shares_work"]
    assert {(e["source"], e["target"], e["weight"]) for e in shares} >= {
        ("unit:D-CG", "unit:D-ZJ", 2)}
    json.dumps(data, ensure_ascii=False)


def test_a_large_category_view_leaves_out_rule_nodes_unless_asked() -> None:
    from rules import graphs

    m = small_matrix()
    with_rules = category_view(m, "03", at=AT)
    assert any(d["kind"] == "rule" for _, d in with_rules.nodes(data=True))
    few = graphs.RULES_SHOWN_UP_TO
    try:
        graphs.RULES_SHOWN_UP_TO = 1  # "03" has 3 leaves: now too many to show rules
        without = category_view(m, "03", at=AT)
        forced = category_view(m, "03", at=AT, show_rules=True)
    finally:
        graphs.RULES_SHOWN_UP_TO = few
    assert not any(d["kind"] == "rule" for _, d in without.nodes(data=True))
    assert without.graph["rules_shown"] is False
    assert without.edges["unit:D-CG", f"area:{HP}", "leads"]["weight"] >= 1
    assert any(d["kind"] == "rule" for _, d in forced.nodes(data=True))


def test_the_matrix_map_marks_cells_where_verify_finds_an_overlap() -> None:
    m = small_matrix()
    tied = Rule("R-8", "030102", "D-ZJ", "另一清单", area=DISTRICT,
                when={"location_type": ("public_road",)})
    tied_too = Rule("R-9", "030102", "D-SW", "水务清单", area=DISTRICT,
                    when={"location_type": ("public_road",)})
    rules = {**m.rules, "R-8": tied, "R-9": tied_too}
    view = matrix_view(Matrix.build(2, m.jurisdiction, rules, m.settings), DISTRICT, at=AT)
    cell = view.cell("030102", HP)
    assert cell.status == "overlap"
    assert set(cell.overlap) == {"R-8", "R-9"}
    assert view.cell("030101", HP).status != "overlap"
    assert view.counts()["overlap"] == 2  # both townships of the district
    assert any(d.get("status") == "overlap" for _, d in view.to_graph().nodes(data=True))
