"""What ``verify`` reports as data: every file in ``verify_cases/`` holds cases of ``note``,
``matrix`` (the district of ``cases/_district.yaml`` plus the case's rules, as in the
resolution cases), an optional ``at`` and ``expected`` findings, run by one parametrized test.

``expected`` may name ``shadowed`` (dead rule → the rules named as beating it, strongest
first), ``gap`` (leaf → its townships, ``[]`` for none; only the leaves listed are compared),
``conditional_coverage`` ({category, rules, areas} findings) and ``duplicate_rule`` (groups of
ids); each key given is compared exactly, the others are not checked.

Beside the cases: the demo district and the duty-list example, checked against the canon by
brute force.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import demo
from jurisdiction.model import Jurisdiction
from rules.bundle import parse_bundle, parse_datetime
from rules.conditions import TicketContext
from rules.dutylist import read_duty_list
from rules.model import Rule, Settings, Ticket
from rules.resolution import resolve
from rules.store import Matrix
from rules.verification import Finding, Report, verify
from tests.unit.test_resolution_cases import build_matrix

CASES = Path(__file__).parent / "verify_cases"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
DEFAULT_AT = "2026-06-01T10:00:00+08:00"
EXPECTED_KEYS = {"shadowed", "gap", "conditional_coverage", "duplicate_rule"}


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(case, id=case["name"]))
    return params


def of(report: Report, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def observed(report: Report, key: str) -> Any:
    found = of(report, key)
    if key == "shadowed":
        return {f.rule_ids[0]: list(f.rule_ids[1:]) for f in found}
    if key == "gap":
        return {f.category: list(f.areas) for f in found}
    if key == "conditional_coverage":
        return [{"category": f.category, "rules": list(f.rule_ids), "areas": list(f.areas)}
                for f in found]
    return [list(f.rule_ids) for f in found]


@pytest.mark.parametrize("case", load_cases())
def test_verification_case(case: dict[str, Any]) -> None:
    expected = case["expected"]
    assert set(expected) <= EXPECTED_KEYS, f"unknown expected keys {set(expected) - EXPECTED_KEYS}"
    report = verify(build_matrix(case["matrix"]), parse_datetime(case.get("at", DEFAULT_AT)))
    for key, value in expected.items():
        found = observed(report, key)
        if key == "gap":
            found = {leaf: found.get(leaf, []) for leaf in value}
        assert found == value, (key, case.get("note"))


def test_shadowed_and_conditional_findings_keep_their_severities() -> None:
    matrix = build_matrix({"rules": [
        {"id": "R-LOCAL", "category": "0301", "area": "110199001", "lead": "D-GZ"},
        {"id": "R-LEAF-1", "category": "030101", "lead": "D-ZJ", "when": {"k": "v"}},
        {"id": "R-LEAF-2", "category": "030102", "lead": "D-CG"},
        {"id": "R-LEAF-2-COPY", "category": "030102", "lead": "D-CG"},
        {"id": "R-LEAF-2-LOW", "category": "030102", "lead": "D-ZJ", "priority": -1},
    ]})
    report = verify(matrix, parse_datetime(DEFAULT_AT))
    assert {f.severity for f in of(report, "shadowed")} == {"warning"}
    assert {f.severity for f in of(report, "duplicate_rule")} == {"warning"}
    assert {f.severity for f in of(report, "conditional_coverage")} == {"info"}
    assert "k=v" in of(report, "conditional_coverage")[0].message


def test_the_duty_list_example_has_no_gap_where_conditional_rules_serve_the_leaf() -> None:
    bundle = parse_bundle(read_duty_list(EXAMPLES / "duty-list-example.xlsx"))
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    matrix = Matrix.build(1, j, {r.id: r for r in bundle.rules}, bundle.settings or Settings())
    report = verify(matrix, datetime(2026, 6, 1, tzinfo=UTC))
    assert "030101" not in {f.category for f in of(report, "gap")}
    covered = {rule_id for f in of(report, "conditional_coverage") if f.category == "030101"
               for rule_id in f.rule_ids}
    assert covered == {r.id for r in bundle.rules if r.category == "030101"}


# ------------------------------------------------------------- the demo, by brute force


def _demo_matrix() -> Matrix:
    bundle = parse_bundle(demo.district())
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    return Matrix.build(1, j, {r.id: r for r in bundle.rules}, bundle.settings or Settings())


def _tickets_for(matrix: Matrix, rule: Rule) -> Iterator[tuple[TicketContext, list[Rule]]]:
    """Tickets the rule matches: every leaf under it, every area in its scope (and none), at
    each validity bound on the path and a day before the first, with the rule's own
    attributes (every combination) and each of its keywords as the text."""
    j = matrix.jurisdiction
    leaves = [c for c in j.category_leaves() if j.is_category_within(c, rule.category)]
    areas: list[str | None] = [a for a in sorted(j.areas)
                               if rule.area is None or j.is_area_within(a, rule.area)]
    if rule.area is None:
        areas.append(None)
    combos: list[dict[str, str]] = [{}]
    for key, values in rule.when.items():
        combos = [{**c, key: v} for c in combos for v in values]
    for leaf in leaves:
        path = j.category_path(leaf)
        considered = matrix.considered(path)
        bounds = sorted({t for r in considered for t in (r.valid_from, r.valid_to) if t})
        moments = [t for t in [bounds[0] - timedelta(days=1), *bounds] if rule.is_valid_at(t)]
        for area in areas:
            area_path = j.area_path(area) if area else ()
            for moment in moments:
                for attrs in combos:
                    for text in rule.text_any or ("",):
                        ticket = Ticket(leaf, moment, area=area, attributes=attrs, text=text)
                        yield TicketContext(ticket, path, area_path), considered


def _fate(matrix: Matrix, rule: Rule) -> tuple[bool, bool]:
    """(the rule applies to some ticket, the rule decides some ticket), by brute force."""
    applies = False
    for ctx, considered in _tickets_for(matrix, rule):
        decision = resolve(ctx, considered, matrix.jurisdiction, matrix.settings)
        step = next((c.step for c in decision.candidates if c.rule_id == rule.id), None)
        if step in ("won", "tie"):
            return True, True
        applies = applies or step not in (None, "role", "departmental")
    return applies, False


def test_on_the_demo_a_rule_is_reported_shadowed_exactly_when_it_applies_but_never_decides(
        ) -> None:
    matrix = _demo_matrix()
    report = verify(matrix, datetime(2026, 11, 30, tzinfo=UTC))
    dead = {f.rule_ids[0] for f in of(report, "shadowed")}
    fates = {r.id: _fate(matrix, r) for r in matrix.rules.values()}
    assert dead == {rule_id for rule_id, (applies, decides) in fates.items()
                    if applies and not decides}
