"""Building and rendering a responsibility graph for the API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.render import render
from jurisdiction.errors import InvalidInput, NotFound, QuanzeError
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


def build(matrix: Matrix, view: str, focus: str | None, *, at: datetime,
          category: str | None = None) -> tuple[Any, str]:
    """The graph of a view and its title; raises 4xx errors naming the parameter."""
    if view not in VIEWS:
        raise InvalidInput(f"unknown view {view!r}; one of {', '.join(VIEWS)}",
                           code="unknown_view", field="view")
    if view in ARBITRATION_VIEWS:
        raise ViewNotAvailable(f"the {view} view needs the arbitration records, which this "
                               "version does not keep yet", field="view")
    if not focus:
        raise InvalidInput(f"the {view} view needs focus", code="missing_focus", field="focus")
    j = matrix.jurisdiction
    lookup = {"unit": j.units, "category": j.categories, "area": j.areas, "matrix": j.areas}
    if focus not in lookup[view]:
        raise NotFound(f"unknown focus {focus!r} for the {view} view",
                       code="unknown_focus", field="focus")
    if category is not None and category not in j.categories:
        raise InvalidInput(f"unknown category {category!r}", code="unknown_category",
                           field="category")
    if view == "unit":
        g = graphs.unit_view(matrix, focus, at=at, category=category)
        return g, f"{j.units[focus].name} 的职责"
    if view == "category":
        g = graphs.category_view(matrix, focus, at=at)
        return g, f"{j.categories[focus].name} 由谁主办"
    if view == "area":
        g = graphs.area_view(matrix, focus, at=at, category=category)
        return g, f"{j.areas[focus].name} 的属地与部门"
    m = graphs.matrix_view(matrix, focus, at=at, category=category)
    return m.to_graph(), f"{j.areas[focus].name} 派单矩阵"


def render_view(matrix: Matrix, view: str, focus: str | None, fmt: str, *, at: datetime,
                category: str | None = None) -> tuple[bytes, str]:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}",
                           code="invalid_format", field="format")
    graph, title = build(matrix, view, focus, at=at, category=category)
    return render(graph, fmt, title=title), FORMATS[fmt]
