"""The arbitration graph builders as pure functions over plain rows."""

from __future__ import annotations

import itertools
from typing import Any

from api.render import to_dot
from arbitration.graphs import HOT_COLOUR, hotspots_view, lineage_view, outranked, ticket_view
from rules.graphs import to_json

NAMES = {"D-CG": "城管委", "JD-HP": "和平街道", "D-ZJ": "住建委"}


def test_hotspot_edges_are_weighted_by_disputes_and_returns() -> None:
    g = hotspots_view([("D-CG", "JD-HP", 5)], [("JD-HP", "D-CG", 3), ("D-CG", "JD-HP", 1)],
                      names=NAMES)
    assert g.edges["unit:D-CG", "unit:JD-HP", "disputes"]["weight"] == 5
    assert g.edges["unit:JD-HP", "unit:D-CG", "returns"]["label"] == "退单 3"
    assert g.nodes["unit:JD-HP"]["label"] == "和平街道"
    assert g.nodes["unit:D-CG"]["weight"] == 9


def test_the_pairs_that_fight_most_are_hot_and_red_counting_both_directions() -> None:
    g = hotspots_view([("D-CG", "D-ZJ", 4)], [("D-CG", "JD-HP", 3), ("JD-HP", "D-CG", 3)],
                      names=NAMES, hot=1)
    hot = {(u, v, k) for u, v, k, d in g.edges(keys=True, data=True) if d["hot"]}
    assert hot == {("unit:D-CG", "unit:JD-HP", "returns"), ("unit:JD-HP", "unit:D-CG", "returns")}
    assert all(d["colour"] == HOT_COLOUR for *_, d in g.edges(data=True) if d["hot"])
    assert "colour" not in g.edges["unit:D-CG", "unit:D-ZJ", "disputes"]


def test_an_empty_period_gives_an_empty_hotspots_graph_that_still_draws() -> None:
    g = hotspots_view([], [], period={"from": "2026-11-01", "to": "2026-12-01"})
    assert g.number_of_nodes() == 0 and g.graph["period"]["from"] == "2026-11-01"
    assert "digraph" in to_dot(g, title="热点")


def _t4_history() -> dict[str, Any]:
    def ev(seq: int, kind: str, hour: int, **fields: Any) -> dict[str, Any]:
        return {"seq": seq, "type": kind, "at": f"2026-11-05T{hour:02d}:00:00+08:00", **fields}

    return {
        "ticket_id": "T4",
        "events": [
            ev(1, "dispatched", 9, unit="D-CG"),
            ev(2, "return_requested", 10, unit="D-CG", proposed_unit="JD-HP"),
            ev(3, "return_upheld", 11),
            ev(4, "reassigned", 12, to_unit="JD-HP"),
            ev(5, "reassigned", 13, to_unit="D-CG"),
            ev(6, "dispute_opened", 13, unit="D-CG", dispute_id="D1"),
        ],
        "disputes": [{"id": "D1", "reason": "bounce", "status": "ruled",
                      "parties": ["D-CG", "JD-HP"], "opened_at": "2026-11-05T05:00:00+00:00"}],
        "rulings": [{"id": "RUL-1", "dispute_id": "D1", "lead": "JD-HP",
                     "document_no": "示政办裁〔2026〕3号", "at": "2026-11-06T09:00:00+08:00"}],
    }


def test_a_ticket_is_a_chain_in_time_order_with_its_dispute_and_ruling_in_place() -> None:
    g = ticket_view(_t4_history(), names=NAMES)
    order = list(g.nodes)
    assert order == ["step:T4:1", "step:T4:2", "step:T4:3", "step:T4:4", "step:T4:5",
                     "dispute:D1", "ruling:RUL-1"]
    assert [k for _, _, k in g.edges(keys=True)] == ["next"] * 6
    assert all(g.has_edge(a, b, "next") for a, b in itertools.pairwise(order))


def test_ticket_steps_are_labelled_with_local_time_unit_names_and_elapsed_hours() -> None:
    g = ticket_view(_t4_history(), names=NAMES)
    assert g.nodes["step:T4:2"]["label"] == "2026-11-05 10:00\n申请退单 城管委\n建议改派 和平街道"
    assert g.nodes["step:T4:4"]["label"] == "2026-11-05 12:00\n改派 和平街道"
    assert g.nodes["dispute:D1"]["label"].endswith("争议 D1（来回推诿）\n城管委、和平街道")
    assert "主办：和平街道" in g.nodes["ruling:RUL-1"]["label"]
    assert g.edges["dispute:D1", "ruling:RUL-1", "next"]["label"] == "+20 小时"


def test_a_dispute_without_an_opening_event_is_placed_by_its_opening_time() -> None:
    history = _t4_history()
    history["events"] = history["events"][:4]
    history["disputes"][0]["opened_at"] = "2026-11-05T11:30:00+08:00"
    order = list(ticket_view(history).nodes)
    assert order.index("dispute:D1") == order.index("step:T4:3") + 1


def test_the_ticket_view_draws_through_the_common_renderer() -> None:
    dot = to_dot(ticket_view(_t4_history(), names=NAMES), title="工单 T4 的流转")
    assert "申请退单 城管委" in dot and "rankdir=LR" in dot


def _lineage() -> dict[str, Any]:
    rules = {
        "R-RUL-1": {"id": "R-RUL-1", "category": "0301", "area": None, "when": {},
                    "text_any": [], "source": "ruling", "lead": "D-CG"},
        "R-RUL-2": {"id": "R-RUL-2", "category": "0301", "area": None, "when": {},
                    "text_any": [], "source": "ruling", "lead": "JD-HP"},
        "R-CAT": {"id": "R-CAT", "category": "0301", "area": None, "when": {}, "text_any": [],
                  "source": "catalog", "lead": "JD-HP"},
        "R-OLD": {"id": "R-OLD", "category": "0301", "area": "101", "when": {},
                  "text_any": [], "source": "catalog", "lead": "D-ZJ", "retired": True},
    }
    rulings = [
        {"id": "RUL-1", "rule_id": "R-RUL-1", "retired_rules": ["R-OLD"], "supersedes": None,
         "lead": "D-CG", "document_no": "示政办裁〔2026〕1号",
         "at": "2026-03-01T10:00:00+08:00"},
        {"id": "RUL-2", "rule_id": "R-RUL-2", "retired_rules": ["R-RUL-1"],
         "supersedes": "RUL-1", "lead": "JD-HP", "document_no": "示政办裁〔2026〕9号",
         "at": "2026-09-01T10:00:00+08:00"},
    ]
    return {"ruling_id": "RUL-1", "rulings": rulings, "rules": rules}


def test_lineage_shows_the_rule_a_ruling_wrote_and_the_rules_it_retired() -> None:
    g = lineage_view(_lineage(), names=NAMES)
    assert g.has_edge("ruling:RUL-1", "rule:R-RUL-1", "writes")
    assert g.has_edge("ruling:RUL-1", "rule:R-OLD", "retires")
    assert g.nodes["rule:R-OLD"]["label"].endswith("（已废止）")
    assert g.nodes["ruling:RUL-1"]["focus"] and not g.nodes["ruling:RUL-2"]["focus"]


def test_lineage_shows_later_rulings_that_superseded_it() -> None:
    g = lineage_view(_lineage(), names=NAMES)
    assert g.has_edge("ruling:RUL-2", "ruling:RUL-1", "supersedes")
    assert g.has_edge("ruling:RUL-2", "rule:R-RUL-1", "retires")


def test_a_ruling_rule_outranks_catalogue_rules_of_the_same_specificity_only() -> None:
    lineage = _lineage()
    assert outranked(lineage["rules"]["R-RUL-1"], lineage["rules"].values()) == ["R-CAT"]
    g = lineage_view(lineage)
    assert g.has_edge("rule:R-RUL-1", "rule:R-CAT", "outranks")
    assert not g.has_edge("rule:R-RUL-1", "rule:R-RUL-2", "outranks")


def test_arbitration_graphs_export_as_json_with_the_common_attributes() -> None:
    doc = to_json(lineage_view(_lineage()))
    assert {"label", "kind", "cluster"} <= doc["nodes"][0].keys()
    assert {"relation", "weight", "label"} <= doc["edges"][0].keys()
