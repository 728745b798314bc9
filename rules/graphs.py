"""Responsibility graphs built from the live matrix: who leads (主办) and who assists (协办)
what, where. Pure: plain functions from a matrix to a :class:`networkx.MultiDiGraph` (a
``DiGraph`` whose parallel edges are keyed by their ``relation``); drawing lives in
:mod:`api.render`.

Nodes are ``"<kind>:<code>"`` and carry ``label`` (the Chinese name), ``kind`` (``unit``,
``category``, ``area``, ``rule``, ``cell``), ``code``, ``cluster`` (a key of
``graph.graph["clusters"]``, which maps it to a caption, or None) and, where it applies,
``status`` (``rule``, ``gap``/``fallback``, ``ambiguous``, ``unrouted``) and ``tooltip``.
Edges carry ``relation`` (``leads``, ``assists``, ``governs``, ``contains``, ``decides``,
``shares_work``), ``weight`` (a count) and ``label``.

A view that would be too big to read raises :class:`~jurisdiction.errors.LimitExceeded`
(``graph_too_large``) naming the filter that narrows it, rather than drawing a hairball.

>>> m = _demo_matrix()
>>> g = unit_view(m, "D-CG", at=_DEMO_AT)
>>> g.nodes["unit:D-CG"]["label"], g.edges["unit:D-CG", "category:0302", "leads"]["weight"]
('城管委', 1)
>>> matrix_view(m, "1", at=_DEMO_AT).cell("0301", "101").status
'rule'
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import networkx as nx

from jurisdiction.errors import InvalidInput, LimitExceeded
from jurisdiction.model import (
    Area,
    AreaLevel,
    Category,
    Jurisdiction,
    Unit,
    UnitKind,
)
from rules.conditions import TicketContext
from rules.model import TERRITORIAL, Decision, Rule, Settings, Status, Ticket
from rules.resolution import resolve
from rules.verification import MatrixLike, overlaps

DEFAULT_MAX_NODES = 300
DEFAULT_MAX_CELLS = 60_000

KINDS = ("unit", "category", "area", "rule", "cell")
RELATIONS = ("leads", "assists", "governs", "contains", "decides", "shares_work")

#: Cell status in the category view (a fallback cell is a ``gap``) and the matrix view.
VIEW_STATUS = {Status.ROUTED: "rule", Status.FALLBACK: "gap", Status.AMBIGUOUS: "ambiguous",
               Status.UNROUTED: "unrouted", Status.OUT_OF_SCOPE: "out_of_scope"}
MATRIX_STATUS = {Status.ROUTED: "rule", Status.FALLBACK: "fallback",
                 Status.AMBIGUOUS: "ambiguous", Status.UNROUTED: "unrouted",
                 Status.OUT_OF_SCOPE: "out_of_scope"}
#: Matrix cells also have ``overlap``: routed for a plain ticket, tied for some tickets.
#: The worse status wins when cells are aggregated.
_SEVERITY = {"rule": 0, "out_of_scope": 0, "gap": 1, "fallback": 1, "overlap": 2, "unrouted": 2,
             "ambiguous": 3}

#: The pseudo area of a rule without an area scope (it applies everywhere).
EVERYWHERE = "*"
_ROLE_LABEL = {"leads": "主办", "assists": "协办", "decides": "决定"}


# -- node ids ------------------------------------------------------------------------------

def unit_node(code: str) -> str:
    return f"unit:{code}"


def category_node(code: str) -> str:
    return f"category:{code}"


def area_node(code: str) -> str:
    return f"area:{code}"


def rule_node(rule_id: str) -> str:
    return f"rule:{rule_id}"


def cell_node(category: str, area: str) -> str:
    return f"cell:{category}@{area}"


# -- shared helpers ------------------------------------------------------------------------

def _new_graph(view: str, focus: str, title: str, at: datetime, version: int,
               **extra: Any) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.graph.update(view=view, focus=focus, title=title, at=at.isoformat(),
                   ruleset_version=version, clusters={}, **extra)
    return g


def _add_cluster(g: nx.MultiDiGraph, key: str, caption: str) -> str:
    g.graph["clusters"].setdefault(key, caption)
    return key


def _add_unit(g: nx.MultiDiGraph, j: Jurisdiction, code: str, *, cluster: str | None = None,
              focus: bool = False) -> str:
    node = unit_node(code)
    if node in g:
        return node
    unit = j.units.get(code)
    g.add_node(node, kind="unit", code=code, label=unit.name if unit else code,
               unit_kind=unit.kind.value if unit else None, cluster=cluster, focus=focus,
               tooltip=f"{unit.name if unit else code}（{code}）")
    return node


def _add_category(g: nx.MultiDiGraph, j: Jurisdiction, code: str, *,
                  focus: bool = False) -> str:
    node = category_node(code)
    if node in g:
        return node
    top = j.categories[j.category_path(code)[-1]]
    cluster = _add_cluster(g, f"category:{top.code}", top.name)
    cat = j.categories[code]
    g.add_node(node, kind="category", code=code, label=cat.name, cluster=cluster,
               level=j.category_depth(code), departmental=cat.departmental, focus=focus,
               tooltip=f"{cat.name}（{code}）")
    return node


def _add_area(g: nx.MultiDiGraph, j: Jurisdiction, code: str, *, cluster: str | None = None,
              focus: bool = False) -> str:
    node = area_node(code)
    if node in g:
        return node
    if code == EVERYWHERE:
        g.add_node(node, kind="area", code=code, label="全域（不限区域）", level=None,
                   cluster=cluster, focus=focus, tooltip="规则未限定区域")
        return node
    area = j.areas[code]
    g.add_node(node, kind="area", code=code, label=area.name, level=area.level.value,
               cluster=cluster, focus=focus, tooltip=f"{area.name}（{code}）")
    return node


def _bump(g: nx.MultiDiGraph, u: str, v: str, relation: str, by: int = 1,
          **attrs: Any) -> None:
    if g.has_edge(u, v, relation):
        g.edges[u, v, relation]["weight"] += by
    else:
        g.add_edge(u, v, key=relation, relation=relation, weight=by, **attrs)


def _label_weights(g: nx.MultiDiGraph, unit: str = "") -> None:
    for _, _, data in g.edges(data=True):
        if not data.get("label"):
            name = _ROLE_LABEL.get(data["relation"], "")
            data["label"] = f"{name} {data['weight']}{unit}".strip() if data["weight"] > 1 \
                else name


def _check_size(view: str, count: int, max_nodes: int, filters: Sequence[str]) -> None:
    if count > max_nodes:
        raise LimitExceeded(
            f"the {view} view would have {count} nodes, more than the cap of {max_nodes}; "
            f"narrow it with a filter: {', '.join(filters)}",
            code="graph_too_large", view=view, node_count=count, max_nodes=max_nodes,
            filters=list(filters))


def _live_rules(matrix: MatrixLike, at: datetime,
                category: str | None = None) -> list[Rule]:
    """Rules in force at ``at`` whose references resolve (``category``: within that
    subtree), in id order."""
    j = matrix.jurisdiction
    out = []
    for rule in sorted(matrix.rules.values(), key=lambda r: r.id):
        if rule.category not in j.categories or (rule.area and rule.area not in j.areas):
            continue
        if not rule.is_valid_at(at):
            continue
        if category is not None and not j.is_category_within(rule.category, category):
            continue
        out.append(rule)
    return out


def _leaves_under(j: Jurisdiction, code: str) -> list[str]:
    return [leaf for leaf in j.category_leaves() if j.is_category_within(leaf, code)]


def _townships_in(j: Jurisdiction, scope: str | None) -> list[Area]:
    """Townships a ticket within ``scope`` can lie in (all of them for no scope)."""
    if scope is None:
        return j.townships()
    own = j.township_of(scope)
    if own is not None:
        return [own]
    return [t for t in j.townships() if j.is_area_within(t.code, scope)]


def _territorial_units(j: Jurisdiction, scope: str | None) -> list[str]:
    """The units ``@territorial`` can stand for under a rule scoped to ``scope``."""
    seen: list[str] = []
    for township in _townships_in(j, scope):
        if township.unit is not None and township.unit not in seen:
            seen.append(township.unit)
    return seen


def _parties(j: Jurisdiction, code: str, scope: str | None) -> list[str]:
    return _territorial_units(j, scope) if code == TERRITORIAL else [code]


def _kind_ok(j: Jurisdiction, code: str, unit_kind: UnitKind | str | None) -> bool:
    if unit_kind is None:
        return True
    unit = j.units.get(code)
    return unit is not None and unit.kind.value == str(unit_kind)


# -- unit view -----------------------------------------------------------------------------

def unit_view(matrix: MatrixLike, unit_code: str, *, at: datetime,
              category: str | None = None, unit_kind: UnitKind | str | None = None,
              max_nodes: int = DEFAULT_MAX_NODES) -> nx.MultiDiGraph:
    """One unit at the centre: the categories it leads and assists (by its code, and through
    ``@territorial`` where it governs a township), the areas where it does so, and the units
    it shares work with (co-handlers of its rules, leads of the rules it assists).

    Edges ``unit → category`` and ``category → area`` are ``leads``/``assists``, weighted by
    the number of rules; ``unit → unit`` is ``shares_work``. Categories are clustered by their
    level-1 category. ``category`` keeps a subtree; ``unit_kind`` keeps partners of one kind.

    >>> g = unit_view(_demo_matrix(), "JD-HP", at=_DEMO_AT)
    >>> sorted(g.successors("unit:JD-HP"))
    ['category:0301', 'unit:D-CG']
    >>> g.edges["category:0301", "area:101", "leads"]["weight"]
    1
    """
    j = matrix.jurisdiction
    unit = j.unit(unit_code)
    if category is not None:
        j.category(category)
    own = {t.code for t in j.townships() if t.unit == unit_code}

    by_category: Counter[tuple[str, str]] = Counter()       # (relation, category)
    by_area: Counter[tuple[str, str, str]] = Counter()      # (relation, category, area)
    partners: Counter[str] = Counter()
    for rule in _live_rules(matrix, at, category):
        for relation, codes in (("leads", (rule.lead,)), ("assists", rule.co_handlers)):
            areas = _areas_for(j, rule, codes, unit_code, own)
            if not areas:
                continue
            by_category[relation, rule.category] += 1
            for area in areas:
                by_area[relation, rule.category, area] += 1
            # Where the unit holds its role as 属地, another @territorial role is itself.
            via_role = unit_code not in codes
            others_codes = rule.co_handlers if relation == "leads" else (rule.lead,)
            others = [p for c in others_codes if not (via_role and c == TERRITORIAL)
                      for p in _parties(j, c, rule.area)]
            for other in dict.fromkeys(others):
                if other != unit_code and _kind_ok(j, other, unit_kind):
                    partners[other] += 1

    categories = {c for _, c in by_category}
    area_codes = {a for _, _, a in by_area}
    _check_size("unit", 1 + len(categories) + len(area_codes) + len(partners), max_nodes,
                ["category=<a category subtree>", "unit_kind=<department|street|…>",
                 "at=<another period>"])

    g = _new_graph("unit", unit_code, f"{unit.name} 的职责", at, matrix.version)
    centre = _add_unit(g, j, unit_code, focus=True)
    area_cluster = _add_cluster(g, "areas", "区域")
    unit_cluster = _add_cluster(g, "partners", "协同单位")
    for (relation, cat), n in sorted(by_category.items()):
        _bump(g, centre, _add_category(g, j, cat), relation, n)
    for (relation, cat, area), n in sorted(by_area.items()):
        _bump(g, category_node(cat), _add_area(g, j, area, cluster=area_cluster), relation, n)
    for other, n in sorted(partners.items()):
        _bump(g, centre, _add_unit(g, j, other, cluster=unit_cluster), "shares_work", n,
              label=f"协同 {n}")
    _label_weights(g)
    return g


def _areas_for(j: Jurisdiction, rule: Rule, codes: Iterable[str], unit_code: str,
               own: set[str]) -> list[str]:
    """Where ``unit_code`` holds the role ``codes`` name in ``rule`` (empty: it does not)."""
    out: list[str] = []
    for code in codes:
        if code == unit_code:
            out.append(rule.area or EVERYWHERE)
        elif code == TERRITORIAL and own:
            if rule.area is not None and j.township_of(rule.area) is not None:
                township = j.township_of(rule.area)
                if township is not None and township.code in own:
                    out.append(rule.area)
            else:
                out += [t.code for t in _townships_in(j, rule.area) if t.code in own]
    return list(dict.fromkeys(out))


# -- cell resolution -----------------------------------------------------------------------

@dataclass
class _CellResolver:
    """Resolves plain tickets (no attributes, no text) of a category in a township, with the
    rules in force indexed once by (category, area scope)."""

    jurisdiction: Jurisdiction
    settings: Settings
    at: datetime
    index: dict[tuple[str, str | None], list[Rule]] = field(default_factory=dict)

    @classmethod
    def build(cls, matrix: MatrixLike, at: datetime,
              scopes: set[str] | None = None) -> _CellResolver:
        """``scopes``: keep only rules whose area is one of these (or unscoped)."""
        resolver = cls(matrix.jurisdiction, matrix.settings, at)
        index: dict[tuple[str, str | None], list[Rule]] = defaultdict(list)
        for rule in _live_rules(matrix, at):
            if scopes is not None and rule.area is not None and rule.area not in scopes:
                continue
            index[rule.category, rule.area].append(rule)
        resolver.index = dict(index)
        return resolver

    def decide(self, category: str, area: str) -> Decision:
        j = self.jurisdiction
        cat_path = j.category_path(category)
        area_path = j.area_path(area)
        scopes: tuple[str | None, ...] = (None, *area_path)
        considered = [r for c in cat_path for a in scopes for r in self.index.get((c, a), ())]
        ctx = TicketContext(Ticket(category, self.at, area=area), cat_path, area_path)
        return resolve(ctx, considered, j, self.settings)


def _district_townships(j: Jurisdiction, district: str | None) -> list[Area]:
    if district is None:
        return j.townships()
    area = j.area(district)
    if area.level is not AreaLevel.DISTRICT:
        raise InvalidInput(f"area {district!r} is not a district", code="invalid_area_level",
                           area_code=district, level=area.level.value)
    return [t for t in j.townships() if j.is_area_within(t.code, district)]


# -- category view -------------------------------------------------------------------------

#: Above this many leaves the category view leaves out rule nodes (see category_view).
RULES_SHOWN_UP_TO = 12


def category_view(matrix: MatrixLike, category_code: str, *, at: datetime,
                  district: str | None = None, unit_kind: UnitKind | str | None = None,
                  max_nodes: int = DEFAULT_MAX_NODES,
                  show_rules: bool | None = None) -> nx.MultiDiGraph:
    """One category (any level) across the townships: for each township who leads
    (``unit → area`` ``leads``) and who assists (``assists``) a plain ticket, and which rules
    decide (``rule → area`` ``decides``; the rule's basis in its ``tooltip``). A non-leaf
    category aggregates over its leaves: weights count leaves.

    Each township node carries ``status`` — the worst of its cells: ``ambiguous`` (a tie),
    ``unrouted``, ``gap`` (only a fallback serves it), ``rule`` — and ``cells_<status>``
    counts. ``district`` keeps one district's townships; ``unit_kind`` one kind of unit.
    Rule nodes are shown when the category has at most :data:`RULES_SHOWN_UP_TO` leaves
    (``show_rules`` overrides): for a whole level-1 group they are hundreds of nodes and
    edges — unreadable, and measured at ~4 s in ``dot`` for the demo's 城乡建设.

    >>> g = category_view(_demo_matrix(), "0302", at=_DEMO_AT)
    >>> g.nodes["area:101"]["status"], g.nodes["area:102"]["status"]
    ('rule', 'gap')
    >>> g.edges["unit:D-CG", "area:101", "leads"]["weight"]
    1
    """
    j = matrix.jurisdiction
    cat = j.category(category_code)
    townships = _district_townships(j, district)
    leaves = _leaves_under(j, category_code)
    filters = ["district=<a district area code>", f"category=<a subtree of {category_code}>",
               "unit_kind=<department|street|…>"]
    _check_size("category", 1 + len(townships), max_nodes, filters)
    resolver = _CellResolver.build(matrix, at)

    g = _new_graph("category", category_code, f"{cat.name} 由谁主办", at, matrix.version,
                   leaves=len(leaves))
    focus = _add_category(g, j, category_code, focus=True)
    if show_rules is None:
        show_rules = len(leaves) <= RULES_SHOWN_UP_TO
    rule_cluster = _add_cluster(g, "rules", "规则") if show_rules else None
    g.graph["rules_shown"] = show_rules
    for township in townships:
        district_code = j.district_of(township.code)
        cluster = _add_cluster(g, f"district:{district_code}", j.areas[district_code].name)
        node = _add_area(g, j, township.code, cluster=cluster)
        counts: Counter[str] = Counter()
        for leaf in leaves:
            decision = resolver.decide(leaf, township.code)
            status = VIEW_STATUS[decision.status]
            counts[status] += 1
            _add_cell(g, j, matrix, focus, township, decision, status, unit_kind, rule_cluster)
        worst = max(counts, key=lambda s: _SEVERITY[s]) if counts else "rule"
        g.nodes[node].update(status=worst, cells=sum(counts.values()),
                             **{f"cells_{s}": counts.get(s, 0)
                                for s in ("rule", "gap", "ambiguous", "unrouted",
                                          "out_of_scope")})
    _check_size("category", g.number_of_nodes(), max_nodes, filters)
    _label_weights(g, unit=" 类" if len(leaves) > 1 else "")
    return g


def _add_cell(g: nx.MultiDiGraph, j: Jurisdiction, matrix: MatrixLike, focus: str,
              township: Area, decision: Decision, status: str,
              unit_kind: UnitKind | str | None, rule_cluster: str | None) -> None:
    target = _add_area(g, j, township.code)
    if decision.lead is not None and _kind_ok(j, decision.lead, unit_kind):
        _bump_status(g, _add_unit(g, j, decision.lead), target, "leads", status)
    for co in decision.co_handlers:
        if _kind_ok(j, co, unit_kind):
            _bump_status(g, _add_unit(g, j, co), target, "assists", status)
    if rule_cluster is None:
        return
    deciding = [decision.rule.id] if decision.rule is not None else list(decision.tied_rules)
    for rule_id in deciding:
        rule = matrix.rules[rule_id]
        node = rule_node(rule_id)
        if node not in g:
            scope = j.areas[rule.area].name if rule.area else "全域"
            g.add_node(node, kind="rule", code=rule_id, label=rule_id, cluster=rule_cluster,
                       basis=rule.basis, source=rule.source.value, category=rule.category,
                       area=rule.area, lead=rule.lead,
                       tooltip=f"{rule_id}：{rule.basis}（分类 "
                               f"{j.categories[rule.category].name}，区域 {scope}）")
            _bump(g, focus, node, "contains", label=j.categories[rule.category].name)
        _bump_status(g, node, target, "decides", status)


def _bump_status(g: nx.MultiDiGraph, u: str, v: str, relation: str, status: str) -> None:
    if g.has_edge(u, v, relation):
        data = g.edges[u, v, relation]
        data["weight"] += 1
        if _SEVERITY[status] > _SEVERITY[data["status"]]:
            data["status"] = status
    else:
        g.add_edge(u, v, key=relation, relation=relation, weight=1, status=status)


# -- area view -----------------------------------------------------------------------------

def area_view(matrix: MatrixLike, area_code: str, *, at: datetime,
              category: str | None = None, unit_kind: UnitKind | str | None = None,
              max_nodes: int = DEFAULT_MAX_NODES) -> nx.MultiDiGraph:
    """One township (or an area within one): its territorial unit (``governs``) and the
    units that act in it as lead or co-handler of rules applying there, each clustered by
    the level-1 category group where it acts most; ``leads``/``assists`` edges are weighted
    by the number of categories.

    >>> g = area_view(_demo_matrix(), "101", at=_DEMO_AT)
    >>> g.edges["unit:JD-HP", "area:101", "governs"]["relation"]
    'governs'
    >>> g.edges["unit:D-CG", "area:101", "leads"]["weight"]
    1
    """
    j = matrix.jurisdiction
    area = j.area(area_code)
    if category is not None:
        j.category(category)
    if area.level is AreaLevel.DISTRICT:
        raise InvalidInput(f"area {area_code!r} is a district; the area view shows one "
                           "township — use the matrix view for a district",
                           code="invalid_area_level", area_code=area_code)
    territorial = j.territorial_unit(area_code)
    path = set(j.area_path(area_code))

    acts: dict[tuple[str, str], set[str]] = defaultdict(set)   # (unit, relation) → categories
    groups: dict[str, Counter[str]] = defaultdict(Counter)      # unit → level-1 → count
    for rule in _live_rules(matrix, at, category):
        if rule.area is not None and rule.area not in path \
                and not j.is_area_within(rule.area, area_code):
            continue
        for relation, codes in (("leads", (rule.lead,)), ("assists", rule.co_handlers)):
            for code in codes:
                unit = territorial if code == TERRITORIAL else code
                if unit is None or (unit != territorial and not _kind_ok(j, unit, unit_kind)):
                    continue
                acts[unit, relation].add(rule.category)
                groups[unit][j.category_path(rule.category)[-1]] += 1

    units = {u for u, _ in acts} | ({territorial} if territorial else set())
    _check_size("area", 1 + len(units), max_nodes,
                ["category=<a category subtree>", "unit_kind=<department|utility|…>",
                 "at=<another period>"])
    g = _new_graph("area", area_code, f"{area.name} 的责任单位", at, matrix.version)
    centre = _add_area(g, j, area_code, focus=True)
    for unit in sorted(units):
        counts = groups.get(unit)
        cluster = None
        if counts:
            top = max(sorted(counts), key=lambda c: counts[c])
            cluster = _add_cluster(g, f"category:{top}", j.categories[top].name)
        node = _add_unit(g, j, unit, cluster=cluster)
        g.nodes[node]["groups"] = dict(sorted(counts.items())) if counts else {}
    if territorial is not None:
        _bump(g, unit_node(territorial), centre, "governs", label="属地")
    for (unit, relation), cats in sorted(acts.items()):
        _bump(g, unit_node(unit), centre, relation, len(cats))
    _label_weights(g, unit=" 类")
    return g


# -- matrix view ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    """A row (leaf category) or column (township) of the matrix view."""

    code: str
    name: str
    group: str = ""  # rows: the level-1 category name; columns: the territorial unit


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """How a plain ticket routes in one category × township cell."""

    status: str  # rule | fallback | ambiguous | unrouted
    lead: str | None
    rule_id: str | None
    co_handlers: tuple[str, ...] = ()
    tied_rules: tuple[str, ...] = ()
    fallback_step: str | None = None
    #: rules that tie here for some tickets (an ``overlap`` of the matrix check: a plain
    #: ticket routes, but one with the rules' attributes or words would be ambiguous)
    overlap: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatrixView:
    """Leaf categories × townships of a district, each cell's routing for a plain ticket.

    >>> v = matrix_view(_demo_matrix(), "1", at=_DEMO_AT)
    >>> [r.code for r in v.rows], [c.code for c in v.columns]
    (['0301', '0302'], ['101', '102'])
    >>> v.counts()
    {'rule': 3, 'fallback': 1, 'ambiguous': 0, 'overlap': 0, 'unrouted': 0, 'out_of_scope': 0}
    """

    district: Header
    at: datetime
    version: int
    rows: tuple[Header, ...]
    columns: tuple[Header, ...]
    cells: tuple[tuple[MatrixCell, ...], ...]  # [row][column]
    unit_names: Mapping[str, str] = field(default_factory=dict)

    def cell(self, category: str, area: str) -> MatrixCell:
        row = next(i for i, r in enumerate(self.rows) if r.code == category)
        col = next(i for i, c in enumerate(self.columns) if c.code == area)
        return self.cells[row][col]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("rule", "fallback", "ambiguous", "overlap", "unrouted",
                             "out_of_scope"), 0)
        for row in self.cells:
            for cell in row:
                out[cell.status] += 1
        return out

    def to_table(self) -> list[list[str]]:
        """Header row then one row per category: the lead's name and status per cell."""
        table = [["分类", *(c.name for c in self.columns)]]
        for header, row in zip(self.rows, self.cells, strict=True):
            table.append([header.name, *(
                f"{self.unit_names.get(c.lead, c.lead) if c.lead else '—'}（{c.status}）"
                for c in row)])
        return table

    def to_graph(self) -> nx.MultiDiGraph:
        """The view as a graph for rendering and JSON: row (category) and column (area)
        nodes, and one ``cell`` node per cell with its ``row``, ``column``, ``status``,
        ``lead``, ``lead_name`` and ``rule``; ``graph.graph["view"] == "matrix"`` with the
        ordered ``rows`` and ``columns``. No edges: it renders as a table, not a drawing."""
        g = nx.MultiDiGraph()
        g.graph.update(
            view="matrix", focus=self.district.code, title=f"{self.district.name} 责任矩阵",
            at=self.at.isoformat(), ruleset_version=self.version, counts=self.counts(),
            rows=[{"code": r.code, "name": r.name, "group": r.group} for r in self.rows],
            columns=[{"code": c.code, "name": c.name, "group": c.group}
                     for c in self.columns],
            clusters={})
        for r in self.rows:
            g.add_node(category_node(r.code), kind="category", code=r.code, label=r.name,
                       cluster=None, group=r.group)
        for c in self.columns:
            g.add_node(area_node(c.code), kind="area", code=c.code, label=c.name,
                       cluster=None, unit=c.group)
        for r, row in zip(self.rows, self.cells, strict=True):
            for c, cell in zip(self.columns, row, strict=True):
                lead_name = self.unit_names.get(cell.lead, cell.lead) if cell.lead else None
                g.add_node(cell_node(r.code, c.code), kind="cell", row=r.code,
                           column=c.code, status=cell.status, lead=cell.lead,
                           lead_name=lead_name, rule=cell.rule_id,
                           co_handlers=list(cell.co_handlers),
                           tied_rules=list(cell.tied_rules), overlap=list(cell.overlap),
                           cluster=None,
                           label=lead_name or "—",
                           tooltip=_cell_tooltip(r, c, cell, lead_name))
        return g


def _cell_tooltip(row: Header, col: Header, cell: MatrixCell, lead_name: str | None) -> str:
    why = {"rule": f"规则 {cell.rule_id}", "fallback": f"兜底（{cell.fallback_step}）",
           "ambiguous": f"规则冲突 {'、'.join(cell.tied_rules)}",
           "overlap": f"规则 {cell.rule_id}；特定条件下 {'、'.join(cell.overlap)} 冲突",
           "unrouted": "无人承办", "out_of_scope": "不派单（受理口径）"}[cell.status]
    return f"{row.name} × {col.name}：主办 {lead_name or '—'}；{why}"


def matrix_view(matrix: MatrixLike, district_code: str, *, at: datetime,
                category: str | None = None,
                max_cells: int = DEFAULT_MAX_CELLS) -> MatrixView:
    """Leaf categories (within ``category`` if given) × townships of a district: each cell's
    status (``rule``, ``fallback``, ``ambiguous``, ``unrouted``), lead and rule for a ticket
    with no attributes and no text. Rules are indexed once, keeping only those whose scope
    can cover a township of the district."""
    j = matrix.jurisdiction
    district = j.area(district_code)
    townships = _district_townships(j, district_code)
    leaves = _leaves_under(j, category) if category is not None else j.category_leaves()
    count = len(leaves) * len(townships)
    if count > max_cells:
        raise LimitExceeded(
            f"the matrix view would have {count} cells, more than the cap of {max_cells}; "
            "narrow it with a filter: category=<a category subtree>",
            code="graph_too_large", view="matrix", cell_count=count, max_cells=max_cells,
            filters=["category=<a category subtree>"])
    scopes = set(j.area_path(district_code)) | {t.code for t in townships}
    resolver = _CellResolver.build(matrix, at, scopes)
    rows = tuple(Header(c, j.categories[c].name,
                        j.categories[j.category_path(c)[-1]].name) for c in leaves)
    columns = tuple(Header(t.code, _short_name(t.name, district.name), t.unit or "")
                    for t in townships)
    overlap = _overlap_cells(matrix, at, leaves, townships)
    cells = tuple(tuple(_matrix_cell(resolver.decide(leaf, t.code),
                                     overlap.get((leaf, t.code), ()))
                        for t in townships)
                  for leaf in leaves)
    names = {code: unit.name for code, unit in j.units.items()}
    return MatrixView(Header(district.code, district.name), at, matrix.version, rows, columns,
                      cells, names)


def _short_name(name: str, prefix: str) -> str:
    short = name.removeprefix(prefix)
    return short or name


def _matrix_cell(decision: Decision, overlap: tuple[str, ...] = ()) -> MatrixCell:
    status = MATRIX_STATUS[decision.status]
    if overlap and status == "rule":
        status = "overlap"
    return MatrixCell(status, decision.lead,
                      decision.rule.id if decision.rule is not None else None,
                      decision.co_handlers, decision.tied_rules, decision.fallback_step, overlap)


def _overlap_cells(matrix: MatrixLike, at: datetime, leaves: Sequence[str],
                   townships: Sequence[Area]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Cells where the matrix check finds an overlap (rules valid at ``at``), so that the
    map shows what ``quanze verify`` reports even when a plain ticket routes fine."""
    j = matrix.jurisdiction
    live = [r for r in matrix.rules.values() if r.is_valid_at(at)]
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    wanted = set(leaves)
    for finding in overlaps(j, live):
        assert finding.category is not None
        scope = finding.areas[0] if finding.areas else None
        for leaf in _leaves_under(j, finding.category):
            if leaf not in wanted:
                continue
            for township in townships:
                path = j.area_path(township.code)
                if scope is None or scope in path or township.code in j.area_path(scope):
                    found[(leaf, township.code)] = finding.rule_ids
    return found


# -- export --------------------------------------------------------------------------------

def to_json(graph: nx.DiGraph) -> dict[str, Any]:
    """The graph as ``{"graph": {...}, "nodes": [...], "edges": [...]}`` with every
    attribute; nodes carry their ``id``, edges their ``source`` and ``target``.

    >>> data = to_json(unit_view(_demo_matrix(), "JD-HP", at=_DEMO_AT))
    >>> data["nodes"][0]["id"], data["nodes"][0]["label"]
    ('unit:JD-HP', '和平街道')
    >>> sorted(e["relation"] for e in data["edges"])
    ['leads', 'leads', 'shares_work']
    """
    return {
        "graph": dict(graph.graph),
        "nodes": [{"id": n, **data} for n, data in graph.nodes(data=True)],
        "edges": [{"source": u, "target": v, **data} for u, v, data in graph.edges(data=True)],
    }


# -- doctest fixture -----------------------------------------------------------------------

_DEMO_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Demo:
    version: int
    jurisdiction: Jurisdiction
    rules: Mapping[str, Rule]
    settings: Settings


def _demo_matrix() -> _Demo:
    """Two streets, two departments, two categories under 城乡建设, two rules."""
    j = Jurisdiction.build(
        [Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("JD-XH", "新华街道", UnitKind.STREET),
         Unit("D-CG", "城管委", UnitKind.DEPARTMENT), Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT),
         Unit("O-RX", "热线中心", UnitKind.OFFICE)],
        [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
         Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP"),
         Area("102", "新华街道", AreaLevel.TOWNSHIP, "1", "JD-XH")],
        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03"),
         Category("0302", "物业管理", "03")])
    rules = [Rule("R-1", "0301", TERRITORIAL, "街道履职清单第3项", co_handlers=("D-CG",)),
             Rule("R-2", "0302", "D-CG", "城管权责清单第7项", area="101",
                  co_handlers=("D-ZJ",))]
    return _Demo(1, j, {r.id: r for r in rules}, Settings(hotline_office="O-RX"))


__all__ = [
    "DEFAULT_MAX_CELLS", "DEFAULT_MAX_NODES", "EVERYWHERE", "KINDS", "RELATIONS", "Header",
    "MatrixCell", "MatrixView", "area_node", "area_view", "category_node", "category_view",
    "cell_node", "matrix_view", "rule_node", "to_json", "unit_node", "unit_view",
]
