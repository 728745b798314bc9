"""派单目录: the matrix to read — by category (a tree with search), by area and by unit; a
category's page with who leads it in every township (the router's own decision, now); a
rule's page with its fields, history and recent decisions; a unit's page with what it leads
and assists. Read-only: changes are change sets (another page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.pages.web import StaffDep, error_page, render, services_of
from arbitration import changesets
from jurisdiction.model import AreaLevel
from rules.model import TERRITORIAL, Rule, Ticket
from rules.service import recent_decisions
from rules.store import Matrix, rule_history

router = APIRouter(include_in_schema=False)

#: search answers at most this many categories
MAX_FOUND = 200


@dataclass(frozen=True)
class Node:
    """A category in the tree: its code, name, children and how many rules name it."""

    code: str
    name: str
    children: tuple[Node, ...]
    rules: int


def _tree(matrix: Matrix) -> list[Node]:
    j = matrix.jurisdiction
    per_category: dict[str, int] = {}
    for rule in matrix.rules.values():
        per_category[rule.category] = per_category.get(rule.category, 0) + 1

    def node(code: str) -> Node:
        kids = tuple(node(c) for c in sorted(j.category_children(code)))
        return Node(code, j.categories[code].name, kids, per_category.get(code, 0))

    return [node(c.code) for c in sorted(j.categories.values(), key=lambda c: c.code)
            if c.parent is None]


def _search(matrix: Matrix, q: str) -> list[str]:
    j = matrix.jurisdiction
    needle = q.strip().lower()
    found = [code for code, c in sorted(j.categories.items())
             if needle in code.lower() or needle in c.name.lower()]
    return found[:MAX_FOUND]


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue(request: Request, staff: StaffDep,
              by: Annotated[str, Query(max_length=10)] = "category",
              q: Annotated[str, Query(max_length=100)] = "",
              top: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """The matrix by category (tree; ``q`` searches names and codes; ``top`` opens one
    level-1 branch), by area (``by=area``) or by unit (``by=unit``)."""
    matrix = services_of(request).router.current()
    j = matrix.jurisdiction
    context: dict[str, Any] = {"by": by, "q": q, "top": top, "version": matrix.version,
                               "counts": {"categories": len(j.categories),
                                          "leaves": len(j.category_leaves()),
                                          "rules": len(matrix.rules), "units": len(j.units)}}
    if by == "area":
        areas = sorted(j.areas.values(), key=lambda a: a.code)
        context["areas"] = [a for a in areas if a.level in (AreaLevel.DISTRICT,
                                                             AreaLevel.TOWNSHIP)]
        context["area_rules"] = _count(r.area for r in matrix.rules.values() if r.area)
    elif by == "unit":
        leads = _count(r.lead for r in matrix.rules.values())
        assists = _count(c for r in matrix.rules.values() for c in r.co_handlers)
        units = sorted(j.units.values(), key=lambda u: (u.kind.value, u.code))
        context.update(units=units, leads=leads, assists=assists)
    else:
        context["by"] = "category"
        if q.strip():
            context["found"] = _search(matrix, q)
        else:
            context["tree"] = _tree(matrix)
    return render(request, "catalogue.html", title="派单目录", **context)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


@router.get("/catalogue/categories/{code}", response_class=HTMLResponse)
def category_page(request: Request, staff: StaffDep, code: str) -> HTMLResponse:
    """A category: its path, children, the rules on it (and inherited from above), and for
    a leaf who leads it in every township now — the router's decision for a ticket of this
    category in the township, without attributes or text, exactly as ``/v1/route`` gives."""
    services = services_of(request)
    matrix = services.router.current()
    j = matrix.jurisdiction
    if code not in j.categories:
        return error_page(request, 404, f"派单目录中没有分类 {code}。")
    now = services.clock()
    path = list(reversed(j.category_path(code)))
    children = sorted(j.category_children(code))
    own = sorted((r for r in matrix.rules.values() if r.category == code), key=_rule_order)
    inherited = sorted((r for r in matrix.rules.values()
                        if r.category != code and r.category in path), key=_rule_order)
    leads = []
    if not children:
        for township in j.townships():
            _, decision = services.router.decide(Ticket(code, now, area=township.code),
                                                 matrix)
            leads.append({"area": township, "decision": decision})
    return render(request, "catalogue_category.html", title=j.categories[code].name,
                  category=j.categories[code], ancestors=path, children=children, own=own,
                  inherited=inherited, leads=leads, version=matrix.version,
                  at=now)


def _rule_order(rule: Rule) -> tuple[str, str, str]:
    return (rule.category, rule.area or "", rule.id)


#: a rule's fields as staff read them, in the order shown
RULE_FIELDS = (("id", "规则编号"), ("category", "事项分类"), ("area", "适用区域"),
               ("when", "附加条件"), ("text_any", "诉求关键词（任一）"), ("lead", "主办单位"),
               ("co_handlers", "协办单位"), ("basis", "依据"), ("source", "来源"),
               ("priority", "优先级"), ("valid_from", "生效时间"), ("valid_to", "失效时间"),
               ("ruling_id", "来自裁定"), ("note", "备注"))


@router.get("/catalogue/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, staff: StaffDep, rule_id: str) -> HTMLResponse:
    """A rule: its fields (the live revision, or the last one of a retired rule), basis,
    validity, every revision, and the newest decisions it made."""
    services = services_of(request)
    matrix = services.router.current()
    with services.db.connect() as conn:
        history = rule_history(conn, rule_id)
        decisions = recent_decisions(conn, rule_id, limit=20)
        drafts = changesets.list_change_sets(conn, status="draft", rule_id=rule_id, limit=20)
    live = matrix.rules.get(rule_id)
    latest = history[-1]
    fields = live.content() if live is not None else {
        key: latest.get(key) for key, _ in RULE_FIELDS}
    now = services.clock()
    in_force = live is not None and live.is_valid_at(now)
    return render(request, "catalogue_rule.html", title=f"规则 {rule_id}", rule_id=rule_id,
                  fields=fields, labels=RULE_FIELDS, live=live, in_force=in_force,
                  history=list(reversed(history)), decisions=decisions,
                  territorial=TERRITORIAL, drafts=drafts)


@router.get("/catalogue/units/{code}", response_class=HTMLResponse)
def unit_page(request: Request, staff: StaffDep, code: str) -> HTMLResponse:
    """A unit: the rules it leads and assists, by category; for a township unit, the areas
    it governs (属地) and how many rules lead by territory there."""
    matrix = services_of(request).router.current()
    j = matrix.jurisdiction
    if code not in j.units:
        return error_page(request, 404, f"派单目录中没有单位 {code}。")
    leads = sorted((r for r in matrix.rules.values() if r.lead == code), key=_rule_order)
    assists = sorted((r for r in matrix.rules.values() if code in r.co_handlers),
                     key=_rule_order)
    governs = sorted((a for a in j.areas.values() if a.unit == code), key=lambda a: a.code)
    territorial = sum(1 for r in matrix.rules.values()
                      if r.lead == TERRITORIAL or TERRITORIAL in r.co_handlers) \
        if any(a.level is AreaLevel.TOWNSHIP for a in governs) else 0
    defaults = sorted(c.code for c in j.categories.values() if c.default_unit == code)
    return render(request, "catalogue_unit.html", title=j.units[code].name, unit=j.units[code],
                  leads=leads, assists=assists, governs=governs, territorial=territorial,
                  defaults=defaults)
