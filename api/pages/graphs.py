"""责任图谱: the API's graph views (``/v1/graph``) inside the page — SVG drawn on the server
by Graphviz, as the API does — with a form that takes the focus by name, and links to drill
down from every unit, category, area, ruling and dispute the graph shows.

Big views are cut to one level-1 category at a time (a street's whole unit view was
795×16,043 pixels). Where the server has no Graphviz the page carries the graph's DOT source
(as JSON in ``<script type="application/json" id="graph-dot">``) and static/graphs.js draws
it in the browser with the vendored WebAssembly Graphviz (static/vendor/viz), node links
and all; the list of the graph's nodes as links stays under the drawing either way.

The matrix map is not a drawing but an HTML table: a row per leaf category, a column per
township, each cell its lead unit (属地 where the township's own unit leads) coloured by
status, with a legend; a row opens the category's view, a column the township's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.graphs import VIEWS, build
from api.pages.web import StaffDep, message_of, render, services_of
from api.render import STATUS_NAMES, to_dot
from api.render import render as draw
from jurisdiction.errors import QuanzeError
from jurisdiction.model import AreaLevel
from rules.model import TERRITORIAL
from rules.store import Matrix

router = APIRouter(include_in_schema=False)

#: views whose focus is a record of the matrix, looked up by name: view -> kind of record
NAMED_FOCUS = {"unit": "unit", "category": "category", "area": "area", "matrix": "area"}
#: views cut to one level-1 category at a time
FILTERED = ("unit", "area", "matrix")
#: the category view is drawn for at most this many leaves (城乡建设 has 117 and took
#: 720 ms to draw into an unreadable tangle); above it the page offers the subcategories
LEAVES_DRAWN = 60
#: the unit view is cut to one level-2 category where more rules than this name the unit in
#: the level-1 one (a street's 城乡建设: 108 rules, drawn 705×6,539 px)
UNIT_RULES_DRAWN = 40
#: the drill-down of a node kind: the view it opens, or a page of its own
DRILL = {"unit": "unit", "category": "category", "area": "area", "ruling": "lineage"}


@dataclass(frozen=True)
class Choice:
    """A record a typed name may mean."""

    code: str
    name: str


def _records(matrix: Matrix, kind: str, view: str) -> list[Choice]:
    j = matrix.jurisdiction
    if kind == "unit":
        return [Choice(u.code, u.name) for u in j.units.values()]
    if kind == "category":
        return [Choice(c.code, c.name) for c in j.categories.values()]
    levels = (AreaLevel.DISTRICT,) if view == "matrix" else tuple(AreaLevel)
    return [Choice(a.code, a.name) for a in j.areas.values() if a.level in levels]


def resolve_focus(matrix: Matrix, view: str, typed: str) -> tuple[str | None, list[Choice]]:
    """The code a typed focus means (a code, a full name, or a unique part of a name), and
    the candidates when several names contain it."""
    typed = typed.strip()
    kind = NAMED_FOCUS.get(view)
    if kind is None or not typed:
        return (typed or None), []
    records = _records(matrix, kind, view)
    for r in records:
        if typed in (r.code, r.name):
            return r.code, []
    found = sorted((r for r in records if typed in r.name), key=lambda r: (len(r.name), r.code))
    if len(found) == 1:
        return found[0].code, []
    return None, found[:20]


def _top_categories(matrix: Matrix) -> list[Choice]:
    j = matrix.jurisdiction
    return [Choice(c.code, c.name) for c in sorted(j.categories.values(), key=lambda c: c.code)
            if c.parent is None]


def _unit_tops(matrix: Matrix, unit: str, within: str | None = None) -> Counter[str]:
    """How many rules name ``unit`` (or the territorial role, for a township's unit) per
    level-1 category, or per level-2 category ``within`` a level-1 one: the unit view opens
    on the busiest."""
    j = matrix.jurisdiction
    territorial = any(a.unit == unit and a.level is AreaLevel.TOWNSHIP for a in j.areas.values())
    counts: Counter[str] = Counter()

    def count(category: str) -> None:
        path = j.category_path(category)  # nearest first: [-1] is level 1
        if within is None:
            counts[path[-1]] += 1
        elif len(path) >= 2 and path[-1] == within:
            counts[path[-2]] += 1

    for r in matrix.rules.values():
        names = {r.lead, *r.co_handlers}
        if unit in names or (territorial and TERRITORIAL in names):
            count(r.category)
    for c in j.categories.values():
        if c.default_unit == unit:
            count(c.code)
    return counts


def _subcategories(matrix: Matrix, counts: Counter[str] | None) -> list[tuple[Choice, int]]:
    """The level-2 categories to choose from, with their rule counts, in code order."""
    if not counts:
        return []
    j = matrix.jurisdiction
    return [(Choice(c, j.categories[c].name), n) for c, n in sorted(counts.items())]


def _drill_hrefs(graph: Any) -> dict[Any, tuple[str, str, str, str]]:
    """node -> (kind, label, href, code) for every node one can open."""
    out: dict[Any, tuple[str, str, str, str]] = {}
    for node, data in graph.nodes(data=True):
        kind, code = data.get("kind"), data.get("code")
        if not code or code == "*":
            continue
        if kind in DRILL:
            href = "/graphs?" + urlencode({"view": DRILL[kind], "focus": code})
        elif kind == "dispute":
            href = f"/disputes/{code}"
        elif kind == "rule":
            href = f"/catalogue/rules/{code}"
        else:
            continue
        label = str(data.get("label") or code).split("\n")[0]
        out[node] = (str(kind), label, href, str(code))
    return out


def _drill_links(hrefs: dict[Any, tuple[str, str, str, str]]
                 ) -> dict[str, list[tuple[str, str, str]]]:
    """(label, href, code) per node kind, for the list under the drawing."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for kind, label, href, code in hrefs.values():
        out.setdefault(kind, []).append((label, href, code))
    return {k: sorted(set(v)) for k, v in out.items()}


@router.get("/graphs", response_class=HTMLResponse)
def graphs_page(request: Request, staff: StaffDep,
                view: Annotated[str, Query(max_length=20)] = "hotspots",
                focus: Annotated[str, Query(max_length=200)] = "",
                category: Annotated[str, Query(max_length=64)] = "",
                start: Annotated[str, Query(alias="from", max_length=40)] = "",
                end: Annotated[str, Query(alias="to", max_length=40)] = "") -> HTMLResponse:
    """One view: ``focus`` a code or a name (units, categories, areas), a ticket id or a
    ruling id; ``category`` a level-1 category for the unit, area and matrix views."""
    services = services_of(request)
    matrix = services.router.current()
    j = matrix.jurisdiction
    errors: dict[str, str] = {}
    if view not in VIEWS:
        errors["view"] = "请选择一种图。"
        view = "hotspots"
    code, candidates = resolve_focus(matrix, view, focus)
    needs_focus = view != "hotspots"
    if needs_focus and focus and code is None and not candidates:
        errors["focus"] = f"没有名称或编码为“{focus}”的{_focus_noun(view)}。"
    tops = _top_categories(matrix)
    filter_code = category if category in j.categories else ""
    sub_counts = None
    top_counts = _unit_tops(matrix, code) if view == "unit" and code and code in j.units \
        else None
    if view in FILTERED and code is not None and not filter_code:
        if top_counts is not None:
            busiest = top_counts.most_common(1)
            filter_code = busiest[0][0] if busiest else tops[0].code
        else:
            filter_code = tops[0].code
    filter_top = j.category_path(filter_code)[-1] if filter_code else ""
    if top_counts is not None and code is not None \
            and top_counts.get(filter_top, 0) > UNIT_RULES_DRAWN:
        # a street's 城乡建设 alone drew 705×6,539 px: one level-2 category at a time
        sub_counts = _unit_tops(matrix, code, within=filter_top)
        if filter_code == filter_top and sub_counts:
            filter_code = sub_counts.most_common(1)[0][0]
    svg = notice = None
    links: dict[str, list[tuple[str, str, str]]] = {}
    if view == "category" and code is not None and code in j.categories:
        leaves = sum(1 for leaf in j.category_leaves() if j.is_category_within(leaf, code))
        if leaves > LEAVES_DRAWN:
            notice = (f"“{j.categories[code].name}”下有 {leaves} 个末级事项，一张图画不清楚："
                      "请选择下面的一个下级分类查看。")
            links = {"category": [
                (j.categories[c].name, "/graphs?" + urlencode({"view": "category", "focus": c}),
                 c) for c in sorted(j.category_children(code))]}
    title = ""
    api_query = ""
    dot_source = None
    table = None
    if not errors and notice is None and (code is not None or not needs_focus):
        params = {"view": view, "focus": code or "", "category": filter_code
                  if view in FILTERED else "", "from": start, "to": end}
        api_query = urlencode({k: v for k, v in params.items() if v})
        try:
            graph, title = build(matrix, view, code, at=services.clock(),
                                 category=filter_code if view in FILTERED else None,
                                 db=services.db, start=start or None, end=end or None)
            hrefs = _drill_hrefs(graph)
            links = _drill_links(hrefs)
            if view == "matrix":
                table = matrix_table(graph, j.units)
            else:
                svg, dot_source = _drawing(graph, title,
                                           {node: h[2] for node, h in hrefs.items()})
        except QuanzeError as exc:
            if exc.code == "graph_too_large":
                notice = "该图过大，无法清晰显示：请选择一个一级分类缩小范围。"
            else:
                field = str(exc.context.get("field", "focus"))
                errors[field if field in ("view", "focus") else "focus"] = message_of(exc,
                                                                                       request)
    return render(request, "graphs.html", status_code=422 if errors else 200, title="责任图谱",
                  views=VIEWS, view=view, focus=focus, code=code, candidates=candidates,
                  tops=tops, top_counts=top_counts, filter_code=filter_code, svg=svg,
                  filter_top=filter_top, subs=_subcategories(matrix, sub_counts),
                  notice=notice, links=links, graph_title=title, dot_source=dot_source,
                  table=table, statuses=MATRIX_STATUSES,
                  api_query=api_query, errors=errors, filtered=view in FILTERED,
                  period={"from": start, "to": end},
                  focus_noun=_focus_noun(view))


def _drawing(graph: Any, title: str, links: dict[Any, str]) -> tuple[str | None, str | None]:
    """The SVG drawn by the server's Graphviz, inline (no XML prolog); where the server has
    none, the DOT source instead, for static/graphs.js to draw with the vendored
    WebAssembly Graphviz (the same DOT: node links included)."""
    try:
        svg = draw(graph, "svg", title=title, links=links).decode("utf-8")
    except QuanzeError as exc:
        if exc.code != "graphviz_unavailable":
            raise
        return None, to_dot(graph, title=title, links=links)
    return svg[svg.find("<svg"):], None


#: the matrix map's statuses in the legend's order: (status, Chinese name)
MATRIX_STATUSES = tuple((s, STATUS_NAMES[s]) for s in
                        ("rule", "fallback", "ambiguous", "overlap", "unrouted",
                         "out_of_scope"))


@dataclass(frozen=True)
class MatrixCell:
    status: str
    lead: str | None
    short: str
    title: str


@dataclass(frozen=True)
class MatrixRow:
    code: str
    name: str
    group: str
    cells: list[MatrixCell]


@dataclass(frozen=True)
class MatrixTable:
    """The matrix map as an HTML table: leaf categories × townships, each cell its lead."""

    columns: list[dict[str, str]]
    rows: list[MatrixRow]
    counts: dict[str, int]


def _short_unit(name: str, district: str) -> str:
    """A unit's name short enough for a cell: without the district's prefix (区, 示范区) and
    cut to six characters (the full name is the cell's title).

    >>> _short_unit("区城市管理委员会", "示范区"), _short_unit("示范区人民政府办公室", "示范区")
    ('城市管理委员…', '人民政府办公…')
    """
    for prefix in (district, "区"):
        name = name.removeprefix(prefix) or name
    return name if len(name) <= 6 else name[:6] + "…"


def matrix_table(graph: Any, units: Any) -> MatrixTable:
    """The matrix view's graph laid out as a table: a cell shows 属地 where the township's
    own unit leads, else the leading unit's short name; its title says the rule or the
    fallback step (the builder's tooltip)."""
    columns: list[dict[str, str]] = graph.graph["columns"]
    district = str(graph.graph.get("title", "")).removesuffix(" 责任矩阵")
    rows = []
    for row in graph.graph["rows"]:
        cells = []
        for col in columns:
            data = graph.nodes[f"cell:{row['code']}@{col['code']}"]
            lead = data.get("lead")
            if lead is None:
                short = "—"
            elif lead == col.get("group"):
                short = "属地"
            else:
                short = _short_unit(units[lead].name if lead in units else lead, district)
            cells.append(MatrixCell(data["status"], lead, short, str(data.get("tooltip", ""))))
        rows.append(MatrixRow(row["code"], row["name"], row.get("group", ""), cells))
    return MatrixTable(columns, rows, dict(graph.graph.get("counts", {})))


def _focus_noun(view: str) -> str:
    return {"unit": "单位", "category": "事项分类", "area": "区域", "matrix": "区",
            "ticket": "工单", "lineage": "裁定", "hotspots": "对象"}.get(view, "对象")
