"""Reading and writing bundles (contract.md), and the compiler's refusal of shards that would
exceed a durable_rules cap."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from jurisdiction.errors import BundleInvalid, ShardTooLarge
from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction
from rules.bundle import dump_bundle, parse_bundle
from rules.compiler import (
    MAX_RULES_PER_RULESET,
    MAX_TESTS_PER_NODE,
    Shard,
    check_capacity,
    compile_shards,
)
from rules.model import TERRITORIAL, Rule, RuleSource, Settings


def bundle() -> dict[str, Any]:
    return {
        "units": [{"code": "JD-HP", "name": "和平街道", "kind": "street"},
                  {"code": "D-ZJ", "name": "住建委", "kind": "department"},
                  {"code": "O-RX", "name": "热线中心", "kind": "office"}],
        "areas": [{"code": "110199", "name": "示范区", "level": "district", "parent": None,
                   "unit": None},
                  {"code": "110199001", "name": "和平街道", "level": "township",
                   "parent": "110199", "unit": "JD-HP"}],
        "categories": [{"code": "03", "name": "城乡建设", "parent": None},
                       {"code": "0301", "name": "违法建设", "parent": "03"},
                       {"code": "0901", "name": "发票", "parent": None, "departmental": True,
                        "default_unit": "D-ZJ"}],
        "settings": {"hotline_office": "O-RX", "timezone": "Asia/Shanghai"},
        "rules": [
            {"id": "R-1", "category": "0301", "area": None,
             "when": {"location_type": ["residential_compound", "public_road"], "floors": 3},
             "text_any": ["违建", "私搭"], "lead": "@territorial", "co_handlers": ["D-ZJ"],
             "basis": "清单第12项", "source": "catalog", "priority": 0,
             "valid_from": "2026-01-01T00:00:00+08:00", "valid_to": None},
            {"id": "R-2", "category": "0301", "area": "110199001", "lead": "D-ZJ",
             "basis": "裁定", "source": "ruling", "ruling_id": "RUL-1", "priority": 3,
             "valid_from": "2026-01-01T00:00:00+08:00",
             "valid_to": "2027-01-01T00:00:00+08:00", "note": "回写"},
        ],
    }


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(BundleInvalid) as info:
        parse_bundle(data)
    return {p.location: p.code for p in info.value.problems}


def with_rule(**changes: Any) -> dict[str, Any]:
    data = bundle()
    rule = data["rules"][0]
    for key, value in changes.items():
        if value is ...:
            rule.pop(key)
        else:
            rule[key] = value
    return data


def test_contract_bundle_reads_into_values() -> None:
    b = parse_bundle(bundle())
    r1, r2 = b.rules
    assert r1.lead == TERRITORIAL
    assert r1.when == {"location_type": ("residential_compound", "public_road"), "floors": ("3",)}
    assert r1.text_any == ("违建", "私搭")
    assert r1.condition_count == 3
    assert r1.valid_from == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert r2.source is RuleSource.RULING and r2.priority == 3 and r2.ruling_id == "RUL-1"
    assert b.settings == Settings("O-RX", "Asia/Shanghai")
    assert b.categories[2].departmental and b.categories[2].default_unit == "D-ZJ"


def test_every_problem_is_reported_with_its_json_path() -> None:
    data = bundle()
    data["extra"] = 1
    data["units"][0]["kind"] = "planet"
    data["units"][1]["colour"] = "red"
    data["areas"][1]["level"] = "province"
    data["categories"][0].pop("name")
    data["rules"][0]["source"] = "gossip"
    data["rules"][1].pop("basis")
    data["settings"]["hotline_office"] = "bad code!"
    assert problems(data) == {
        "$.extra": "unknown_field",
        "units[0].kind": "invalid_value",
        "units[1].colour": "unknown_field",
        "areas[1].level": "invalid_value",
        "categories[0].name": "missing",
        "rules[0].source": "invalid_value",
        "rules[1].basis": "missing",
        "settings.hotline_office": "invalid_value",
    }


def test_missing_required_fields_are_named() -> None:
    found = problems({"rules": [{"id": "R-1"}], "units": [{}]})
    assert found == {"rules[0].category": "missing", "rules[0].lead": "missing",
                     "rules[0].basis": "missing", "units[0].code": "missing",
                     "units[0].name": "missing", "units[0].kind": "missing"}


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00", "2026-01-01", "yesterday", 20260101])
def test_times_without_a_zone_are_refused(value: Any) -> None:
    assert problems(with_rule(valid_from=value)) == {"rules[0].valid_from": "invalid_value"}


@pytest.mark.parametrize("valid_to", ["2026-01-01T00:00:00+08:00", "2025-12-31T15:00:00Z"])
def test_valid_to_must_be_later_than_valid_from(valid_to: str) -> None:
    assert problems(with_rule(valid_to=valid_to)) == {"rules[0].valid_to": "invalid_value"}


def test_duplicate_codes_and_ids_are_refused() -> None:
    data = bundle()
    data["units"].append(copy.deepcopy(data["units"][0]))
    data["rules"].append(copy.deepcopy(data["rules"][0]))
    assert problems(data) == {"units[3]": "duplicate", "rules[2]": "duplicate"}


@pytest.mark.parametrize("name", ["1st", "location-type", "位置", "a b", ""])
def test_bad_attribute_names_are_refused(name: str) -> None:
    assert problems(with_rule(when={name: "x"})) == {f"rules[0].when.{name}": "invalid_value"}


@pytest.mark.parametrize(("field", "value", "location"), [
    ("lead", "@nobody", "lead"), ("lead", 7, "lead"), ("co_handlers", "D-ZJ", "co_handlers"),
    ("priority", "high", "priority"), ("priority", True, "priority"),
    ("priority", 10**7, "priority"), ("text_any", "违建", "text_any"),
    ("text_any", [""], "text_any"), ("text_any", ["  "], "text_any"), ("when", ["x"], "when"),
    ("when", {"k": []}, "when.k"), ("when", {"k": [{"nested": 1}]}, "when.k"),
    ("note", 5, "note"), ("id", "has space", "id"), ("category", "", "category"),
])
def test_bad_rule_fields_are_refused(field: str, value: Any, location: str) -> None:
    assert set(problems(with_rule(**{field: value}))) == {f"rules[0].{location}"}


def test_bad_co_handler_is_located_by_index() -> None:
    assert problems(with_rule(co_handlers=["D-ZJ", "@who"])) == {
        "rules[0].co_handlers[1]": "invalid_value"}


def test_non_object_document_and_non_list_sections_are_refused() -> None:
    assert problems([]) == {"$": "invalid_type"}
    assert problems({"units": {}}) == {"units": "invalid_type"}


def test_dump_then_parse_gives_the_matrix_back() -> None:
    first = parse_bundle(bundle())
    j = Jurisdiction.build(first.units, first.areas, first.categories)
    assert first.settings is not None
    dumped = dump_bundle(j, first.rules, first.settings)
    json.dumps(dumped, ensure_ascii=False)  # a JSON document
    second = parse_bundle(dumped)
    assert sorted(second.units, key=lambda u: u.code) == sorted(first.units, key=lambda u: u.code)
    assert sorted(second.areas, key=lambda a: a.code) == sorted(first.areas, key=lambda a: a.code)
    assert sorted(second.categories, key=lambda c: c.code) == sorted(first.categories,
                                                                     key=lambda c: c.code)
    assert second.rules == sorted(first.rules, key=lambda r: r.id)
    assert second.settings == first.settings
    assert dump_bundle(j, second.rules, second.settings) == dumped


# -- compiler capacity ------------------------------------------------------------------------

def shard(definitions: dict[str, list[dict[str, Any]]]) -> Shard:
    return Shard("03", "03", {}, {name: {"all": [{"m": {"$and": tests}}]}
                                  for name, tests in definitions.items()}, "")


def test_capacity_check_accepts_a_shard_at_the_limits() -> None:
    check_capacity(shard({f"R{i}": [{"c1": "03"}, {"x_k": f"A{i % MAX_TESTS_PER_NODE}"},
                                    {"x_n": str(i)}]
                          for i in range(MAX_RULES_PER_RULESET)}))


def test_too_many_rules_in_a_shard_are_refused_naming_the_shard() -> None:
    big = shard({f"R{i}": [{"c1": "03"}, {"x_k": f"A{i % 400}"}, {"x_n": str(i)}]
                 for i in range(MAX_RULES_PER_RULESET + 1)})
    with pytest.raises(ShardTooLarge) as info:
        check_capacity(big)
    assert info.value.code == "shard_too_large"
    assert "category 03" in str(info.value)
    assert info.value.context["rules"] == MAX_RULES_PER_RULESET + 1


def test_too_many_distinct_tests_under_one_node_are_refused() -> None:
    wide = shard({f"R{i}": [{"c1": "03"}, {"x_k": f"A{i}"}]
                  for i in range(MAX_TESTS_PER_NODE + 1)})
    with pytest.raises(ShardTooLarge) as info:
        check_capacity(wide)
    assert "category 03" in str(info.value)
    assert f"{MAX_TESTS_PER_NODE + 1} distinct tests" in str(info.value)


def _when(value: str) -> dict[str, tuple[str, ...]]:
    return {"kind": (value,)}


def test_rules_stating_the_same_conditions_share_one_engine_rule_across_districts() -> None:
    j = Jurisdiction.build([], [Area("1", "区", AreaLevel.DISTRICT, None, None),
                                Area("2", "区", AreaLevel.DISTRICT, None, None),
                                Area("101", "街道", AreaLevel.TOWNSHIP, "1", None)],
                           [Category("03", "a", None), Category("0301", "b", "03"),
                            Category("09", "c", None)])
    rules = [Rule("R-1", "0301", "X", "b", when=_when("x")),
             Rule("R-2", "0301", "Y", "b", area="101", when=_when("x")),
             Rule("R-3", "0301", "Z", "b", area="2", when={"kind": ("x", "y")}),
             Rule("R-4", "09", "X", "b", when=_when("x")),
             Rule("R-5", "09", "X", "b")]  # no condition: found by the index, not the engine
    shards = compile_shards(rules, j)
    assert {k: sorted((p.category, p.combo, n) for p, n in s.uses.items())
            for k, s in shards.items()} == {
        "03": [("0301", (("kind", "x"),), 3), ("0301", (("kind", "y"),), 1)],
        "09": [("09", (("kind", "x"),), 1)]}
    assert len(shards["03"].definition) == 2


def test_compile_shards_splits_a_big_group_by_the_next_category_level() -> None:
    categories = [Category("03", "a", None), Category("0301", "b", "03"),
                  Category("0302", "c", "03"), Category("030101", "d", "0301")]
    j = Jurisdiction.build([], [Area("1", "区", AreaLevel.DISTRICT, None, None)], categories)
    rules = ([Rule("R-TOP", "03", "X", "b", when=_when("t"))]
             + [Rule(f"R-0301-{i}", "0301", "X", "b", when=_when(f"a{i}")) for i in range(2)]
             + [Rule(f"R-030101-{i}", "030101", "X", "b", when=_when(f"b{i}"))
                for i in range(2)]
             + [Rule(f"R-0302-{i}", "0302", "X", "b", when=_when(f"c{i}")) for i in range(2)])

    def layout(target: int) -> dict[str, list[str]]:
        return {k: sorted(p.combo[0][1] for p in s.uses)
                for k, s in compile_shards(rules, j, target=target).items()}

    assert set(layout(10)) == {"03"}
    assert layout(4) == {"03": ["t"], "0301": ["a0", "a1", "b0", "b1"], "0302": ["c0", "c1"]}
    assert layout(2) == {"03": ["t"], "0301": ["a0", "a1"], "030101": ["b0", "b1"],
                         "0302": ["c0", "c1"]}


def test_compile_shards_refuses_a_shard_that_cannot_be_split() -> None:
    j = Jurisdiction.build([], [], [Category("03", "a", None)])
    rules = [Rule(f"R{i}", "03", "X", "b", when=_when(f"v{i}"))
             for i in range(MAX_RULES_PER_RULESET + 1)]
    with pytest.raises(ShardTooLarge, match="category 03"):
        compile_shards(rules, j, target=10)
