"""统计: dispatch quality as the API serves it (``/v1/stats``) — the district's figures,
rates by unit with their formulas, trends by ISO week, hotspots as 每月一题 candidates, and
downloads as CSV (the API's) and Excel (``/statistics.xlsx``, every table a sheet). The
period defaults to the last 30 days; on the page both dates are included (the API's ``to``
is exclusive: the page adds a day).

The charts are drawn in the browser by the vendored ECharts (static/vendor/echarts) from the
figures the page carries as JSON (``<script type="application/json" id="stats-data">``) and
our static/statistics.js: no inline script, so a ``script-src 'self'`` policy holds. The
tables stay under the charts for keyboards and screen readers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.pages.web import StaffDep, error_page, message_of, render, services_of
from api.routes.stats import statistics_workbook, trends, xlsx_response
from arbitration import statistics
from jurisdiction.errors import InvalidInput

router = APIRouter(include_in_schema=False)

#: the rates shown in the table, in order
RATE_KEYS = ("first_dispatch_accuracy", "return_rate", "return_rejection_rate", "dispute_rate",
             "rule_coverage", "out_of_scope_rate")
#: Chinese names of the counts formulas are made of
COUNT_NAMES = statistics.FIGURE_NAMES
#: the rates drawn per unit, and the units drawn (the busiest; the table lists them all)
CHART_RATES = ("first_dispatch_accuracy", "return_rate", "dispute_rate")
CHART_UNITS = 25


def _next_day(value: str) -> str:
    try:
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        return value  # parse_period names the field


def _period(request: Request, start: str, end: str,
            errors: dict[str, str]) -> statistics.Period:
    """The period of the page's dates (both included); on a bad date, its message in
    ``errors`` and the last 30 days."""
    services = services_of(request)
    tz = services.router.current().settings.timezone
    try:
        period = statistics.parse_period(start or None, _next_day(end) if end else None,
                                         now=services.clock(), timezone=tz)
        statistics.iso_weeks(period, timezone=tz)  # a period too long for the trend
        return period
    except InvalidInput as exc:
        errors[str(exc.context.get("field", "from"))] = message_of(exc, request)
        return statistics.parse_period(None, None, now=services.clock(), timezone=tz)


def chart_data(units: list[dict[str, Any]], weeks: list[dict[str, Any]],
               spots: dict[str, Any]) -> dict[str, Any]:
    """What static/statistics.js draws: the busiest units' rates, the weeks, the hotspot
    categories; names in Chinese, rates as shares (the script shows percentages)."""
    drawn = [u for u in units if u["unit"] and u["tickets_received"]][:CHART_UNITS]
    return {
        "rates": [{"key": k, "name": statistics.RATE_FORMULAS[k].label} for k in CHART_RATES],
        "units": [{"name": u["name"], "tickets": u["tickets_received"],
                   **{k: u[k] for k in CHART_RATES}} for u in drawn],
        "weeks": [{k: w[k] for k in ("week", "tickets_received", "first_dispatch_accuracy",
                                     "return_rate", "disputes")} for w in weeks],
        "categories": [{"name": c["name"], "code": c["category"], "returns": c["returns"],
                        "disputes": c["disputes"]} for c in spots["categories"]],
    }


@router.get("/statistics.xlsx")
def statistics_workbook_download(
        request: Request, staff: StaffDep,
        start: Annotated[str, Query(alias="from", max_length=10)] = "",
        end: Annotated[str, Query(alias="to", max_length=10)] = "") -> Response:
    """The page's tables as an Excel workbook, a sheet each, for the same dates."""
    errors: dict[str, str] = {}
    period = _period(request, start, end, errors)
    if errors:
        return error_page(request, 422, next(iter(errors.values())))
    return xlsx_response("statistics", period, statistics_workbook(services_of(request),
                                                                   period))


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, staff: StaffDep,
                    start: Annotated[str, Query(alias="from", max_length=10)] = "",
                    end: Annotated[str, Query(alias="to", max_length=10)] = "") -> HTMLResponse:
    """The period's figures; ``from`` and ``to`` are dates, both included."""
    services = services_of(request)
    matrix = services.router.current()
    j = matrix.jurisdiction
    errors: dict[str, str] = {}
    period = _period(request, start, end, errors)
    names = {code: u.name for code, u in j.units.items()}
    category_names = {code: c.name for code, c in j.categories.items()}
    with services.db.connect() as conn:
        district = statistics.summary(conn, period)
        units = statistics.unit_statistics(conn, period, names=names)
        spots = statistics.hotspots(conn, period).as_dict(names, category_names)
    weeks = trends(services, period)
    units.sort(key=lambda r: (-(r["tickets_received"] or 0), r["unit"] or ""))
    last_day = (period.end - timedelta(days=1)).date().isoformat()
    query = urlencode({"from": period.start.date().isoformat(),
                       "to": period.end.date().isoformat(), "format": "csv"})
    xlsx_query = urlencode({"from": period.start.date().isoformat(), "to": last_day})
    formulas = [(key, f, COUNT_NAMES.get(f.numerator, f.numerator),
                 COUNT_NAMES.get(f.denominator, f.denominator))
                for key, f in (statistics.RATE_FORMULAS | statistics.AVERAGE_FORMULAS).items()]
    context: dict[str, Any] = {
        "period": period, "last_day": last_day, "district": district, "units": units,
        "spots": spots, "rates": [(k, statistics.RATE_FORMULAS[k].label) for k in RATE_KEYS],
        "formulas": formulas, "csv_query": query, "xlsx_query": xlsx_query, "errors": errors,
        "weeks": weeks, "trend_columns": statistics.TREND_COLUMNS[3:],
        "formula_text": statistics.formula_text,
        "chart": chart_data(units, weeks, spots),
        "filters": {"from": start or period.start.date().isoformat(), "to": end or last_day}}
    return render(request, "statistics.html", status_code=422 if errors else 200,
                  title="统计", **context)
