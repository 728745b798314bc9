"""Departmental matters never fall to 街乡 (国办函〔2025〕66号 §五; rules/departmental.py).

The property runs over small generated matrices: every leaf × every area below a district ×
several dates, for plain tickets and tickets with attributes. Whatever the rules and marks,
a leaf that some rule of the district gives to a department or utility, or that is marked
departmental, never lands on a township, street or community unit when no rule decides; a
leaf that is neither still falls to its territorial unit (the derivation does not reach
too far).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind
from rules.departmental import departmental_fallback, derive_defaults
from rules.model import TERRITORIAL, Decision, Rule, Settings, Status, Ticket
from rules.resolution import context_for, resolve
from rules.store import Matrix
from rules.verification import departmental_fallbacks, verify

BASE = datetime(2025, 1, 1, tzinfo=UTC)
INSTANTS = tuple(BASE + timedelta(days=d) for d in (0, 60, 400, 800))
DATES = (BASE - timedelta(days=30), *INSTANTS, BASE + timedelta(days=2000))
KINDS = (UnitKind.DEPARTMENT, UnitKind.UTILITY, UnitKind.STREET, UnitKind.TOWNSHIP,
         UnitKind.COMMUNITY, UnitKind.OFFICE)
FALLEN = (Status.FALLBACK, Status.UNROUTED)


@st.composite
def matrices(draw: st.DrawFn) -> Matrix:
    units = [Unit(f"U{i}", f"单位{i}", draw(st.sampled_from(KINDS)))
             for i in range(draw(st.integers(2, 7)))]
    units.append(Unit("O-RX", "热线中心", UnitKind.OFFICE))
    codes = [u.code for u in units]
    areas: list[Area] = []
    for d in range(draw(st.integers(1, 2))):
        district = f"D{d}"
        areas.append(Area(district, district, AreaLevel.DISTRICT, None, None))
        for t in range(draw(st.integers(1, 3))):
            township = f"{district}T{t}"
            areas.append(Area(township, township, AreaLevel.TOWNSHIP, district,
                              draw(st.none() | st.sampled_from(codes))))
            if draw(st.booleans()):
                areas.append(Area(f"{township}C", "c", AreaLevel.COMMUNITY, township,
                                  draw(st.none() | st.sampled_from(codes))))
    categories: list[Category] = []

    def category(code: str, parent: str | None) -> None:
        marked = draw(st.integers(0, 4)) == 0
        default = draw(st.none() | st.sampled_from(codes)) if marked else None
        categories.append(Category(code, code, parent, marked, default))

    for r in range(draw(st.integers(1, 2))):
        root = f"C{r}"
        category(root, None)
        for m in range(draw(st.integers(0, 2))):
            mid = f"{root}{m}"
            category(mid, root)
            for leaf in range(draw(st.integers(0, 3))):
                category(f"{mid}{leaf}", mid)
    j = Jurisdiction.build(units, areas, categories)
    rules = []
    for i in range(draw(st.integers(0, 10))):
        start = draw(st.none() | st.sampled_from(INSTANTS))
        end = draw(st.none() | st.sampled_from(INSTANTS))
        if start is not None and end is not None and end <= start:
            end = None
        rules.append(Rule(
            f"R{i}", draw(st.sampled_from(sorted(j.categories))),
            draw(st.sampled_from([TERRITORIAL, *codes])), "b",
            area=draw(st.none() | st.sampled_from(sorted(j.areas))),
            when=draw(st.sampled_from([{}, {"k": ("a",)}, {"k": ("b",)}])),
            valid_from=start, valid_to=end))
    return Matrix.build(1, j, {r.id: r for r in rules}, Settings(hotline_office="O-RX"))


def department_led(matrix: Matrix, leaf: str, district: str) -> Rule | None:
    """A rule that gives the leaf (or an ancestor) to a department or utility in the
    district, at any validity and under any condition (searched, not looked up)."""
    j = matrix.jurisdiction
    path = j.category_path(leaf)
    for rule in matrix.rules.values():
        unit = j.units.get(rule.lead)
        if (rule.category in path and unit is not None and unit.is_departmental
                and (rule.area is None or j.district_of(rule.area) == district)):
            return rule
    return None


def is_marked(matrix: Matrix, leaf: str) -> bool:
    j = matrix.jurisdiction
    return any(j.categories[c].departmental for c in j.category_path(leaf))


def decisions(matrix: Matrix, leaf: str, area: str) -> list[tuple[Ticket, Decision]]:
    j = matrix.jurisdiction
    out = []
    for at in DATES:
        for attributes in ({}, {"k": "a"}, {"k": "z"}):
            ticket = Ticket(leaf, at, area=area, attributes=attributes)
            ctx = context_for(ticket, j)
            out.append((ticket, resolve(ctx, matrix.considered(ctx.category_path), j,
                                        matrix.settings)))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=matrices())
def test_no_fallback_for_a_department_led_leaf_lands_on_a_territorial_unit(
        matrix: Matrix) -> None:
    j = matrix.jurisdiction
    for leaf in j.category_leaves():
        for area in sorted(a for a in j.areas if j.areas[a].level is not AreaLevel.DISTRICT):
            led_by = department_led(matrix, leaf, j.district_of(area))
            marked = is_marked(matrix, leaf)
            for ticket, decision in decisions(matrix, leaf, area):
                if decision.status not in FALLEN:
                    continue
                lead = j.units.get(decision.lead) if decision.lead else None
                if led_by is not None or marked:
                    assert lead is None or not lead.is_territorial, (ticket, decision)
                if led_by is not None:  # a department is named: the hotline is not needed
                    assert decision.fallback_step in ("category_default", "derived_default"), (
                        ticket, decision)
                if led_by is None and not marked:
                    assert decision.fallback_step in ("territorial", "hotline_office"), (
                        ticket, decision)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=matrices())
def test_verify_reports_every_marked_category_whose_default_unit_is_territorial(
        matrix: Matrix) -> None:
    j = matrix.jurisdiction
    expected = {c.code for c in j.categories.values() if c.departmental and c.default_unit
                and j.units[c.default_unit].is_territorial}
    report = verify(matrix, INSTANTS[1])
    found = {f.category for f in report.findings
             if f.code == "departmental_default_territorial"}
    assert found == expected
    assert all(f.severity == "error" for f in report.findings
               if f.code == "departmental_default_territorial")
    if expected:
        assert report.has_errors


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=matrices())
def test_verify_warns_about_exactly_the_unmarked_leaves_a_rule_makes_departmental(
        matrix: Matrix) -> None:
    j = matrix.jurisdiction
    rules = list(matrix.rules.values())
    expected = set()
    for leaf in j.category_leaves():
        for district in {j.district_of(t.code) for t in j.townships()}:
            if not is_marked(matrix, leaf) and department_led(matrix, leaf, district):
                expected.add((leaf, district))
    found = {(f.category, f.areas[0]) for f in departmental_fallbacks(j, rules)
             if f.code in ("departmental_unmarked", "departmental_derived")}
    assert found == expected


# -- small worked examples ----------------------------------------------------------------------

def _district() -> Jurisdiction:
    return Jurisdiction.build(
        [Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("JD-XG", "西关街道", UnitKind.STREET),
         Unit("D-SW", "区水务局", UnitKind.DEPARTMENT),
         Unit("D-CG", "区城管委", UnitKind.DEPARTMENT),
         Unit("U-DL", "供电公司", UnitKind.UTILITY), Unit("O-RX", "热线中心", UnitKind.OFFICE)],
        [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
         Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP"),
         Area("102", "西关街道", AreaLevel.TOWNSHIP, "1", "JD-XG")],
        [Category("04", "市政公用", None), Category("0402", "供水", "04"),
         Category("040201", "停水", "0402"), Category("0403", "供电", "04"),
         Category("040301", "停电", "0403"), Category("0404", "燃气", "04"),
         Category("040401", "燃气泄漏", "0404", departmental=True, default_unit="JD-XG")])


def test_a_three_ding_rule_that_starts_later_makes_a_past_ticket_fall_to_the_department(
        ) -> None:
    sanding = Rule("SD-1", "040201", "D-SW", "《区水务局三定规定》",
                   valid_from=datetime(2025, 3, 1, tzinfo=UTC))
    matrix = Matrix.build(1, _district(), {"SD-1": sanding}, Settings(hotline_office="O-RX"))
    ticket = Ticket("040201", datetime(2025, 1, 15, tzinfo=UTC), area="102")
    ctx = context_for(ticket, matrix.jurisdiction)
    d = resolve(ctx, matrix.considered(ctx.category_path), matrix.jurisdiction, matrix.settings)
    assert (d.status, d.lead, d.fallback_step) == (Status.FALLBACK, "D-SW", "derived_default")
    assert "SD-1" in d.summary and "国办函〔2025〕66号" in d.summary


def test_derived_defaults_are_per_district_and_skip_unknown_references() -> None:
    j = Jurisdiction.build(
        [Unit("D1-SW", "一区水务局", UnitKind.DEPARTMENT),
         Unit("D2-SW", "二区水务局", UnitKind.DEPARTMENT)],
        [Area("1", "一区", AreaLevel.DISTRICT, None, None),
         Area("2", "二区", AreaLevel.DISTRICT, None, None),
         Area("201", "二区街道", AreaLevel.TOWNSHIP, "2", None)],
        [Category("04", "市政", None)])
    rules = [Rule("A", "04", "D1-SW", "b", area="1"), Rule("B", "04", "D2-SW", "b", area="201"),
             Rule("X", "99", "D1-SW", "b"), Rule("Y", "04", "D1-SW", "b", area="404"),
             Rule("Z", "04", "NOBODY", "b")]
    derived = derive_defaults(j, rules)
    assert {k: (v.unit, v.rule_id) for k, v in derived.items()} == {
        ("04", "1"): ("D1-SW", "A"), ("04", "2"): ("D2-SW", "B")}
    j = j.with_derived_defaults(derived)
    assert departmental_fallback(("04",), None, j) is None


def test_a_territorial_default_unit_is_refused_by_routing_and_reported_by_verify() -> None:
    matrix = Matrix.build(1, _district(), {}, Settings(hotline_office="O-RX"))
    ticket = Ticket("040401", datetime(2026, 6, 1, tzinfo=UTC), area="101")
    ctx = context_for(ticket, matrix.jurisdiction)
    d = resolve(ctx, [], matrix.jurisdiction, matrix.settings)
    assert (d.status, d.lead, d.fallback_step) == (Status.UNROUTED, "O-RX", "hotline_office")
    assert "JD-XG" in d.summary
    errors = [f for f in verify(matrix, ticket.as_of).findings
              if f.code == "departmental_default_territorial"]
    assert [(f.severity, f.category) for f in errors] == [("error", "040401")]
    assert "西关街道" in errors[0].message and "国办函〔2025〕66号" in errors[0].message


def test_verify_names_the_rule_and_unit_of_an_unmarked_departmental_leaf() -> None:
    rules = {r.id: r for r in (
        Rule("GY-1", "0403", "U-DL", "《供电营业规则》", when={"k": ("v",)}),
        Rule("JB-1", "040201", TERRITORIAL, "基本履职", when={"k": ("v",)}),
        Rule("PH-1", "040201", "D-SW", "配合履职", when={"k": ("w",)}))}
    matrix = Matrix.build(1, _district(), rules, Settings(hotline_office="O-RX"))
    found = {f.category: f for f in verify(matrix, BASE).findings
             if f.code in ("departmental_unmarked", "departmental_derived")}
    assert set(found) == {"040301", "040201"}
    assert (found["040301"].code, found["040301"].severity) == ("departmental_unmarked",
                                                                "warning")
    assert found["040301"].rule_ids == ("GY-1",) and "供电公司" in found["040301"].message
    assert (found["040201"].code, found["040201"].severity) == ("departmental_derived", "info")
    assert "区水务局" in found["040201"].message
