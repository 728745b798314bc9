"""A synthetic city matrix for performance benchmarks.

`make_city` builds a bundle in the client contract's "Bundle (.json)" format:
districts, each governed by its office, with about twenty townships (街道 / 乡镇) of about five
communities each; about twenty-five departments per district, a city-level copy of each
department (the `default_unit` of departmental categories), four utilities and the hotline
office; a three-level category tree of 1,800 leaves; and some fifty thousand rules in a
realistic mixture. `make_tickets` draws route requests that hit that matrix.

Everything is drawn from one `random.Random(seed)`, and nothing iterates over a set or a hashed
dict order, so the same arguments give the same bundle byte for byte.

The shape stays inside the rule engine's limits (durable_rules, see the shared notes): no
(category, area) pair gets more than a handful of rules, and every rule's full condition
(category, area, `when`, `text_any`) is unique, so no condition path is shared by 256 rules.

    >>> city = make_city(districts=1)
    >>> len([a for a in city["areas"] if a["level"] == "district"])
    1
    >>> len(make_tickets(city, 3))
    3

Run as a script to write a bundle file:

    python -m benchmarks.synthetic_city --districts 16 --out /tmp/city.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

Bundle = dict[str, Any]
Ticket = dict[str, Any]

HOTLINE_OFFICE = "O-RX"
TIMEZONE = "Asia/Shanghai"
TERRITORIAL = "@territorial"
TICKET_AS_OF = "2026-06-01T10:00:00+08:00"

LEVEL2_PER_LEVEL1 = 15
LEAVES_PER_LEVEL2 = 6
DEPARTMENTAL_SHARE = 0.10

# Department abbreviation → name; every district has one of each (`D01-CG`), and the city a
# copy (`D00-CG`) that departmental categories name as their default unit.
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("CG", "城市管理委员会"),
    ("ZJ", "住房和城乡建设委员会"),
    ("GZ", "规划和自然资源分局"),
    ("SW", "水务局"),
    ("HB", "生态环境分局"),
    ("SJ", "市场监督管理局"),
    ("JT", "交通委员会"),
    ("WJ", "卫生健康委员会"),
    ("JY", "教育委员会"),
    ("RS", "人力资源和社会保障局"),
    ("MZ", "民政局"),
    ("GA", "公安分局"),
    ("YJ", "应急管理局"),
    ("WL", "文化和旅游局"),
    ("NY", "农业农村局"),
    ("YL", "园林绿化局"),
    ("SS", "商务局"),
    ("FG", "发展和改革委员会"),
    ("CZ", "财政局"),
    ("SF", "司法局"),
    ("TY", "体育局"),
    ("TW", "退役军人事务局"),
    ("YB", "医疗保障局"),
    ("ZW", "政务服务管理局"),
    ("FW", "房屋管理局"),
)

UTILITIES: tuple[tuple[str, str], ...] = (
    ("U-WATER", "市自来水集团"),
    ("U-POWER", "市供电公司"),
    ("U-GAS", "市燃气集团"),
    ("U-HEAT", "市热力集团"),
)

# Level-1 categories: (name, primary department, secondary department, utility or None,
# share of leaf rules led by the territorial unit, keywords citizens use).
LEVEL1: tuple[tuple[str, str, str, str | None, float, tuple[str, ...]], ...] = (
    ("城乡建设", "ZJ", "GZ", None, 0.5, ("违建", "私搭", "工地", "施工", "围挡", "渣土")),
    ("市容环卫", "CG", "HB", None, 0.6, ("垃圾", "占道", "摊贩", "广告牌", "公厕", "清扫")),
    ("物业管理", "FW", "ZJ", None, 0.5, ("物业", "电梯", "维修基金", "业委会", "漏水", "门禁")),
    ("交通运输", "JT", "GA", None, 0.2, ("公交", "出租车", "红绿灯", "拥堵", "网约车", "共享单车")),
    ("供水排水", "SW", "CG", "U-WATER", 0.2, ("停水", "水压", "水质", "井盖", "积水", "排水")),
    ("供电", "FG", "CG", "U-POWER", 0.1, ("停电", "电压", "电表", "电线", "跳闸", "充电桩")),
    ("燃气", "YJ", "ZJ", "U-GAS", 0.1, ("燃气", "漏气", "气表", "燃气灶", "管道", "气压")),
    ("供暖", "ZJ", "FW", "U-HEAT", 0.2, ("供暖", "暖气", "不热", "室温", "热费", "停暖")),
    ("市场监管", "SJ", "SS", None, 0.1, ("假冒", "价格", "食品安全", "过期", "退款", "预付卡")),
    ("环境保护", "HB", "CG", None, 0.3, ("噪声", "油烟", "异味", "排污", "扬尘", "夜间施工")),
    ("医疗卫生", "WJ", "YB", None, 0.1, ("医院", "医保", "疫苗", "诊所", "挂号", "药店")),
    ("教育", "JY", "RS", None, 0.05, ("学校", "学位", "校外培训", "收费", "校车", "托育")),
    ("劳动保障", "RS", "SF", None, 0.1, ("欠薪", "社保", "劳动合同", "加班", "工伤", "招聘")),
    ("民政服务", "MZ", "TW", None, 0.4, ("低保", "养老", "殡葬", "救助", "残疾", "婚姻登记")),
    ("公共安全", "GA", "YJ", None, 0.2, ("治安", "诈骗", "养犬", "户籍", "扰民", "群租")),
    ("应急管理", "YJ", "GA", None, 0.3, ("火灾", "隐患", "消防通道", "燃放", "危化品", "电动车")),
    ("文化旅游", "WL", "TY", None, 0.1, ("景区", "旅行社", "文物", "演出", "网吧", "健身")),
    ("农业农村", "NY", "SW", None, 0.5, ("农田", "宅基地", "农机", "补贴", "养殖", "灌溉")),
    ("园林绿化", "YL", "CG", None, 0.4, ("树木", "绿地", "修剪", "公园", "草坪", "树枝")),
    ("政务服务", "ZW", "FG", None, 0.2, ("办事", "审批", "窗口", "证照", "预约", "办不成")),
)

LOCATION_TYPES: tuple[str, ...] = (
    "residential_compound",
    "public_road",
    "public_space",
    "commercial",
    "rural_village",
)
WHEN_CHOICES: tuple[dict[str, Any], ...] = (
    {"location_type": ["residential_compound", "public_road"]},
    {"location_type": "residential_compound"},
    {"location_type": ["public_road", "public_space"]},
    {"location_type": "commercial"},
    {"location_type": "rural_village"},
    {"property_managed": "yes"},
    {"property_managed": "no"},
    {"location_type": "residential_compound", "property_managed": "yes"},
    {"location_type": "residential_compound", "property_managed": "no"},
)

DISTRICT_FIRST = "东西南北中新清安平永"
DISTRICT_SECOND = "城湖山河桥林港园台坪"

RULE_DATE_START = date(2024, 1, 1)
RULE_DATE_DAYS = (date(2026, 12, 31) - RULE_DATE_START).days


def _district_name(index: int) -> str:
    return f"{DISTRICT_FIRST[(index - 1) % 10]}{DISTRICT_SECOND[(index - 1) // 10]}区"


def _at_midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00+08:00"


class _CityBuilder:
    """Draws one city; kept as a class only so the many small steps share the generator."""

    def __init__(self, districts: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.districts = districts
        self.units: list[dict[str, Any]] = []
        self.areas: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] = []
        self.rules: list[dict[str, Any]] = []
        self.level2: list[str] = []
        self.leaves: list[str] = []
        self.leaf_level1: dict[str, int] = {}
        # district index → township (area code, unit code)
        self.townships: dict[int, list[tuple[str, str]]] = {}
        # (leaf, township) pairs that carry a ruling rule; only looked up, never iterated
        self.ruled: set[tuple[str, str]] = set()

    # -- reference data -------------------------------------------------------------------

    def build_units_and_areas(self) -> None:
        rng = self.rng
        self.units.append({"code": HOTLINE_OFFICE, "name": "市12345热线中心", "kind": "office"})
        for code, name in UTILITIES:
            self.units.append({"code": code, "name": name, "kind": "utility"})
        for abbr, name in DEPARTMENTS:
            self.units.append({"code": f"D00-{abbr}", "name": f"市{name}", "kind": "department"})
        for d in range(1, self.districts + 1):
            dname = _district_name(d)
            dcode = str(110100 + d)
            office = f"O-D{d:02d}"
            self.units.append({"code": office, "name": f"{dname}人民政府办公室", "kind": "office"})
            for abbr, name in DEPARTMENTS:
                self.units.append(
                    {"code": f"D{d:02d}-{abbr}", "name": f"{dname}{name}", "kind": "department"}
                )
            self.areas.append(
                {"code": dcode, "name": dname, "level": "district", "parent": None, "unit": office}
            )
            towns: list[tuple[str, str]] = []
            count = rng.randint(18, 22)
            streets = round(count * 0.6)
            for t in range(1, count + 1):
                is_street = t <= streets
                kind = "street" if is_street else "township"
                suffix = "街道" if is_street else "镇"
                tcode = f"{dcode}{t:03d}"
                tunit = f"{'JD' if is_street else 'XZ'}{d:02d}-{t:03d}"
                tname = f"{dname}第{t:02d}{suffix}"
                self.units.append({"code": tunit, "name": tname, "kind": kind})
                self.areas.append(
                    {
                        "code": tcode,
                        "name": tname,
                        "level": "township",
                        "parent": dcode,
                        "unit": tunit,
                    }
                )
                towns.append((tcode, tunit))
                for c in range(1, rng.randint(4, 6) + 1):
                    ccode = f"{tcode}{c:03d}"
                    cname = f"{tname}第{c}{'社区' if is_street else '村'}"
                    cunit: str | None = None
                    if rng.random() < 0.05:
                        cunit = f"SQ{d:02d}-{t:03d}-{c}"
                        self.units.append({"code": cunit, "name": cname, "kind": "community"})
                    self.areas.append(
                        {
                            "code": ccode,
                            "name": cname,
                            "level": "community",
                            "parent": tcode,
                            "unit": cunit,
                        }
                    )
            self.townships[d] = towns

    def build_categories(self) -> None:
        rng = self.rng
        for i, (name1, primary, secondary, _u, _t, _k) in enumerate(LEVEL1, start=1):
            c1 = f"{i:02d}"
            self.categories.append({"code": c1, "name": name1, "parent": None})
            for j in range(1, LEVEL2_PER_LEVEL1 + 1):
                c2 = f"{c1}{j:02d}"
                self.level2.append(c2)
                self.categories.append({"code": c2, "name": f"{name1}事项{j:02d}", "parent": c1})
                for k in range(1, LEAVES_PER_LEVEL2 + 1):
                    c3 = f"{c2}{k:02d}"
                    departmental = rng.random() < DEPARTMENTAL_SHARE
                    default_unit = None
                    if departmental:
                        default_unit = f"D00-{primary if rng.random() < 0.7 else secondary}"
                    self.categories.append(
                        {
                            "code": c3,
                            "name": f"类别{i:02d}-{j:02d}-{k}",
                            "parent": c2,
                            "departmental": departmental,
                            "default_unit": default_unit,
                        }
                    )
                    self.leaves.append(c3)
                    self.leaf_level1[c3] = i - 1

    # -- rules ----------------------------------------------------------------------------

    def _rule(
        self,
        rule_id: str,
        category: str,
        area: str | None,
        lead: str,
        co_handlers: list[str],
        basis: str,
        *,
        when: dict[str, Any] | None = None,
        text_any: list[str] | None = None,
        source: str = "catalog",
    ) -> None:
        rng = self.rng
        start = RULE_DATE_START + timedelta(days=rng.randrange(RULE_DATE_DAYS))
        valid_to = None
        if rng.random() < 0.02:
            valid_to = _at_midnight(start + timedelta(days=rng.randint(180, 720)))
        priority = rng.randint(1, 3) if rng.random() < 0.01 else 0
        self.rules.append(
            {
                "id": rule_id,
                "category": category,
                "area": area,
                "when": when or {},
                "text_any": text_any or [],
                "lead": lead,
                "co_handlers": co_handlers,
                "basis": basis,
                "source": source,
                "priority": priority,
                "valid_from": _at_midnight(start),
                "valid_to": valid_to,
            }
        )

    def _draw_when(self) -> dict[str, Any]:
        # A fresh copy each time: consumers may mutate a rule without touching its neighbours.
        chosen = self.rng.choice(WHEN_CHOICES)
        return {k: list(v) if isinstance(v, list) else v for k, v in chosen.items()}

    def _lead_and_co(self, d: int, level1: int) -> tuple[str, list[str]]:
        """A lead and co-handlers for a rule of this district and level-1 category."""
        rng = self.rng
        _name, primary, secondary, utility, territorial, _kw = LEVEL1[level1]
        draw = rng.random()
        if draw < territorial:
            return TERRITORIAL, [f"D{d:02d}-{primary}"]
        if utility is not None and draw < territorial + 0.4:
            return utility, [f"D{d:02d}-{primary}"] if rng.random() < 0.5 else []
        lead = f"D{d:02d}-{primary if rng.random() < 0.75 else secondary}"
        other = f"D{d:02d}-{secondary}" if lead.endswith(primary) else f"D{d:02d}-{primary}"
        return lead, [other] if rng.random() < 0.3 else []

    def build_rules(self) -> None:
        for i, (_name, primary, _s, utility, territorial, _kw) in enumerate(LEVEL1, start=1):
            lead = TERRITORIAL if territorial >= 0.5 else (utility or f"D00-{primary}")
            self._rule(f"R-00-{i:02d}", f"{i:02d}", None, lead, [], "《市12345热线事项分类目录》")
        for d in range(1, self.districts + 1):
            self._build_district_rules(d)

    def _build_district_rules(self, d: int) -> None:
        rng = self.rng
        dd = f"{d:02d}"
        dcode = str(110100 + d)
        catalog = f"《{_district_name(d)}部门权责清单》第{{}}项"
        town_list = f"《{_district_name(d)}街道履职事项清单》第{{}}项"
        for n, c2 in enumerate(self.level2, start=1):
            lead, co = self._lead_and_co(d, int(c2[:2]) - 1)
            self._rule(f"R-{dd}-G-{c2}", c2, dcode, lead, co, catalog.format(n))
        for n, leaf in enumerate(self.leaves, start=1):
            level1 = self.leaf_level1[leaf]
            keywords = LEVEL1[level1][5]
            lead, co = self._lead_and_co(d, level1)
            basis = (town_list if lead == TERRITORIAL else catalog).format(n)
            self._rule(f"R-{dd}-L-{leaf}", leaf, dcode, lead, co, basis)
            if rng.random() < 0.35:
                lead, co = self._lead_and_co(d, level1)
                self._rule(f"R-{dd}-C-{leaf}", leaf, dcode, lead, co, basis, when=self._draw_when())
            if rng.random() < 0.25:
                lead, co = self._lead_and_co(d, level1)
                words = rng.sample(keywords, rng.randint(1, 3))
                self._rule(f"R-{dd}-T-{leaf}", leaf, dcode, lead, co, basis, text_any=words)
            if rng.random() < 0.005:
                towns = self.townships[d]
                tcode, tunit = towns[rng.randrange(len(towns))]
                year = rng.choice((2024, 2025, 2026))
                self.ruled.add((leaf, tcode))
                self._rule(
                    f"R-{dd}-J-{leaf}",
                    leaf,
                    tcode,
                    tunit,
                    [f"D{dd}-{LEVEL1[level1][1]}"],
                    f"{_district_name(d)}政办裁〔{year}〕{rng.randint(1, 60)}号",
                    source="ruling",
                )
        for tcode, tunit in self.townships[d]:
            # A ruling rule already holds the unconditioned (leaf, township) slot; skip it so
            # no two rules share one full condition.
            drawn = [
                leaf for leaf in rng.sample(self.leaves, 13) if (leaf, tcode) not in self.ruled
            ]
            for leaf in drawn[:12]:
                level1 = self.leaf_level1[leaf]
                primary = LEVEL1[level1][1]
                lead = rng.choice((TERRITORIAL, tunit, f"D{dd}-{primary}"))
                when = self._draw_when() if rng.random() < 0.3 else None
                self._rule(
                    f"R-{tcode}-{leaf}",
                    leaf,
                    tcode,
                    lead,
                    [],
                    town_list.format(rng.randint(1, 300)),
                    when=when,
                )

    def bundle(self) -> Bundle:
        return {
            "units": self.units,
            "areas": self.areas,
            "categories": self.categories,
            "settings": {"hotline_office": HOTLINE_OFFICE, "timezone": TIMEZONE},
            "rules": self.rules,
        }


def make_city(*, districts: int = 16, seed: int = 7) -> Bundle:
    """Build a synthetic city bundle of `districts` districts, the same for the same seed.

    District codes are `110101`, `110102`, …; so at most 99 districts.

        >>> city = make_city(districts=2, seed=1)
        >>> sorted(city) == ["areas", "categories", "rules", "settings", "units"]
        True
    """
    if not 1 <= districts <= 99:
        raise ValueError(f"districts must be between 1 and 99, not {districts}")
    builder = _CityBuilder(districts, seed)
    builder.build_units_and_areas()
    builder.build_categories()
    builder.build_rules()
    return builder.bundle()


def make_tickets(city: Bundle, n: int, *, seed: int = 11) -> list[Ticket]:
    """Draw `n` route requests (the `POST /v1/route` body) against `city`.

    Tickets land on communities (mostly) or townships, carry the attributes and keywords the
    city's rules test about half of the time, and all ask as of 2026-06-01.

        >>> city = make_city(districts=1)
        >>> sorted(make_tickets(city, 1)[0])
        ['area', 'as_of', 'attributes', 'category', 'text']
    """
    rng = random.Random(seed)
    leaves = [c["code"] for c in city["categories"] if "departmental" in c]
    places = [a["code"] for a in city["areas"] if a["level"] in ("township", "community")]
    keywords: dict[str, list[str]] = defaultdict(list)
    for rule in city["rules"]:
        for word in rule["text_any"]:
            pool = keywords[rule["category"][:2]]
            if word not in pool:
                pool.append(word)
    tickets: list[Ticket] = []
    for _ in range(n):
        category = leaves[rng.randrange(len(leaves))]
        attributes: dict[str, str] = {}
        if rng.random() < 0.8:
            attributes["location_type"] = rng.choice(LOCATION_TYPES)
        if rng.random() < 0.6:
            attributes["property_managed"] = rng.choice(("yes", "no"))
        words = keywords.get(category[:2])
        if words and rng.random() < 0.5:
            text = f"市民反映{rng.choice(words)}问题已持续{rng.randint(1, 30)}天，请尽快处理"
        else:
            text = f"市民来电反映相关问题已持续{rng.randint(1, 30)}天，希望有关部门处理"
        tickets.append(
            {
                "category": category,
                "area": places[rng.randrange(len(places))],
                "attributes": attributes,
                "text": text,
                "as_of": TICKET_AS_OF,
            }
        )
    return tickets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic city bundle (JSON).")
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="bundle file to write (default: none)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    city = make_city(districts=args.districts, seed=args.seed)
    elapsed = time.perf_counter() - started
    if args.out is not None:
        args.out.write_text(json.dumps(city, ensure_ascii=False), encoding="utf-8")
    leaves = sum(1 for c in city["categories"] if "departmental" in c)
    print(
        f"units={len(city['units'])} areas={len(city['areas'])} "
        f"categories={len(city['categories'])} leaves={leaves} rules={len(city['rules'])} "
        f"generated_in={elapsed:.2f}s" + (f" out={args.out}" if args.out else ""),
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
