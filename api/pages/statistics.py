"""统计: dispatch quality as the API serves it (``/v1/stats``) — the district's figures,
rates by unit with their formulas, hotspots as 每月一题 candidates, and links to the CSV
downloads. The period defaults to the last 30 days; on the page both dates are included
(the API's ``to`` is exclusive: the page adds a day)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.pages.web import StaffDep, message_of, render, services_of
from arbitration import statistics
from jurisdiction.errors import InvalidInput

router = APIRouter(include_in_schema=False)

#: the rates shown in the table, in order
RATE_KEYS = ("first_dispatch_accuracy", "return_rate", "return_rejection_rate", "dispute_rate",
             "rule_coverage", "out_of_scope_rate")
#: Chinese names of the counts formulas are made of
COUNT_NAMES = dict(statistics.SUMMARY_CSV_COLUMNS) | {
    "dispatches_of_received": "接收工单的派单总次数", "returns_reviewed": "退单已审核数"}


def _next_day(value: str) -> str:
    try:
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        return value  # parse_period names the field


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, staff: StaffDep,
                    start: Annotated[str, Query(alias="from", max_length=10)] = "",
                    end: Annotated[str, Query(alias="to", max_length=10)] = "") -> HTMLResponse:
    """The period's figures; ``from`` and ``to`` are dates, both included."""
    services = services_of(request)
    matrix = services.router.current()
    j = matrix.jurisdiction
    errors: dict[str, str] = {}
    try:
        period = statistics.parse_period(start or None, _next_day(end) if end else None,
                                         now=services.clock(),
                                         timezone=matrix.settings.timezone)
    except InvalidInput as exc:
        errors[str(exc.context.get("field", "from"))] = message_of(exc, request)
        period = statistics.parse_period(None, None, now=services.clock(),
                                         timezone=matrix.settings.timezone)
    names = {code: u.name for code, u in j.units.items()}
    category_names = {code: c.name for code, c in j.categories.items()}
    with services.db.connect() as conn:
        district = statistics.summary(conn, period)
        units = statistics.unit_statistics(conn, period, names=names)
        spots = statistics.hotspots(conn, period).as_dict(names, category_names)
    units.sort(key=lambda r: (-(r["tickets_received"] or 0), r["unit"] or ""))
    last_day = (period.end - timedelta(days=1)).date().isoformat()
    query = urlencode({"from": period.start.date().isoformat(),
                       "to": period.end.date().isoformat(), "format": "csv"})
    formulas = [(key, f, COUNT_NAMES.get(f.numerator, f.numerator),
                 COUNT_NAMES.get(f.denominator, f.denominator))
                for key, f in (statistics.RATE_FORMULAS | statistics.AVERAGE_FORMULAS).items()]
    context: dict[str, Any] = {
        "period": period, "last_day": last_day, "district": district, "units": units,
        "spots": spots, "rates": [(k, statistics.RATE_FORMULAS[k].label) for k in RATE_KEYS],
        "formulas": formulas, "csv_query": query, "errors": errors,
        "filters": {"from": start or period.start.date().isoformat(), "to": end or last_day}}
    return render(request, "statistics.html", status_code=422 if errors else 200,
                  title="统计", **context)
