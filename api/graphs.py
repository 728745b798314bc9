"""Building and rendering a responsibility graph for the API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from api.render import render
from arbitration import graphs as arbitration_graphs
from arbitration import statistics
from jurisdiction.errors import InvalidInput, QuanzeError
from jurisdiction.model import AreaLevel, UnitKind
from rules import graphs
from rules.store import Matrix

MATRIX_VIEWS = ("unit", "category", "area", "matrix")
ARBITRATION_VIEWS = ("hotspots", "ticket", "lineage")
VIEWS = MATRIX_VIEWS + ARBITRATION_VIEWS
FORMATS = {"svg": "image/svg+xml", "png": "image/png", "dot": "text/vnd.graphviz",
           "json": "application/json"}


class ViewNotAvailable(QuanzeError):
    status = 501
    default_code = "view_not_available"


def build_arbitration(matrix: Matrix, db: Engine | None, view: str, focus: str | None, *,
                      at: datetime, start: str | None = None,
                      end: str | None = None) -> tuple[Any, str]:
    """The hotspots (over the period ``start``–``end``), ticket or lineage view."""
    if db is None:
        raise ViewNotAvailable(f"the {view} view needs the database", field="view")
    names = {code: unit.name for code, unit in matrix.jurisdiction.units.items()}
    tz = matrix.settings.timezone
    if view == "hotspots":
        period = statistics.parse_period(start, end, now=at, timezone=tz)
        with db.connect() as conn:
            spots = statistics.hotspots(conn, period)
        g = arbitration_graphs.hotspots_view(spots.dispute_pairs, spots.return_pairs,
                                             names=names, period=period.as_dict())
        local = f"{period.start.date()} 至 {period.end.date()}"
        return g, f"争议与退单热点（{local}）"
    if not focus:
        raise InvalidInput(f"the {view} view needs focus", code="missing_focus", field="focus")
    if view == "ticket":
        with db.connect() as conn:
            history = statistics.ticket_history(conn, focus)
        return (arbitration_graphs.ticket_view(history, names=names, timezone=tz),
                f"工单 {focus} 的流转")
    with db.connect() as conn:
        lineage = statistics.ruling_lineage(conn, focus)
    return (arbitration_graphs.lineage_view(lineage, names=names, timezone=tz),
            f"裁定 {focus} 的来龙去脉")


def build(matrix: Matrix, view: str, focus: str | None, *, at: datetime,
          category: str | None = None, db: Engine | None = None, start: str | None = None,
          end: str | None = None, unit_kind: str | None = None,
          district: str | None = None) -> tuple[Any, str]:
    """The graph of a view and its title; raises 4xx errors naming the parameter. The
    arbitration views read ``db``; ``start`` / ``end`` bound the hotspots period."""
    if view not in VIEWS:
        raise InvalidInput(f"unknown view {view!r}; one of {', '.join(VIEWS)}",
                           code="unknown_view", field="view")
    if view in ARBITRATION_VIEWS:
        return build_arbitration(matrix, db, view, focus, at=at, start=start, end=end)
    if not focus:
        raise InvalidInput(f"the {view} view needs focus", code="missing_focus", field="focus")
    j = matrix.jurisdiction
    lookup = {"unit": j.units, "category": j.categories, "area": j.areas, "matrix": j.areas}
    if focus not in lookup[view]:
        # A code in the request, not a record looked up: 422 naming the field (contract.md).
        raise InvalidInput(f"unknown focus {focus!r} for the {view} view",
                           code="unknown_focus", field="focus")
    if category is not None and category not in j.categories:
        raise InvalidInput(f"unknown category {category!r}", code="unknown_category",
                           field="category")
    if unit_kind is not None and unit_kind not in {k.value for k in UnitKind}:
        raise InvalidInput(f"unknown unit kind {unit_kind!r}; one of "
                           f"{', '.join(k.value for k in UnitKind)}", code="invalid_unit_kind",
                           field="unit_kind")
    if district is not None and (district not in j.areas
                                 or j.areas[district].level is not AreaLevel.DISTRICT):
        raise InvalidInput(f"{district!r} is not a district area", code="unknown_district",
                           field="district")
    if view == "unit":
        g = graphs.unit_view(matrix, focus, at=at, category=category, unit_kind=unit_kind)
        return g, f"{j.units[focus].name} 的职责"
    if view == "category":
        g = graphs.category_view(matrix, focus, at=at, district=district, unit_kind=unit_kind)
        return g, f"{j.categories[focus].name} 由谁主办"
    if view == "area":
        g = graphs.area_view(matrix, focus, at=at, category=category, unit_kind=unit_kind)
        return g, f"{j.areas[focus].name} 的属地与部门"
    m = graphs.matrix_view(matrix, focus, at=at, category=category)
    return m.to_graph(), f"{j.areas[focus].name} 派单矩阵"


def render_view(matrix: Matrix, view: str, focus: str | None, fmt: str, *, at: datetime,
                category: str | None = None, db: Engine | None = None,
                start: str | None = None, end: str | None = None,
                unit_kind: str | None = None, district: str | None = None
                ) -> tuple[bytes, str]:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}",
                           code="invalid_format", field="format")
    graph, title = build(matrix, view, focus, at=at, category=category, db=db, start=start,
                         end=end, unit_kind=unit_kind, district=district)
    return render(graph, fmt, title=title), FORMATS[fmt]
