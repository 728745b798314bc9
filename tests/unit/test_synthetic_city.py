from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from benchmarks.synthetic_city import make_city, make_tickets

Bundle = dict[str, Any]

RULE_KEYS = {
    "id",
    "category",
    "area",
    "when",
    "text_any",
    "lead",
    "co_handlers",
    "basis",
    "source",
    "priority",
    "valid_from",
    "valid_to",
}
UNIT_KINDS = {"department", "township", "street", "community", "utility", "office"}


@pytest.fixture(scope="module")
def city() -> Bundle:
    return make_city()


def _codes(items: list[dict[str, Any]]) -> set[str]:
    return {item["code"] for item in items}


def _leaves(city: Bundle) -> list[dict[str, Any]]:
    parents = {c["parent"] for c in city["categories"]}
    return [c for c in city["categories"] if c["code"] not in parents]


def _ancestors(code: str, parent_of: dict[str, str | None]) -> list[str]:
    chain: list[str] = []
    current: str | None = code
    while current is not None:
        chain.append(current)
        current = parent_of[current]
    return chain


def _digest(bundle: Bundle) -> str:
    text = json.dumps(bundle, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def test_city_has_sixteen_districts_each_with_townships_and_communities(city: Bundle) -> None:
    levels = Counter(a["level"] for a in city["areas"])
    assert levels["district"] == 16
    assert 16 * 18 <= levels["township"] <= 16 * 22
    assert 4 * levels["township"] <= levels["community"] <= 6 * levels["township"]
    districts = sorted(a["code"] for a in city["areas"] if a["level"] == "district")
    assert districts[0] == "110101"
    assert districts[-1] == "110116"


def test_city_has_at_least_fifteen_hundred_leaf_categories_with_prefix_codes(
    city: Bundle,
) -> None:
    leaves = _leaves(city)
    assert len(leaves) >= 1500
    for category in city["categories"]:
        expected_length = 2 if category["parent"] is None else len(category["parent"]) + 2
        assert len(category["code"]) == expected_length
        if category["parent"] is not None:
            assert category["code"].startswith(category["parent"])
    assert all(len(leaf["code"]) == 6 for leaf in leaves)


def test_about_a_tenth_of_leaves_are_departmental_with_a_default_department(
    city: Bundle,
) -> None:
    kinds = {u["code"]: u["kind"] for u in city["units"]}
    leaves = _leaves(city)
    departmental = [leaf for leaf in leaves if leaf["departmental"]]
    assert 0.05 * len(leaves) <= len(departmental) <= 0.15 * len(leaves)
    assert all(kinds[leaf["default_unit"]] == "department" for leaf in departmental)
    assert all(leaf["default_unit"] is None for leaf in leaves if not leaf["departmental"])


def test_city_has_at_least_fifty_thousand_rules_with_resolvable_references(
    city: Bundle,
) -> None:
    rules = city["rules"]
    assert len(rules) >= 50_000
    units = _codes(city["units"])
    areas = _codes(city["areas"])
    categories = _codes(city["categories"])
    assert city["settings"]["hotline_office"] in units
    for area in city["areas"]:
        assert area["parent"] is None or area["parent"] in areas
        assert area["unit"] is None or area["unit"] in units
    for category in city["categories"]:
        assert category["parent"] is None or category["parent"] in categories
    for rule in rules:
        assert set(rule) == RULE_KEYS
        assert rule["category"] in categories
        assert rule["area"] is None or rule["area"] in areas
        for handler in [rule["lead"], *rule["co_handlers"]]:
            assert handler == "@territorial" or handler in units


def test_codes_and_rule_ids_are_unique(city: Bundle) -> None:
    for key in ("units", "areas", "categories"):
        codes = [item["code"] for item in city[key]]
        assert len(codes) == len(set(codes)), key
    ids = [rule["id"] for rule in city["rules"]]
    assert len(ids) == len(set(ids))


def test_units_and_areas_use_contract_kinds_and_levels(city: Bundle) -> None:
    assert {u["kind"] for u in city["units"]} <= UNIT_KINDS
    kinds = {u["code"]: u["kind"] for u in city["units"]}
    for area in city["areas"]:
        if area["level"] == "district":
            assert area["parent"] is None
            assert kinds[area["unit"]] == "office"
        elif area["level"] == "township":
            assert kinds[area["unit"]] in ("street", "township")
            assert area["code"].startswith(area["parent"])
        else:
            assert area["level"] == "community"
            assert area["code"].startswith(area["parent"])


def test_rules_mix_scopes_conditions_sources_priorities_and_validity(city: Bundle) -> None:
    rules = city["rules"]
    levels = {a["code"]: a["level"] for a in city["areas"]}
    scopes = Counter(levels[r["area"]] if r["area"] else "city" for r in rules)
    assert scopes["district"] > 40_000
    assert scopes["township"] > 1_000
    assert sum(1 for r in rules if r["when"]) > 5_000
    assert sum(1 for r in rules if r["text_any"]) > 5_000
    assert 0 < sum(1 for r in rules if r["source"] == "ruling") < 1_000
    assert 0 < sum(1 for r in rules if r["priority"] != 0) < 1_000
    assert 0 < sum(1 for r in rules if r["valid_to"] is not None) < 5_000
    assert sum(1 for r in rules if r["lead"] == "@territorial") > 5_000
    years = Counter(r["valid_from"][:4] for r in rules)
    assert set(years) == {"2024", "2025", "2026"}
    for rule in rules[:: len(rules) // 500]:
        start = datetime.fromisoformat(rule["valid_from"])
        assert start.utcoffset() == timedelta(hours=8)
        if rule["valid_to"] is not None:
            assert datetime.fromisoformat(rule["valid_to"]) > start


def test_no_two_rules_share_one_full_condition(city: Bundle) -> None:
    signatures = Counter(
        (
            r["category"],
            r["area"],
            json.dumps(r["when"], sort_keys=True),
            tuple(sorted(r["text_any"])),
        )
        for r in city["rules"]
    )
    assert max(signatures.values()) == 1


def test_no_ticket_faces_more_than_twenty_candidate_rules(city: Bundle) -> None:
    category_parent = {c["code"]: c["parent"] for c in city["categories"]}
    area_parent = {a["code"]: a["parent"] for a in city["areas"]}
    per_pair = Counter((r["category"], r["area"]) for r in city["rules"])
    for ticket in make_tickets(city, 2_000):
        categories = _ancestors(ticket["category"], category_parent)
        areas = [None, *_ancestors(ticket["area"], area_parent)]
        candidates = sum(per_pair[(c, a)] for c in categories for a in areas)
        assert 1 <= candidates <= 20


def test_city_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    first = make_city(districts=2, seed=3)
    assert _digest(first) == _digest(make_city(districts=2, seed=3))
    assert _digest(first) != _digest(make_city(districts=2, seed=4))


def test_city_refuses_a_district_count_its_codes_cannot_hold() -> None:
    with pytest.raises(ValueError, match="districts"):
        make_city(districts=100)


def test_tickets_reference_existing_leaf_categories_and_places(city: Bundle) -> None:
    leaves = {leaf["code"] for leaf in _leaves(city)}
    places = {a["code"] for a in city["areas"] if a["level"] in ("township", "community")}
    tickets = make_tickets(city, 1_000)
    assert len(tickets) == 1_000
    for ticket in tickets:
        assert set(ticket) == {"category", "area", "attributes", "text", "as_of"}
        assert ticket["category"] in leaves
        assert ticket["area"] in places
        assert datetime.fromisoformat(ticket["as_of"]).utcoffset() == timedelta(hours=8)
    assert tickets == make_tickets(city, 1_000)


def test_tickets_sometimes_carry_the_attributes_and_keywords_rules_test(city: Bundle) -> None:
    keywords = {word for rule in city["rules"] for word in rule["text_any"]}
    tickets = make_tickets(city, 1_000)
    with_keyword = sum(1 for t in tickets if any(word in t["text"] for word in keywords))
    residential = sum(
        1 for t in tickets if t["attributes"].get("location_type") == "residential_compound"
    )
    managed = sum(1 for t in tickets if t["attributes"].get("property_managed") == "yes")
    assert 200 <= with_keyword <= 800
    assert residential > 50
    assert managed > 50
