"""Duty lists (职责清单 / 派单目录) in Excel (.xlsx) and CSV: a pure translator between
spreadsheet rows and the bundle dict of the contract (units, areas, categories, settings,
rules). It touches no database; the caller passes the unit names and codes it already knows.

A township's duties come as three lists (三张清单). Each row of the ``清单`` sheet carries its
list in the column ``乡镇职责类型``, which decides lead (主办) and co-handlers (协办):

=========  ================================  ==========================================
type       lead                              co_handlers
=========  ================================  ==========================================
基本       ``@territorial`` (属地)            the 配合单位
配合       the 牵头单位 (a department)        ``@territorial`` first, then the 配合单位
收回       the 牵头单位; the category is      the 配合单位, never ``@territorial``
           marked departmental
(blank)    the 牵头单位 (``属地`` allowed)    the 配合单位
=========  ================================  ==========================================

Reading collects every problem before it raises :class:`~jurisdiction.errors.BundleInvalid`,
each located as ``清单!12`` (sheet and spreadsheet row) or ``duty-list.csv:12``; nothing
partial is returned. Writing produces a workbook that reads back to an equivalent bundle.

>>> import tempfile, pathlib
>>> bundle = {"units": [{"code": "D-ZJ", "name": "区住房和城乡建设委员会", "kind": "department"}],
...           "rules": [{"id": "R-1", "category": "030101", "lead": "@territorial",
...                      "co_handlers": ["D-ZJ"], "basis": "《清单》第12项",
...                      "valid_from": "2026-01-01T00:00:00+08:00"}]}
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "duty-list.xlsx"
...     write_duty_list(bundle, p)
...     read_duty_list(p)["rules"][0]["co_handlers"]
['D-ZJ']
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
import warnings
import zipfile
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from jurisdiction.errors import InvalidInput, ProblemList
from jurisdiction.instants import is_in_service_span
from rules.departmental import preference

__all__ = [
    "ACCEPTED_HEADERS",
    "AREA_COLUMNS",
    "CATEGORY_COLUMNS",
    "IGNORED_COLUMNS",
    "RULE_COLUMNS",
    "SETTING_COLUMNS",
    "SHANGHAI",
    "TERRITORIAL",
    "UNIT_COLUMNS",
    "read_duty_list",
    "write_duty_list",
]

TERRITORIAL: Final = "@territorial"
"""The role 属地: the unit of the ticket's nearest township-level area."""

SHANGHAI: Final = timezone(timedelta(hours=8), "Asia/Shanghai")
"""Dates written without a time zone are Asia/Shanghai (+08:00, no daylight saving)."""

RULES_SHEET: Final = "清单"
CATEGORIES_SHEET: Final = "分类"
UNITS_SHEET: Final = "单位"
AREAS_SHEET: Final = "区域"
SETTINGS_SHEET: Final = "设置"

EXTRA: Final = "扩展字段"
"""Optional column on every sheet: a JSON object of fields the columns do not cover, so that an
exported bundle reads back without loss."""

RULE_COLUMNS: Final = (
    "规则编号", "事项编码", "一级分类", "二级分类", "三级分类", "乡镇职责类型", "牵头单位",
    "配合单位", "适用区域", "条件", "关键词", "依据", "生效日期", "失效日期", "优先级", "来源",
)
CATEGORY_COLUMNS: Final = ("编码", "名称", "上级编码", "部门事项", "默认单位", "受理类型")
UNIT_COLUMNS: Final = ("编码", "名称", "类型")
AREA_COLUMNS: Final = ("编码", "名称", "层级", "上级编码", "属地单位")
SETTING_COLUMNS: Final = ("键", "值")

_RULE_REQUIRED: Final = ("事项编码", "依据", "生效日期")

IGNORED_COLUMNS: Final = ("序号", "备注")
"""Columns a sheet may keep for its readers; quanze reads nothing from them."""

ACCEPTED_HEADERS: Final = {
    RULES_SHEET: (*RULE_COLUMNS, EXTRA),
    CATEGORIES_SHEET: (*CATEGORY_COLUMNS, EXTRA),
    UNITS_SHEET: (*UNIT_COLUMNS, EXTRA),
    AREAS_SHEET: (*AREA_COLUMNS, EXTRA),
    SETTINGS_SHEET: SETTING_COLUMNS,
}
"""The headers each sheet accepts (besides :data:`IGNORED_COLUMNS`), taken from its column
list: a column added to a template is accepted on import without another change. A header
row naming anything else is refused as a whole, so that no column is silently dropped."""

_HEADER_HINTS: Final = {
    "编号": "规则编号", "规则编码": "规则编号", "事项代码": "事项编码", "分类编码": "事项编码",
    "牵头部门": "牵头单位", "主办单位": "牵头单位",
    "配合部门": "配合单位", "协同部门": "配合单位", "协办单位": "配合单位",
}
"""Headers seen in real lists, and the template column they mean (named in the refusal)."""
_LEVEL_NAME_COLUMNS: Final = ("一级分类", "二级分类", "三级分类")

_TERRITORIAL_WORDS: Final = frozenset({
    "@territorial", "属地", "属地街乡镇", "乡镇街道", "属地乡镇街道", "属地街道", "属地乡镇",
    "街乡镇", "属地单位",
})
_DUTY_TYPES: Final = {
    "基本": "basic", "基本履职": "basic", "基本履职事项": "basic",
    "配合": "assist", "配合履职": "assist", "配合履职事项": "assist",
    "收回": "reclaimed", "收回事项": "reclaimed", "上级收回": "reclaimed",
    "上级收回事项": "reclaimed",
}
_DUTY_LABELS: Final = {"basic": "基本", "assist": "配合", "reclaimed": "收回"}
_SOURCES: Final = {
    "catalog": "catalog", "目录": "catalog", "清单": "catalog",
    "ruling": "ruling", "裁定": "ruling",
    "manual": "manual", "手工": "manual", "人工": "manual",
}
_UNIT_KINDS: Final = {
    "department": "department", "部门": "department", "职能部门": "department",
    "township": "township", "乡镇": "township", "乡": "township", "镇": "township",
    "street": "street", "街道": "street",
    "community": "community", "社区": "community", "村": "community", "社区村": "community",
    "utility": "utility", "公共服务企业": "utility", "企业": "utility",
    "office": "office", "办公室": "office",
}
_UNIT_KIND_LABELS: Final = {
    "department": "部门", "township": "乡镇", "street": "街道", "community": "社区",
    "utility": "公共服务企业", "office": "办公室",
}
_AREA_LEVELS: Final = {
    "district": "district", "区": "district",
    "township": "township", "乡镇街道": "township", "乡镇": "township", "街道": "township",
    "community": "community", "社区村": "community", "社区": "community", "村": "community",
    "grid": "grid", "网格": "grid",
}
_AREA_LEVEL_LABELS: Final = {
    "district": "区", "township": "乡镇街道", "community": "社区村", "grid": "网格",
}
#: 受理类型 of a category (jurisdiction.model.Intake): its words, and the label written.
_INTAKES: Final = {
    "not_accepted": "not_accepted", "不予受理": "not_accepted", "不受理": "not_accepted",
    **{word: f"transfer_{n}" for n in ("110", "119", "120", "122")
       for word in (f"transfer_{n}", f"转{n}", n)},
}
_INTAKE_LABELS: Final = {"not_accepted": "不予受理", "transfer_110": "转110",
                         "transfer_119": "转119", "transfer_120": "转120",
                         "transfer_122": "转122"}
_YES: Final = frozenset({"是", "y", "yes", "true", "1", "√", "✓"})
_NO: Final = frozenset({"否", "n", "no", "false", "0", "×"})
_OPEN_FROM: Final = frozenset({"不限"})
_OPEN_TO: Final = frozenset({"不限", "长期", "长期有效", "无", "—", "-", "/"})

_CODE_RE: Final = re.compile(r"\d{2}(?:\d{2}){0,2}")
# The bundle's own patterns (rules/bundle.py), checked here so a problem names its row.
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
_ATTRIBUTE_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_LIST_SEP: Final = re.compile(r"[、，,;；\n\r]+")
_COND_SEP: Final = re.compile(r"[;；\n\r]+")
_ALT_SEP: Final = re.compile(r"[|｜]")
_COND_SPECIAL: Final = re.compile(r"[;；\n\r|｜=＝]")
_DATE_RE: Final = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2})[:：](\d{2})(?:[:：](\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_EXCEL_SERIAL_RANGE: Final = (32874, 73051)  # 1990-01-01 .. 2100-01-01
_RULE_KEYS: Final = frozenset({
    "id", "category", "area", "when", "text_any", "lead", "co_handlers", "basis", "source",
    "priority", "valid_from", "valid_to",
})
_CATEGORY_KEYS: Final = frozenset({"code", "name", "parent", "departmental", "default_unit",
                                   "intake"})
_AREA_KEYS: Final = frozenset({"code", "name", "level", "parent", "unit"})
_POLICY_CN: Final = "国办函〔2025〕66号：职能部门事项不得分派给基层"
_DEPARTMENT_KINDS: Final = frozenset({"department", "utility"})
_TERRITORIAL_KINDS: Final = frozenset({"township", "street", "community"})
_POLICY_2025: Final = (
    "职能部门事项不得分派给基层 (2025 national policy: departmental matters are not pushed "
    "down to townships)"
)


# --------------------------------------------------------------------------- tables


@dataclass
class _Table:
    """One sheet (or CSV file) after its header row has been found."""

    name: str
    is_csv: bool
    header_row: int
    columns: dict[str, int]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)

    def loc(self, row: int) -> str:
        return f"{self.name}:{row}" if self.is_csv else f"{self.name}!{row}"

    def has(self, column: str) -> bool:
        return column in self.columns

    def cell(self, values: Sequence[Any], column: str) -> Any:
        index = self.columns.get(column)
        if index is None or index >= len(values):
            return None
        return values[index]


def _norm_header(value: Any) -> str:
    text = re.sub(r"[\s\ufeff]+", "", _text(value))
    for mark in ("(必填)", "（必填）", "(选填)", "（选填）"):
        text = text.replace(mark, "")
    return text.strip("*＊")


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _make_table(name: str, is_csv: bool, raw: list[list[Any]], anchor: str) -> _Table:
    """Find the header row (the first of the first ten rows naming ``anchor``, else the first
    non-empty row) and keep the non-empty rows below it."""
    header_index: int | None = None
    for i, values in enumerate(raw[:10]):
        if anchor in {_norm_header(v) for v in values}:
            header_index = i
            break
    if header_index is None:
        header_index = next((i for i, v in enumerate(raw) if not all(map(_is_blank, v))), None)
    if header_index is None:
        return _Table(name, is_csv, 1, {})
    columns: dict[str, int] = {}
    for j, value in enumerate(raw[header_index]):
        header = _norm_header(value)
        if header and header not in columns:
            columns[header] = j
    table = _Table(name, is_csv, header_index + 1, columns)
    for i in range(header_index + 1, len(raw)):
        if not all(map(_is_blank, raw[i])):
            table.rows.append((i + 1, raw[i]))
    return table


def _load_xlsx(path: Path) -> dict[str, list[list[Any]]]:
    # openpyxl warns about Excel features it drops (extended data validation, …); reading the
    # values is unaffected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = load_workbook(path, data_only=True)
    sheets: dict[str, list[list[Any]]] = {}
    try:
        for ws in workbook.worksheets:
            merged: dict[tuple[int, int], Any] = {}
            for rng in ws.merged_cells.ranges:
                top_left = ws.cell(rng.min_row, rng.min_col).value
                for r in range(rng.min_row, rng.max_row + 1):
                    for c in range(rng.min_col, rng.max_col + 1):
                        merged[(r, c)] = top_left
            rows: list[list[Any]] = []
            for r, values in enumerate(ws.iter_rows(values_only=True), start=1):
                row = list(values)
                # Real lists merge 一级分类 over many rows: every row gets the merged value.
                for c in range(1, len(row) + 1):
                    if (r, c) in merged:
                        row[c - 1] = merged[(r, c)]
                rows.append(row)
            sheets[re.sub(r"\s+", "", str(ws.title))] = rows
    finally:
        workbook.close()
    return sheets


_BOMS: Final = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                (codecs.BOM_UTF16_BE, "utf-16"))


def _decode_csv(data: bytes) -> str | None:
    """A CSV's text: by its byte-order mark when it has one (UTF-8 as Excel's "CSV UTF-8"
    writes it, UTF-16 as its "Unicode text" does); else UTF-8, then GB18030 (a superset of
    the GBK that Excel on Chinese Windows writes by default). None when neither fits.

    >>> _decode_csv("规则编号".encode("gb18030")), _decode_csv(codecs.BOM_UTF8 + b"a")
    ('规则编号', 'a')
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _load_csv(path: Path, problems: ProblemList) -> list[list[Any]] | None:
    text = _decode_csv(path.read_bytes())
    if text is None:
        problems.add(f"{path.name}:1", "无法识别文件编码：请另存为 UTF-8（Excel：「CSV UTF-8（逗号"
                     "分隔）」）或 GB18030/GBK 编码的 CSV", code="invalid_encoding")
        return None
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _checked_table(reader: _Reader, name: str, is_csv: bool, raw: list[list[Any]],
                   anchor: str, accepted: Sequence[str]) -> _Table:
    """:func:`_make_table`, after refusing a header row that names a column the sheet does not
    accept, names one twice, or leaves a column holding data without a name."""
    table = _make_table(name, is_csv, raw, anchor)
    if not raw or table.header_row > len(raw):
        return table
    header = raw[table.header_row - 1]
    loc = table.loc(table.header_row)
    allowed = (*accepted, *IGNORED_COLUMNS)
    listing = (f"可用的表头：{'、'.join(accepted)}；可保留但不导入：{'、'.join(IGNORED_COLUMNS)}")
    first: dict[str, int] = {}
    before = len(reader.problems.problems)
    for j, value in enumerate(header):
        where = f"第{table.header_row}行第{j + 1}列（{get_column_letter(j + 1)}列）"
        text = _norm_header(value)
        if not text:
            if any(j < len(row) and not _is_blank(row[j]) for _, row in table.rows):
                reader.add(loc, f"{where}没有表头，但下面有数据：请填写表头或删除该列，整份清单"
                           f"未导入。{listing}", code="unnamed_column")
            continue
        if text not in allowed:
            meant = _HEADER_HINTS.get(text) or next(
                iter(difflib.get_close_matches(text, accepted, n=1, cutoff=0.5)), None)
            hint = f"，应为「{meant}」" if meant else ""
            reader.add(loc, f"{where}的表头「{text}」不是模板中的列{hint}：整份清单未导入。"
                       f"{listing}", code="unknown_column", column=text)
        elif text in first and text not in IGNORED_COLUMNS:
            reader.add(loc, f"{where}的表头「{text}」与{get_column_letter(first[text] + 1)}列重复："
                       "每列只能出现一次，整份清单未导入", code="duplicate_column", column=text)
        else:
            first[text] = j
    if len(reader.problems.problems) > before:
        table.rows = []  # the file is refused: rows read under a wrong header only add noise
    return table


# --------------------------------------------------------------------------- cell values


def _text(value: Any) -> str:
    """A cell as stripped text; integral numbers lose their ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _code_text(value: Any) -> str:
    """A category code cell. Excel turns ``030101`` typed in a General cell into the number
    30101; codes have an even number of digits, so an odd-length digit string gets its
    leading zero back."""
    text = _text(value).replace(" ", "")
    if text.isdigit() and len(text) % 2 == 1 and len(text) < 6 and not text.startswith("0"):
        text = "0" + text
    return text


def _split(value: Any, pattern: re.Pattern[str]) -> list[str]:
    return [part.strip() for part in pattern.split(_text(value)) if part.strip()]


def _parse_datetime(value: Any) -> datetime | None:
    """A cell as an aware datetime, or None when it is not a date."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not _EXCEL_SERIAL_RANGE[0] <= value <= _EXCEL_SERIAL_RANGE[1]:
            return None
        converted = from_excel(value)
        if not isinstance(converted, datetime):
            return None
        moment = converted
    else:
        text = _text(value)
        match = _DATE_RE.fullmatch(text)
        try:
            if match:
                y, mo, d, h, mi, s, frac, tz = match.groups()
                micro = int((frac or "0").ljust(6, "0"))
                moment = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0),
                                  int(s or 0), micro)
                if tz:
                    moment = moment.replace(tzinfo=_parse_offset(tz))
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if not is_in_service_span(moment):
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment


def _parse_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _iso(moment: datetime) -> str:
    if moment.utcoffset() == timedelta(hours=8):
        moment = moment.replace(tzinfo=timezone(timedelta(hours=8)))
    return moment.isoformat()


def _round_excel(moment: datetime) -> datetime:
    """Excel stores times as fractions of a day; snap values within a millisecond of a whole
    second back onto it."""
    rounded = (moment + timedelta(microseconds=500_000)).replace(microsecond=0)
    if abs(rounded - moment) <= timedelta(milliseconds=1):
        return rounded
    return moment


# --------------------------------------------------------------------------- reading


@dataclass
class _RowRule:
    row: int
    loc: str
    explicit_id: str
    rule: dict[str, Any]


@dataclass
class _Leaf:
    """What the rows say about one rule category."""

    reclaimed_loc: str | None = None
    #: every clean row on the category: (location, 乡镇职责类型, the rule it becomes)
    rows: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)


class _Reader:
    def __init__(self, known_units: Mapping[str, str] | None,
                 unit_kinds: Mapping[str, str] | None = None) -> None:
        self.problems = ProblemList()
        self.known = {str(k).strip(): str(v).strip() for k, v in (known_units or {}).items()}
        self.known_kinds = {str(k): str(v) for k, v in (unit_kinds or {}).items()}
        #: what the import did beyond the rows (Chinese, for the import report)
        self.notes: list[str] = []
        self.sheet_unit_codes: dict[str, str] = {}
        self.sheet_unit_names: dict[str, str] = {}
        self.units: list[dict[str, Any]] = []
        self.areas: list[dict[str, Any]] = []
        self.area_names: dict[str, str] = {}
        self.categories: dict[str, dict[str, Any]] = {}
        self.category_origin: dict[str, str] = {}
        self.sheet_departmental: dict[str, bool | None] = {}
        self.sheet_default: dict[str, str | None] = {}
        self.leaves: dict[str, _Leaf] = {}
        self.rules: list[dict[str, Any]] = []
        self.settings: dict[str, Any] | None = None

    # ---- helpers

    def add(self, loc: str, message: str, *, code: str = "invalid_value",
            column: str | None = None) -> None:
        self.problems.add(loc, message, code=code, field=column)

    def missing_columns(self, table: _Table, required: Iterable[str]) -> None:
        for column in required:
            if not table.has(column):
                self.add(table.loc(table.header_row),
                         f"缺少必填列 missing required column {column!r} "
                         f"(header row {table.header_row})",
                         code="missing_column", column=column)

    def unit(self, raw: str, loc: str, column: str) -> str | None:
        """Resolve a unit named by code or name (or 属地) to its code."""
        name = raw.strip()
        if name in _TERRITORIAL_WORDS:
            return TERRITORIAL
        for table in (self.sheet_unit_codes, self.sheet_unit_names, self.known):
            if name in table:
                return table[name]
        self.add(loc, f"未知单位 unknown unit {name!r}: use the code or full name of a unit in "
                 "the database or in the 单位 sheet, or 属地 for the territorial unit",
                 code="unknown_unit", column=column)
        return None

    def extra(self, table: _Table, values: Sequence[Any], loc: str,
              known: Iterable[str]) -> dict[str, Any]:
        raw = _text(table.cell(values, EXTRA))
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self.add(loc, f"{EXTRA} must be a JSON object such as {{\"note\": \"…\"}}",
                     column=EXTRA)
            return {}
        return {k: v for k, v in parsed.items() if k not in set(known)}

    def category_code(self, value: Any, loc: str, column: str, *, required: bool) -> str | None:
        code = _code_text(value)
        if not code:
            if required:
                self.add(loc, f"{column} is required: a category code of 2, 4 or 6 digits",
                         code="required", column=column)
            return None
        if not _CODE_RE.fullmatch(code):
            self.add(loc, f"bad category code {code!r}: 2 digits (level 1), 4 digits (level 2) "
                     "or 6 digits (level 3), e.g. 03, 0301, 030101",
                     code="invalid_code", column=column)
            return None
        return code

    def define_category(self, code: str, name: str, loc: str, column: str) -> None:
        known = self.categories.get(code)
        if known is None:
            self.categories[code] = {"code": code, "name": name,
                                     "parent": code[:-2] or None}
            self.category_origin[code] = loc
        elif known["name"] != name:
            self.add(loc, f"分类 {code} is named {name!r} here but {known['name']!r} in "
                     f"{self.category_origin[code]}", code="conflict", column=column)

    # ---- optional sheets

    def check_code(self, loc: str, noun: str, code: str, *, present: bool,
                   seen: Container[str], example: str) -> None:
        """A unit's or area's 编码: given (when its column is there), well formed, not seen
        before on the sheet."""
        if not code and present:
            self.add(loc, f"{noun} 编码 is required", code="required", column="编码")
        elif code and not _ID_RE.fullmatch(code):
            self.add(loc, f"bad {noun} 编码 {code!r}: letters, digits, _ . : - (at most 64), "
                     f"e.g. {example}", code="invalid_code", column="编码")
        elif code in seen:
            self.add(loc, f"duplicate {noun} 编码 {code!r}", code="duplicate", column="编码")

    def read_units(self, table: _Table) -> None:
        self.missing_columns(table, UNIT_COLUMNS)
        for n, values in table.rows:
            loc = table.loc(n)
            code = _text(table.cell(values, "编码"))
            name = _text(table.cell(values, "名称"))
            kind_raw = _text(table.cell(values, "类型"))
            kind = _UNIT_KINDS.get(kind_raw.lower())
            self.check_code(loc, "unit", code, present=table.has("编码"),
                            seen=self.sheet_unit_codes, example="D-ZJ")
            if not name and table.has("名称"):
                self.add(loc, "unit 名称 is required", code="required", column="名称")
            if kind is None and table.has("类型"):
                self.add(loc, f"bad unit 类型 {kind_raw!r}: one of 部门/乡镇/街道/社区/"
                         "公共服务企业/办公室 (department/township/street/community/utility/"
                         "office)",
                         column="类型")
            if code and name and code not in self.sheet_unit_codes:
                self.sheet_unit_codes[code] = code
                self.sheet_unit_names.setdefault(name, code)
                self.units.append({"code": code, "name": name, "kind": kind,
                                   **self.extra(table, values, loc, {"code", "name", "kind"})})

    def read_areas(self, table: _Table) -> None:
        self.missing_columns(table, ("编码", "名称", "层级"))
        seen: set[str] = set()
        for n, values in table.rows:
            loc = table.loc(n)
            code = _text(table.cell(values, "编码"))
            name = _text(table.cell(values, "名称"))
            level_raw = _text(table.cell(values, "层级"))
            level = _AREA_LEVELS.get(level_raw.lower())
            parent = _text(table.cell(values, "上级编码")) or None
            unit_raw = _text(table.cell(values, "属地单位"))
            unit = self.unit(unit_raw, loc, "属地单位") if unit_raw else None
            if unit == TERRITORIAL:
                self.add(loc, "属地单位 must name a unit, not the role 属地", column="属地单位")
            self.check_code(loc, "area", code, present=table.has("编码"), seen=seen,
                            example="110199001")
            if not name and table.has("名称"):
                self.add(loc, "area 名称 is required", code="required", column="名称")
            if level is None and table.has("层级"):
                self.add(loc, f"bad area 层级 {level_raw!r}: one of 区/乡镇街道/社区村/网格 "
                         "(district/township/community/grid)", column="层级")
            if code and code not in seen:
                seen.add(code)
                if name:
                    self.area_names.setdefault(name, code)
                self.areas.append({"code": code, "name": name, "level": level,
                                   "parent": parent, "unit": unit,
                                   **self.extra(table, values, loc, _AREA_KEYS)})

    def read_categories(self, table: _Table) -> None:
        self.missing_columns(table, ("编码", "名称"))
        for n, values in table.rows:
            loc = table.loc(n)
            code = self.category_code(table.cell(values, "编码"), loc, "编码",
                                      required=table.has("编码"))
            name = _text(table.cell(values, "名称"))
            parent_cell = table.cell(values, "上级编码")
            parent = self.category_code(parent_cell, loc, "上级编码", required=False)
            dep_raw = _text(table.cell(values, "部门事项")).lower()
            departmental: bool | None = None
            if dep_raw in _YES:
                departmental = True
            elif dep_raw in _NO:
                departmental = False
            elif dep_raw:
                self.add(loc, f"bad 部门事项 {dep_raw!r}: 是 or 否 (or blank)", column="部门事项")
            default_raw = _text(table.cell(values, "默认单位"))
            default = self.unit(default_raw, loc, "默认单位") if default_raw else None
            if default == TERRITORIAL:
                self.add(loc, f"默认单位 must name a department, not 属地: {_POLICY_2025}",
                         code="policy_violation", column="默认单位")
            if not name and table.has("名称"):
                self.add(loc, "category 名称 is required", code="required", column="名称")
            intake = self.intake(table.cell(values, "受理类型"), loc)
            if code is None or not name:
                continue
            if code in self.categories:
                self.add(loc, f"duplicate category 编码 {code!r} (also in "
                         f"{self.category_origin[code]})", code="duplicate", column="编码")
                continue
            self.categories[code] = {
                "code": code, "name": name,
                "parent": parent if _text(parent_cell) else code[:-2] or None,
                **({"intake": intake} if intake else {}),
                **self.extra(table, values, loc, _CATEGORY_KEYS),
            }
            self.category_origin[code] = loc
            self.sheet_departmental[code] = departmental
            self.sheet_default[code] = default

    def intake(self, value: Any, loc: str) -> str | None:
        """The 受理类型 cell: blank (dispatched as usual), 不予受理, or 转110 / 转119 / 转120 /
        转122 (the bundle's ``intake`` codes are accepted too)."""
        raw = re.sub(r"[\s（(].*$", "", _text(value)).lower()
        if not raw:
            return None
        intake = _INTAKES.get(raw)
        if intake is None:
            self.add(loc, f"bad 受理类型 {_text(value)!r}: 不予受理, 转110, 转119, 转120, 转122 "
                     "(or blank)", column="受理类型")
        return intake

    def read_settings(self, table: _Table) -> None:
        self.missing_columns(table, SETTING_COLUMNS)
        settings: dict[str, Any] = {}
        for n, values in table.rows:
            loc = table.loc(n)
            key = _text(table.cell(values, "键"))
            value = table.cell(values, "值")
            if not key:
                self.add(loc, "setting 键 is required", code="required", column="键")
                continue
            if key in settings:
                self.add(loc, f"duplicate setting {key!r}", code="duplicate", column="键")
                continue
            settings[key] = _setting_value(value)
        if table.has("键"):
            self.settings = settings or None

    # ---- the 清单

    def read_rules(self, table: _Table) -> None:
        self.missing_columns(table, _RULE_REQUIRED)
        parsed = [self.read_rule(table, n, values) for n, values in table.rows]
        row_rules = [r for r in parsed if r is not None]
        first_seen: dict[str, int] = {}
        for r in row_rules:
            if not r.explicit_id:
                continue
            if r.explicit_id in first_seen:
                self.add(r.loc, f"duplicate 规则编号 {r.explicit_id!r} (first in row "
                         f"{first_seen[r.explicit_id]})", code="duplicate_id", column="规则编号")
            else:
                first_seen[r.explicit_id] = r.row
        used = set(first_seen)
        counters: dict[str, int] = {}
        for r in row_rules:
            rule_id = r.explicit_id
            if not rule_id:
                category = str(r.rule["category"])
                while True:
                    counters[category] = counters.get(category, 0) + 1
                    rule_id = f"DL-{category}-{counters[category]:02d}"
                    if rule_id not in used:
                        break
                used.add(rule_id)
            self.rules.append({"id": rule_id, **r.rule})

    def read_rule(self, table: _Table, n: int, values: Sequence[Any]) -> _RowRule | None:
        loc = table.loc(n)
        before = len(self.problems.problems)

        def cell(column: str) -> Any:
            return table.cell(values, column)

        explicit_id = _text(cell("规则编号"))
        if explicit_id and not _ID_RE.fullmatch(explicit_id):
            self.add(loc, f"bad 规则编号 {explicit_id!r}: letters, digits, _ . : - (at most 64), "
                     "e.g. JB-012; or leave it blank", code="invalid_id", column="规则编号")
        code = self.category_code(cell("事项编码"), loc, "事项编码",
                                  required=table.has("事项编码"))

        # category names per level of the code's prefixes
        for level, column in enumerate(_LEVEL_NAME_COLUMNS, start=1):
            name = _text(cell(column))
            if not name or code is None:
                continue
            if 2 * level > len(code):
                self.add(loc, f"{column} {name!r} is deeper than 事项编码 {code} (level "
                         f"{len(code) // 2}); leave it blank or use a longer code",
                         code="name_too_deep", column=column)
                continue
            self.define_category(code[: 2 * level], name, loc, column)

        duty_raw = re.sub(r"\s+", "", _text(cell("乡镇职责类型")))
        duty: str | None = None
        if duty_raw:
            duty = _DUTY_TYPES.get(duty_raw)
            if duty is None:
                self.add(loc, f"bad 乡镇职责类型 {duty_raw!r}: one of 基本 (基本履职), 配合 "
                         "(配合履职), 收回 (收回事项/上级收回) or blank",
                         code="invalid_duty_type", column="乡镇职责类型")

        lead_parts = _split(cell("牵头单位"), _LIST_SEP)
        lead: str | None = None
        lead_ok = True
        if len(lead_parts) > 1:
            self.add(loc, f"牵头单位 names {len(lead_parts)} units; name one and put the "
                     "others in 配合单位", column="牵头单位")
            lead_ok = False
        elif lead_parts:
            lead = self.unit(lead_parts[0], loc, "牵头单位")
            lead_ok = lead is not None
        co: list[str] = []
        for part in _split(cell("配合单位"), _LIST_SEP):
            resolved = self.unit(part, loc, "配合单位")
            if resolved is not None and resolved not in co:
                co.append(resolved)

        if duty == "basic":
            if lead_parts and lead_ok and lead != TERRITORIAL:
                self.add(loc, f"基本履职: the township leads, so 牵头单位 must be blank or "
                         f"属地/乡镇街道/属地街乡镇, not {lead_parts[0]!r}; use 配合 when a "
                         "department leads", column="牵头单位")
            lead = TERRITORIAL
        elif duty in ("assist", "reclaimed"):
            label = "配合履职" if duty == "assist" else "上级收回"
            if not lead_parts and table.has("牵头单位"):
                self.add(loc, f"{label}: 牵头单位 is required (the department that leads)",
                         code="required", column="牵头单位")
            elif not table.has("牵头单位"):
                self.add(loc, f"{label}: 牵头单位 is required but the column is missing",
                         code="required", column="牵头单位")
            elif lead == TERRITORIAL:
                self.add(loc, f"{label}: a department leads, so 牵头单位 cannot be 属地"
                         + ("; use 基本 when the township leads" if duty == "assist"
                            else f": {_POLICY_2025}"),
                         code="policy_violation" if duty == "reclaimed" else "invalid_value",
                         column="牵头单位")
            if duty == "assist":
                co = [TERRITORIAL, *(u for u in co if u != TERRITORIAL)]
            elif TERRITORIAL in co:
                self.add(loc, f"上级收回: 属地 cannot be a 配合单位 of a reclaimed matter: "
                         f"{_POLICY_2025}", code="policy_violation", column="配合单位")
        elif not lead_parts and not duty_raw:
            self.add(loc, "牵头单位 is required (a unit, or 属地) unless 乡镇职责类型 is 基本",
                     code="required", column="牵头单位")
        if lead is not None and lead in co:
            self.add(loc, f"牵头单位 {lead} is also listed in 配合单位", column="配合单位")

        area_raw = _text(cell("适用区域"))
        area = self.area_names.get(area_raw, area_raw) or None
        if area is not None and not _ID_RE.fullmatch(area):
            self.add(loc, f"bad 适用区域 {area_raw!r}: an area code (blank = whole district)",
                     column="适用区域")

        when = self.conditions(cell("条件"), loc)
        text_any = self.keywords(cell("关键词"), loc)

        basis = _text(cell("依据"))
        if not basis and table.has("依据"):
            self.add(loc, "依据 is required: the law article, list item or minutes number "
                     "that justifies the rule", code="required", column="依据")

        valid_from = self.date(cell("生效日期"), loc, "生效日期", required=table.has("生效日期"))
        valid_to = self.date(cell("失效日期"), loc, "失效日期", required=False)
        if (isinstance(valid_from, datetime) and isinstance(valid_to, datetime)
                and valid_to <= valid_from):
            self.add(loc, f"失效日期 {_iso(valid_to)} must be after 生效日期 "
                     f"{_iso(valid_from)}", code="invalid_range", column="失效日期")

        priority = self.priority(cell("优先级"), loc)
        source_raw = _text(cell("来源"))
        source = _SOURCES.get(source_raw.lower(), None) if source_raw else "catalog"
        if source is None:
            self.add(loc, f"bad 来源 {source_raw!r}: catalog (目录), ruling (裁定) or manual "
                     "(手工), blank = catalog", column="来源")
        extra = self.extra(table, values, loc, _RULE_KEYS)

        if code is not None:
            leaf = self.leaves.setdefault(code, _Leaf())
            if duty == "reclaimed" and leaf.reclaimed_loc is None and lead not in (
                    None, TERRITORIAL):
                leaf.reclaimed_loc = loc
        if len(self.problems.problems) > before or code is None:
            return None
        row_rule = _RowRule(n, loc, explicit_id, {
            "category": code, "area": area, "when": when, "text_any": text_any,
            "lead": lead, "co_handlers": co, "basis": basis, "source": source,
            "priority": priority,
            "valid_from": _iso(valid_from) if isinstance(valid_from, datetime) else None,
            "valid_to": _iso(valid_to) if isinstance(valid_to, datetime) else None,
            **extra,
        })
        self.leaves[code].rows.append((loc, duty, row_rule.rule))
        return row_rule

    def conditions(self, value: Any, loc: str) -> dict[str, Any]:
        raw = _text(value)
        if not raw:
            return {}
        hint = ("write key=value or key=v1|v2, several separated by ; where key is an attribute "
                "name in letters, digits and _ (e.g. location_type=residential_compound|"
                "public_road; floor=high)")
        if raw.startswith("{"):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and all(
                    _ATTRIBUTE_RE.fullmatch(str(k)) and _is_condition_value(v)
                    for k, v in parsed.items()):
                return parsed
            self.add(loc, f"malformed 条件 {raw!r}: a JSON 条件 must be an object of values or "
                     f"non-empty lists; or {hint}", code="invalid_condition", column="条件")
            return {}
        when: dict[str, Any] = {}
        for part in _split(raw, _COND_SEP):
            key, sep, rest = part.replace("＝", "=").partition("=")
            key = key.strip()
            alternatives = [v.strip() for v in _ALT_SEP.split(rest)]
            if (not sep or not _ATTRIBUTE_RE.fullmatch(key) or "=" in rest
                    or not all(alternatives)):
                self.add(loc, f"malformed 条件 {part!r}: {hint}",
                         code="invalid_condition", column="条件")
                continue
            if key in when:
                self.add(loc, f"条件 {key!r} is given twice; list the values as "
                         f"{key}=v1|v2", code="invalid_condition", column="条件")
                continue
            when[key] = alternatives[0] if len(alternatives) == 1 else alternatives
        return when

    def keywords(self, value: Any, loc: str) -> list[str]:
        raw = _text(value)
        if raw.startswith("["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(v, str) and v for v in parsed):
                return parsed
            self.add(loc, "关键词 as JSON must be a list of non-empty strings; or separate "
                     "keywords with 、 or ,", column="关键词")
            return []
        return _split(raw, _LIST_SEP)

    def date(self, value: Any, loc: str, column: str, *, required: bool) -> datetime | str | None:
        """An aware datetime; ``"open"`` for an explicit 不限/长期; None when blank or bad."""
        text = _text(value)
        if not text:
            if required:
                self.add(loc, f"{column} is required: a date such as 2026-01-01 (write 不限 "
                         "for no start date)", code="required", column=column)
            return None
        if text in (_OPEN_FROM if column == "生效日期" else _OPEN_TO):
            return "open"
        moment = _parse_datetime(value)
        if moment is None:
            self.add(loc, f"bad {column} {text!r}: an Excel date, or 2026-01-01, 2026/1/1, "
                     "2026-01-01 08:00 or ISO 8601 such as 2026-01-01T00:00:00+08:00",
                     code="invalid_date", column=column)
            return None
        if isinstance(value, datetime | int | float):
            moment = _round_excel(moment)
        return moment

    def priority(self, value: Any, loc: str) -> int:
        if _is_blank(value):
            return 0
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = _text(value)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        self.add(loc, f"bad 优先级 {text!r}: a whole number (higher wins; blank = 0)",
                 code="invalid_priority", column="优先级")
        return 0

    # ---- finish

    def finish_categories(self) -> None:
        """Write each category's departmental flag and default unit.

        国办函〔2025〕66号 §五 (不得分派给基层): a category whose rows make a department or a
        utility the lead (收回, 配合, 三定 and utility rows) is marked departmental, with that
        unit as ``default_unit`` (see :meth:`department_rows`; several units: the row
        :func:`rules.departmental.preference` puts first, the district-wide, unconditional,
        open-ended one). Not when a row on the category's path or below it makes 属地 or a
        township the lead: a mark would make that row lose, so the category stays unmarked and
        routing sends its gaps to the department by derivation. The 分类 sheet's 部门事项 and
        默认单位 win over the rows. Every decision is told in :attr:`notes`.
        """
        territorial = self.territorial_paths()
        for code, leaf in self.leaves.items():
            category = self.categories.get(code)
            if category is None:
                if leaf.reclaimed_loc is not None:
                    self.add(leaf.reclaimed_loc, f"上级收回 marks category {code} departmental, "
                             "so name it (一级/二级/三级分类) or list it in the 分类 sheet",
                             code="required", column="三级分类")
                continue
            sheet_dep = self.sheet_departmental.get(code)
            reclaimed = leaf.reclaimed_loc is not None
            if sheet_dep is False and reclaimed and leaf.reclaimed_loc:
                self.add(leaf.reclaimed_loc, f"上级收回 conflicts with 分类 sheet "
                         f"({self.category_origin[code]}) saying 部门事项=否 for {code}",
                         code="conflict", column="乡镇职责类型")
            led = self.department_rows(leaf)
            chosen = led[0] if led else None
            mixed = code in territorial
            if sheet_dep is not None:
                departmental = sheet_dep
            else:
                departmental = reclaimed or (chosen is not None and not mixed)
            default = self.sheet_default.get(code)
            if departmental and default is None and chosen is not None:
                default = chosen[2]["lead"]
            category["departmental"] = departmental
            category["default_unit"] = default if departmental else self.sheet_default.get(code)
            self.note_departmental(code, category, led, departmental, sheet_dep, mixed)
        for code, dep in self.sheet_departmental.items():
            if code in self.leaves:
                continue
            default = self.sheet_default.get(code)
            if dep is not None or default is not None:
                self.categories[code]["departmental"] = bool(dep)
                self.categories[code]["default_unit"] = default

    def unit_kind(self, code: str) -> str | None:
        for unit in self.units:
            if unit["code"] == code and unit.get("kind"):
                return str(unit["kind"])
        return self.known_kinds.get(code)

    def unit_name(self, code: str) -> str:
        for unit in self.units:
            if unit["code"] == code and unit.get("name"):
                return str(unit["name"])
        return next((name for name, c in self.known.items() if c == code and name != code),
                    code)

    def department_rows(self, leaf: _Leaf) -> list[tuple[str, str | None, dict[str, Any]]]:
        """The category's rows whose lead is a department or utility, best first: the unit's
        kind from the 单位 sheet or the database; a unit of unknown kind on a 收回 or 配合 row
        is a department by the list's definition."""
        led = []
        for row in leaf.rows:
            lead = row[2]["lead"]
            if lead is None or lead == TERRITORIAL:
                continue
            kind = self.unit_kind(lead)
            if kind in _DEPARTMENT_KINDS or (kind is None and row[1] in ("assist", "reclaimed")):
                led.append(row)
        return sorted(led, key=_row_preference)

    def territorial_paths(self) -> set[str]:
        """Codes whose path or subtree holds a row led by 属地 or a township-level unit."""
        marked: set[str] = set()
        led = [code for code, leaf in self.leaves.items()
               if any(row[2]["lead"] == TERRITORIAL
                      or self.unit_kind(str(row[2]["lead"])) in _TERRITORIAL_KINDS
                      for row in leaf.rows)]
        for code in led:
            marked.update(self.category_chain(code))  # the code and its ancestors
        for code in self.leaves:
            if any(c in led for c in self.category_chain(code)):  # below such a row
                marked.add(code)
        return marked

    def category_chain(self, code: str) -> list[str]:
        chain: list[str] = []
        current: str | None = code
        while current is not None and current not in chain:
            chain.append(current)
            parent = self.categories.get(current, {}).get("parent")
            current = str(parent) if parent else None
        return chain

    def note_departmental(self, code: str, category: Mapping[str, Any],
                          led: Sequence[tuple[str, str | None, dict[str, Any]]],
                          departmental: bool, sheet_dep: bool | None, mixed: bool) -> None:
        name = f"类别 {code}（{category['name']}）"
        if not led:
            return
        loc, duty, rule = led[0]
        unit = self.unit_name(str(rule["lead"]))
        row = f"{loc}{'，' + _DUTY_LABELS[duty] if duty else ''}"
        others = list(dict.fromkeys(self.unit_name(str(r[2]["lead"])) for r in led))
        choice = (f"；各行牵头单位不同（{'、'.join(others)}），按全区、无条件、长期有效的行取 "
                  f"{unit}" if len(others) > 1 else "")
        if departmental and category.get("default_unit") == rule["lead"]:
            self.notes.append(f"{name} 标记为部门事项，兜底单位 {unit}（依据 {row}）{choice}")
        elif departmental:
            self.notes.append(f"{name} 为部门事项，兜底单位按分类表为 "
                              f"{self.unit_name(str(category.get('default_unit')))}")
        elif sheet_dep is False:
            self.notes.append(f"{name} 在分类表标为非部门事项，但 {row} 由 {unit} 主办："
                              f"无规则适用时仍由 {unit} 兜底，不派给属地（{_POLICY_CN}）")
        elif mixed:
            self.notes.append(f"{name} 另有属地主办的行，未标记为部门事项（标记会使其失效）；"
                              f"无规则适用时由 {unit} 兜底（依据 {row}），"
                              f"不派给属地（{_POLICY_CN}）")

    def bundle(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "units": self.units,
            "areas": self.areas,
            "categories": list(self.categories.values()),
            "rules": self.rules,
        }
        if self.settings is not None:
            result["settings"] = self.settings
        return result


def _row_preference(row: tuple[str, str | None, dict[str, Any]]) -> tuple[Any, ...]:
    """Which department-led row names a category's default unit (rules.departmental.preference;
    rows that tie keep their order in the list)."""
    rule = row[2]
    start, end = rule.get("valid_from"), rule.get("valid_to")
    return preference(0 if rule.get("area") is None else 1,
                      len(rule.get("when") or {}) + (1 if rule.get("text_any") else 0),
                      datetime.fromisoformat(start) if start else None,
                      datetime.fromisoformat(end) if end else None,
                      1 if rule.get("source") == "ruling" else 0, int(rule.get("priority") or 0),
                      "")


def _is_condition_value(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str | int | float | bool) for v in value)
    return isinstance(value, str | int | float | bool)


def _setting_value(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
    if isinstance(value, datetime):
        return _iso(_parse_datetime(value) or value)
    return value


def read_duty_list(path: str | Path, *,
                   known_units: Mapping[str, str] | None = None,
                   unit_kinds: Mapping[str, str] | None = None,
                   notes: list[str] | None = None) -> dict[str, Any]:
    """Read a duty list (.xlsx workbook or .csv of the 清单 columns) into a bundle fragment
    with ``units``, ``areas``, ``categories``, ``rules`` (and ``settings`` when the workbook has
    a 设置 sheet with entries).

    ``known_units`` maps the names and codes of units already in the database to their codes;
    units of the workbook's own 单位 sheet are known too. Anything else named as a unit is a
    problem. ``unit_kinds`` maps the codes of those units to their kind (``department``,
    ``street`` …), so a row led by a department or utility marks its category departmental
    (国办函〔2025〕66号 §五; see ``_Reader.finish_categories``). Each such decision is appended to
    ``notes`` (Chinese, for the import report), e.g.
    ``类别 040201（小区停水） 标记为部门事项，兜底单位 区水务局（依据 清单!17）``.
    Raises :class:`BundleInvalid` carrying every problem found; nothing partial is returned.
    """
    path = Path(path)
    reader = _Reader(known_units, unit_kinds)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = _load_csv(path, reader.problems)
        if raw is not None:
            reader.read_rules(_checked_table(reader, path.name, True, raw, "事项编码",
                                             ACCEPTED_HEADERS[RULES_SHEET]))
    elif suffix in (".xlsx", ".xlsm"):
        try:
            sheets = _load_xlsx(path)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            reader.add(f"{path.name}:1", f"not a readable .xlsx workbook: {exc}",
                       code="invalid_file")
            sheets = {}
        else:
            _read_workbook(reader, sheets, path.name)
    else:
        reader.add(f"{path.name}:1", f"unsupported file type {suffix or '(none)'!r}: a duty "
                   "list is .xlsx or .csv", code="invalid_file")
    if not reader.problems:
        reader.finish_categories()
    reader.problems.raise_if_any(f"duty list {path.name}")
    if notes is not None:
        notes.extend(reader.notes)
    return reader.bundle()


def _read_workbook(reader: _Reader, sheets: dict[str, list[list[Any]]], name: str) -> None:
    optional = {UNITS_SHEET: ("编码", reader.read_units), AREAS_SHEET: ("编码", reader.read_areas),
                CATEGORIES_SHEET: ("编码", reader.read_categories),
                SETTINGS_SHEET: ("键", reader.read_settings)}
    for sheet, (anchor, read) in optional.items():
        if sheet in sheets:
            read(_checked_table(reader, sheet, False, sheets[sheet], anchor,
                                ACCEPTED_HEADERS[sheet]))
    main = RULES_SHEET if RULES_SHEET in sheets else None
    if main is None:
        # A list saved under another sheet name (Sheet1, 基本履职清单 …): the first sheet whose
        # header names 事项编码.
        main = next((s for s, rows in sheets.items() if s not in optional and any(
            "事项编码" in {_norm_header(v) for v in r} for r in rows[:10])), None)
    if main is not None:
        reader.read_rules(_checked_table(reader, main, False, sheets[main], "事项编码",
                                         ACCEPTED_HEADERS[RULES_SHEET]))
    elif not any(sheet in sheets for sheet in optional):
        reader.add(f"{name}:1", f"no {RULES_SHEET} sheet: the rules go in a sheet named "
                   f"{RULES_SHEET} with a header row naming 事项编码", code="missing_sheet")


# --------------------------------------------------------------------------- writing


_HEADER_FONT: Final = Font(bold=True, color="FFFFFF")
_HEADER_FILL: Final = PatternFill("solid", fgColor="1F4E78")
_REQUIRED_FILL: Final = PatternFill("solid", fgColor="C00000")
_WIDTHS: Final = {
    "规则编号": 16, "事项编码": 11, "一级分类": 14, "二级分类": 16, "三级分类": 22,
    "乡镇职责类型": 13, "牵头单位": 24, "配合单位": 36, "适用区域": 12, "条件": 36,
    "关键词": 24, "依据": 48, "生效日期": 13, "失效日期": 13, "优先级": 8, "来源": 10,
    "编码": 12, "名称": 28, "类型": 14, "层级": 12, "上级编码": 12, "属地单位": 24,
    "部门事项": 10, "默认单位": 24, "受理类型": 10, "键": 20, "值": 40, EXTRA: 30,
}
_NOTES: Final = {
    "规则编号": "Rule id. Blank: derived as DL-<事项编码>-NN.",
    "事项编码": "Required. Category code: 2, 4 or 6 digits (03, 0301, 030101).",
    "乡镇职责类型": "基本 (township leads) / 配合 (department leads, township assists) / "
                    "收回 (department only) / blank.",
    "牵头单位": "Lead unit: code or full name; 属地 = territorial unit. Blank for 基本.",
    "配合单位": "Co-handlers, separated by 、 ， ; or new lines.",
    "适用区域": "Area code; blank = whole district.",
    "条件": "key=value or key=v1|v2; several separated by ;",
    "关键词": "Ticket text contains any of these; separated by 、 or ,",
    "依据": "Required. Law article, list item or minutes number.",
    "生效日期": "Required. 2026-01-01 (Asia/Shanghai); 不限 = no start.",
    "失效日期": "Optional, exclusive. Blank = open.",
    "优先级": "Whole number, higher wins. Blank = 0.",
    "来源": "catalog / ruling / manual. Blank = catalog.",
}
_TEXT_COLUMNS: Final = frozenset({"规则编号", "事项编码", "适用区域", "编码", "上级编码", "键"})


def write_duty_list(bundle: Mapping[str, Any], path: str | Path) -> None:
    """Write ``bundle`` as a duty-list workbook (.xlsx: sheets 清单, 分类, 单位, 区域, 设置)
    that :func:`read_duty_list` reads back to an equivalent bundle, or as a .csv of the
    清单 columns only (UTF-8 with BOM, so Excel opens it; units, areas, category flags and
    settings are not kept)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv"):
        raise InvalidInput(f"a duty list is written as .xlsx or .csv, not {suffix or '(none)'}",
                           code="invalid_file", path=str(path))
    names = _unit_labels(bundle.get("units") or [])
    categories = {str(c.get("code")): c for c in bundle.get("categories") or []}
    rules = list(bundle.get("rules") or [])
    rule_rows = [_rule_row(rule, categories, names) for rule in rules]
    rule_columns = list(RULE_COLUMNS)
    if any(row.get(EXTRA) for row in rule_rows):
        rule_columns.append(EXTRA)
    if suffix == ".csv":
        _write_csv(path, rule_columns, rule_rows)
        return

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = RULES_SHEET
    _fill(sheet, rule_columns, rule_rows, required=_RULE_REQUIRED)
    _validate_list(sheet, rule_columns, "乡镇职责类型", list(_DUTY_LABELS.values()))
    _validate_list(sheet, rule_columns, "来源", ["catalog", "ruling", "manual"])

    category_rows = [{
        "编码": c.get("code"), "名称": c.get("name"), "上级编码": c.get("parent"),
        "部门事项": None if "departmental" not in c else ("是" if c["departmental"] else "否"),
        "默认单位": c.get("default_unit"),
        "受理类型": _INTAKE_LABELS.get(str(c.get("intake")), c.get("intake")),
        EXTRA: _extra(c, _CATEGORY_KEYS),
    } for c in bundle.get("categories") or []]
    _fill(workbook.create_sheet(CATEGORIES_SHEET), _columns(CATEGORY_COLUMNS, category_rows),
          category_rows, required=("编码", "名称"))
    _validate_list(workbook[CATEGORIES_SHEET], CATEGORY_COLUMNS, "部门事项", ["是", "否"])
    _validate_list(workbook[CATEGORIES_SHEET], CATEGORY_COLUMNS, "受理类型",
                   list(_INTAKE_LABELS.values()))

    unit_rows = [{
        "编码": u.get("code"), "名称": u.get("name"),
        "类型": _UNIT_KIND_LABELS.get(str(u.get("kind")), u.get("kind")),
        EXTRA: _extra(u, {"code", "name", "kind"}),
    } for u in bundle.get("units") or []]
    _fill(workbook.create_sheet(UNITS_SHEET), _columns(UNIT_COLUMNS, unit_rows), unit_rows,
          required=UNIT_COLUMNS)
    _validate_list(workbook[UNITS_SHEET], UNIT_COLUMNS, "类型", list(_UNIT_KIND_LABELS.values()))

    area_rows = [{
        "编码": a.get("code"), "名称": a.get("name"),
        "层级": _AREA_LEVEL_LABELS.get(str(a.get("level")), a.get("level")),
        "上级编码": a.get("parent"), "属地单位": a.get("unit"),
        EXTRA: _extra(a, _AREA_KEYS),
    } for a in bundle.get("areas") or []]
    _fill(workbook.create_sheet(AREAS_SHEET), _columns(AREA_COLUMNS, area_rows), area_rows,
          required=("编码", "名称", "层级"))
    _validate_list(workbook[AREAS_SHEET], AREA_COLUMNS, "层级",
                   list(_AREA_LEVEL_LABELS.values()))

    setting_rows = [{"键": k, "值": _setting_cell(v)}
                    for k, v in (bundle.get("settings") or {}).items()]
    _fill(workbook.create_sheet(SETTINGS_SHEET), list(SETTING_COLUMNS), setting_rows,
          required=SETTING_COLUMNS)
    workbook.save(path)


def _unit_labels(units: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Unit code → the label written in 牵头单位/配合单位: the unit's name where that name
    is unique and is nobody's code (so it reads back to the same code), else the code."""
    units = list(units)
    codes = {str(u.get("code")) for u in units}
    counts: dict[str, int] = {}
    for u in units:
        name = str(u.get("name") or "")
        counts[name] = counts.get(name, 0) + 1
    labels = {TERRITORIAL: "属地"}
    for u in units:
        code, name = str(u.get("code")), str(u.get("name") or "")
        ok = name and counts[name] == 1 and name not in codes and name not in _TERRITORIAL_WORDS
        ok = ok and not _LIST_SEP.search(name)
        labels[code] = name if ok else code
    return labels


def _rule_row(rule: Mapping[str, Any], categories: Mapping[str, Mapping[str, Any]],
              names: Mapping[str, str]) -> dict[str, Any]:
    code = str(rule.get("category") or "")
    lead = rule.get("lead")
    co = [str(u) for u in rule.get("co_handlers") or []]
    category = categories.get(code, {})
    duty: str | None
    lead_cell: Any
    co_cell: list[str]
    if lead == TERRITORIAL:
        duty, lead_cell, co_cell = "基本", "属地", co
    elif co[:1] == [TERRITORIAL]:
        duty, lead_cell, co_cell = "配合", lead, co[1:]
    elif (category.get("departmental") and lead is not None
          and TERRITORIAL not in co):
        duty, lead_cell, co_cell = "收回", lead, co
    else:
        duty, lead_cell, co_cell = None, lead, co
    row: dict[str, Any] = {
        "规则编号": rule.get("id"), "事项编码": code, "乡镇职责类型": duty,
        "牵头单位": names.get(str(lead_cell), lead_cell) if lead_cell else None,
        "配合单位": "、".join(names.get(u, u) for u in co_cell) or None,
        "适用区域": rule.get("area"),
        "条件": _conditions_cell(rule.get("when") or {}),
        "关键词": _keywords_cell(rule.get("text_any") or []),
        "依据": rule.get("basis"),
        "生效日期": _date_cell(rule.get("valid_from"), open_word="不限"),
        "失效日期": _date_cell(rule.get("valid_to"), open_word=None),
        "优先级": rule.get("priority", 0),
        "来源": rule.get("source") or "catalog",
        EXTRA: _extra(rule, _RULE_KEYS),
    }
    for level, column in enumerate(_LEVEL_NAME_COLUMNS, start=1):
        prefix = code[: 2 * level]
        if len(code) >= 2 * level and prefix in categories:
            row[column] = categories[prefix].get("name")
    return row


def _conditions_cell(when: Mapping[str, Any]) -> str | None:
    if not when:
        return None

    def plain(text: Any) -> bool:
        return (isinstance(text, str) and bool(text) and text == text.strip()
                and not _COND_SPECIAL.search(text))

    simple = all(plain(k) and not str(k).startswith("{") and (
        plain(v) or (isinstance(v, list) and len(v) > 1 and all(map(plain, v))))
        for k, v in when.items())
    if not simple:
        return json.dumps(dict(when), ensure_ascii=False)
    return "; ".join(f"{k}={'|'.join(v) if isinstance(v, list) else v}"
                     for k, v in when.items())


def _keywords_cell(text_any: Sequence[Any]) -> str | None:
    if not text_any:
        return None
    if all(isinstance(t, str) and t and t == t.strip() and not _LIST_SEP.search(t)
           for t in text_any) and not str(text_any[0]).startswith("["):
        return "、".join(text_any)
    return json.dumps(list(text_any), ensure_ascii=False)


def _date_cell(value: Any, *, open_word: str | None) -> Any:
    """A date in Asia/Shanghai without sub-millisecond parts becomes an Excel date cell; any
    other time zone stays an ISO 8601 string so that nothing is lost."""
    if value is None or value == "":
        return open_word
    moment = _parse_datetime(value)
    if moment is None:
        return value
    if moment.utcoffset() != timedelta(hours=8) or moment.microsecond:
        return _iso(moment)
    return moment.replace(tzinfo=None)


def _setting_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("[", "{"):
        return json.dumps(value, ensure_ascii=False)  # so it does not read back as JSON
    return value


def _extra(item: Mapping[str, Any], known: Iterable[str]) -> str | None:
    rest = {k: v for k, v in item.items() if k not in set(known)}
    return json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else None


def _columns(base: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [*base, EXTRA] if any(r.get(EXTRA) for r in rows) else list(base)


def _fill(sheet: Any, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
          required: Sequence[str] = ()) -> None:
    sheet.append(list(columns))
    for j, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=j)
        cell.font = _HEADER_FONT
        cell.fill = _REQUIRED_FILL if column in required else _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if column in _NOTES and sheet.title == RULES_SHEET:
            cell.comment = Comment(_NOTES[column], "quanze")
        sheet.column_dimensions[get_column_letter(j)].width = _WIDTHS.get(column, 14)
    for i, row in enumerate(rows, start=2):
        for j, column in enumerate(columns, start=1):
            value = row.get(column)
            cell = sheet.cell(row=i, column=j, value=value)
            if column in _TEXT_COLUMNS:
                cell.number_format = "@"
            elif isinstance(value, datetime):
                cell.number_format = ("yyyy-mm-dd" if value.time() == time()
                                      else "yyyy-mm-dd hh:mm:ss" if value.second
                                      or value.microsecond else "yyyy-mm-dd hh:mm")
            if column in ("配合单位", "条件", "依据"):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows) + 1, 2)}"


def _validate_list(sheet: Any, columns: Sequence[str], column: str,
                   allowed: Sequence[str]) -> None:
    if column not in columns:
        return
    letter = get_column_letter(list(columns).index(column) + 1)
    validation = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"',
                                allow_blank=True, showErrorMessage=True,
                                errorTitle=f"{column}", error="请选择: " + " / ".join(allowed))
    validation.add(f"{letter}2:{letter}{max(sheet.max_row, 1) + 1000}")
    sheet.add_data_validation(validation)


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    path.write_text(buffer.getvalue(), encoding="utf-8-sig", newline="")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time():
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M" if not value.second else "%Y-%m-%d %H:%M:%S")
    return str(value)

