"""Build the bundled demo district (示范区) as a quanze bundle: ``api/demo/district.json``.

Usage::

    python tools/build_demo_district.py [TAXONOMY_CSV] [--out PATH]

``TAXONOMY_CSV`` defaults to ``../shared/data/message-taxonomy-3level.csv`` relative to the
repository root: the real three-level classification (15 / 118 / 517 classes) published with
the 2020 Teddy Cup challenge. Its names are the factual basis of the category tree; this script
selects and merges them, gives them hierarchical codes (``03`` / ``0301`` / ``030101``) and adds
the 12345-specific classes it lacks (违法建设, 物业管理, 供暖, 供水, 供电, 燃气, 排水, 市容环境,
噪声, 公共交通, 消费维权, 养老服务, 消防安全, 欠薪 ...). The output is deterministic: no
randomness, everything is written in construction order.

The responsibility matrix models the real lists:

* 三张清单 of the streets and townships: 基本履职 (JB: the territorial unit leads),
  配合履职 (PH: a department leads, ``@territorial`` assists) and 上级部门收回 (SH: the
  department leads);
* department catalogues under their 三定 provisions (SD) and the public-utility service list
  (GY), each with its legal basis. The 三定 item numbers are invented and marked （示例）;
* every leaf whose rows make a department or utility the lead (PH, SH, SD, GY) is
  departmental, with that unit as ``default_unit``: it never falls back to a street or
  township (国办函〔2025〕66号: 职能部门事项不得分派给基层). Only JB leaves are territorial, and
  every rule on a leaf names a lead of the leaf's kind (the script refuses anything else);
* Beijing's 2020 devolution (京政发〔2020〕9号) of 占道经营, 露天烧烤 and 临街违法建设 to the
  街道/乡镇 comprehensive enforcement teams: the street leads, 城管执法局 guides;
* a history: the coarser 2023 dispatch catalogue (``R-<category>-2023``, on level-2
  categories, with a leaf entry only where the leaf's lead is of the other kind), in force
  until the 三定 catalogue (2025-03-01) or the 2026 lists replaced it;
* local deviations scoped to one township or community, decided in meeting minutes
  (示政办会〔2026〕N号), each on leaves, where it can win; a residents' or villagers'
  committee assists, never leads;
* attribute rules (``when``) and keyword rules (``text_any``).

DELIBERATE IMPERFECTIONS (the matrix check must find exactly these; the script prints them):

* gaps -- leaf categories without any rule on themselves or an ancestor (their lists make
  a department the lead, so they fall back to its default unit):
    - 040305 环保管理 / 淘汰落后产能补偿
    - 050502 邮政管理 / 邮政行业规划
    - 070302 信息化建设 / 软件行业管理
    - 100205 商业贸易 / 反倾销
  (codes as generated; the script prints the actual codes and fails if they differ)
* exactly one overlap -- 040104 商业经营噪声, ``when location_type = commercial``:
  R-040104-02 (区生态环境局, under its 三定) and R-040104-03 (区城市管理综合行政执法局, under
  the 配合履职 list) -- same category, area scope (null), condition count, source (catalog),
  priority (0) and valid_from, different leads: a true tie, as in the real dispute over
  restaurant noise;
* two shadowed rules -- same category, area scope and conditions as a rule with a higher
  priority and the same validity, so they can never win:
    - R-030801-03 (占道经营 on public roads, @territorial, priority 0) under R-030801-02
      (区城管执法局, priority 1);
    - R-030302-03 (供暖费 with central heating, 区城市管理委员会, priority 0) under
      R-030302-02 (示范区热力有限公司, priority 1).

Also present on purpose (not defects): two expired rules with a replacement (R-0303-01 ->
R-0303-GY-1, R-030807-02 -> R-030807-01), the expired 2023 catalogue, and one future-dated
rule (R-031609-02, from 2027-01-01).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO / ".." / "shared" / "data" / "message-taxonomy-3level.csv"
DEFAULT_OUT = REPO / "api" / "demo" / "district.json"

T = "@territorial"
FROM_2026 = "2026-01-01T00:00:00+08:00"
FROM_SANDING = "2025-03-01T00:00:00+08:00"
FROM_2023 = "2023-01-01T00:00:00+08:00"
CATALOG_2023 = "《示范区12345热线派单目录（2023年版）》"
# 京政发〔2020〕9号: from 2020-07-01 Beijing devolved part of the city-management enforcement
# powers (占道经营, 露天烧烤, 违法建设 along streets ...) to the 街道/乡镇 comprehensive
# enforcement teams (综合行政执法队); the district's 城管执法局 guides and supervises them.
DEVOLUTION = ("《北京市人民政府关于向街道乡镇下放部分行政执法职权并实行综合执法的决定》"
              "（京政发〔2020〕9号）：由街道（乡镇）综合行政执法队承办，区城管执法局业务指导")
ILLUSTRATIVE = "（示例）"

# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------

OFFICES = [
    ("O-ZF", "示范区人民政府办公室"),
    ("O-RX", "示范区12345热线中心"),
]

DEPARTMENTS = [
    ("D-ZJ", "区住房和城乡建设委员会"),
    ("D-GZ", "区规划和自然资源分局"),
    ("D-CG", "区城市管理委员会"),
    ("D-CZ", "区城市管理综合行政执法局"),
    ("D-SJ", "区市场监督管理局"),
    ("D-HJ", "区生态环境局"),
    ("D-RS", "区人力资源和社会保障局"),
    ("D-JT", "区交通局"),
    ("D-SW", "区水务局"),
    ("D-YL", "区园林绿化局"),
    ("D-JW", "区教育委员会"),
    ("D-WJ", "区卫生健康委员会"),
    ("D-GA", "示范区公安分局"),
    ("D-JJ", "示范区公安分局交通支队"),
    ("D-MZ", "区民政局"),
    ("D-YJ", "区应急管理局"),
    ("D-XF", "区消防救援支队"),
    ("D-NY", "区农业农村局"),
    ("D-SC", "区商务局"),
    ("D-WL", "区文化和旅游局"),
    ("D-ZB", "区住房保障事务中心"),
    ("D-YB", "区医疗保障局"),
    ("D-SS", "国家税务总局示范区税务局"),
    ("D-SF", "区司法局"),
    ("D-TY", "区体育局"),
    ("D-TJ", "区退役军人事务局"),
    ("D-FG", "区发展和改革委员会"),
    ("D-CJ", "区财政局"),
    ("D-JX", "区经济和信息化局"),
    ("D-KW", "区科学技术委员会"),
    ("D-ZW", "区政务服务管理局"),
    ("D-GJJ", "住房公积金管理中心示范区管理部"),
    ("D-QX", "示范区气象局"),
    ("D-JR", "区地方金融监督管理局"),
    ("D-GZW", "区人民政府国有资产监督管理委员会"),
    ("D-YZ", "示范区邮政管理局"),
    ("D-TZ", "中共示范区委统战部"),
    ("D-XC", "中共示范区委宣传部"),
    ("D-WX", "中共示范区委网络安全和信息化委员会办公室"),
    ("D-ZGH", "示范区总工会"),
    ("D-FL", "示范区妇女联合会"),
    ("D-TW", "共青团示范区委员会"),
    ("D-KFQ", "示范区经济技术开发区管理委员会"),
    ("D-CL", "示范区残疾人联合会"),
    ("D-RF", "区人民防空办公室"),
    ("D-GL", "示范区公路分局"),
]

UTILITIES = [
    ("U-WATER", "示范区自来水有限公司"),
    ("U-POWER", "国网示范区供电公司"),
    ("U-GAS", "示范区燃气有限公司"),
    ("U-HEAT", "示范区热力有限公司"),
    ("U-DRAIN", "示范区排水集团有限公司"),
    ("U-SANIT", "示范区环境卫生服务中心"),
    ("U-BUS", "示范区公共交通有限公司"),
    ("U-TELECOM", "中国电信示范区分公司"),
    ("U-UNICOM", "中国联通示范区分公司"),
    ("U-MOBILE", "中国移动示范区分公司"),
]

# township-level areas: (suffix, unit code, name, kind, communities)
# a community is (name, unit code or None, grid names)
TOWNSHIPS: list[tuple[str, str, str, str, list[tuple[str, str | None, list[str]]]]] = [
    ("001", "JD-HP", "和平街道", "street", [
        ("和平里社区", "SQ-HPL", ["第一网格", "第二网格", "第三网格"]),
        ("和平东社区", None, []), ("和平西社区", None, []), ("光明社区", None, []),
        ("建设里社区", None, [])]),
    ("002", "JD-DH", "东湖街道", "street", [
        ("东湖湾社区", "SQ-DHW", ["第一网格", "第二网格"]), ("湖滨社区", None, []),
        ("荷花池社区", None, []), ("东湖新村社区", None, [])]),
    ("003", "JD-BC", "北城街道", "street", [
        ("北城门社区", None, []), ("钟楼社区", None, []), ("鼓楼社区", None, []),
        ("北关社区", None, []), ("安德里社区", None, []), ("德胜社区", None, [])]),
    ("004", "JD-XG", "西关街道", "street", [
        ("西关社区", None, []), ("西苑社区", None, []), ("枫林社区", None, [])]),
    ("005", "JD-NY", "南苑街道", "street", [
        ("南苑社区", None, []), ("永丰社区", None, []), ("海棠社区", None, []),
        ("红星社区", None, [])]),
    ("006", "JD-JS", "金山街道", "street", [
        ("金山社区", None, []), ("科创社区", "SQ-KC", []), ("智造园社区", None, []),
        ("金桥社区", None, []), ("银杏社区", None, [])]),
    ("007", "JD-XH", "新华街道", "street", [
        ("新华社区", None, []), ("文化里社区", None, []), ("书院社区", None, [])]),
    ("008", "JD-CQ", "长青街道", "street", [
        ("长青园社区", None, []), ("松柏社区", None, []), ("翠微社区", None, []),
        ("长乐社区", None, [])]),
    ("009", "XZ-QS", "青石镇", "township", [
        ("青石村", None, []), ("石门村", "CW-SM", []), ("石桥村", None, []),
        ("上庄村", None, []), ("青石镇中心社区", None, [])]),
    ("010", "XZ-LH", "柳河镇", "township", [
        ("柳河村", None, []), ("东柳村", None, []), ("西柳村", None, []),
        ("河湾村", None, [])]),
    ("011", "XZ-BY", "白羊镇", "township", [
        ("白羊村", None, []), ("羊坊村", None, []), ("白家庄村", None, []),
        ("南洼村", None, []), ("北洼村", None, []), ("白羊社区", None, [])]),
    ("012", "XZ-SQ", "沙渠乡", "township", [
        ("沙渠村", None, []), ("前沙村", None, []), ("后沙村", None, [])]),
    ("013", "XZ-DP", "大坪乡", "township", [
        ("大坪村", None, []), ("小坪村", None, []), ("坪上村", None, []),
        ("岔道村", None, [])]),
    ("014", "XZ-TY", "桃源镇", "township", [
        ("桃源村", None, []), ("桃花峪村", None, []), ("杏林村", None, []),
        ("桃源山庄社区", None, [])]),
]

DISTRICT = "110199"

# --------------------------------------------------------------------------------------------
# Categories and their list entries
#
# A group is one level-2 class. mode says which list its entries come from:
#   JB 基本履职 (lead @territorial, co = [unit] + co), PH 配合履职 (lead unit, co = [unit's co]
#   + @territorial), SH 上级部门收回 (lead unit; departmental), SD 部门三定 (lead unit),
#   GY 公用事业服务事项 (lead a utility).
# A leaf override is (mode, unit, co) or (mode, unit, co, law).
# --------------------------------------------------------------------------------------------

LEVEL1 = [
    ("01", "党务政务"), ("02", "国土资源"), ("03", "城乡建设"), ("04", "环境保护"),
    ("05", "交通运输"), ("06", "经济管理"), ("07", "科技与信息产业"), ("08", "民政"),
    ("09", "农村农业"), ("10", "商贸旅游"), ("11", "卫生计生"), ("12", "政法"),
    ("13", "教育文体"), ("14", "劳动和社会保障"),
]

# CSV level-2 classes deliberately left out of the demo district, with the reason.
DROPPED = {
    ("城乡建设", "安全生产"): "merged into 经济管理/安全生产",
    ("城乡建设", "其他"): "catch-all",
    ("党务政务", "党的建设"): "not a 12345 matter (party organs)",
    ("党务政务", "国防外交"): "not a district matter",
    ("党务政务", "政治体制"): "not a 12345 matter (people's congress, CPPCC)",
    ("党务政务", "其他"): "catch-all",
    ("国土资源", "其他"): "catch-all",
    ("环境保护", "其他"): "catch-all",
    ("纪检监察", "*"): "routed to 12388, not to 12345",
    ("交通运输", "交通运输"): "duplicate of 出租车管理",
    ("交通运输", "其他"): "catch-all",
    ("经济管理", "其他"): "catch-all",
    ("科技与信息产业", "其他"): "catch-all",
    ("民政", "其他"): "catch-all",
    ("农村农业", "草原草场"): "the district has no grassland",
    ("农村农业", "农垦农场"): "the district has no state farm",
    ("农村农业", "其他"): "catch-all",
    ("商贸旅游", "其他"): "catch-all",
    ("卫生计生", "其他"): "catch-all",
    ("政法", "诉讼"): "courts, not dispatched by 12345",
    ("政法", "警务督察"): "handled by the police complaint line",
    ("政法", "其他"): "catch-all",
    ("教育文体", "其他"): "catch-all",
    ("劳动和社会保障", "其他"): "catch-all",
}


def group(code: str, name: str, mode: str, unit: str, co: list[str], law: str | None = None,
          *, src: tuple[str, str] | None = None, leaves: list[str] | None = None,
          drop: tuple[str, ...] = (), add: tuple[str, ...] = (), grule: bool = True,
          ov: dict[str, tuple[Any, ...]] | None = None,
          merged: tuple[tuple[str, str, str], ...] = ()) -> dict[str, Any]:
    return {"code": code, "name": name, "mode": mode, "unit": unit, "co": co, "law": law,
            "src": src, "leaves": leaves, "drop": drop, "add": add, "grule": grule,
            "ov": ov or {}, "merged": merged}


GROUPS = [
    # ---------------------------------------------------------------- 01 党务政务
    group("0101", "政务服务", "SD", "D-ZW", [],
          leaves=["办事效率", "政务服务大厅", "一网通办", "热线服务质量", "其他"],
          ov={"热线服务质量": ("SD", "O-RX", [])}),
    group("0102", "群众团体", "SD", "D-ZGH", [], src=("党务政务", "群众团体"),
          ov={"共青团工作": ("SD", "D-TW", []), "妇联工作": ("SD", "D-FL", [])}),
    group("0103", "民族宗教", "SD", "D-TZ", [], src=("党务政务", "民族宗教")),
    group("0104", "港澳台侨", "SD", "D-TZ", [], src=("党务政务", "港澳台侨")),
    group("0105", "宣传舆论", "SD", "D-XC", [], src=("党务政务", "宣传舆论"),
          ov={"互联网信息监管": ("SH", "D-WX", []), "广播影视管理": ("SD", "D-WL", []),
              "出版管理": ("SD", "D-WL", [])}),
    # ---------------------------------------------------------------- 02 国土资源
    group("0201", "土地资源管理", "SD", "D-GZ", [], "《中华人民共和国土地管理法》第五条",
          src=("国土资源", "土地资源管理"),
          ov={"耕地保护": ("PH", "D-GZ", ["D-NY"], "《中华人民共和国土地管理法》第三十六条"),
              "土地权属纠纷": ("JB", "D-GZ", [], "《中华人民共和国土地管理法》第十四条")}),
    group("0202", "土地征收", "PH", "D-GZ", [], "《中华人民共和国土地管理法》第四十七条",
          src=("国土资源", "土地征收"),
          ov={"失地农民保障": ("SH", "D-RS", [])}),
    group("0203", "矿产资源管理", "SD", "D-GZ", [], src=("国土资源", "矿产资源管理"),
          ov={"矿山地质环境": ("PH", "D-GZ", ["D-HJ"])}),
    group("0204", "气象地震", "SD", "D-YJ", [], src=("国土资源", "海洋气象地震"),
          drop=("海洋",), ov={"气象": ("SH", "D-QX", [], "《中华人民共和国气象法》第五条")}),
    # ---------------------------------------------------------------- 03 城乡建设
    group("0301", "违法建设", "JB", "D-CZ", ["D-GZ"], "《北京市禁止违法建设若干规定》第五条",
          leaves=["小区内私搭乱建", "楼顶违法建设", "临街违法建设", "农村违法建房",
                  "开挖地下室", "违建拆除进度", "其他"],
          merged=(("城乡建设", "城乡规划", "违章建筑"),),
          ov={"小区内私搭乱建": ("JB", "D-ZJ", ["D-CZ"], "《物业管理条例》第四十五条"),
              "临街违法建设": ("JB", "D-CZ", ["D-GZ", "D-SJ"], DEVOLUTION),
              "农村违法建房": ("JB", "D-NY", ["D-GZ"], "《中华人民共和国城乡规划法》第六十五条"),
              "开挖地下室": ("JB", "D-ZJ", ["D-CZ"])}),
    group("0302", "物业管理", "JB", "D-ZJ", [], "《物业管理条例》第五条",
          leaves=["电梯故障", "物业服务质量", "公共维修资金", "物业费收取", "业主委员会",
                  "物业交接与撤场", "小区停车管理", "小区公共收益", "其他"],
          merged=(("城乡建设", "住房保障与房地产", "物业服务"),
                  ("城乡建设", "城市建设和市政管理", "小区管理")),
          ov={"电梯故障": ("PH", "D-SJ", ["D-ZJ"], "《中华人民共和国特种设备安全法》第四十五条"),
              "公共维修资金": ("SH", "D-ZJ", [], "《住宅专项维修资金管理办法》第二十二条"),
              "物业费收取": ("JB", "D-ZJ", ["D-SJ"], "《物业管理条例》第四十条"),
              "业主委员会": ("JB", "D-ZJ", [], "《物业管理条例》第二十条"),
              "物业交接与撤场": ("JB", "D-ZJ", [], "《物业管理条例》第三十八条"),
              "小区停车管理": ("JB", "D-ZJ", ["D-JJ"])}),
    group("0303", "供暖", "GY", "U-HEAT", ["D-CG"], "《北京市供热采暖管理办法》第十二条",
          leaves=["暖气不热", "供暖费", "供暖管线跑冒滴漏", "停暖与报停", "自采暖与煤改电",
                  "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "冬季采暖"),),
          ov={"暖气不热": ("GY", "U-HEAT", ["D-CG", T]),
              "自采暖与煤改电": ("JB", "D-CG", ["U-POWER", "U-GAS"])}),
    group("0304", "供水", "GY", "U-WATER", ["D-SW"], "《城市供水条例》第二十二条",
          leaves=["停水", "水压不足", "水质问题", "供水管线漏水", "水费水表", "二次供水",
                  "农村供水", "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "自来水供应"),),
          ov={"水质问题": ("GY", "U-WATER", ["D-SW", "D-WJ"]),
              "二次供水": ("GY", "U-WATER", ["D-WJ", T], "《生活饮用水卫生监督管理办法》第七条"),
              "农村供水": ("PH", "D-SW", [])}),
    group("0305", "供电", "GY", "U-POWER", ["D-CG"], "《电力供应与使用条例》第二十八条",
          leaves=["停电", "电压不稳", "电费缴纳", "供电线路隐患", "充电桩安装", "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "电力供应"),),
          ov={"供电线路隐患": ("GY", "U-POWER", ["D-CG", T]),
              "充电桩安装": ("GY", "U-POWER", ["D-CG", "D-ZJ"])}),
    group("0306", "燃气", "GY", "U-GAS", ["D-CG"], "《城镇燃气管理条例》第十七条",
          leaves=["燃气泄漏", "停气", "燃气费", "燃气设施安全", "瓶装液化气", "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "燃气供应"),),
          ov={"燃气泄漏": ("GY", "U-GAS", ["D-CG", "D-XF"]),
              "瓶装液化气": ("PH", "D-CG", ["D-SJ"], "《城镇燃气管理条例》第二十条")}),
    group("0307", "排水", "GY", "U-DRAIN", ["D-SW"], "《城镇排水与污水处理条例》第五条",
          leaves=["污水外溢", "雨水积水", "化粪池清掏", "排水管道堵塞", "农村污水", "其他"],
          ov={"雨水积水": ("PH", "D-SW", ["U-DRAIN"]),
              "化粪池清掏": ("JB", "U-SANIT", ["D-CG"]),
              "农村污水": ("JB", "D-SW", ["D-HJ"])}),
    group("0308", "市容环境", "JB", "D-CG", ["D-CZ"], "《北京市市容环境卫生条例》第六条",
          leaves=["占道经营", "露天烧烤", "乱贴小广告", "渣土车遗撒", "生活垃圾分类",
                  "垃圾清运", "共享单车乱停放", "户外广告牌匾", "公共厕所", "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "环境卫生"),
                  ("城乡建设", "城市建设和市政管理", "城管执法"),
                  ("城乡建设", "城市建设和市政管理", "园林绿化环卫")),
          ov={"占道经营": ("JB", "D-CZ", ["D-SJ"],
                       "《北京市市容环境卫生条例》第十七条；" + DEVOLUTION),
              "露天烧烤": ("JB", "D-CZ", ["D-HJ"],
                       "《中华人民共和国大气污染防治法》第八十一条第三款；" + DEVOLUTION),
              "乱贴小广告": ("JB", "D-CZ", []),
              "渣土车遗撒": ("PH", "D-CZ", ["D-JJ", "D-CG"]),
              "生活垃圾分类": ("JB", "D-CG", [], "《北京市生活垃圾管理条例》第十四条"),
              "垃圾清运": ("JB", "D-CG", ["U-SANIT"], "《北京市生活垃圾管理条例》第十四条"),
              "共享单车乱停放": ("PH", "D-JT", ["D-CG"]),
              "户外广告牌匾": ("PH", "D-CG", ["D-CZ"]),
              "公共厕所": ("GY", "U-SANIT", ["D-CG"])}),
    group("0309", "城市建设和市政管理", "SD", "D-CG", [],
          src=("城乡建设", "城市建设和市政管理"),
          drop=("园林绿化环卫", "城管执法", "公共汽车", "冬季采暖", "地铁城铁", "小区管理",
                "燃气供应", "环境卫生", "电力供应", "自来水供应"),
          add=("道路破损", "路灯照明", "井盖缺失", "道路停车"),
          ov={"居民服务设施": ("JB", "D-SC", []), "城市公共设施": ("SD", "D-CG", ["D-JT"]),
              "公园管理": ("SD", "D-YL", []),
              "园林绿化": ("PH", "D-YL", [], "《城市绿化条例》第二十条"),
              "基础设施": ("SD", "D-CG", ["D-JT"]), "道路破损": ("SD", "D-CG", ["D-JT"]),
              "井盖缺失": ("SD", "D-CG", ["U-WATER", "U-DRAIN", "U-TELECOM"]),
              "道路停车": ("PH", "D-CG", ["D-JJ"])}),
    group("0310", "城乡规划", "SD", "D-GZ", [], "《中华人民共和国城乡规划法》第十一条",
          src=("城乡建设", "城乡规划"), drop=("违章建筑",),
          ov={"历史名城保护": ("SD", "D-GZ", ["D-WL"])}),
    group("0311", "村镇建设", "JB", "D-ZJ", ["D-NY"], src=("城乡建设", "村镇建设"),
          add=("农村危房改造",), ov={"农村危房改造": ("PH", "D-ZJ", ["D-NY"])}),
    group("0312", "工程质量", "SD", "D-ZJ", [], "《建设工程质量管理条例》第四十三条",
          src=("城乡建设", "工程质量"), add=("房屋质量问题",),
          ov={"施工安全": ("SD", "D-ZJ", ["D-YJ"]), "抗震防灾": ("SD", "D-ZJ", ["D-YJ"])}),
    group("0313", "国有土地上房屋征收与补偿", "PH", "D-ZJ", [],
          "《国有土地上房屋征收与补偿条例》第四条",
          src=("城乡建设", "国有土地上房屋征收与补偿"),
          ov={"审批手续": ("SD", "D-ZJ", ["D-GZ"])}),
    group("0314", "集体土地上房屋拆迁与补偿", "JB", "D-GZ", ["D-ZJ"],
          src=("城乡建设", "集体土地上房屋拆迁与补偿")),
    group("0315", "建筑市场", "SD", "D-ZJ", [], "《中华人民共和国建筑法》第六条",
          src=("城乡建设", "建筑市场"),
          ov={"工程招投标": ("SH", "D-ZJ", [], "《中华人民共和国招标投标法》第七条"),
              "拖欠工程款": ("SD", "D-ZJ", ["D-RS"]),
              "企业资质和执业资格": ("SH", "D-ZJ", [])}),
    group("0316", "住房保障与房地产", "SD", "D-ZJ", [], src=("城乡建设", "住房保障与房地产"),
          drop=("物业服务",),
          ov={"住房公积金": ("SH", "D-GJJ", [], "《住房公积金管理条例》第十三条"),
              "保障性住房": ("SH", "D-ZB", [], "《公共租赁住房管理办法》第四条"),
              "房地产开发管理": ("SH", "D-ZJ", []),
              "住房困难": ("PH", "D-ZB", []),
              "修缮装修": ("JB", "D-ZJ", []),
              "公房": ("SD", "D-ZB", []),
              "房产证登记、办理": ("SH", "D-GZ", [], "《不动产登记暂行条例》第七条"),
              "房屋租赁": ("PH", "D-ZJ", ["D-GA"], "《商品房屋租赁管理办法》第四条"),
              "房屋补贴": ("SH", "D-ZB", []),
              "房改政策": ("SD", "D-ZB", []),
              "私房": ("SD", "D-GZ", []),
              "骗购": ("SD", "D-ZJ", ["D-GA"])}),
    group("0317", "人民防空", "SD", "D-RF", [], "《中华人民共和国人民防空法》第七条",
          leaves=["人防工程使用管理", "人防工程违规住人", "防空警报", "其他"],
          ov={"人防工程违规住人": ("SD", "D-RF", ["D-GA"])}),
    # ---------------------------------------------------------------- 04 环境保护
    group("0401", "噪声", "PH", "D-HJ", [], "《中华人民共和国噪声污染防治法》第六条",
          leaves=["施工噪声", "夜间施工", "社会生活噪声", "商业经营噪声", "交通噪声",
                  "工业噪声", "广场舞噪声", "其他"],
          merged=(("环境保护", "环境污染", "噪音污染"),),
          ov={"施工噪声": ("PH", "D-CZ", ["D-ZJ"], "《中华人民共和国噪声污染防治法》第四十三条"),
              "夜间施工": ("PH", "D-CZ", ["D-ZJ"], "《中华人民共和国噪声污染防治法》第四十三条"),
              "社会生活噪声": ("JB", "D-GA", [], "《中华人民共和国噪声污染防治法》第六十五条"),
              "商业经营噪声": ("PH", "D-HJ", ["D-CZ"]),
              "交通噪声": ("SD", "D-JT", ["D-HJ", "D-JJ"]),
              "工业噪声": ("SD", "D-HJ", []),
              "广场舞噪声": ("JB", "D-GA", ["D-WL"])}),
    group("0402", "环境污染", "SD", "D-HJ", [], "《中华人民共和国环境保护法》第十条",
          src=("环境保护", "环境污染"), drop=("噪音污染",), add=("餐饮油烟", "露天焚烧"),
          ov={"危险化学品污染": ("SD", "D-HJ", ["D-YJ"]),
              "放射性污染": ("SH", "D-HJ", [], "《中华人民共和国放射性污染防治法》第八条"),
              "固体污染": ("JB", "D-HJ", ["D-CG"]),
              "大气污染": ("SD", "D-HJ", [], "《中华人民共和国大气污染防治法》第五条"),
              "水污染": ("SD", "D-HJ", ["D-SW"]),
              "土壤污染": ("SD", "D-HJ", ["D-NY"]),
              "餐饮油烟": ("PH", "D-CZ", ["D-HJ"], "《中华人民共和国大气污染防治法》第八十一条"),
              "露天焚烧": ("JB", "D-HJ", ["D-NY", "D-CZ"],
                       "《中华人民共和国大气污染防治法》第七十七条")}),
    group("0403", "环保管理", "SD", "D-HJ", [], src=("环境保护", "环保管理"), grule=False,
          ov={"污染损害纠纷调解": ("JB", "D-HJ", ["D-SF"])}),
    group("0404", "建设项目审批", "SD", "D-HJ", [], "《中华人民共和国环境影响评价法》第二十二条",
          src=("环境保护", "建设项目审批"),
          ov={"环评报告不实": ("SH", "D-HJ", []), "未批先建": ("SH", "D-HJ", [])}),
    # ---------------------------------------------------------------- 05 交通运输
    group("0501", "公共交通", "SD", "D-JT", ["U-BUS"],
          leaves=["公交线路", "公交站点设置", "公交服务质量", "地铁城铁", "其他"],
          merged=(("城乡建设", "城市建设和市政管理", "公共汽车"),
                  ("城乡建设", "城市建设和市政管理", "地铁城铁")),
          ov={"公交线路": ("SH", "D-JT", ["U-BUS"]), "公交站点设置": ("SH", "D-JT", ["U-BUS"]),
              "公交服务质量": ("GY", "U-BUS", ["D-JT"])}),
    group("0502", "出租车管理", "SD", "D-JT", [], src=("交通运输", "出租车管理"),
          ov={"经营权转让": ("SH", "D-JT", []), "运价监管": ("SH", "D-JT", ["D-SJ"]),
              "网约车问题": ("SH", "D-JT", [],
                        "《网络预约出租汽车经营服务管理暂行办法》第四条")}),
    group("0503", "建设管理", "SD", "D-JT", [], src=("交通运输", "建设管理"),
          ov={"公路收费": ("SH", "D-JT", []),
              "设施维护": ("SD", "D-GL", ["D-JT"], "《公路安全保护条例》第三条")}),
    group("0504", "客货运输", "SD", "D-JT", [], src=("交通运输", "客货运输"),
          ov={"运输安全": ("SD", "D-JT", ["D-YJ"])}),
    group("0505", "邮政管理", "SD", "D-YZ", [], "《快递暂行条例》第五条",
          src=("交通运输", "邮政管理"), grule=False),
    # ---------------------------------------------------------------- 06 经济管理
    group("0601", "安全生产", "PH", "D-YJ", [], "《中华人民共和国安全生产法》第九条",
          src=("经济管理", "安全生产"),
          merged=(("城乡建设", "安全生产", "*"),),
          ov={"事故处理": ("SD", "D-YJ", [])}),
    group("0602", "保险证券期货", "SD", "D-JR", [], src=("经济管理", "保险证券期货")),
    group("0603", "国资监管", "SD", "D-GZW", [], src=("经济管理", "国资监管")),
    group("0604", "宏观调控", "SD", "D-FG", [], src=("经济管理", "宏观调控")),
    group("0605", "金融财税", "SD", "D-CJ", [], src=("经济管理", "金融财税"),
          ov={"税收征管": ("SH", "D-SS", [], "《中华人民共和国税收征收管理法》第五条"),
              "金融管理": ("SD", "D-JR", []),
              "集资融资": ("PH", "D-JR", ["D-GA"], "《防范和处置非法集资条例》第七条"),
              "非法经济活动": ("SD", "D-GA", ["D-JR", "D-SJ"])}),
    group("0606", "能源管理", "SD", "D-FG", ["D-CG"], src=("经济管理", "能源管理")),
    group("0607", "企业破产", "SD", "D-JX", ["D-GZW"], src=("经济管理", "企业破产")),
    # ---------------------------------------------------------------- 07 科技与信息产业
    group("0701", "电信", "SD", "D-JX", ["U-TELECOM", "U-UNICOM", "U-MOBILE"],
          "《中华人民共和国电信条例》第三条", src=("科技与信息产业", "电信")),
    group("0702", "科学技术", "SD", "D-KW", [], src=("科技与信息产业", "科学技术")),
    group("0703", "信息化建设", "SD", "D-JX", [], src=("科技与信息产业", "信息化建设"),
          grule=False, ov={"互联网运营管理": ("SD", "D-WX", [])}),
    group("0704", "知识产权", "SD", "D-SJ", [], src=("科技与信息产业", "知识产权"),
          ov={"知识产权申报": ("SH", "D-SJ", [])}),
    # ---------------------------------------------------------------- 08 民政
    group("0801", "福利慈善", "SD", "D-MZ", [], src=("民政", "福利慈善")),
    group("0802", "复退安置", "SD", "D-TJ", [], src=("民政", "复退安置"),
          ov={"复员干部安置": ("SH", "D-TJ", []), "转业退伍安置": ("SH", "D-TJ", []),
              "军休安置": ("SH", "D-TJ", [])}),
    group("0803", "基层选举和社区建设", "JB", "D-MZ", [],
          "《中华人民共和国城市居民委员会组织法》第二条",
          src=("民政", "基层选举和社区建设"),
          ov={"村委会选举": ("JB", "D-MZ", [], "《中华人民共和国村民委员会组织法》第十二条")}),
    group("0804", "救灾募捐", "PH", "D-YJ", ["D-MZ"], src=("民政", "救灾募捐"),
          ov={"捐赠服务": ("SD", "D-MZ", [])}),
    group("0805", "民间组织", "SD", "D-MZ", [], src=("民政", "民间组织"),
          ov={"社团登记": ("SH", "D-MZ", [], "《社会团体登记管理条例》第六条")}),
    group("0806", "区划地名", "SD", "D-MZ", [], src=("民政", "区划地名"),
          ov={"边界纠纷": ("PH", "D-MZ", [])}),
    group("0807", "社会服务", "SD", "D-MZ", [], src=("民政", "社会服务"),
          ov={"收养登记": ("SH", "D-MZ", []),
              "婚姻登记": ("SH", "D-MZ", [], "《婚姻登记条例》第二条"),
              "殡葬管理": ("PH", "D-MZ", [], "《殡葬管理条例》第三条"),
              "生活无着人员救助": ("PH", "D-MZ", ["D-GA"])}),
    group("0808", "社会救助", "JB", "D-MZ", [], "《社会救助暂行办法》第十一条",
          src=("民政", "社会救助"), ov={"医疗救助": ("SH", "D-YB", [])}),
    group("0809", "优抚", "SD", "D-TJ", [], src=("民政", "优抚"),
          ov={"评残及伤残抚恤": ("SH", "D-TJ", [], "《伤残抚恤管理办法》第四条")}),
    group("0810", "养老服务", "JB", "D-MZ", [], "《北京市居家养老服务条例》第七条",
          leaves=["养老机构管理", "居家养老服务", "高龄津贴", "老年餐桌", "其他"],
          ov={"养老机构管理": ("SD", "D-MZ", [], "《养老机构管理办法》第四条")}),
    group("0811", "残疾人服务", "SD", "D-CL", [], "《中华人民共和国残疾人保障法》第八条",
          leaves=["残疾人证办理", "残疾人康复", "残疾人就业", "残疾人两项补贴", "其他"],
          ov={"残疾人证办理": ("SH", "D-CL", []),
              "残疾人两项补贴": ("PH", "D-MZ", ["D-CL"],
                          "《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》"
                          "（国发〔2015〕52号）")}),
    # ---------------------------------------------------------------- 09 农村农业
    group("0901", "村务管理", "JB", "D-NY", [], "《中华人民共和国村民委员会组织法》第五条",
          src=("农村农业", "村务管理")),
    group("0902", "动物防疫", "PH", "D-NY", [], "《中华人民共和国动物防疫法》第八条",
          src=("农村农业", "动物防疫")),
    group("0903", "扶贫开发", "SD", "D-NY", [], src=("农村农业", "扶贫开发")),
    group("0904", "惠农补贴", "JB", "D-NY", ["D-CJ"], src=("农村农业", "惠农补贴")),
    group("0905", "林业管理", "PH", "D-YL", [], "《中华人民共和国森林法》第九条",
          src=("农村农业", "林业管理"),
          ov={"水土流失": ("SD", "D-SW", []),
              "森林防火": ("JB", "D-YL", ["D-YJ"], "《森林防火条例》第五条"),
              "国有林业资产管理": ("SH", "D-YL", []),
              "采伐运输": ("SH", "D-YL", [], "《中华人民共和国森林法》第五十六条"),
              "林权改革及权属纠纷": ("JB", "D-YL", [])}),
    group("0906", "农副产品流通", "SD", "D-SC", [], src=("农村农业", "农副产品流通"),
          ov={"价格质量": ("SD", "D-SJ", []), "粮食储备": ("SH", "D-FG", [])}),
    group("0907", "农资农技", "SD", "D-NY", [], src=("农村农业", "农资农技"),
          ov={"农资价格质量": ("PH", "D-SJ", ["D-NY"])}),
    group("0908", "水库移民", "SD", "D-SW", [], src=("农村农业", "水库移民"),
          ov={"移民补偿安置": ("PH", "D-SW", []), "后期扶持": ("SH", "D-SW", [])}),
    group("0909", "水利水电", "SD", "D-SW", [], "《中华人民共和国水法》第十二条",
          src=("农村农业", "水利水电"),
          ov={"防汛抗旱": ("PH", "D-SW", ["D-YJ"], "《中华人民共和国防洪法》第三十八条"),
              "水事纠纷": ("JB", "D-SW", [], "《中华人民共和国水法》第五十七条"),
              "江河湖治理": ("PH", "D-SW", [])}),
    group("0910", "土地承包经营", "JB", "D-NY", [], "《中华人民共和国农村土地承包法》第十二条",
          src=("农村农业", "土地承包经营"),
          ov={"宅基地纠纷": ("JB", "D-NY", ["D-GZ"], "《中华人民共和国土地管理法》第六十二条")}),
    group("0911", "野生资源管理", "SD", "D-YL", [], "《中华人民共和国野生动物保护法》第七条",
          src=("农村农业", "野生资源管理"),
          ov={"野生动植物保护": ("SD", "D-YL", ["D-NY"])}),
    # ---------------------------------------------------------------- 10 商贸旅游
    group("1001", "旅游管理", "SD", "D-WL", [], "《中华人民共和国旅游法》第七条",
          src=("商贸旅游", "旅游管理"), ov={"景区管理": ("PH", "D-WL", [])}),
    group("1002", "商业贸易", "SD", "D-SC", [], src=("商贸旅游", "商业贸易"), grule=False,
          ov={"劳务输出": ("SD", "D-RS", []), "市场垄断": ("SD", "D-SJ", [])}),
    group("1003", "市场监管", "SD", "D-SJ", [], src=("商贸旅游", "市场监管"),
          ov={"商标管理": ("SH", "D-SJ", [], "《中华人民共和国商标法》第二条"),
              "直销": ("SH", "D-SJ", [], "《直销管理条例》第五条"),
              "传销": ("PH", "D-SJ", ["D-GA"], "《禁止传销条例》第四条"),
              "物价监督": ("SD", "D-SJ", [], "《中华人民共和国价格法》第五条")}),
    group("1004", "质监检验检疫", "SD", "D-SJ", [], src=("商贸旅游", "质监检验检疫"),
          drop=("出入境检验检疫",),
          ov={"特种设备管理": ("SH", "D-SJ", [], "《中华人民共和国特种设备安全法》第五条"),
              "认证认可标准化": ("SH", "D-SJ", [])}),
    group("1005", "消费维权", "SD", "D-SJ", [], "《中华人民共和国消费者权益保护法》第三十二条",
          leaves=["预付卡退费", "网络购物纠纷", "拒不退换货", "其他"],
          ov={"预付卡退费": ("PH", "D-SC", ["D-SJ"],
                             "《单用途商业预付卡管理办法（试行）》第四条")}),
    # ---------------------------------------------------------------- 11 卫生计生
    group("1101", "公共卫生", "SD", "D-WJ", [], "《中华人民共和国传染病防治法》第七条",
          src=("卫生计生", "公共卫生"), add=("病媒生物防制",),
          ov={"突发公共卫生事件处理": ("PH", "D-WJ", []),
              "病媒生物防制": ("JB", "D-WJ", [], "《北京市爱国卫生条例》第十七条")}),
    group("1102", "人口计生", "SD", "D-WJ", [], src=("卫生计生", "人口计生"),
          ov={"计划生育服务管理": ("JB", "D-WJ", []), "失独家庭": ("JB", "D-WJ", ["D-MZ"]),
              "独生子女父母奖励政策": ("JB", "D-WJ", [])}),
    group("1103", "食品药品监管", "SD", "D-SJ", [], "《中华人民共和国食品安全法》第六条",
          src=("卫生计生", "食品药品监管"), add=("食品经营许可",),
          ov={"药品和医疗器械管理": ("SH", "D-SJ", [], "《药品管理法》第八条"),
              "保健品化妆品管理": ("SH", "D-SJ", []),
              "食品经营许可": ("SH", "D-SJ", [], "《中华人民共和国食品安全法》第三十五条")}),
    group("1104", "医患纠纷", "SD", "D-WJ", [], "《医疗纠纷预防和处理条例》第五条",
          src=("卫生计生", "医患纠纷"),
          ov={"医疗事故争议": ("SD", "D-WJ", ["D-SF"])}),
    group("1105", "医政监管", "SD", "D-WJ", [], "《医疗机构管理条例》第五条",
          src=("卫生计生", "医政监管"),
          ov={"血液管理": ("SH", "D-WJ", []), "非法行医": ("SH", "D-WJ", ["D-GA"]),
              "医疗收费": ("SH", "D-YB", [], "《医疗保障基金使用监督管理条例》第六条"),
              "医疗机构管理": ("SH", "D-WJ", [])}),
    # ---------------------------------------------------------------- 12 政法
    group("1201", "法律服务", "SD", "D-SF", [], src=("政法", "法律服务"),
          ov={"律师": ("SH", "D-SF", []),
              "法律援助": ("SH", "D-SF", [], "《中华人民共和国法律援助法》第五条"),
              "司法鉴定": ("SH", "D-SF", []), "公证": ("SH", "D-SF", [])}),
    group("1202", "法制建设", "SD", "D-SF", [], src=("政法", "法制建设")),
    group("1203", "行政复议", "SD", "D-SF", [], "《中华人民共和国行政复议法》第四条",
          src=("政法", "行政复议"), ov={"复议申请": ("SH", "D-SF", [])}),
    group("1204", "户籍证件", "SD", "D-GA", [], src=("政法", "户籍证件"),
          ov={"户籍管理": ("SH", "D-GA", [], "《中华人民共和国户口登记条例》第三条"),
              "出入境管理": ("SH", "D-GA", []), "身份证管理": ("SH", "D-GA", []),
              "流动人口管理": ("PH", "D-GA", [], "《居住证暂行条例》第四条")}),
    group("1205", "交通管理", "SD", "D-JJ", [], "《中华人民共和国道路交通安全法》第五条",
          src=("政法", "交通管理"),
          ov={"交通事故": ("SH", "D-JJ", []), "机动车和驾驶员管理": ("SH", "D-JJ", []),
              "交通安全管理": ("SD", "D-JJ", ["D-JT"])}),
    group("1206", "社会治安", "SD", "D-GA", [], "《中华人民共和国治安管理处罚法》第七条",
          src=("政法", "社会治安"), drop=("消防安全",),
          add=("不文明养犬", "高空抛物", "群租房"),
          ov={"走私贩私": ("SD", "D-GA", ["D-SJ"]),
              "不文明养犬": ("PH", "D-GA", ["D-NY"], "《北京市养犬管理规定》第四条"),
              "高空抛物": ("PH", "D-GA", ["D-ZJ"], "《中华人民共和国民法典》第一千二百五十四条"),
              "群租房": ("JB", "D-ZJ", ["D-GA"], "《商品房屋租赁管理办法》第八条")}),
    group("1207", "刑案侦破", "SD", "D-GA", [], src=("政法", "刑案侦破")),
    group("1208", "刑罚执行", "SD", "D-SF", [], src=("政法", "刑罚执行"), drop=("监狱管理",),
          ov={"社区矫正": ("PH", "D-SF", [], "《中华人民共和国社区矫正法》第九条")}),
    group("1209", "仲裁与调解", "SD", "D-SF", [], src=("政法", "仲裁与调解"),
          drop=("生效法律文书执行",),
          ov={"司法调解": ("JB", "D-SF", [], "《中华人民共和国人民调解法》第五条"),
              "人事仲裁": ("SH", "D-RS", []),
              "劳动仲裁": ("SH", "D-RS", [], "《中华人民共和国劳动争议调解仲裁法》第十七条")}),
    group("1210", "消防安全", "PH", "D-XF", [], "《中华人民共和国消防法》第三十一条",
          leaves=["占用消防通道", "电动自行车违规充电", "消防设施损坏", "火灾隐患", "其他"],
          merged=(("政法", "社会治安", "消防安全"),),
          ov={"电动自行车违规充电": ("JB", "D-XF", ["D-ZJ"]),
              "消防设施损坏": ("PH", "D-XF", ["D-ZJ"]),
              "火灾隐患": ("PH", "D-XF", ["D-YJ"])}),
    # ---------------------------------------------------------------- 13 教育文体
    group("1301", "教师队伍和待遇", "SD", "D-JW", [], src=("教育文体", "教师队伍和待遇")),
    group("1302", "教育行政管理", "SD", "D-JW", [], src=("教育文体", "教育行政管理"),
          ov={"学历学位学籍管理": ("SH", "D-JW", []), "民办学校": ("SH", "D-JW", []),
              "校外机构管理": ("SH", "D-JW", ["D-SJ"]),
              "校园安全": ("PH", "D-JW", ["D-GA"])}),
    group("1303", "教育收费", "SD", "D-JW", [], src=("教育文体", "教育收费"),
          ov={"乱收费": ("SD", "D-JW", ["D-SJ"])}),
    group("1304", "教育体制", "SD", "D-JW", [], src=("教育文体", "教育体制")),
    group("1305", "考试招生", "SD", "D-JW", [], src=("教育文体", "考试招生"),
          ov={"招生录取": ("SH", "D-JW", [], "《中华人民共和国义务教育法》第十二条"),
              "考场考纪": ("SH", "D-JW", [])}),
    group("1306", "失学辍学", "PH", "D-JW", [], "《中华人民共和国义务教育法》第十三条",
          src=("教育文体", "失学辍学")),
    group("1307", "体育", "SD", "D-TY", [], src=("教育文体", "体育"), add=("全民健身设施",),
          ov={"全民健身设施": ("JB", "D-TY", [], "《全民健身条例》第二十六条")}),
    group("1308", "文化", "SD", "D-WL", [], src=("教育文体", "文化"),
          ov={"公共文化": ("PH", "D-WL", [])}),
    group("1309", "文物管理", "SD", "D-WL", [], "《中华人民共和国文物保护法》第八条",
          src=("教育文体", "文物管理"),
          ov={"文物鉴定": ("SH", "D-WL", []), "文物保护": ("PH", "D-WL", [])}),
    # ---------------------------------------------------------------- 14 劳动和社会保障
    group("1401", "欠薪", "PH", "D-RS", [], "《保障农民工工资支付条例》第十条",
          leaves=["农民工欠薪", "企业拖欠工资", "建设工程欠薪", "个体工商户欠薪", "其他"],
          ov={"农民工欠薪": ("PH", "D-RS", ["D-ZJ"]),
              "建设工程欠薪": ("PH", "D-RS", ["D-ZJ"], "《保障农民工工资支付条例》第三十条"),
              "个体工商户欠薪": ("JB", "D-RS", ["D-SJ"])}),
    group("1402", "城镇居民社会保险", "SH", "D-RS", [], src=("劳动和社会保障", "城镇居民社会保险"),
          ov={"新农村合作医疗": ("SH", "D-YB", []), "城镇居民医疗保险": ("SH", "D-YB", []),
              "城乡居民养老保险": ("SH", "D-RS", [], "《中华人民共和国社会保险法》第二十条"),
              "其他": ("SD", "D-RS", [])}),
    group("1403", "城镇职工社会保险", "SH", "D-RS", [], "《中华人民共和国社会保险法》第八条",
          src=("劳动和社会保障", "城镇职工社会保险"), add=("社保缴纳", "医保报销"),
          ov={"职工生育保险": ("SH", "D-YB", []), "职工医疗保险": ("SH", "D-YB", []),
              "医保报销": ("SH", "D-YB", [], "《医疗保障基金使用监督管理条例》第六条"),
              "社保缴纳": ("SH", "D-RS", [], "《中华人民共和国社会保险法》第五十八条"),
              "其他": ("SD", "D-RS", [])}),
    group("1404", "工资福利", "SD", "D-RS", [], src=("劳动和社会保障", "工资福利"),
          drop=("住房公积金",)),
    group("1405", "就业培训", "PH", "D-RS", [], "《中华人民共和国就业促进法》第三十五条",
          src=("劳动和社会保障", "就业培训"),
          ov={"职业培训": ("SD", "D-RS", []), "职业技能鉴定": ("SH", "D-RS", [])}),
    group("1406", "劳动保护", "SD", "D-RS", [], "《劳动保障监察条例》第十一条",
          src=("劳动和社会保障", "劳动保护")),
    group("1407", "劳动关系", "SD", "D-RS", [], "《中华人民共和国劳动合同法》第七十四条",
          src=("劳动和社会保障", "劳动关系"), ov={"农民工权益": ("PH", "D-RS", [])}),
    group("1408", "社保基金管理", "SD", "D-RS", [], src=("劳动和社会保障", "社保基金管理")),
    group("1409", "退休政策及待遇", "SD", "D-RS", [], src=("劳动和社会保障", "退休政策及待遇"),
          ov={"退休金发放": ("SH", "D-RS", []), "退休人员待遇": ("PH", "D-RS", [])}),
]

# non-departmental leaves deliberately left without any rule (l2 name, leaf name)
GAPS = [("环保管理", "淘汰落后产能补偿"), ("邮政管理", "邮政行业规划"),
        ("信息化建设", "软件行业管理"), ("商业贸易", "反倾销")]

CN_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1..99 in Chinese numerals, as used in article numbers."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else CN_DIGITS[tens]
    return head + "十" + (CN_DIGITS[ones] if ones else "")


def minutes(n: int, year: int = 2026) -> str:
    return f"示政办会〔{year}〕{n}号"


class Builder:
    def __init__(self, taxonomy: dict[str, dict[str, list[str]]]) -> None:
        self.taxonomy = taxonomy
        self.units: list[dict[str, Any]] = []
        self.unit_names: dict[str, str] = {}
        self.areas: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] = []
        self.by_name: dict[tuple[str, str], str] = {}  # (l2 name, leaf name) -> code
        self.l2_by_name: dict[str, str] = {}
        self.rules: list[dict[str, Any]] = []
        self.counters: dict[str, int] = defaultdict(int)  # list item numbers
        self.seq: dict[str, int] = defaultdict(int)  # rule sequence per category
        self.sanding: dict[str, int] = defaultdict(int)  # 三定 item per unit
        self.used_csv: set[tuple[str, str, str]] = set()

    # ------------------------------------------------------------------ units and areas
    def unit(self, code: str, name: str, kind: str) -> None:
        self.units.append({"code": code, "name": name, "kind": kind})
        self.unit_names[code] = name

    def build_units_and_areas(self) -> None:
        for code, name in OFFICES:
            self.unit(code, name, "office")
        for code, name in DEPARTMENTS:
            self.unit(code, name, "department")
        for code, name in UTILITIES:
            self.unit(code, name, "utility")
        self.areas.append({"code": DISTRICT, "name": "示范区", "level": "district",
                           "parent": None, "unit": "O-ZF"})
        for suffix, ucode, name, kind, communities in TOWNSHIPS:
            self.unit(ucode, name, kind)
            tcode = DISTRICT + suffix
            self.areas.append({"code": tcode, "name": name, "level": "township",
                               "parent": DISTRICT, "unit": ucode})
            for i, (cname, cunit, grids) in enumerate(communities, start=1):
                ccode = f"{tcode}{i:03d}"
                if cunit is not None:
                    org = "村民委员会" if cname.endswith("村") else "居民委员会"
                    self.unit(cunit, cname + org, "community")
                self.areas.append({"code": ccode, "name": cname, "level": "community",
                                   "parent": tcode, "unit": cunit})
                for j, gname in enumerate(grids, start=1):
                    self.areas.append({"code": f"{ccode}{j:02d}", "name": cname + gname,
                                       "level": "grid", "parent": ccode, "unit": None})

    def area(self, name: str) -> str:
        for a in self.areas:
            if a["name"] == name:
                return str(a["code"])
        raise KeyError(name)

    # ------------------------------------------------------------------ categories
    def leaves_of(self, g: dict[str, Any]) -> list[str]:
        if g["leaves"] is not None:
            names = list(g["leaves"])
        else:
            l1, l2 = g["src"]
            names = [n for n in self.taxonomy[l1][l2] if n not in g["drop"]]
            for n in g["drop"]:
                if n not in self.taxonomy[l1][l2]:
                    raise SystemExit(f"drop {n!r} not in CSV {l1}/{l2}")
            names += list(g["add"])
            for n in self.taxonomy[l1][l2]:
                self.used_csv.add((l1, l2, n))
        for l1, l2, leaf in g["merged"]:
            if leaf == "*":
                self.used_csv.update((l1, l2, n) for n in self.taxonomy[l1][l2])
            elif leaf not in self.taxonomy[l1][l2]:
                raise SystemExit(f"merged class {l1}/{l2}/{leaf} not in CSV")
            else:
                self.used_csv.add((l1, l2, leaf))
        # 其他 last, as in a real catalogue
        return [n for n in names if n != "其他"] + [n for n in names if n == "其他"]

    def build_categories(self) -> None:
        l1_names = dict(LEVEL1)
        for code, name in LEVEL1:
            self.categories.append({"code": code, "name": name, "parent": None})
            for g in GROUPS:
                if g["code"][:2] != code:
                    continue
                if g["name"] in self.l2_by_name:
                    raise SystemExit(f"duplicate level-2 name {g['name']}")
                self.l2_by_name[g["name"]] = g["code"]
                self.categories.append({"code": g["code"], "name": g["name"], "parent": code})
                names = self.leaves_of(g)
                for bad in set(g["ov"]) - set(names):
                    raise SystemExit(f"override for unknown leaf {g['name']}/{bad}")
                for i, leaf in enumerate(names, start=1):
                    lcode = f"{g['code']}{i:02d}"
                    spec = self.leaf_spec(g, leaf)
                    # every list but 基本履职 makes a department or utility the lead: such a
                    # leaf never falls back to the street (国办函〔2025〕66号: 不得分派给基层)
                    dep = spec[0] != "JB"
                    self.categories.append({
                        "code": lcode, "name": leaf, "parent": g["code"],
                        "departmental": dep, "default_unit": spec[1] if dep else None})
                    self.by_name[(g["name"], leaf)] = lcode
            assert l1_names[code]

    @staticmethod
    def leaf_spec(g: dict[str, Any], leaf: str) -> tuple[str, str, list[str], str | None]:
        ov = g["ov"].get(leaf)
        if ov is None:
            return g["mode"], g["unit"], list(g["co"]), None
        mode, unit, co = ov[0], ov[1], list(ov[2])
        law = ov[3] if len(ov) > 3 else None
        return mode, unit, co, law

    def cat(self, l2: str, leaf: str | None = None) -> str:
        return self.l2_by_name[l2] if leaf is None else self.by_name[(l2, leaf)]

    # ------------------------------------------------------------------ rules
    def list_basis(self, mode: str, unit: str) -> str:
        self.counters[mode] += 1
        n = self.counters[mode]
        if mode == "JB":
            return f"《示范区街道履职事项清单（2026年版）》基本履职第{n}项"
        if mode == "PH":
            return f"《示范区街道配合履职事项清单》第{n}项"
        if mode == "SH":
            return f"《示范区上级部门收回事项清单》第{n}项"
        if mode == "GY":
            return f"《示范区公用事业单位服务事项清单》第{n}项"
        self.sanding[unit] += 1
        k = self.sanding[unit]
        return (f"《{self.unit_names[unit]}职能配置、内设机构和人员编制规定》"
                f"第三条第（{cn_number(k)}）项{ILLUSTRATIVE}")

    @staticmethod
    def parties(mode: str, unit: str, co: list[str]) -> tuple[str, list[str]]:
        if mode == "JB":
            return T, [unit, *[c for c in co if c not in (unit, T)]]
        if mode == "PH":
            return unit, [*[c for c in co if c not in (unit, T)], T]
        return unit, [c for c in co if c != unit]

    def next_id(self, cat: str) -> str:
        self.seq[cat] += 1
        return f"R-{cat}-{self.seq[cat]:02d}"

    def add(self, cat: str, lead: str, co: list[str], basis: str, *,
            when: dict[str, Any] | None = None, text: list[str] | None = None,
            area: str | None = None, source: str = "catalog", priority: int = 0,
            valid_from: str = FROM_2026, valid_to: str | None = None,
            rule_id: str | None = None) -> str:
        rid = rule_id or self.next_id(cat)
        self.rules.append({
            "id": rid, "category": cat, "area": area, "when": when or {},
            "text_any": text or [], "lead": lead, "co_handlers": co, "basis": basis,
            "source": source, "priority": priority, "valid_from": valid_from,
            "valid_to": valid_to})
        return rid

    def list_rule(self, cat: str, mode: str, unit: str, co: list[str], law: str | None,
                  *, rule_id: str | None = None, valid_from: str | None = None) -> str:
        lead, cos = self.parties(mode, unit, co)
        basis = self.list_basis(mode, unit)
        if law:
            basis += "；" + law
        vf = valid_from or (FROM_SANDING if mode == "SD" else FROM_2026)
        return self.add(cat, lead, cos, basis, rule_id=rule_id, valid_from=vf)

    def catalog_2023(self, cat: str, lead: str, co: list[str], until: str) -> None:
        """The superseded 2023 dispatch catalogue: coarser (二级分类, with a 三级 entry only
        where the matter's lead differs in kind -- street or department), in force until the
        三定-based catalogue (2025-03-01) or the 2026 lists replaced it."""
        self.counters["2023"] += 1
        self.add(cat, lead, co, f"{CATALOG_2023}第{self.counters['2023']}项",
                 valid_from=FROM_2023, valid_to=until, rule_id=f"R-{cat}-2023")

    def build_catalog(self) -> None:
        gaps = {(a, b) for a, b in GAPS}
        for g in GROUPS:
            group_territorial = g["mode"] == "JB"
            if g["grule"]:
                lead, cos = self.parties(g["mode"], g["unit"], g["co"])
                # 供暖: the 2024 arrangement (R-0303-01) replaced the 2023 entry a year early
                until = "2025-01-01T00:00:00+08:00" if g["code"] == "0303" else (
                    FROM_SANDING if g["mode"] == "SD" else FROM_2026)
                self.catalog_2023(g["code"], lead, cos, until)
            for leaf in self.leaves_of(g):
                if (g["name"], leaf) in gaps or (g["name"], leaf) == ("市容环境", "共享单车乱停放"):
                    continue
                mode, unit, co, _ = self.leaf_spec(g, leaf)
                if g["grule"] and (mode == "JB") == group_territorial:
                    continue
                lead, cos = self.parties(mode, unit, co)
                self.catalog_2023(self.by_name[(g["name"], leaf)], lead, cos,
                                  FROM_SANDING if mode == "SD" else FROM_2026)
        for g in GROUPS:
            if g["grule"]:
                n = self.counters[g["mode"]] + 1
                rid = f"R-{g['code']}-{g['mode']}-{n}"
                if g["mode"] == "SD":
                    rid = f"R-{g['code']}-SD-{g['unit'].split('-', 1)[1]}"
                if g["code"] == "0303":
                    # the 2024 arrangement, expired: the heating office led until 2026
                    self.add("0303", "D-CG", ["U-HEAT", T],
                             "《示范区城市供热管理职责分工（2024年版）》第3条",
                             valid_from="2025-01-01T00:00:00+08:00", valid_to=FROM_2026)
                self.list_rule(g["code"], g["mode"], g["unit"], g["co"], g["law"], rule_id=rid)
            for leaf in self.leaves_of(g):
                if (g["name"], leaf) in gaps:
                    continue
                mode, unit, co, law = self.leaf_spec(g, leaf)
                code = self.by_name[(g["name"], leaf)]
                vf = None
                if (g["name"], leaf) == ("市容环境", "共享单车乱停放"):
                    vf = "2025-11-01T00:00:00+08:00"
                    law = minutes(31, 2025)
                self.list_rule(code, mode, unit, co, law, valid_from=vf)

    def build_special(self) -> None:
        c = self.cat
        add = self.add
        lt = "location_type"
        pm = "property_managed"
        ps = "pipe_side"

        def jb() -> str:
            return self.list_basis("JB", "")

        def ph() -> str:
            return self.list_basis("PH", "")

        def gy() -> str:
            return self.list_basis("GY", "")

        # -------------------------------------------------------------- attribute rules
        add(c("违法建设", "临街违法建设"), T, ["D-CZ", "D-GZ"],
            jb() + "；《北京市禁止违法建设若干规定》第十四条；" + DEVOLUTION,
            when={lt: "public_road"})
        add(c("违法建设", "临街违法建设"), T, ["D-CZ", "D-SJ"],
            jb() + "；" + DEVOLUTION, when={lt: "commercial"})
        add(c("违法建设"), T, ["D-NY", "D-GZ"],
            "《中华人民共和国城乡规划法》第六十五条", when={lt: "rural_village"})
        add(c("物业管理", "物业服务质量"), T, ["D-ZJ"],
            jb() + "；《物业管理条例》第五条（区住建委监督物业服务企业）",
            when={pm: "yes"})
        add(c("物业管理", "物业服务质量"), T, ["D-ZJ"],
            jb() + "；"
            "《北京市物业管理条例》第三十二条", when={pm: "no"})
        add(c("物业管理", "小区停车管理"), T, ["D-JJ", "D-CG"],
            jb(), when={pm: "no"})
        add(c("供暖", "暖气不热"), "U-HEAT", ["D-CG"],
            "《北京市供热采暖管理办法》第十六条", when={"heating_type": "central"})
        add(c("供暖", "暖气不热"), "U-GAS", [T],
            gy(), when={"heating_type": "self"})
        # the shadowed pair (供暖费, central heating): R-030302-02 always beats R-030302-03
        add(c("供暖", "供暖费"), "U-HEAT", ["D-CG"],
            "《北京市供热采暖管理办法》第二十条", when={"heating_type": "central"}, priority=1)
        add(c("供暖", "供暖费"), "D-CG", ["U-HEAT"],
            "《示范区城市供热管理职责分工（2024年版）》第5条",
            when={"heating_type": "central"})
        add(c("供暖", "供暖管线跑冒滴漏"), "U-HEAT", ["D-CG"],
            "《北京市供热采暖管理办法》第十六条", when={ps: "municipal"})
        add(c("供暖", "供暖管线跑冒滴漏"), "U-HEAT", [T, "D-ZJ"],
            gy() + "；《北京市供热采暖管理办法》第十六条", when={ps: "in_building"})
        add(c("供水", "供水管线漏水"), "U-WATER", ["D-SW"],
            "《城市供水条例》第二十九条", when={ps: "municipal"})
        add(c("供水", "供水管线漏水"), "U-WATER", [T, "D-ZJ"],
            gy() + "；《城市供水条例》第二十九条",
            when={ps: "in_building"})
        add(c("供水", "水压不足"), "U-WATER", ["D-ZJ", T],
            gy(), when={ps: "in_building"})
        add(c("排水", "排水管道堵塞"), "U-DRAIN", ["D-SW"],
            "《城镇排水与污水处理条例》第三十五条", when={ps: "municipal"})
        add(c("排水", "排水管道堵塞"), "U-DRAIN", [T, "D-ZJ"],
            gy(), when={ps: "in_building"})
        # the shadowed pair (占道经营 on public roads): R-030801-02 always beats R-030801-03
        add(c("市容环境", "占道经营"), T, ["D-CZ", "D-JJ"],
            "《北京市市容环境卫生条例》第十七条；" + DEVOLUTION, when={lt: "public_road"},
            priority=1)
        add(c("市容环境", "占道经营"), T, ["D-CZ"],
            "《示范区街道履职事项清单（2024年版）》基本履职第63项", when={lt: "public_road"})
        add(c("市容环境", "占道经营"), T, ["D-CZ"],
            jb(),
            when={lt: "residential_compound"})
        add(c("市容环境", "垃圾清运"), T, ["D-NY", "U-SANIT"],
            "《北京市生活垃圾管理条例》第四十条", when={lt: "rural_village"})
        add(c("市容环境", "公共厕所"), "U-SANIT", [T, "D-NY"],
            gy(), when={lt: "rural_village"})
        add(c("城市建设和市政管理", "园林绿化"), "D-YL", [T, "D-ZJ"],
            "《城市绿化条例》第二十条", when={lt: "residential_compound"})
        add(c("城市建设和市政管理", "道路破损"), "D-JT", [T],
            "《农村公路养护管理办法》第四条", when={lt: "rural_village"})
        add(c("噪声", "施工噪声"), "D-ZJ", [T],
            "《住宅室内装饰装修管理办法》第五条", when={"project_type": "home_renovation"})
        add(c("噪声", "施工噪声"), "D-CG", ["D-CZ"],
            "《区城市管理委员会职能配置、内设机构和人员编制规定》第三条第（九）项" + ILLUSTRATIVE,
            when={"project_type": "municipal_works"})
        # the overlap: restaurant noise, 生态环境 vs 城管执法, a true tie
        add(c("噪声", "商业经营噪声"), "D-HJ", [T],
            "《区生态环境局职能配置、内设机构和人员编制规定》第三条第（六）项" + ILLUSTRATIVE + "；"
            "《中华人民共和国噪声污染防治法》第六十四条", when={lt: "commercial"},
            valid_from=FROM_2026)
        add(c("噪声", "商业经营噪声"), "D-CZ", [T],
            ph() + "；《北京市环境噪声污染防治办法》第三十六条",
            when={lt: "commercial"}, valid_from=FROM_2026)
        for leaf in ("通信保障", "电信资费"):
            for op, util in (("telecom", "U-TELECOM"), ("unicom", "U-UNICOM"),
                             ("mobile", "U-MOBILE")):
                add(c("电信", leaf), util, ["D-JX"], "《中华人民共和国电信条例》第四十一条",
                    when={"operator": op})
        add(c("欠薪", "农民工欠薪"), "D-RS", ["D-ZJ"],
            "《保障农民工工资支付条例》第三十条", when={"employer_type": "construction_project"})
        add(c("欠薪", "农民工欠薪"), "D-RS", [T, "D-SJ"],
            "《保障农民工工资支付条例》第十条", when={"employer_type": "individual_business"})
        # -------------------------------------------------------------- keyword rules
        add(c("物业管理", "电梯故障"), "D-SJ", ["D-XF", T, "D-ZJ"],
            "《中华人民共和国特种设备安全法》第四十六条；" + minutes(3),
            text=["困人", "被困", "关人", "困在电梯"], source="manual")
        add(c("燃气", "燃气泄漏"), "U-GAS", ["D-XF", "D-CG", T],
            "《城镇燃气管理条例》第三十九条；" + minutes(3),
            text=["燃气泄漏", "煤气味", "天然气味", "漏气"], source="manual")
        add(c("燃气", "燃气设施安全"), "U-GAS", ["D-XF", "D-CG"],
            "《城镇燃气管理条例》第三十九条", text=["漏气", "燃气味", "煤气味"])
        add(c("噪声", "夜间施工"), "D-ZJ", ["D-CZ"],
            "《区住房和城乡建设委员会职能配置、内设机构和人员编制规定》第三条第（十二）项"
            + ILLUSTRATIVE,
            text=["夜间施工许可", "夜施证", "夜间施工证明"])
        add(c("噪声", "广场舞噪声"), T, ["D-GA", "D-WL"],
            jb(),
            text=["音响", "大喇叭", "扩音器"])
        add(c("环境污染", "大气污染"), "D-CZ", ["D-ZJ", "D-HJ"],
            "《中华人民共和国大气污染防治法》第七十条；《北京市大气污染防治条例》第七十四条",
            text=["渣土车", "工地扬尘", "扬尘", "遗撒"])
        add(c("城市建设和市政管理", "井盖缺失"), "U-DRAIN", ["D-CG"],
            "《城镇排水与污水处理条例》第四十八条", text=["雨水井", "污水井", "雨水篦子"])
        add(c("社会治安", "群租房"), T, ["D-ZJ", "D-GA", "D-XF"],
            jb(),
            text=["隔断", "打隔断", "地下室住人", "上下铺"])
        add(c("社会治安", "高空抛物"), "D-GA", [T],
            "《中华人民共和国刑法》第二百九十一条之二", text=["砸伤", "伤人", "砸坏"])
        add(c("消防安全", "占用消防通道"), "D-XF", ["D-JJ", T],
            "《中华人民共和国消防法》第二十八条",
            text=["私家车", "乱停车", "堵住消防通道"])
        add(c("食品药品监管", "食品安全"), "D-SJ", ["D-WJ"],
            "《中华人民共和国食品安全法》第一百零三条", text=["食物中毒", "上吐下泻", "拉肚子"])
        add(c("欠薪", "建设工程欠薪"), "D-RS", ["D-ZJ", "D-GA", T],
            "《保障农民工工资支付条例》第四十三条；" + minutes(5),
            text=["讨薪", "聚集", "拉横幅", "堵门"])
        add(c("供水", "停水"), "U-WATER", ["D-SW", T],
            "《城市供水条例》第二十二条", text=["爆管", "跑水", "大面积停水"])
        add(c("供电", "停电"), "U-POWER", ["D-CG", "D-YJ"],
            "《电力供应与使用条例》第二十八条", text=["电线落地", "电线断了", "高压线"])
        add(c("出租车管理", "行业监管"), "D-JT", ["D-JJ"],
            "《网络预约出租汽车经营服务管理暂行办法》第三十四条", text=["黑车", "非法营运"])
        # -------------------------------------------------------------- area-scoped rules
        js = DISTRICT + "006"  # 金山街道: the development zone
        bc = DISTRICT + "003"  # 北城街道: the old town
        add(c("噪声", "施工噪声"), "D-KFQ", ["D-HJ", T], minutes(7),
            when={"project_type": "building"}, area=js, source="manual")
        # the zone's committee holds the delegated powers for the 建筑市场 and 安全生产
        # matters the district keeps with its departments (not the reclaimed ones)
        for leaf in ("勘察设计和施工监管", "拖欠工程款", "其他"):
            add(c("建筑市场", leaf), "D-KFQ", ["D-ZJ"], minutes(7), area=js)
        add(c("欠薪", "建设工程欠薪"), "D-KFQ", ["D-RS", T], minutes(7), area=js)
        add(c("工程质量", "施工安全"), "D-KFQ", ["D-ZJ", "D-YJ"], minutes(7), area=js)
        for leaf in ("安全生产管理", "安全隐患", "其他"):
            add(c("安全生产", leaf), "D-KFQ", ["D-YJ", T],
                minutes(7) + "；《中华人民共和国安全生产法》第九条", area=js)
        add(c("排水", "排水管道堵塞"), "U-DRAIN", [T], minutes(12), area=bc)
        add(c("城乡规划", "历史名城保护"), "D-GZ", ["D-WL", T],
            minutes(12) + "；《历史文化名城名镇名村保护条例》第八条", area=bc)
        add(c("旅游管理", "景区管理"), "D-WL", ["D-SJ", T], minutes(9), area=self.area("桃源镇"))
        add(c("林业管理", "森林防火"), T, ["D-YL", "D-XF", "D-YJ"], minutes(9),
            area=self.area("桃源镇"))
        add(c("市容环境", "垃圾清运"), T, ["U-SANIT", "D-NY"], minutes(15),
            area=self.area("沙渠乡"))
        # 青石镇 has no heating network: the township leads self-heating (煤改电), and
        # "no heat" there means the heat pumps, so the power company leads it
        add(c("供暖", "自采暖与煤改电"), T, ["D-NY", "D-CG", "U-POWER"], minutes(16),
            area=self.area("青石镇"))
        add(c("供暖", "暖气不热"), "U-POWER", ["D-CG", T], minutes(16),
            area=self.area("青石镇"))
        add(c("供水", "农村供水"), "U-WATER", ["D-SW", T], minutes(18), area=self.area("白羊镇"))
        add(c("城市建设和市政管理", "道路破损"), "D-GL", ["D-JT", T], minutes(18),
            area=self.area("大坪乡"))
        add(c("水利水电", "江河湖治理"), "D-SW", ["D-YL", T], minutes(11),
            area=self.area("东湖街道"))
        add(c("城市建设和市政管理", "公园管理"), "D-YL", [T], minutes(11),
            area=self.area("东湖街道"))
        # a residents' or villagers' committee is self-governing (居民委员会组织法 第二条):
        # it assists, the street or township leads
        add(c("基层选举和社区建设", "社区建设"), T, ["SQ-HPL"], minutes(19),
            area=self.area("和平里社区"), source="manual")
        add(c("体育", "全民健身设施"), T, ["SQ-KC", "D-TY"], minutes(19),
            area=self.area("科创社区"))
        add(c("村务管理", "村务公开"), T, ["CW-SM", "D-NY"], minutes(19),
            area=self.area("石门村"))
        # -------------------------------------------------------------- validity
        # 共享单车: the 2023 catalogue had the city-management commission lead; the
        # transport bureau leads from 2025-11-01 (R-030807-01)
        add(c("市容环境", "共享单车乱停放"), "D-CG", ["D-JT", T],
            f"{CATALOG_2023}第88项",
            valid_from=FROM_2023, valid_to="2025-11-01T00:00:00+08:00")
        # future: rental supervision moves to the housing-security centre on 2027-01-01
        add(c("住房保障与房地产", "房屋租赁"), "D-ZB", [T, "D-GA"], minutes(21),
            source="manual", valid_from="2027-01-01T00:00:00+08:00")

    # ------------------------------------------------------------------ checks
    def incoherences(self) -> list[str]:
        """What an expert (or ``quanze verify``) would correct.

        * a rule on a leaf names a lead of the other kind than the leaf (a street or township
          on a departmental leaf, a department or utility on a territorial one): one of them
          is wrong, and a departmental leaf must never reach the street;
        * a residents' or villagers' committee leads (they are self-governing, they assist);
        * a local arrangement (a rule scoped to an area) sits above the leaves, where the
          district-wide leaf rules always beat it;
        * two rules say the same thing (everything but id and basis equal).
        """
        kinds = {u["code"]: u["kind"] for u in self.units}
        leaves = {c["code"]: c for c in self.categories if len(c["code"]) == 6}
        out = []
        seen: dict[str, str] = {}
        for r in self.rules:
            leaf = leaves.get(r["category"])
            if leaf is not None and _kind_of(kinds, r["lead"]) == leaf["departmental"]:
                out.append(f"{r['id']}: lead {r['lead']} on "
                           f"{'departmental' if leaf['departmental'] else 'territorial'} "
                           f"leaf {leaf['code']} {leaf['name']}")
            if kinds.get(r["lead"]) == "community":
                out.append(f"{r['id']}: a community committee {r['lead']} leads")
            if r["area"] is not None and leaf is None:
                out.append(f"{r['id']}: local arrangement on non-leaf {r['category']}")
            key = json.dumps({k: v for k, v in r.items() if k not in ("id", "basis")},
                             sort_keys=True, ensure_ascii=False)
            if key in seen:
                out.append(f"{r['id']}: duplicate of {seen[key]}")
            seen.setdefault(key, r["id"])
        for c in leaves.values():
            if c["departmental"] and not c["default_unit"]:
                out.append(f"{c['code']}: departmental without default unit")
        return out

    # ------------------------------------------------------------------ output
    def bundle(self) -> dict[str, Any]:
        return {"units": self.units, "areas": self.areas, "categories": self.categories,
                "settings": {"hotline_office": "O-RX", "timezone": "Asia/Shanghai"},
                "rules": self.rules}

    def gaps(self) -> list[str]:
        covered = {r["category"] for r in self.rules}
        out = []
        for cat in self.categories:
            code = cat["code"]
            if len(code) != 6:
                continue
            if not {code, code[:4], code[:2]} & covered:
                out.append(code)
        return out


def _kind_of(unit_kinds: dict[str, str], lead: str) -> bool:
    """Is ``lead`` territorial (the street or township level)?"""
    return lead == T or unit_kinds.get(lead) in ("street", "township", "community")


def read_taxonomy(path: Path) -> dict[str, dict[str, list[str]]]:
    tax: dict[str, dict[str, list[str]]] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tax.setdefault(row["level1"], {}).setdefault(row["level2"], []).append(
                row["level3"])
    return tax


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    tax = read_taxonomy(args.csv)
    b = Builder(tax)
    b.build_units_and_areas()
    b.build_categories()
    b.build_catalog()
    b.build_special()

    # every CSV class is used, merged or dropped for a stated reason
    for l1, l2s in tax.items():
        for l2, leaves in l2s.items():
            if (l1, l2) in DROPPED or (l1, "*") in DROPPED:
                continue
            missing = [leaf for leaf in leaves if (l1, l2, leaf) not in b.used_csv]
            if missing:
                raise SystemExit(f"CSV classes neither used nor dropped: {l1}/{l2}: {missing}")
    ids = [r["id"] for r in b.rules]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate rule ids")
    problems = b.incoherences()
    if problems:
        raise SystemExit("incoherent demo:\n  " + "\n  ".join(problems))
    expected = sorted(b.cat(a, leaf) for a, leaf in GAPS)
    if sorted(b.gaps()) != expected:
        raise SystemExit(f"gaps {b.gaps()} differ from the declared {expected}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(b.bundle(), ensure_ascii=False, indent=1) + "\n"
    args.out.write_text(text, encoding="utf-8")

    names = {c["code"]: c["name"] for c in b.categories}
    leaves = [c for c in b.categories if len(c["code"]) == 6]
    print(f"wrote {args.out}: {len(b.units)} units, {len(b.areas)} areas, "
          f"{len(b.categories)} categories ({len(leaves)} leaves, "
          f"{sum(1 for c in leaves if c['departmental'])} departmental), {len(b.rules)} rules")
    print("deliberate imperfections:")
    for code in b.gaps():
        print(f"  gap      {code} {names[code[:4]]}/{names[code]} (falls back to its department)")
    print("  overlap  R-040104-02 vs R-040104-03 (商业经营噪声, location_type=commercial: "
          "区生态环境局 vs 区城市管理综合行政执法局)")
    print("  shadowed R-030801-03 under R-030801-02 (占道经营, public_road, priority 0 < 1)")
    print("  shadowed R-030302-03 under R-030302-02 (供暖费, central heating, priority 0 < 1)")
    old = [r for r in b.rules if r["id"].endswith("-2023")]
    print(f"  history  {len(old)} rules of the 2023 catalogue, superseded on 2025-03-01 "
          "(三定) or 2026-01-01 (三张清单)")
    for r in b.rules:
        if r["valid_to"] and r not in old:
            print(f"  expired  {r['id']} ({names[r['category']]}, until {r['valid_to']})")
        elif r["valid_from"] > "2026-12-31":
            print(f"  future   {r['id']} ({names[r['category']]}, from {r['valid_from']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
