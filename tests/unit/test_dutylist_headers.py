"""A duty list's header row is checked against one list of accepted headers per sheet: an
unknown, misspelled, repeated or unnamed column refuses the whole file, naming the column and
the accepted headers, instead of being dropped. CSV files read in UTF-8 (with or without a
byte-order mark), UTF-16 with a mark, and GB18030."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

from jurisdiction.errors import BundleInvalid, Problem
from rules.dutylist import (
    ACCEPTED_HEADERS,
    IGNORED_COLUMNS,
    RULE_COLUMNS,
    UNIT_COLUMNS,
    read_duty_list,
    write_duty_list,
)
from tests.unit.test_dutylist import KNOWN, row, workbook

HEADER = "规则编号,事项编码,三级分类,乡镇职责类型,牵头单位,配合单位,依据,生效日期"
ROWS = ("JB-012,030101,小区内私搭乱建,基本,,区住房和城乡建设委员会,"
        "《清单》基本履职第12项,2026/1/1\n"
        "PH-015,050102,店外经营,配合,区城市管理委员会,,示政办会〔2026〕7号,2026-01-01\n")


def refusal(path: Path, **kwargs: Any) -> list[Problem]:
    with pytest.raises(BundleInvalid) as caught:
        read_duty_list(path, **kwargs)
    return caught.value.problems


def write_csv(tmp_path: Path, header: str, data: bytes | None = None) -> Path:
    path = tmp_path / "duty-list.csv"
    path.write_bytes(data if data is not None else (header + "\n" + ROWS).encode("utf-8"))
    return path


def test_a_misspelled_rule_id_column_is_refused_naming_the_column_and_the_accepted_headers(
        tmp_path: Path) -> None:
    # Read with 规则编码 ignored, every row got a new DL- id and an import doubled the rules.
    path = write_csv(tmp_path, HEADER.replace("规则编号", "规则编码"))
    [problem] = refusal(path, known_units=KNOWN)
    assert (problem.location, problem.field, problem.code) == (
        "duty-list.csv:1", "规则编码", "unknown_column")
    assert "第1行第1列（A列）" in problem.message
    assert "应为「规则编号」" in problem.message
    assert all(column in problem.message for column in ACCEPTED_HEADERS["清单"])


def test_a_co_handler_column_named_otherwise_than_the_template_is_refused(
        tmp_path: Path) -> None:
    columns = [c if c != "配合单位" else "协办单位" for c in RULE_COLUMNS]
    path = workbook(tmp_path, [row(协办单位="区住房和城乡建设委员会")], columns=columns)
    [problem] = refusal(path, known_units=KNOWN)
    letter = "ABCDEFGHIJKLMNOP"[columns.index("协办单位")]
    assert (problem.location, problem.field) == ("清单!1", "协办单位")
    assert f"（{letter}列）" in problem.message and "应为「配合单位」" in problem.message


def test_a_typo_in_a_header_is_refused_with_the_nearest_template_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER.replace("生效日期", "生效日起"))
    problems = refusal(path, known_units=KNOWN)
    assert [(p.field, p.code) for p in problems] == [("生效日起", "unknown_column"),
                                                      ("生效日期", "missing_column")]
    assert "应为「生效日期」" in problems[0].message


def test_an_unknown_column_on_another_sheet_is_refused_too(tmp_path: Path) -> None:
    units = [[*UNIT_COLUMNS, "联系电话"], ["D-ZJ", "区住房和城乡建设委员会", "部门", "12345"]]
    path = workbook(tmp_path, [row(乡镇职责类型="基本")], sheets={"单位": units})
    assert [(p.location, p.field, p.code) for p in refusal(path)] == [
        ("单位!1", "联系电话", "unknown_column")]


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + ",配合单位")
    [problem] = refusal(path, known_units=KNOWN)
    assert (problem.field, problem.code) == ("配合单位", "duplicate_column")
    assert "F列" in problem.message and "（I列）" in problem.message


def test_a_column_with_data_but_no_header_is_refused_and_empty_trailing_columns_are_not(
        tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + ",,",
                     (HEADER + ",,\n" + ROWS.replace("\n", ",,\n", 1)
                      .replace("2026-01-01\n", "2026-01-01,,夜间\n")).encode("utf-8"))
    [problem] = refusal(path, known_units=KNOWN)
    assert problem.code == "unnamed_column" and "第1行第10列（J列）" in problem.message


def test_serial_number_and_remarks_columns_may_stay_and_are_not_read(tmp_path: Path) -> None:
    assert IGNORED_COLUMNS == ("序号", "备注")
    path = write_csv(tmp_path, "序号," + HEADER + ",备注",
                     ("序号," + HEADER + ",备注\n"
                      + "".join(f"{i},{line},说明\n" for i, line in
                                enumerate(ROWS.splitlines(), start=1))).encode("utf-8"))
    rules = read_duty_list(path, known_units=KNOWN)["rules"]
    assert [r["id"] for r in rules] == ["JB-012", "PH-015"]


def test_every_column_an_export_writes_is_accepted_on_import(tmp_path: Path) -> None:
    bundle: dict[str, Any] = {
        "units": [{"code": "D-ZJ", "name": "区住房和城乡建设委员会", "kind": "department"}],
        "categories": [{"code": "03", "name": "城乡建设", "parent": None}],
        "rules": [{"id": "R-1", "category": "03", "lead": "D-ZJ", "basis": "b",
                   "valid_from": "2026-01-01T00:00:00+08:00", "note": "说明"}],
        "settings": {"hotline_office": "D-ZJ"},
    }
    for name in ("duty-list.xlsx", "duty-list.csv"):
        write_duty_list(bundle, tmp_path / name)
        known = {"区住房和城乡建设委员会": "D-ZJ"} if name.endswith(".csv") else None
        assert read_duty_list(tmp_path / name, known_units=known)["rules"][0]["note"] == "说明"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_csv_in_utf16_with_a_byte_order_mark_reads_as_excel_unicode_text_writes_it(
        tmp_path: Path, encoding: str) -> None:
    text = (HEADER + "\n" + ROWS).replace(",", "\t")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    rules = read_duty_list(write_csv(tmp_path, HEADER, data), known_units=KNOWN)["rules"]
    assert [(r["id"], r["lead"]) for r in rules] == [("JB-012", "@territorial"),
                                                     ("PH-015", "D-CG")]


def test_a_stray_byte_order_mark_before_the_first_header_does_not_hide_the_column(
        tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + ("\ufeff" + HEADER + "\n" + ROWS).encode("utf-8")
    rules = read_duty_list(write_csv(tmp_path, HEADER, data), known_units=KNOWN)["rules"]
    assert [r["id"] for r in rules] == ["JB-012", "PH-015"]


def test_a_gb18030_csv_with_a_misspelled_header_is_refused_in_chinese(tmp_path: Path) -> None:
    text = HEADER.replace("牵头单位", "牵头部门") + "\n" + ROWS
    [problem] = refusal(write_csv(tmp_path, HEADER, text.encode("gb18030")), known_units=KNOWN)
    assert problem.field == "牵头部门" and "应为「牵头单位」" in problem.message


def test_a_file_in_no_known_encoding_is_refused_in_chinese(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, "规则编号".encode() + b"\xff\xff")
    [problem] = refusal(path)
    assert problem.code == "invalid_encoding" and "无法识别文件编码" in problem.message
