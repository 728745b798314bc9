"""The matrix check (``quanze verify``): gaps per category with their townships, overlaps,
shadowed rules, departmental push-downs, a missing hotline office, dangling references."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind
from rules.model import TERRITORIAL, Rule, RuleSource, Settings
from rules.store import Matrix
from rules.verification import Report, verify

AT = datetime(2026, 6, 1, tzinfo=UTC)


def jurisdiction() -> Jurisdiction:
    return Jurisdiction.build(
        units=[
            Unit("JD-HP", "和平街道", UnitKind.STREET),
            Unit("JD-DH", "东湖街道", UnitKind.STREET),
            Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT),
            Unit("D-CG", "城管委", UnitKind.DEPARTMENT),
            Unit("D-SW", "税务局", UnitKind.DEPARTMENT),
            Unit("O-RX", "热线中心", UnitKind.OFFICE),
        ],
        areas=[
            Area("1", "示范区", AreaLevel.DISTRICT, None, None),
            Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP"),
            Area("102", "东湖街道", AreaLevel.TOWNSHIP, "1", "JD-DH"),
        ],
        categories=[
            Category("03", "城乡建设", None),
            Category("0301", "违法建设", "03"),
            Category("030101", "小区违建", "0301"),
            Category("030102", "道路违建", "0301"),
            Category("09", "财税", None),
            Category("0901", "发票", "09", departmental=True, default_unit="D-SW"),
        ],
    )


def clean_rules() -> list[Rule]:
    return [
        Rule("R-0301", "0301", TERRITORIAL, "b", co_handlers=("D-ZJ",)),
        Rule("R-0901", "0901", "D-SW", "b"),
    ]


def check(
    *extra: Rule, rules: list[Rule] | None = None, hotline: str | None = "O-RX", **kwargs: Any
) -> Report:
    all_rules = (clean_rules() if rules is None else rules) + list(extra)
    matrix = Matrix.build(
        3,
        kwargs.get("j") or jurisdiction(),
        {r.id: r for r in all_rules},
        Settings(hotline_office=hotline),
    )
    return verify(matrix, AT)


def findings(report: Report, code: str) -> list[Any]:
    return [f for f in report.findings if f.code == code]


def test_clean_matrix_has_no_errors_and_no_gaps() -> None:
    report = check()
    assert not report.has_errors, report.as_dict()
    assert findings(report, "gap") == []
    assert report.cells == 3 * 2  # leaves 030101, 030102, 0901 × two townships
    assert report.cells_by_status == {"routed": 6}
    assert report.as_dict()["ok"] is True


def test_gap_is_reported_once_per_category_with_its_townships() -> None:
    rules = [
        Rule("R-030101", "030101", TERRITORIAL, "b"),
        Rule("R-0901", "0901", "D-SW", "b"),
        Rule("R-030102-HP", "030102", "JD-HP", "b", area="101"),
    ]
    report = check(rules=rules)
    gaps = findings(report, "gap")
    assert [(g.category, g.areas) for g in gaps] == [("030102", ("102",))]
    assert gaps[0].severity == "warning"
    assert "territorial" in gaps[0].message
    assert not report.has_errors
    assert report.cells_by_status == {"routed": 5, "fallback": 1}


def test_gap_in_every_township_of_a_departmental_category_names_its_default() -> None:
    report = check(rules=[Rule("R-0301", "0301", TERRITORIAL, "b")])
    gaps = {g.category: g for g in findings(report, "gap")}
    assert set(gaps) == {"0901"}
    assert gaps["0901"].areas == ("101", "102")
    assert "category_default" in gaps["0901"].message


def test_rule_valid_only_later_leaves_a_gap_now() -> None:
    later = Rule("R-0301", "0301", TERRITORIAL, "b", valid_from=datetime(2027, 1, 1, tzinfo=UTC))
    report = check(rules=[later, Rule("R-0901", "0901", "D-SW", "b")])
    assert {g.category for g in findings(report, "gap")} == {"030101", "030102"}


def test_overlap_of_equal_rules_with_different_leads_is_an_error() -> None:
    report = check(Rule("R-0301-B", "0301", "D-CG", "b"))
    overlaps = findings(report, "overlap")
    assert [f.rule_ids for f in overlaps] == [("R-0301", "R-0301-B")]
    assert overlaps[0].severity == "error"
    assert report.has_errors
    assert report.cells_by_status.get("ambiguous") == 4


def test_rules_with_disjoint_conditions_or_windows_do_not_overlap() -> None:
    rules = [
        Rule("R-A", "030101", "D-ZJ", "b", when={"k": ("1",)}),
        Rule("R-B", "030101", "D-CG", "b", when={"k": ("2",)}),
        Rule("R-C", "030102", "D-ZJ", "b", valid_to=datetime(2026, 1, 1, tzinfo=UTC)),
        Rule("R-D", "030102", "D-CG", "b", valid_from=datetime(2026, 1, 1, tzinfo=UTC)),
        Rule("R-0901", "0901", "D-SW", "b"),
    ]
    assert findings(check(rules=rules), "overlap") == []


def test_equal_rules_with_the_same_lead_do_not_overlap() -> None:
    report = check(Rule("R-0301-B", "0301", TERRITORIAL, "b", co_handlers=("D-CG",)))
    assert findings(report, "overlap") == []
    assert not report.has_errors


def test_rule_outranked_whenever_it_matches_is_shadowed() -> None:
    report = check(Rule("R-0301-OLD", "0301", TERRITORIAL, "b", priority=-1))
    shadowed = findings(report, "shadowed")
    assert [f.rule_ids for f in shadowed] == [("R-0301-OLD", "R-0301")]
    assert shadowed[0].severity == "warning"
    assert not report.has_errors


def test_a_role_lead_does_not_shadow_a_fixed_lead_it_cannot_resolve_without_an_area() -> None:
    # R-0301 (@territorial) outranks it, but a ticket without an area has no territorial
    # unit: there R-0301 loses at the role step and this rule wins.
    report = check(Rule("R-0301-OLD", "0301", "D-CG", "b", priority=-1))
    assert findings(report, "shadowed") == []


def test_rule_with_more_conditions_is_not_shadowed_by_a_general_one() -> None:
    report = check(Rule("R-0301-ROAD", "0301", "D-CG", "b", when={"where": ("road",)}))
    assert findings(report, "shadowed") == []
    assert findings(report, "overlap") == []


def test_keywords_that_always_contain_a_stronger_rules_keyword_are_shadowed() -> None:
    rules = [
        Rule("R-STRONG", "030101", "D-ZJ", "b", text_any=("违建",), source=RuleSource.RULING),
        Rule("R-WEAK", "030101", "D-CG", "b", text_any=("小区违建", "违建房")),
        *clean_rules(),
    ]
    shadowed = findings(check(rules=rules), "shadowed")
    assert [f.rule_ids for f in shadowed] == [("R-WEAK", "R-STRONG")]


def test_territorial_lead_on_departmental_category_is_a_pushdown_error() -> None:
    report = check(
        Rule("R-PUSH", "0901", TERRITORIAL, "b"),
        Rule("R-PUSH-UNIT", "0901", "JD-HP", "b", area="101"),
    )
    pushdowns = findings(report, "departmental_pushdown")
    assert sorted(f.rule_ids for f in pushdowns) == [("R-PUSH",), ("R-PUSH-UNIT",)]
    assert all(f.severity == "error" for f in pushdowns)
    assert report.has_errors


def test_missing_hotline_office_is_an_error() -> None:
    for hotline in (None, "O-NONE"):
        report = check(hotline=hotline)
        assert [f.severity for f in findings(report, "no_hotline_office")] == ["error"]
        assert report.has_errors


def test_dangling_references_are_errors_naming_what_is_missing() -> None:
    report = check(
        Rule("R-BAD", "0301", "D-NONE", "b", co_handlers=("D-GONE",), area="999"),
        Rule("R-NOCAT", "99", "D-ZJ", "b"),
    )
    dangling = {f.rule_ids: f for f in findings(report, "dangling_reference")}
    assert set(dangling) == {("R-BAD",), ("R-NOCAT",)}
    bad = dangling[("R-BAD",)].message
    assert "area 999" in bad and "unit D-NONE" in bad and "unit D-GONE" in bad
    assert "category 99" in dangling[("R-NOCAT",)].message
    assert report.has_errors


def test_township_without_unit_and_departmental_without_default_are_warned() -> None:
    j = Jurisdiction.build(
        units=[
            Unit("D-SW", "税务局", UnitKind.DEPARTMENT),
            Unit("O-RX", "热线中心", UnitKind.OFFICE),
        ],
        areas=[
            Area("1", "区", AreaLevel.DISTRICT, None, None),
            Area("103", "西山镇", AreaLevel.TOWNSHIP, "1", None),
        ],
        categories=[
            Category("09", "财税", None),
            Category("0901", "发票", "09", departmental=True),
        ],
    )
    report = check(rules=[], j=j)
    assert [f.areas for f in findings(report, "no_territorial_unit")] == [("103",)]
    assert [f.category for f in findings(report, "departmental_without_default")] == ["0901"]
    assert [(g.category, g.areas) for g in findings(report, "gap")] == [("0901", ("103",))]
    assert report.cells_by_status == {"unrouted": 1}


def test_report_counts_findings_by_code() -> None:
    report = check(Rule("R-0301-B", "0301", "D-CG", "b"), hotline=None)
    counts = report.as_dict()["counts"]
    assert counts["overlap"] == 1
    assert counts["no_hotline_office"] == 1
    assert report.as_dict()["ok"] is False
