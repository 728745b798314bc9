"""统计 beyond the tables: the Excel download (page and API), the weekly trend against the raw
events, and the charts' data carried as JSON for the static script."""

from __future__ import annotations

import html
import io
import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from api.spreadsheet import FORMULA_ROW
from arbitration.tables import disputes, ticket_events
from tests.pages.conftest import Workbench
from tests.pages.test_read_pages import api_of

#: the sheets of the page's workbook and a header each must carry
SHEETS = {"全区汇总": "接收工单数", "各单位指标": "单位名称", "每周趋势": "周次",
          "热点": "甲方名称", "指标口径": "计算公式"}


def _xlsx(content: bytes) -> Any:
    return load_workbook(io.BytesIO(content), read_only=True)


def _rows(sheet: Any) -> list[list[Any]]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_the_statistics_page_links_an_excel_workbook_of_every_table(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    page = browser.get("/statistics").text
    link = re.search(r'href="(/statistics\.xlsx\?[^"]+)"', page)
    assert link, "the page offers no Excel download"
    response = browser.get(html.unescape(link.group(1)))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="quanze-statistics-2026-10-28-2026-11-27.xlsx"' in \
        response.headers["content-disposition"]
    book = _xlsx(response.content)
    assert book.sheetnames == list(SHEETS)
    for name, header in SHEETS.items():
        rows = _rows(book[name])
        assert header in rows[0], (name, rows[0])
    units = _rows(book["各单位指标"])
    header, formulas, first = units[0], units[1], units[2]
    assert formulas[0] == FORMULA_ROW
    assert formulas[header.index("一次派准率")] == "一次派准工单数 ÷ 首接工单数"
    # rates are numbers in [0, 1] that Excel shows as percentages, not text
    rate = first[header.index("退单率")]
    assert rate is None or 0 <= rate <= 1
    api = api_of(workbench).get("/v1/stats/units", params={
        "from": "2026-10-28", "to": "2026-11-27"}).json()["units"]
    busiest = max(api, key=lambda u: (u["tickets_received"], [-ord(c) for c in u["unit"]]))
    assert first[header.index("单位代码")] == busiest["unit"]
    assert first[header.index("接收工单数")] == busiest["tickets_received"]


def test_the_excel_download_needs_a_session_and_refuses_a_bad_date(
        workbench: Workbench) -> None:
    assert workbench.browser().get("/statistics.xlsx").status_code == 303
    response = workbench.signed_in("wangmin").get("/statistics.xlsx", params={"from": "2026-13-01"})
    assert response.status_code == 422 and "日期" in response.text


@pytest.mark.parametrize(("path", "sheet", "header"), [
    ("/v1/stats/units", "各单位指标", "一次派准率"),
    ("/v1/stats/summary", "全区汇总", "裁定数（本期）"),
    ("/v1/stats/hotspots", "热点", "类别"),
    ("/v1/stats/trends", "每周趋势", "周次"),
])
def test_each_statistics_endpoint_answers_in_excel_too(
        workbench: Workbench, path: str, sheet: str, header: str) -> None:
    response = api_of(workbench).get(path, params={"format": "xlsx"})
    assert response.status_code == 200, response.text
    book = _xlsx(response.content)
    assert book.sheetnames[0] == sheet and header in _rows(book[sheet])[0]


def test_an_unknown_statistics_format_is_refused_naming_the_field(
        workbench: Workbench) -> None:
    response = api_of(workbench).get("/v1/stats/units", params={"format": "ods"})
    assert response.status_code == 422 and "format" in response.text


def _at(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_the_weekly_trend_matches_the_raw_events_week_by_week(workbench: Workbench) -> None:
    body = api_of(workbench).get("/v1/stats/trends", params={
        "from": "2026-10-01", "to": "2026-11-27"}).json()
    weeks = body["weeks"]
    assert [w["week"] for w in weeks][:2] == ["2026-W40", "2026-W41"]
    assert weeks[0]["from"].startswith("2026-10-01T00:00:00+08:00")  # cut to the period
    assert weeks[1]["from"].startswith("2026-10-05T00:00:00+08:00")  # a Monday
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.connect() as conn:
        events = conn.execute(select(ticket_events.c.ticket_id, ticket_events.c.seq,
                                     ticket_events.c.type, ticket_events.c.at)
                              .order_by(ticket_events.c.ticket_id,
                                        ticket_events.c.seq)).all()
        opened = [r.opened_at for r in conn.execute(select(disputes.c.opened_at))]
    by_ticket: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_ticket[e.ticket_id].append(e)
    dispatch = ("dispatched", "reassigned")
    seen_any = False
    for w in weeks:
        start, end = _at(w["from"]), _at(w["to"])
        received = {t for t, evs in by_ticket.items()
                    if any(e.type in dispatch and start <= _at(e.at) < end for e in evs)}
        first = stood = 0
        for evs in by_ticket.values():
            dispatches = [e for e in evs if e.type in dispatch]
            closed = any(e.type == "closed_out_of_scope" for e in evs)
            if not dispatches or closed or not start <= _at(dispatches[0].at) < end:
                continue
            first += 1
            stood += len(dispatches) == 1 and not any(e.type == "return_upheld" for e in evs)
        assert w["tickets_received"] == len(received), w["week"]
        assert w["first_receipts"] == first and w["first_dispatch_stood"] == stood, w["week"]
        assert w["first_dispatch_accuracy"] == (round(stood / first, 4) if first else None)
        assert w["disputes"] == sum(start <= _at(o) < end for o in opened), w["week"]
        seen_any = seen_any or bool(received)
    assert seen_any, "the demo's history has no ticket in the period: the test proves nothing"


def test_a_period_longer_than_two_years_is_refused_for_the_trend(workbench: Workbench) -> None:
    response = workbench.signed_in("wangmin").get(
        "/statistics", params={"from": "2020-01-01", "to": "2026-11-26"})
    assert response.status_code == 422 and 'id="e-from"' in response.text


def test_the_charts_data_travels_as_json_and_no_script_is_inline(
        workbench: Workbench) -> None:
    page = workbench.signed_in("wangmin").get("/statistics").text
    found = re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', page,
                      re.S)
    assert found
    data = json.loads(found.group(1))
    assert [r["name"] for r in data["rates"]] == ["一次派准率", "退单率", "争议率"]
    assert data["units"] and data["weeks"] and data["weeks"][-1]["week"] == "2026-W48"
    assert all(0 <= (u["return_rate"] or 0) <= 1 for u in data["units"])
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts)
    assert '<script src="/static/vendor/echarts/echarts.min.js">' in page
    assert "每周趋势" in page and "计算公式" in page
