"""GET /v1/graph: the responsibility graph views."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import problems
from api.deps import CallerDep, ServicesDep
from api.graphs import render_view

router = APIRouter(prefix="/v1", tags=["graphs"])


@router.get("/graph", summary="A responsibility graph",
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {},
                                         "text/vnd.graphviz": {}, "application/json": {}}},
                       **problems.may(404, 413)})
async def graph(services: ServicesDep, caller: CallerDep,
                view: str = Query(description="unit | category | area | matrix | hotspots | "
                                  "ticket | lineage"),
                focus: str | None = Query(None, description="the unit, category or area code; "
                                          "a ticket id (ticket); a ruling id (lineage)"),
                format: str = Query("svg", description="svg | png | dot | json"),
                category: str | None = Query(None, description="limit to a category subtree"),
                unit_kind: str | None = Query(None, description="show units of one kind: "
                                              "department | township | street | community "
                                              "| utility | office"),
                district: str | None = Query(None, description="category view: one "
                                             "district's townships"),
                start: str | None = Query(None, alias="from", description="hotspots: period "
                                          "start, a date or ISO 8601 time (default: 30 "
                                          "days before `to`)"),
                end: str | None = Query(None, alias="to", description="hotspots: period end, "
                                        "exclusive (default: 30 days after `from`; neither: "
                                        "the last 30 days)"),
                ) -> Response:
    matrix = services.router.current()
    body, media = await run_in_threadpool(render_view, matrix, view, focus, format,
                                          at=services.clock(), category=category,
                                          db=services.db, start=start, end=end,
                                          unit_kind=unit_kind, district=district)
    return Response(body, media_type=media)
