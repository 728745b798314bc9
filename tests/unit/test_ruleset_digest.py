"""The content digest of a rule-set version: equal content, equal digest; any change of
content, another digest (rules.store.content_digest)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from jurisdiction.model import Intake, Jurisdiction
from rules.bundle import parse_bundle
from rules.model import Settings
from rules.store import Matrix, content_digest, rule_from_row, rule_row
from tests.conftest import contract_bundle

#: a value for each stored rule field that differs from the contract bundle's
OTHER_VALUE: dict[str, Any] = {
    "id": "R-OTHER", "category": "0302", "area": "110199001",
    "when": {"location_type": ["public_road"]}, "text_any": ["违建"], "lead": "D-ZJ",
    "co_handlers": ["D-ZJ"], "basis": "另一依据", "source": "ruling", "priority": 5,
    "valid_from": "2026-02-01T00:00:00+08:00", "valid_to": "2027-01-01T00:00:00+08:00",
    "ruling_id": "RUL-1", "note": "备注",
}


def matrix(data: dict[str, Any] | None = None, *, version: int = 1) -> Matrix:
    bundle = parse_bundle(data or contract_bundle())
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    return Matrix.build(version, j, {r.id: r for r in bundle.rules},
                        bundle.settings or Settings())


def test_equal_content_gives_an_equal_digest_whatever_the_version_order_or_revisions() -> None:
    one = matrix(version=1)
    data = contract_bundle()
    for key in ("units", "areas", "categories", "rules"):
        data[key] = list(reversed(data[key]))
    other = matrix(data, version=9)
    other = replace(other, rules={k: replace(r, revision=r.revision + 3)
                                  for k, r in reversed(other.rules.items())})
    assert content_digest(one) == content_digest(other)
    assert len(content_digest(one)) == 64


@pytest.mark.parametrize("name", sorted(OTHER_VALUE))
def test_every_field_of_a_stored_rule_changes_the_digest(name: str) -> None:
    base = matrix()
    rule = base.rules["R-030102-01"]
    row = dict(rule_row(rule), revision=rule.revision)
    assert row[name] != OTHER_VALUE[name]
    changed = rule_from_row(dict(row, **{name: OTHER_VALUE[name]}))
    rules = {k: v for k, v in base.rules.items() if k != rule.id} | {changed.id: changed}
    assert content_digest(replace(base, rules=rules)) != content_digest(base)


def test_every_stored_rule_field_is_covered_by_the_digest() -> None:
    # a field added to the stored rule must be added to the digest (and OTHER_VALUE above)
    assert set(rule_row(matrix().rules["R-030102-01"])) == set(OTHER_VALUE)


@pytest.mark.parametrize("change", [
    "unit name", "unit kind", "area parent", "area unit", "category name",
    "category departmental", "category default unit", "category intake", "hotline office",
    "timezone", "rule retired", "rule added"])
def test_any_change_of_units_areas_categories_settings_or_rule_set_changes_the_digest(
        change: str) -> None:
    data = contract_bundle()
    before = content_digest(matrix(data))
    data = copy.deepcopy(data)
    unit, area = data["units"][0], data["areas"][2]
    category = data["categories"][2]
    if change == "unit name":
        unit["name"] = "和平街道办事处"
    elif change == "unit kind":
        data["units"][6]["kind"] = "department"
    elif change == "area parent":
        area["parent"] = "110199002"
    elif change == "area unit":
        area["unit"] = "JD-HP"
    elif change == "category name":
        category["name"] = "小区私搭乱建"
    elif change == "category departmental":
        category["departmental"] = True
    elif change == "category default unit":
        category.update(departmental=True, default_unit="D-ZJ")
    elif change == "category intake":
        category["intake"] = Intake.NOT_ACCEPTED.value
    elif change == "hotline office":
        data["settings"]["hotline_office"] = "O-ZF"
    elif change == "timezone":
        data["settings"]["timezone"] = "Asia/Urumqi"
    elif change == "rule retired":
        data["rules"] = data["rules"][:1]
    elif change == "rule added":
        data["rules"].append({"id": "R-090101-01", "category": "090101", "lead": "D-SW",
                              "basis": "三定"})
    assert content_digest(matrix(data)) != before


def test_derived_defaults_do_not_enter_the_digest() -> None:
    # derived from the rules, which the digest covers already: the stored rows decide
    base = matrix()
    bare = replace(base, jurisdiction=replace(base.jurisdiction, derived_defaults={}))
    assert base.jurisdiction.derived_defaults
    assert content_digest(bare) == content_digest(base)
