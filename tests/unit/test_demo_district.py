"""The demo district says what an expert on Chinese local government would say: the right
lead and legal basis for the matters people know, no committee leading, invented article
numbers marked, and every local arrangement one that can win."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from api import demo
from jurisdiction.model import Jurisdiction
from rules.bundle import parse_bundle
from rules.model import Ticket
from rules.service import evaluate
from rules.store import Matrix

BEIJING = timezone(timedelta(hours=8))
DEVOLUTION = "京政发〔2020〕9号"


@pytest.fixture(scope="module")
def district() -> dict[str, Any]:
    return demo.district()


def _leaf(district: dict[str, Any], l2: str, name: str) -> dict[str, Any]:
    parent = next(c["code"] for c in district["categories"] if c["name"] == l2)
    return next(c for c in district["categories"]
                if c["parent"] == parent and c["name"] == name)


def _list_rule(district: dict[str, Any], code: str) -> dict[str, Any]:
    """The leaf's district-wide, unconditional rule in force today."""
    return next(r for r in district["rules"]
                if r["category"] == code and r["area"] is None and not r["when"]
                and not r["text_any"] and r["valid_to"] is None)


def test_high_rise_littering_is_led_by_the_police_with_the_street_assisting(
        district: dict[str, Any]) -> None:
    leaf = _leaf(district, "社会治安", "高空抛物")
    assert leaf["departmental"] and leaf["default_unit"] == "D-GA"
    rule = _list_rule(district, leaf["code"])
    assert rule["lead"] == "D-GA" and "@territorial" in rule["co_handlers"]
    assert "《中华人民共和国民法典》第一千二百五十四条" in rule["basis"]


@pytest.mark.parametrize(("l2", "name"), [("市容环境", "占道经营"), ("市容环境", "露天烧烤"),
                                          ("违法建设", "临街违法建设")])
def test_the_devolved_enforcement_matters_are_led_by_the_street_guided_by_chengguan(
        district: dict[str, Any], l2: str, name: str) -> None:
    leaf = _leaf(district, l2, name)
    assert not leaf["departmental"]
    rules = [r for r in district["rules"] if r["category"] == leaf["code"]
             and r["valid_to"] is None and not r["id"].endswith("-2023")]
    assert rules and all(r["lead"] == "@territorial" and "D-CZ" in r["co_handlers"]
                         for r in rules)
    assert DEVOLUTION in _list_rule(district, leaf["code"])["basis"]


def test_open_air_barbecue_cites_article_81_of_the_air_pollution_law(
        district: dict[str, Any]) -> None:
    rule = _list_rule(district, _leaf(district, "市容环境", "露天烧烤")["code"])
    assert "《中华人民共和国大气污染防治法》第八十一条" in rule["basis"]


@pytest.mark.parametrize("name", ["残疾人联合会", "人民防空办公室", "公路分局"])
def test_the_disabled_persons_federation_civil_defence_and_highway_units_lead_matters(
        district: dict[str, Any], name: str) -> None:
    unit = next(u for u in district["units"] if name in u["name"])
    assert unit["kind"] == "department"
    assert any(r["lead"] == unit["code"] for r in district["rules"])
    assert any(c.get("default_unit") == unit["code"] for c in district["categories"])


def test_no_residents_or_villagers_committee_leads(district: dict[str, Any]) -> None:
    committees = {u["code"] for u in district["units"] if u["kind"] == "community"}
    assert committees  # they are there, and assist
    assert any(set(r["co_handlers"]) & committees for r in district["rules"])
    assert [r["id"] for r in district["rules"] if r["lead"] in committees] == []


def test_invented_sanding_item_numbers_are_marked_illustrative(
        district: dict[str, Any]) -> None:
    cited = [r for r in district["rules"] if "职能配置、内设机构和人员编制规定》第" in r["basis"]]
    assert cited
    unmarked = [r["id"] for r in cited if "（示例）" not in r["basis"]]
    assert unmarked == []


def _tickets(j: Jurisdiction, rule: Any) -> Iterator[Ticket]:
    """Tickets a local arrangement is written for: each leaf under its category, in each
    area at or below its scope, meeting its conditions, at its start and today."""
    leaves = [c for c in j.category_leaves() if j.is_category_within(c, rule.category)]
    areas = [a for a in j.areas if j.is_area_within(a, rule.area)]
    attributes = {k: v[0] for k, v in rule.when.items()}
    text = rule.text_any[0] if rule.text_any else ""
    for at in (rule.valid_from, datetime(2026, 11, 30, tzinfo=BEIJING)):
        for leaf in leaves:
            for area in areas:
                yield Ticket(leaf, at, area=area, attributes=attributes, text=text)


def test_every_local_arrangement_of_the_demo_can_win(district: dict[str, Any]) -> None:
    bundle = parse_bundle(district)
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    assert bundle.settings is not None
    m = Matrix.build(1, j, {r.id: r for r in bundle.rules}, bundle.settings)
    local = [r for r in bundle.rules if r.area is not None]
    assert len(local) >= 20
    dead = [r.id for r in local
            if not any((d := evaluate(t, m)).rule is not None and d.rule.id == r.id
                       for t in _tickets(j, r))]
    assert dead == []
