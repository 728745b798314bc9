"""Statistics as an Excel workbook (.xlsx): one sheet per table, Chinese headers, and under
the header a row of each figure's formula in words (一次派准工单数 ÷ 首接工单数), so that a
sheet forwarded on its own still says how its rates were made. Rates are numbers formatted
as percentages (Excel can sum and chart them), not text.

The one module of the API that writes workbooks; reading duty lists is :mod:`rules.dutylist`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from arbitration import statistics

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: the label of the formulas' row, in the first column
FORMULA_ROW = "计算公式"
_HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")
_PERCENT_KEYS = frozenset(statistics.RATE_FORMULAS)


@dataclass(frozen=True)
class Sheet:
    """One table: its sheet name (at most 31 characters), its columns (key, Chinese header)
    and its rows (mappings by key)."""

    title: str
    columns: Sequence[tuple[str, str]]
    rows: Sequence[Mapping[str, Any]]


def _value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return value
    return str(value)


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """The sheets as an .xlsx file: row 1 the headers, row 2 the formulas (first cell
    ``计算公式``; a column without a formula is empty), then the rows."""
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title[:31])
        keys = [key for key, _ in sheet.columns]
        ws.append([header for _, header in sheet.columns])
        ws.append([statistics.formula_text(key) or (FORMULA_ROW if i == 0 else None)
                   for i, key in enumerate(keys)])
        for row in sheet.rows:
            ws.append([_value(key, row.get(key)) for key in keys])
        for i, key in enumerate(keys, start=1):
            letter = get_column_letter(i)
            ws.cell(1, i).font = Font(bold=True)
            ws.cell(1, i).fill = _HEADER_FILL
            ws.cell(2, i).font = Font(italic=True, color="555555")
            ws.cell(2, i).alignment = Alignment(wrap_text=True, vertical="top")
            width = max(len(str(ws.cell(1, i).value or "")) * 2 + 2, 10)
            ws.column_dimensions[letter].width = min(width, 40)
            if key in _PERCENT_KEYS:
                for (cell,) in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                    cell.number_format = "0.0%"
        ws.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


#: the columns of the formulas' sheet
FORMULA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("label", "指标"), ("formula", "计算公式"), ("description", "口径说明"))


def formulas_sheet() -> Sheet:
    rows = [{"label": f.label, "formula": statistics.formula_text(key),
             "description": f.text}
            for key, f in (statistics.RATE_FORMULAS | statistics.AVERAGE_FORMULAS).items()]
    return Sheet("指标口径", FORMULA_COLUMNS, rows)


def file_name(what: str, period: statistics.Period, suffix: str = "xlsx") -> str:
    return f"quanze-{what}-{period.start.date()}-{period.end.date()}.{suffix}"


__all__ = ["FORMULA_ROW", "MEDIA_TYPE", "Sheet", "file_name", "formulas_sheet", "to_xlsx"]
