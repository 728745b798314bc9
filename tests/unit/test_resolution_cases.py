"""The resolution canon (domain.md §4) as data: every file in ``cases/`` holds cases of
``note``, ``matrix``, ``ticket`` and ``expected``, run by one parametrized test.

A case's ``matrix`` is the shared district of ``cases/_district.yaml`` (a bundle) plus the
case's ``rules``; it may add ``units``, ``areas`` or ``categories``, replace ``settings``, or
start from nothing with ``base: none``. Rules get a default ``basis``. The ticket defaults to
the 和平街道 township and 2026-06-01 10:00 (+08:00).

``expected`` may name ``status``, ``lead``, ``co_handlers`` (ordered), ``rule`` (the winning
rule id or null), ``fallback_step``, ``tied_rules``, ``excluded_by_area``, ``candidates``
(every candidate's rule id → step, exactly), ``candidate_order`` and ``intake`` (an
``out_of_scope`` decision's flag); only the keys given are checked.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from jurisdiction.model import Jurisdiction
from rules.bundle import parse_bundle, parse_datetime
from rules.model import Decision, Settings, Ticket
from rules.resolution import context_for, resolve
from rules.store import Matrix

CASES = Path(__file__).parent / "cases"
BASE = "_district.yaml"
DEFAULT_AREA = "110199001"
DEFAULT_AS_OF = "2026-06-01T10:00:00+08:00"
EXPECTED_KEYS = {"status", "lead", "co_handlers", "rule", "fallback_step", "tied_rules",
                 "excluded_by_area", "candidates", "candidate_order", "intake"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        if path.name == BASE:
            continue
        for case in _load(path)["cases"]:
            params.append(pytest.param(case, id=case["name"]))
    return params


def build_matrix(spec: dict[str, Any]) -> Matrix:
    """The case's matrix: the shared district plus the case's additions, as a bundle."""
    spec = dict(spec or {})
    if spec.pop("base", "district") == "none":
        data: dict[str, Any] = {}
    else:
        data = copy.deepcopy(_load(CASES / BASE))
    for key in ("units", "areas", "categories"):
        data[key] = data.get(key, []) + spec.pop(key, [])
    if "settings" in spec:
        data["settings"] = spec.pop("settings")
    data["rules"] = [{"basis": "测试依据", **rule} for rule in spec.pop("rules", [])]
    assert not spec, f"unknown matrix keys {sorted(spec)}"
    bundle = parse_bundle(data)
    jurisdiction = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    return Matrix.build(1, jurisdiction, {r.id: r for r in bundle.rules},
                        bundle.settings or Settings())


def build_ticket(spec: dict[str, Any]) -> Ticket:
    return Ticket(category=spec["category"], area=spec.get("area", DEFAULT_AREA),
                  attributes=spec.get("attributes", {}), text=spec.get("text", ""),
                  as_of=parse_datetime(spec.get("as_of", DEFAULT_AS_OF)))


def route(matrix: Matrix, ticket: Ticket) -> Decision:
    ctx = context_for(ticket, matrix.jurisdiction)
    return resolve(ctx, matrix.considered(ctx.category_path), matrix.jurisdiction,
                   matrix.settings)


def observed(decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status.value,
        "lead": decision.lead,
        "co_handlers": list(decision.co_handlers),
        "rule": decision.rule.id if decision.rule else None,
        "fallback_step": decision.fallback_step,
        "tied_rules": list(decision.tied_rules),
        "excluded_by_area": decision.excluded_by_area,
        "candidates": {c.rule_id: c.step for c in decision.candidates},
        "candidate_order": [c.rule_id for c in decision.candidates],
        "intake": decision.intake,
    }


@pytest.mark.parametrize("case", load_cases())
def test_resolution_case(case: dict[str, Any]) -> None:
    expected = case["expected"]
    assert set(expected) <= EXPECTED_KEYS, f"unknown expected keys {set(expected) - EXPECTED_KEYS}"
    decision = route(build_matrix(case.get("matrix", {})), build_ticket(case["ticket"]))
    got = observed(decision)
    assert {k: got[k] for k in expected} == expected, decision.summary
    outcomes = {c.rule_id: c.outcome for c in decision.candidates}
    assert len(outcomes) == len(decision.candidates), "a rule is listed twice"
    assert [r for r, o in outcomes.items() if o == "won"] == (
        [decision.rule.id] if decision.rule else [])


def test_case_names_are_unique_and_there_are_enough_of_them() -> None:
    names = [p.id for p in load_cases()]
    assert len(names) == len(set(names))
    assert len(names) >= 40
