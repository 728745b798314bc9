"""GET /v1/stats/units, /v1/stats/hotspots, /v1/stats/summary: dispatch quality (domain.md §6).

Every answer echoes the ``period`` it covers (default: the last 30 days) and, where it has
rates, their ``formulas``; ``format=csv`` gives each as a spreadsheet with Chinese headers
(docs/statistics.md)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, Services, ServicesDep
from arbitration import statistics
from jurisdiction.errors import InvalidInput

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

FROM = Query(None, alias="from", description="period start: a date (local midnight) or an "
             "ISO 8601 time, 2000–2100; default 30 days before `to`")
TO = Query(None, alias="to", description="period end, exclusive; default 30 days after "
           "`from`, or (neither given) the next local midnight: the last 30 days")
FORMAT = Query("json", description="json | csv (Chinese headers, UTF-8 with BOM)")


def _format(value: str) -> str:
    if value not in ("json", "csv"):
        raise InvalidInput(f"unknown format {value!r}; json or csv", code="invalid_format",
                           field="format")
    return value


def _period(services: Services, start: str | None, end: str | None) -> statistics.Period:
    matrix = services.router.current()
    return statistics.parse_period(start, end, now=services.clock(),
                                   timezone=matrix.settings.timezone)


def _names(services: Services) -> dict[str, str]:
    return {code: u.name for code, u in services.router.current().jurisdiction.units.items()}


def _units(services: Services, period: statistics.Period,
           unit: str | None) -> list[dict[str, Any]]:
    with services.db.connect() as conn:
        return statistics.unit_statistics(conn, period, unit=unit, names=_names(services))


def _csv(rows: list[dict[str, Any]],
         columns: tuple[tuple[str, str], ...] = statistics.CSV_COLUMNS) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(statistics.to_csv_rows(rows, columns))
    # The byte-order mark makes Excel read the Chinese headers as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_response(what: str, period: statistics.Period, rows: list[dict[str, Any]],
                  columns: tuple[tuple[str, str], ...] = statistics.CSV_COLUMNS) -> Response:
    name = f"quanze-{what}-{period.start.date()}-{period.end.date()}.csv"
    return Response(_csv(rows, columns), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/units", summary="Dispatch quality per unit (一次派准率, 退单率, 争议率 …)")
async def units(services: ServicesDep, caller: CallerDep, start: str | None = FROM,
                end: str | None = TO,
                unit: str | None = Query(None, description="one unit's code"),
                format: str = FORMAT) -> Response:
    """Counts and rates per unit over the period ``[from, to)``: 一次派准率
    (first_dispatch_accuracy), 退单率 (return_rate), 退单被驳回率 (return_rejection_rate),
    争议率 (dispute_rate), disputes won and lost, dispatches per ticket, arbitration lead time
    (hours, mean and median), 规则路由率 (rule_coverage), and tickets closed as out of scope
    (out_of_scope, counted apart from 一次派准率 and 退单率). ``formulas`` defines each rate;
    ``format=csv`` gives the same rows with Chinese headers for staff."""
    _format(format)
    period = _period(services, start, end)
    if unit is not None and unit not in services.router.current().jurisdiction.units:
        raise InvalidInput(f"unknown unit {unit!r}", code="unknown_unit", field="unit")
    rows = await run_in_threadpool(_units, services, period, unit)
    if format == "csv":
        return _csv_response("units", period, rows)
    return JSONResponse({"period": period.as_dict(), "units": rows,
                         "formulas": statistics.formulas()})


def _hotspots(services: Services, period: statistics.Period, top: int) -> dict[str, Any]:
    matrix = services.router.current()
    with services.db.connect() as conn:
        spots = statistics.hotspots(conn, period, top=top)
    category_names = {code: c.name for code, c in matrix.jurisdiction.categories.items()}
    return spots.as_dict(_names(services), category_names)


@router.get("/hotspots", summary="Where units fight: 每月一题 candidates")
async def hotspots(services: ServicesDep, caller: CallerDep, start: str | None = FROM,
                   end: str | None = TO,
                   top: int = Query(statistics.DEFAULT_TOP, ge=1, le=100),
                   format: str = FORMAT) -> Response:
    """The ``top`` unit pairs by disputes (parties of the same dispute) and by returns (the
    returning unit → the unit proposed or dispatched next), and the categories with the most
    returns and disputes, over the period. ``format=csv``: one row per pair or category."""
    _format(format)
    period = _period(services, start, end)
    body = await run_in_threadpool(_hotspots, services, period, top)
    if format == "csv":
        return _csv_response("hotspots", period, statistics.hotspot_rows(body),
                             statistics.HOTSPOT_CSV_COLUMNS)
    return JSONResponse({"period": period.as_dict(), **body})


def _summary(services: Services, period: statistics.Period) -> dict[str, Any]:
    with services.db.connect() as conn:
        return statistics.summary(conn, period)


@router.get("/summary", summary="District-wide dispatch quality")
async def summary(services: ServicesDep, caller: CallerDep, start: str | None = FROM,
                  end: str | None = TO, format: str = FORMAT) -> Response:
    """The district's figures over the period (each ticket, dispute and ruling counted once),
    with the disputes by status as they stand now, the tickets closed as out of scope
    (``out_of_scope_figure``: count and share, by outcome) and the ``formulas``."""
    _format(format)
    period = _period(services, start, end)
    body = await run_in_threadpool(_summary, services, period)
    if format == "csv":
        return _csv_response("summary", period, [body], statistics.SUMMARY_CSV_COLUMNS)
    return JSONResponse({"period": period.as_dict(), **body,
                         "formulas": statistics.formulas()})
