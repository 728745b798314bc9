"""Generate the filled duty-list example for matrix administrators:
``docs/examples/duty-list-example.xlsx`` (all sheets) and ``docs/examples/duty-list-example.csv``
(the 清单 columns only). Run from anywhere: ``python tools/make_dutylist_example.py``.

The example mirrors a real district's three lists (三张清单: 基本履职, 配合履职, 上级收回) with
its legal bases; docs/import-template.md walks through it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.dutylist import write_duty_list  # noqa: E402

JB = "《示范区街道履职事项清单（2026年版）》基本履职第{}项"
PH = "《示范区街道履职事项清单（2026年版）》配合履职第{}项"
SH = "《示范区上级收回事项清单（2026年版）》第{}项"
FROM_2026 = "2026-01-01T00:00:00+08:00"

UNITS: list[dict[str, Any]] = [
    {"code": "O-ZF", "name": "示范区人民政府办公室", "kind": "office"},
    {"code": "O-RX", "name": "示范区12345热线中心", "kind": "office"},
    {"code": "D-ZJ", "name": "区住房和城乡建设委员会", "kind": "department"},
    {"code": "D-GZ", "name": "区规划和自然资源分局", "kind": "department"},
    {"code": "D-CG", "name": "区城市管理委员会", "kind": "department"},
    {"code": "D-SJ", "name": "区市场监督管理局", "kind": "department"},
    {"code": "D-RS", "name": "区人力资源和社会保障局", "kind": "department"},
    {"code": "D-HB", "name": "区生态环境局", "kind": "department"},
    {"code": "U-RL", "name": "示范区热力有限公司", "kind": "utility"},
    {"code": "U-SW", "name": "示范区自来水有限公司", "kind": "utility"},
    {"code": "JD-HP", "name": "和平街道", "kind": "street"},
    {"code": "JD-DH", "name": "东湖街道", "kind": "street"},
    {"code": "XZ-QS", "name": "青山镇", "kind": "township"},
]

AREAS: list[dict[str, Any]] = [
    {"code": "110199", "name": "示范区", "level": "district", "parent": None, "unit": "O-ZF"},
    {"code": "110199001", "name": "和平街道", "level": "township", "parent": "110199",
     "unit": "JD-HP"},
    {"code": "110199002", "name": "东湖街道", "level": "township", "parent": "110199",
     "unit": "JD-DH"},
    {"code": "110199101", "name": "青山镇", "level": "township", "parent": "110199",
     "unit": "XZ-QS"},
    {"code": "110199001001", "name": "和平里社区", "level": "community",
     "parent": "110199001", "unit": None},
]


def _leaf(code: str, name: str, default_unit: str | None = None) -> dict[str, Any]:
    return {"code": code, "name": name, "parent": code[:-2], "departmental":
            default_unit is not None, "default_unit": default_unit}


CATEGORIES: list[dict[str, Any]] = [
    {"code": "03", "name": "城乡建设", "parent": None},
    {"code": "0301", "name": "违法建设", "parent": "03"},
    _leaf("030101", "小区内私搭乱建"),
    _leaf("030102", "在建工程违法建设", "D-GZ"),
    {"code": "0302", "name": "物业管理", "parent": "03"},
    _leaf("030201", "电梯故障"),
    _leaf("030202", "物业服务纠纷"),
    {"code": "04", "name": "市政公用", "parent": None},
    {"code": "0401", "name": "供热", "parent": "04"},
    _leaf("040101", "供暖不热", "D-CG"),
    {"code": "0402", "name": "供水", "parent": "04"},
    _leaf("040201", "小区停水"),
    {"code": "05", "name": "市容环境", "parent": None},
    {"code": "0501", "name": "占道经营", "parent": "05"},
    _leaf("050101", "流动摊贩占道经营"),
    _leaf("050102", "店外经营"),
    {"code": "0502", "name": "环境卫生", "parent": "05"},
    _leaf("050201", "垃圾清运不及时"),
    {"code": "06", "name": "生态环境", "parent": None},
    {"code": "0601", "name": "噪声污染", "parent": "06"},
    _leaf("060101", "建筑施工噪声", "D-HB"),
    {"code": "0602", "name": "大气污染", "parent": "06"},
    _leaf("060201", "餐饮油烟"),
    {"code": "07", "name": "劳动保障", "parent": None},
    {"code": "0701", "name": "工资拖欠", "parent": "07"},
    _leaf("070101", "农民工欠薪"),
]


def _rule(rule_id: str, category: str, lead: str, co: list[str], basis: str,
          **more: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id, "category": category, "area": None, "when": {}, "text_any": [],
        "lead": lead, "co_handlers": co, "basis": basis, "source": "catalog", "priority": 0,
        "valid_from": FROM_2026, "valid_to": None,
    }
    rule.update(more)
    return rule


T = "@territorial"

RULES: list[dict[str, Any]] = [
    # 基本履职: the township or street leads
    _rule("JB-012", "030101", T, ["D-ZJ", "D-GZ"], JB.format(12),
          when={"location_type": "residential_compound"}, text_any=["私搭", "违建", "搭建"]),
    _rule("JB-013", "030101", T, ["D-GZ"], JB.format(13), area="110199101",
          when={"location_type": "rural_homestead"}),
    _rule("JB-031", "030202", T, ["D-ZJ"], "《物业管理条例》第三十五条"),
    _rule("JB-045", "050101", T, ["D-CG"], JB.format(45)),
    _rule("JB-060", "050201", T, ["D-CG"], JB.format(60)),
    # 配合履职: a department leads, the township assists
    _rule("PH-008", "030201", "D-SJ", [T, "D-ZJ"], PH.format(8)),
    _rule("PH-009", "030201", "D-SJ", [T], "示政办会〔2026〕7号", source="ruling",
          priority=10, text_any=["困人", "被困", "关在电梯"],
          valid_from="2026-03-01T00:00:00+08:00"),
    _rule("PH-015", "050102", "D-CG", [T, "D-SJ"], PH.format(15)),
    _rule("PH-022", "060201", "D-CG", [T, "D-HB"], PH.format(22)),
    _rule("PH-031", "070101", "D-RS", [T], "《保障农民工工资支付条例》第十条"),
    _rule("PH-032", "070101", "D-RS", [T, "D-ZJ"], PH.format(32),
          when={"project_type": ["construction", "municipal_works"]}),
    # 上级收回: the department alone; the matter never falls back to the township
    _rule("SH-003", "030102", "D-GZ", ["D-ZJ"], SH.format(3)),
    _rule("SH-021", "040101", "D-CG", ["U-RL"], SH.format(21),
          when={"heating_type": ["central", "district"]}),
    _rule("SH-022", "040101", "D-CG", ["U-RL"], "示政办会〔2026〕12号", area="110199101",
          priority=5, valid_from="2026-11-15T00:00:00+08:00",
          valid_to="2027-03-16T00:00:00+08:00"),
    _rule("SH-030", "060101", "D-HB", ["D-ZJ"], SH.format(30),
          when={"time_period": "night"}, text_any=["夜间施工", "施工噪声", "打桩"]),
    # no list type: a utility leads
    _rule("GY-001", "040201", "U-SW", ["D-ZJ"], "《城市供水条例》第二十二条"),
]

BUNDLE: dict[str, Any] = {
    "units": UNITS,
    "areas": AREAS,
    "categories": CATEGORIES,
    "settings": {"hotline_office": "O-RX", "timezone": "Asia/Shanghai"},
    "rules": RULES,
}


def main() -> None:
    out = ROOT / "docs" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    write_duty_list(BUNDLE, out / "duty-list-example.xlsx")
    write_duty_list(BUNDLE, out / "duty-list-example.csv")
    print(f"wrote {out / 'duty-list-example.xlsx'} and {out / 'duty-list-example.csv'}")


if __name__ == "__main__":
    main()
