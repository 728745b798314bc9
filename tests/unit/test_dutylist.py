"""Duty lists (职责清单) in Excel and CSV: the three lists map to lead and co-handlers, units
resolve by name or code, every problem is reported with its row and column, and a written
workbook reads back to the same bundle."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from jurisdiction.errors import BundleInvalid
from rules.dutylist import RULE_COLUMNS, read_duty_list, write_duty_list

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"

KNOWN = {
    "区住房和城乡建设委员会": "D-ZJ", "D-ZJ": "D-ZJ",
    "区规划和自然资源分局": "D-GZ", "D-GZ": "D-GZ",
    "区城市管理委员会": "D-CG", "D-CG": "D-CG",
    "和平街道": "JD-HP", "JD-HP": "JD-HP",
}
BASIS = "《示范区街道履职事项清单（2026年版）》基本履职第12项"


def row(**cells: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"事项编码": "030101", "依据": BASIS, "生效日期": "2026-01-01"}
    base.update(cells)
    return base


def workbook(tmp_path: Path, rows: list[dict[str, Any]], *,
             columns: tuple[str, ...] | list[str] = RULE_COLUMNS,
             sheets: dict[str, list[list[Any]]] | None = None,
             name: str = "duty-list.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "清单"
    ws.append(list(columns))
    for r in rows:
        ws.append([r.get(c) for c in columns])
    for title, data in (sheets or {}).items():
        extra = wb.create_sheet(title)
        for values in data:
            extra.append(values)
    path = tmp_path / name
    wb.save(path)
    return path


def one_rule(tmp_path: Path, **cells: Any) -> dict[str, Any]:
    bundle = read_duty_list(workbook(tmp_path, [row(**cells)]), known_units=KNOWN)
    assert len(bundle["rules"]) == 1
    rule: dict[str, Any] = bundle["rules"][0]
    return rule


def problems_of(path: Path, **kwargs: Any) -> set[tuple[str, str | None]]:
    with pytest.raises(BundleInvalid) as caught:
        read_duty_list(path, **kwargs)
    return {(p.location, p.field) for p in caught.value.problems}


# ---------------------------------------------------------------- the three lists


def test_basic_duty_makes_the_territorial_unit_lead_and_the_cooperating_units_assist(
        tmp_path: Path) -> None:
    rule = one_rule(tmp_path, 乡镇职责类型="基本履职", 牵头单位="属地",
                    配合单位="区住房和城乡建设委员会、D-GZ")
    assert rule["lead"] == "@territorial"
    assert rule["co_handlers"] == ["D-ZJ", "D-GZ"]


def test_basic_duty_with_a_blank_lead_still_makes_the_township_lead(tmp_path: Path) -> None:
    rule = one_rule(tmp_path, 乡镇职责类型="基本", 配合单位="D-CG")
    assert (rule["lead"], rule["co_handlers"]) == ("@territorial", ["D-CG"])


def test_assist_duty_lets_the_department_lead_with_the_township_first_among_co_handlers(
        tmp_path: Path) -> None:
    rule = one_rule(tmp_path, 乡镇职责类型="配合履职", 牵头单位="区城市管理委员会",
                    配合单位="D-ZJ，属地")
    assert rule["lead"] == "D-CG"
    assert rule["co_handlers"] == ["@territorial", "D-ZJ"]


def test_reclaimed_duty_marks_the_category_departmental_with_the_lead_as_default_unit(
        tmp_path: Path) -> None:
    path = workbook(tmp_path, [
        row(事项编码="030102", 三级分类="在建工程违法建设", 乡镇职责类型="上级收回",
            牵头单位="区规划和自然资源分局", 配合单位="D-ZJ"),
        row(事项编码="030101", 三级分类="小区内私搭乱建", 乡镇职责类型="基本"),
    ])
    bundle = read_duty_list(path, known_units=KNOWN)
    rule = bundle["rules"][0]
    assert (rule["lead"], rule["co_handlers"]) == ("D-GZ", ["D-ZJ"])
    categories = {c["code"]: c for c in bundle["categories"]}
    assert categories["030102"] == {"code": "030102", "name": "在建工程违法建设",
                                    "parent": "0301", "departmental": True,
                                    "default_unit": "D-GZ"}
    assert categories["030101"]["departmental"] is False
    assert categories["030101"]["default_unit"] is None


def test_reclaimed_duty_may_not_push_the_matter_down_to_the_township(tmp_path: Path) -> None:
    path = workbook(tmp_path, [row(三级分类="小区内私搭乱建", 乡镇职责类型="收回",
                                   牵头单位="D-GZ", 配合单位="属地街乡镇")])
    with pytest.raises(BundleInvalid) as caught:
        read_duty_list(path, known_units=KNOWN)
    [problem] = caught.value.problems
    assert (problem.location, problem.field) == ("清单!2", "配合单位")
    assert "职能部门事项不得分派给基层" in problem.message


def test_a_row_without_a_list_type_takes_its_lead_as_written_and_属地_is_the_role(
        tmp_path: Path) -> None:
    assert one_rule(tmp_path, 牵头单位="D-CG", 配合单位="属地")["co_handlers"] == [
        "@territorial"]
    assert one_rule(tmp_path, 牵头单位="属地")["lead"] == "@territorial"


def test_basic_duty_naming_a_department_as_lead_is_a_problem(tmp_path: Path) -> None:
    path = workbook(tmp_path, [row(乡镇职责类型="基本", 牵头单位="D-CG")])
    assert problems_of(path, known_units=KNOWN) == {("清单!2", "牵头单位")}


# ---------------------------------------------------------------- units and categories


def test_a_unit_named_by_its_chinese_name_resolves_to_its_code(tmp_path: Path) -> None:
    rule = one_rule(tmp_path, 牵头单位="区住房和城乡建设委员会", 配合单位="和平街道")
    assert (rule["lead"], rule["co_handlers"]) == ("D-ZJ", ["JD-HP"])


def test_units_of_the_workbooks_own_unit_sheet_count_as_known(tmp_path: Path) -> None:
    path = workbook(tmp_path, [row(牵头单位="区市场监督管理局", 配合单位="D-RS")], sheets={
        "单位": [["编码", "名称", "类型"], ["D-SJ", "区市场监督管理局", "部门"],
                 ["D-RS", "区人力资源和社会保障局", "department"]]})
    bundle = read_duty_list(path)
    assert bundle["units"] == [
        {"code": "D-SJ", "name": "区市场监督管理局", "kind": "department"},
        {"code": "D-RS", "name": "区人力资源和社会保障局", "kind": "department"}]
    assert (bundle["rules"][0]["lead"], bundle["rules"][0]["co_handlers"]) == ("D-SJ", ["D-RS"])


def test_category_names_yield_every_level_of_the_code_prefixes(tmp_path: Path) -> None:
    path = workbook(tmp_path, [row(一级分类="城乡建设", 二级分类="违法建设",
                                   三级分类="小区内私搭乱建", 乡镇职责类型="基本")])
    assert read_duty_list(path)["categories"] == [
        {"code": "03", "name": "城乡建设", "parent": None},
        {"code": "0301", "name": "违法建设", "parent": "03"},
        {"code": "030101", "name": "小区内私搭乱建", "parent": "0301",
         "departmental": False, "default_unit": None},
    ]


def test_a_code_excel_turned_into_a_number_gets_its_leading_zero_back(tmp_path: Path) -> None:
    assert one_rule(tmp_path, 事项编码=30101, 乡镇职责类型="基本")["category"] == "030101"


# ---------------------------------------------------------------- fields


def test_conditions_keywords_area_priority_and_source_are_read(tmp_path: Path) -> None:
    rule = one_rule(tmp_path, 乡镇职责类型="基本", 适用区域=110199001,
                    条件="location_type=residential_compound|public_road; floor = high",
                    关键词="违建、私搭,搭建", 优先级="5", 来源="裁定", 失效日期="2027/1/1")
    assert rule["area"] == "110199001"
    assert rule["when"] == {"location_type": ["residential_compound", "public_road"],
                            "floor": "high"}
    assert rule["text_any"] == ["违建", "私搭", "搭建"]
    assert (rule["priority"], rule["source"]) == (5, "ruling")
    assert rule["valid_to"] == "2027-01-01T00:00:00+08:00"


@pytest.mark.parametrize(("cell", "expected"), [
    (datetime(2026, 1, 1), "2026-01-01T00:00:00+08:00"),
    (date(2026, 3, 15), "2026-03-15T00:00:00+08:00"),
    ("2026-01-01", "2026-01-01T00:00:00+08:00"),
    ("2026/1/1", "2026-01-01T00:00:00+08:00"),
    ("2026年1月1日", "2026-01-01T00:00:00+08:00"),
    ("2026-01-01 08:00", "2026-01-01T08:00:00+08:00"),
    ("2026-01-01T08:00:00+08:00", "2026-01-01T08:00:00+08:00"),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"),
])
def test_effective_dates_accept_excel_cells_and_common_strings(
        tmp_path: Path, cell: Any, expected: str) -> None:
    assert one_rule(tmp_path, 乡镇职责类型="基本", 生效日期=cell)["valid_from"] == expected


def test_blank_rule_ids_are_derived_from_the_matter_code_and_stay_unique(
        tmp_path: Path) -> None:
    path = workbook(tmp_path, [
        row(乡镇职责类型="基本"),
        row(乡镇职责类型="基本", 规则编号="DL-030101-02"),
        row(乡镇职责类型="基本"),
        row(事项编码="0301", 乡镇职责类型="基本"),
    ])
    ids = [r["id"] for r in read_duty_list(path)["rules"]]
    assert ids == ["DL-030101-01", "DL-030101-02", "DL-030101-03", "DL-0301-01"]


def test_empty_rows_and_unknown_columns_are_ignored(tmp_path: Path) -> None:
    columns = [*RULE_COLUMNS, "备注"]
    path = workbook(tmp_path, [row(乡镇职责类型="基本", 备注="随便写"), {},
                               row(乡镇职责类型="基本")], columns=columns)
    assert len(read_duty_list(path)["rules"]) == 2


# ---------------------------------------------------------------- problems


def test_every_problem_in_a_bad_file_is_reported_with_its_row_and_column(
        tmp_path: Path) -> None:
    path = workbook(tmp_path, [
        row(乡镇职责类型="基本", 规则编号="R-1"),                          # 2: fine
        row(事项编码=None, 乡镇职责类型="基本"),                           # 3
        row(事项编码="0301x", 乡镇职责类型="基本"),                        # 4
        row(牵头单位="区不存在局"),                                        # 5
        row(乡镇职责类型="基本", 生效日期="明年"),                          # 6
        row(乡镇职责类型="基本", 生效日期="2026-06-01", 失效日期="2026-01-01"),  # 7
        row(乡镇职责类型="基本", 优先级="高"),                             # 8
        row(乡镇职责类型="主要"),                                          # 9
        row(乡镇职责类型="基本", 规则编号="R-1"),                          # 10
        row(乡镇职责类型="基本", 条件="location_type"),                    # 11
        row(乡镇职责类型="基本", 依据=" "),                                # 12
        row(事项编码="0301", 三级分类="小区内私搭乱建", 乡镇职责类型="基本"),  # 13
        row(乡镇职责类型="配合"),                                          # 14
        row(乡镇职责类型="基本", 来源="传说"),                             # 15
    ])
    with pytest.raises(BundleInvalid) as caught:
        read_duty_list(path, known_units=KNOWN)
    found = {(p.location, p.field) for p in caught.value.problems}
    assert found == {
        ("清单!3", "事项编码"), ("清单!4", "事项编码"), ("清单!5", "牵头单位"),
        ("清单!6", "生效日期"), ("清单!7", "失效日期"), ("清单!8", "优先级"),
        ("清单!9", "乡镇职责类型"), ("清单!10", "规则编号"), ("清单!11", "条件"),
        ("清单!12", "依据"), ("清单!13", "三级分类"), ("清单!14", "牵头单位"),
        ("清单!15", "来源"),
    }
    assert all(p.message for p in caught.value.problems)
    unknown = next(p for p in caught.value.problems if p.location == "清单!5")
    assert "区不存在局" in unknown.message and unknown.code == "unknown_unit"


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    columns = [c for c in RULE_COLUMNS if c not in ("依据", "生效日期")]
    path = workbook(tmp_path, [row(乡镇职责类型="基本")], columns=columns)
    assert problems_of(path) == {("清单!1", "依据"), ("清单!1", "生效日期")}


def test_a_file_that_is_neither_xlsx_nor_csv_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "duty-list.txt"
    path.write_text("事项编码\n030101\n", encoding="utf-8")
    assert problems_of(path) == {("duty-list.txt:1", None)}


# ---------------------------------------------------------------- CSV

CSV_TEXT = (
    "规则编号,事项编码,三级分类,乡镇职责类型,牵头单位,配合单位,依据,生效日期\n"
    "JB-012,030101,小区内私搭乱建,基本,,\"区住房和城乡建设委员会\n区规划和自然资源分局\","
    "《示范区街道履职事项清单（2026年版）》基本履职第12项,2026/1/1\n"
    "\n"
    "PH-015,050102,店外经营,配合,区城市管理委员会,,示政办会〔2026〕7号,2026-01-01 08:00\n"
)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_reads_in_utf8_with_or_without_bom_and_in_gb18030(
        tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "duty-list.csv"
    path.write_bytes(CSV_TEXT.encode(encoding))
    rules = read_duty_list(path, known_units=KNOWN)["rules"]
    assert [(r["id"], r["lead"], r["co_handlers"]) for r in rules] == [
        ("JB-012", "@territorial", ["D-ZJ", "D-GZ"]),
        ("PH-015", "D-CG", ["@territorial"]),
    ]
    assert rules[1]["valid_from"] == "2026-01-01T08:00:00+08:00"


def test_csv_problems_are_located_by_file_name_and_row(tmp_path: Path) -> None:
    path = tmp_path / "duty-list.csv"
    path.write_bytes(CSV_TEXT.replace("区城市管理委员会", "区城管委").encode("gb18030"))
    assert problems_of(path, known_units=KNOWN) == {("duty-list.csv:4", "牵头单位")}


# ---------------------------------------------------------------- round trip and example


FULL_BUNDLE: dict[str, Any] = {
    "units": [
        {"code": "JD-HP", "name": "和平街道", "kind": "street"},
        {"code": "D-ZJ", "name": "区住房和城乡建设委员会", "kind": "department"},
        {"code": "D-GZ", "name": "区规划和自然资源分局", "kind": "department"},
        {"code": "U-RL", "name": "示范区热力有限公司", "kind": "utility"},
        {"code": "O-ZF", "name": "示范区人民政府办公室", "kind": "office"},
        {"code": "O-RX", "name": "示范区12345热线中心", "kind": "office"},
    ],
    "areas": [
        {"code": "110199", "name": "示范区", "level": "district", "parent": None,
         "unit": "O-ZF"},
        {"code": "110199001", "name": "和平街道", "level": "township", "parent": "110199",
         "unit": "JD-HP"},
        {"code": "110199001001", "name": "和平里社区", "level": "community",
         "parent": "110199001", "unit": None},
    ],
    "categories": [
        {"code": "03", "name": "城乡建设", "parent": None},
        {"code": "0301", "name": "违法建设", "parent": "03", "departmental": False,
         "default_unit": None},
        {"code": "030101", "name": "小区内私搭乱建", "parent": "0301", "departmental": False,
         "default_unit": None},
        {"code": "030102", "name": "在建工程违法建设", "parent": "0301", "departmental": True,
         "default_unit": "D-GZ"},
        {"code": "04", "name": "市政公用", "parent": None, "departmental": False,
         "default_unit": None},
    ],
    "settings": {"hotline_office": "O-RX", "timezone": "Asia/Shanghai"},
    "rules": [
        {"id": "R-0301-01", "category": "0301", "area": None,
         "when": {"location_type": ["residential_compound", "public_road"]},
         "text_any": ["违建", "私搭"], "lead": "@territorial", "co_handlers": ["D-ZJ", "D-GZ"],
         "basis": "《示范区街道履职事项清单》第12项", "source": "catalog", "priority": 0,
         "valid_from": "2026-01-01T00:00:00+08:00", "valid_to": None},
        {"id": "R-030101-ruling", "category": "030101", "area": "110199001",
         "when": {"floor": 3, "has_permit": False, "kind": ["one"]},
         "text_any": ["楼顶, 加盖", "阳光房"], "lead": "D-ZJ",
         "co_handlers": ["@territorial", "D-GZ"], "basis": "示政办裁〔2026〕3号",
         "source": "ruling", "priority": 7, "valid_from": "2026-03-01T08:30:00+08:00",
         "valid_to": "2027-03-01T00:00:00+08:00", "ruling_id": "RUL-3", "note": "会商纪要"},
        {"id": "R-030102", "category": "030102", "area": None, "when": {}, "text_any": [],
         "lead": "D-GZ", "co_handlers": ["D-ZJ"], "basis": "示政办会〔2026〕7号",
         "source": "manual", "priority": -2, "valid_from": None,
         "valid_to": "2026-12-31T16:00:00+00:00"},
        {"id": "R-04", "category": "04", "area": "110199", "when": {"season": "winter"},
         "text_any": [], "lead": "U-RL", "co_handlers": ["D-ZJ", "@territorial"],
         "basis": "《城市供热条例》第十条", "source": "catalog", "priority": 0,
         "valid_from": "2025-11-15T00:00:00+08:00", "valid_to": None},
    ],
}


def test_writing_then_reading_a_bundle_gives_it_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_duty_list(FULL_BUNDLE, path)
    assert read_duty_list(path) == FULL_BUNDLE


def test_the_written_workbook_is_ready_for_administrators(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_duty_list(FULL_BUNDLE, path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["清单", "分类", "单位", "区域", "设置"]
    ws = wb["清单"]
    header = [c.value for c in ws[1]]
    assert header[: len(RULE_COLUMNS)] == list(RULE_COLUMNS)
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    duty_column = openpyxl.utils.get_column_letter(header.index("乡镇职责类型") + 1)
    assert any(dv.formula1 == '"基本,配合,收回"' and f"{duty_column}2" in dv.sqref
               for dv in ws.data_validations.dataValidation)
    types = {ws.cell(row=i, column=header.index("乡镇职责类型") + 1).value
             for i in range(2, ws.max_row + 1)}
    assert types == {"基本", "配合", "收回", None}


def test_the_shipped_example_reads_without_problems() -> None:
    bundle = read_duty_list(EXAMPLES / "duty-list-example.xlsx")
    duty_rows = len(bundle["rules"])
    assert 12 <= duty_rows <= 20
    leads = {r["lead"] for r in bundle["rules"]}
    assert "@territorial" in leads and len(leads) > 3
    assert any(c.get("departmental") for c in bundle["categories"])
    known = {u["name"]: u["code"] for u in bundle["units"]}
    from_csv = read_duty_list(EXAMPLES / "duty-list-example.csv", known_units=known)
    assert from_csv["rules"] == bundle["rules"]
