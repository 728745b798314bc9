"""The duty-list importer marks departmental matters (国办函〔2025〕66号 §五: 不得分派给基层): a
category whose rows make a department or utility the lead — 收回, 配合, 三定 and utility rows —
is marked departmental with that unit as its default, and the import says so; a category that
also has territorial rows is left unmarked (a mark would make them lose) and said so."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openpyxl

from rules.dutylist import read_duty_list

UNITS = {
    "D-SW": ("区水务局", "department"), "D-CG": ("区城市管理委员会", "department"),
    "D-SJ": ("区市场监督管理局", "department"), "U-SS": ("示范区自来水有限公司", "utility"),
    "JD-HP": ("和平街道", "street"), "O-RX": ("热线中心", "office"),
}
KNOWN = {name: code for code, (name, _) in UNITS.items()} | {code: code for code in UNITS}
KINDS = {code: kind for code, (_, kind) in UNITS.items()}
COLUMNS = ("规则编号", "事项编码", "二级分类", "三级分类", "乡镇职责类型", "牵头单位", "适用区域",
           "条件", "依据", "生效日期", "失效日期")
NAMES = {"0402": "供水", "040201": "小区停水", "040202": "管网漏水", "0403": "供电",
         "040301": "停电", "0501": "占道经营", "050101": "店外经营", "050102": "流动摊贩"}


def duty_list(tmp_path: Path, *rows: dict[str, Any]) -> Path:
    path = tmp_path / "duty-list.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i, cells in enumerate(rows, 1):
            code = cells["事项编码"]
            base = {"规则编号": f"R-{i}", "二级分类": NAMES.get(code[:4]),
                    "三级分类": NAMES.get(code) if len(code) == 6 else None,
                    "依据": "《区水务局职能配置、内设机构和人员编制规定》",
                    "生效日期": "2025-03-01"}
            base.update(cells)
            out.writerow([base.get(c) or "" for c in COLUMNS])
    return path


def read(path: Path, kinds: dict[str, str] | None = KINDS) -> tuple[dict[str, dict[str, Any]],
                                                                     list[str]]:
    notes: list[str] = []
    bundle = read_duty_list(path, known_units=KNOWN, unit_kinds=kinds, notes=notes)
    return {c["code"]: c for c in bundle["categories"]}, notes


def test_a_three_ding_row_led_by_a_department_marks_its_leaf_and_the_import_says_so(
        tmp_path: Path) -> None:
    categories, notes = read(duty_list(tmp_path, {"事项编码": "040202", "牵头单位": "区水务局"}))
    assert (categories["040202"]["departmental"], categories["040202"]["default_unit"]) == (
        True, "D-SW")
    assert notes == [
        "类别 040202（管网漏水） 标记为部门事项，兜底单位 区水务局（依据 duty-list.csv:2）"]


def test_a_utility_row_and_an_assist_row_mark_their_leaves(tmp_path: Path) -> None:
    categories, notes = read(duty_list(
        tmp_path,
        {"事项编码": "040201", "牵头单位": "示范区自来水有限公司"},
        {"事项编码": "050101", "乡镇职责类型": "配合", "牵头单位": "D-CG"}))
    assert (categories["040201"]["departmental"], categories["040201"]["default_unit"]) == (
        True, "U-SS")
    assert (categories["050101"]["departmental"], categories["050101"]["default_unit"]) == (
        True, "D-CG")
    assert any("050101" in n and "区城市管理委员会" in n and "配合" in n for n in notes)


def test_a_row_led_by_a_unit_of_unknown_kind_marks_only_on_an_assist_or_reclaimed_list(
        tmp_path: Path) -> None:
    categories, _ = read(duty_list(
        tmp_path,
        {"事项编码": "040201", "牵头单位": "区水务局"},
        {"事项编码": "050101", "乡镇职责类型": "收回", "牵头单位": "D-CG"}), kinds=None)
    assert categories["040201"]["departmental"] is False
    assert (categories["050101"]["departmental"], categories["050101"]["default_unit"]) == (
        True, "D-CG")


def test_of_several_departments_the_district_wide_unconditional_open_row_names_the_default(
        tmp_path: Path) -> None:
    categories, notes = read(duty_list(
        tmp_path,
        {"事项编码": "040201", "牵头单位": "D-CG", "适用区域": "110199001"},
        {"事项编码": "040201", "牵头单位": "D-SJ", "条件": "k=v"},
        {"事项编码": "040201", "牵头单位": "U-SS", "失效日期": "2026-01-01"},
        {"事项编码": "040201", "牵头单位": "D-SW"}))
    assert categories["040201"]["default_unit"] == "D-SW"
    assert len(notes) == 1
    assert "兜底单位 区水务局" in notes[0] and "各行牵头单位不同" in notes[0]
    assert all(name in notes[0] for name in ("区城市管理委员会", "区市场监督管理局",
                                             "示范区自来水有限公司"))


def test_a_leaf_with_a_territorial_row_is_not_marked_and_the_import_says_where_gaps_go(
        tmp_path: Path) -> None:
    categories, notes = read(duty_list(
        tmp_path,
        {"事项编码": "050101", "乡镇职责类型": "基本", "条件": "location_type=residential"},
        {"事项编码": "050101", "乡镇职责类型": "配合", "牵头单位": "D-CG",
         "条件": "location_type=road"},
        {"事项编码": "0501", "乡镇职责类型": "配合", "牵头单位": "D-CG"},
        {"事项编码": "050102", "牵头单位": "JD-HP"}))
    assert categories["050101"]["departmental"] is False
    assert categories["0501"]["departmental"] is False  # its leaf 050101 has a 基本 row
    assert categories["050102"]["departmental"] is False  # a street never becomes a default
    assert categories["050102"]["default_unit"] is None
    told = [n for n in notes if "050101" in n]
    assert len(told) == 1 and "另有属地主办的行" in told[0]
    assert "由 区城市管理委员会 兜底" in told[0]


def test_the_category_sheet_wins_and_an_explicit_no_is_reported(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "清单"
    ws.append(["事项编码", "三级分类", "乡镇职责类型", "牵头单位", "依据", "生效日期"])
    ws.append(["040201", "小区停水", "配合", "区水务局", "清单第1项", "2026-01-01"])
    ws.append(["040301", "停电", "配合", "区水务局", "清单第2项", "2026-01-01"])
    sheet = wb.create_sheet("分类")
    sheet.append(["编码", "名称", "部门事项", "默认单位"])
    sheet.append(["040201", "小区停水", "否", None])
    sheet.append(["040301", "停电", "是", "示范区自来水有限公司"])
    path = tmp_path / "duty-list.xlsx"
    wb.save(path)
    categories, notes = read(path)
    assert (categories["040201"]["departmental"], categories["040201"]["default_unit"]) == (
        False, None)
    assert (categories["040301"]["departmental"], categories["040301"]["default_unit"]) == (
        True, "U-SS")
    assert any("040201" in n and "标为非部门事项" in n and "仍由 区水务局 兜底" in n
               for n in notes)
    assert any("040301" in n and "按分类表" in n and "示范区自来水有限公司" in n for n in notes)
