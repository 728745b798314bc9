"""The matrix check (``quanze verify``): gaps, overlaps, shadowed rules, dangling references
and breaches of the departmental guard. Pure: works on a :class:`~rules.store.Matrix`-like
object (jurisdiction, rules, settings) and a time.

Findings carry a stable ``code``, a ``severity`` (``error`` makes ``quanze verify`` exit 1)
and the rule, category and areas they concern.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from jurisdiction.model import Jurisdiction
from rules.conditions import TicketContext
from rules.departmental import POLICY, departmental_fallback
from rules.model import ROLES, TERRITORIAL, Rule, Settings, Status, Ticket
from rules.resolution import rank, resolve

_BEGINNING = datetime.min.replace(tzinfo=UTC)


class MatrixLike(Protocol):
    @property
    def jurisdiction(self) -> Jurisdiction: ...
    @property
    def rules(self) -> Mapping[str, Rule]: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # error | warning | info
    message: str
    rule_ids: tuple[str, ...] = ()
    category: str | None = None
    areas: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "rule_ids": list(self.rule_ids), "category": self.category,
                "areas": list(self.areas)}


@dataclass
class Report:
    version: int
    at: datetime
    findings: list[Finding] = field(default_factory=list)
    cells: int = 0
    cells_by_status: dict[str, int] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.code] += 1
        return dict(out)

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset_version": self.version, "at": self.at.isoformat(),
                "ok": not self.has_errors, "counts": self.counts(),
                "cells": {"total": self.cells, "by_status": self.cells_by_status},
                "findings": [f.as_dict() for f in self.findings]}


def verify(matrix: MatrixLike, at: datetime) -> Report:
    """Check the matrix as it routes at time ``at``."""
    report = Report(matrix.version, at)
    j = matrix.jurisdiction
    rules = list(matrix.rules.values())
    report.findings += dangling(j, rules, matrix.settings)
    live = [r for r in rules if r.category in j.categories
            and (r.area is None or r.area in j.areas)]
    report.findings += departmental_pushdown(j, live)
    report.findings += departmental_fallbacks(j, live)
    report.findings += overlaps(j, live)
    report.findings += shadowed(j, live)
    report.findings += hierarchy_warnings(j)
    cell_findings, by_status, total = gaps(matrix, live, at)
    report.findings += cell_findings
    report.cells, report.cells_by_status = total, by_status
    return report


def dangling(j: Jurisdiction, rules: Iterable[Rule], settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        missing = []
        if r.category not in j.categories:
            missing.append(f"category {r.category}")
        if r.area is not None and r.area not in j.areas:
            missing.append(f"area {r.area}")
        for code in (r.lead, *r.co_handlers):
            if code not in ROLES and code not in j.units:
                missing.append(f"unit {code}")
        if missing:
            out.append(Finding("dangling_reference", "error",
                               f"规则 {r.id} 引用了不存在的 {', '.join(missing)}", (r.id,),
                               r.category))
    if not settings.hotline_office or settings.hotline_office not in j.units:
        out.append(Finding("no_hotline_office", "error",
                           "未设置热线中心（settings.hotline_office），unrouted 工单无人持有"))
    return out


def departmental_pushdown(j: Jurisdiction, rules: Iterable[Rule]) -> list[Finding]:
    """A rule that would give a departmental matter to a township (2025 policy: 职能部门事项
    不得分派给基层); resolution refuses such a lead."""
    out = []
    for r in rules:
        path = j.category_path(r.category)
        dept = next((c for c in path if j.categories[c].departmental), None)
        if dept is None:
            continue
        unit = j.units.get(r.lead)
        if r.lead == TERRITORIAL or (unit is not None and unit.is_territorial):
            out.append(Finding("departmental_pushdown", "error",
                               f"规则 {r.id} 把部门事项 {j.categories[dept].name} 交给属地主办",
                               (r.id,), r.category))
    return out


def departmental_fallbacks(j: Jurisdiction, rules: Iterable[Rule]) -> list[Finding]:
    """Where departmental gaps go (国办函〔2025〕66号 §五, rules/departmental.py).

    - ``departmental_default_territorial`` (error): a category marked departmental whose
      ``default_unit`` is a township, street or community unit — the data would push the
      matter down; routing passes that unit over (to a department a rule names, else the
      hotline office) until it is corrected.
    - ``departmental_unmarked`` (warning): a leaf that is departmental only because a rule
      gives it to a department or utility; mark it (部门事项 = 是, with that default unit) so
      the catalogue says what routing does.
    - ``departmental_derived`` (info): the same for a leaf that also has territorial-led rules
      on its path; marking it would make those rules lose, so it stays unmarked and its gaps
      go to the department by derivation.

    The derivation reads ``j.derived_defaults`` (filled when the matrix is built), so it covers
    every rule in any area of the district at any validity.
    """
    out: list[Finding] = []
    for c in sorted(j.categories.values(), key=lambda c: c.code):
        unit = j.units.get(c.default_unit) if c.departmental and c.default_unit else None
        if unit is not None and unit.is_territorial:
            out.append(Finding(
                "departmental_default_territorial", "error",
                f"部门事项 {c.name}（{c.code}）的默认单位 {unit.name}（{unit.code}）是属地单位："
                f"兜底不得派给乡镇街道（{POLICY}）；路由不采用该默认单位，请改为主管部门",
                category=c.code))
    territorial_led: set[str] = set()
    for r in rules:
        lead = j.units.get(r.lead)
        if r.lead == TERRITORIAL or (lead is not None and lead.is_territorial):
            territorial_led.add(r.category)
    districts = sorted({j.district_of(a.code) for a in j.townships()})
    for leaf in j.category_leaves():
        path = j.category_path(leaf)
        if any(j.categories[code].departmental for code in path):
            continue
        for district in districts:
            chain = departmental_fallback(path, district, j)
            if chain is None or chain.step != "derived_default" or chain.unit is None:
                continue
            unit = j.units[chain.unit]
            name = j.categories[leaf].name
            told = (f"分类 {name}（{leaf}）未标记为部门事项，但规则 {chain.rule_id} 交 "
                    f"{unit.name}（{unit.code}）主办：无规则适用时由 {unit.name} 兜底，"
                    f"不派给属地（{POLICY}）")
            if territorial_led & set(path):
                out.append(Finding(
                    "departmental_derived", "info",
                    f"{told}；该分类另有属地主办的规则，标记为部门事项会使其失效，故不标记",
                    (chain.rule_id,) if chain.rule_id else (), leaf, (district,)))
            else:
                out.append(Finding(
                    "departmental_unmarked", "warning",
                    f"{told}；请在分类中标记为部门事项，默认单位 {unit.name}",
                    (chain.rule_id,) if chain.rule_id else (), leaf, (district,)))
    return out


def _compatible(a: Rule, b: Rule) -> bool:
    """Can one ticket match both rules (given the same category and area)?"""
    for key in set(a.when) & set(b.when):
        if not set(a.when[key]) & set(b.when[key]):
            return False
    start = max(a.valid_from or _BEGINNING, b.valid_from or _BEGINNING)
    ends = [x for x in (a.valid_to, b.valid_to) if x is not None]
    return not (ends and min(ends) <= start)


def overlaps(j: Jurisdiction, rules: Iterable[Rule]) -> list[Finding]:
    """Rules that tie on every step of the canon, can match the same ticket and name
    different leads: such tickets route ``ambiguous``."""
    groups: dict[tuple[Any, ...], list[Rule]] = defaultdict(list)
    for r in rules:
        groups[(r.category, r.area, rank(r, j))].append(r)
    out = []
    for members in groups.values():
        members.sort(key=lambda r: r.id)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a.lead != b.lead and _compatible(a, b):
                    out.append(Finding(
                        "overlap", "error",
                        f"规则 {a.id}（主办 {a.lead}）与 {b.id}（主办 {b.lead}）同级且可同时"
                        "匹配，工单将被判为 ambiguous", (a.id, b.id), a.category,
                        (a.area,) if a.area else ()))
    return out


def _implies(r: Rule, s: Rule) -> bool:
    """Whenever r matches, s matches too (same category and area assumed)."""
    for key, allowed in s.when.items():
        if key not in r.when or not set(r.when[key]) <= set(allowed):
            return False
    if s.text_any and not (r.text_any and all(
            any(w2 in w for w2 in s.text_any) for w in r.text_any)):
        return False
    if s.valid_from and (r.valid_from is None or r.valid_from < s.valid_from):
        return False
    return not (s.valid_to and (r.valid_to is None or r.valid_to > s.valid_to))


def shadowed(j: Jurisdiction, rules: Iterable[Rule]) -> list[Finding]:
    """Rules that can never win: another rule matches whenever they do and outranks them."""
    groups: dict[tuple[str, str | None], list[Rule]] = defaultdict(list)
    for r in rules:
        groups[(r.category, r.area)].append(r)
    out = []
    for members in groups.values():
        for r in members:
            for s in members:
                # A role lead may not resolve (no area) where r's fixed lead still applies.
                if s.lead in ROLES and r.lead not in ROLES:
                    continue
                if s is not r and rank(s, j) > rank(r, j) and _implies(r, s):
                    out.append(Finding("shadowed", "warning",
                                       f"规则 {r.id} 永远不会胜出：规则 {s.id} 在其匹配时总能"
                                       "匹配且排序更高", (r.id, s.id), r.category,
                                       (r.area,) if r.area else ()))
                    break
    return out


def hierarchy_warnings(j: Jurisdiction) -> list[Finding]:
    out = []
    for area in j.townships():
        if area.unit is None:
            out.append(Finding("no_territorial_unit", "warning",
                               f"乡镇街道 {area.name} 未设属地单位", areas=(area.code,)))
    for c in j.categories.values():
        if c.default_unit and not c.departmental:
            out.append(Finding("default_unit_ignored", "info",
                               f"分类 {c.name} 设了默认单位但不是部门事项，兜底时不使用默认单位",
                               category=c.code))
        if c.departmental and not c.default_unit and not j.category_children(c.code):
            out.append(Finding("departmental_without_default", "warning",
                               f"部门事项 {c.name} 无默认单位：无规则时由热线中心持有",
                               category=c.code))
    return out


def cell_decision(matrix: MatrixLike, rules_by_category: Mapping[str, list[Rule]],
                  category: str, area: str, at: datetime) -> Any:
    """How a plain ticket (no attributes, no text) of ``category`` in ``area`` routes."""
    j = matrix.jurisdiction
    ctx = TicketContext(Ticket(category, at, area=area), j.category_path(category),
                        j.area_path(area))
    considered = [r for c in ctx.category_path for r in rules_by_category.get(c, ())]
    return resolve(ctx, considered, j, matrix.settings)


def gaps(matrix: MatrixLike, rules: list[Rule],
         at: datetime) -> tuple[list[Finding], dict[str, int], int]:
    """Leaf category × township cells that only a fallback would serve (for a ticket with
    no attributes and no text), grouped by category."""
    j = matrix.jurisdiction
    by_category: dict[str, list[Rule]] = defaultdict(list)
    for r in rules:
        by_category[r.category].append(r)
    townships = j.townships()
    out: list[Finding] = []
    by_status: dict[str, int] = defaultdict(int)
    total = 0
    for leaf in j.category_leaves():
        gap_areas = []
        step = None
        for township in townships:
            decision = cell_decision(matrix, by_category, leaf, township.code, at)
            total += 1
            by_status[decision.status.value] += 1
            if decision.status in (Status.FALLBACK, Status.UNROUTED):
                gap_areas.append(township.code)
                step = decision.fallback_step
        if gap_areas:
            name = j.categories[leaf].name
            scope = "全部乡镇街道" if len(gap_areas) == len(townships) else \
                f"{len(gap_areas)} 个乡镇街道"
            out.append(Finding("gap", "warning",
                               f"分类 {name}（{leaf}）在{scope}无规则，只能兜底（{step}）",
                               category=leaf, areas=tuple(gap_areas)))
    return out, dict(by_status), total
