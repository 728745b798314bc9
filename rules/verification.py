"""The matrix check (``quanze verify``): gaps, overlaps, shadowed rules, dangling references
and breaches of the departmental guard. Pure: works on a :class:`~rules.store.Matrix`-like
object (jurisdiction, rules, settings) and a time.

Findings carry a stable ``code``, a ``severity`` (``error`` makes ``quanze verify`` exit 1)
and the rule, category and areas they concern.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import TYPE_CHECKING, Any, Protocol

from jurisdiction.model import Jurisdiction
from rules.conditions import TicketContext
from rules.departmental import POLICY, departmental_fallback
from rules.model import ROLES, TERRITORIAL, Rule, Settings, Status, Ticket
from rules.resolution import rank, resolve

if TYPE_CHECKING:
    from rules.model import Decision

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
    report.findings += duplicates(live)
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


#: Canon steps at which a matching rule loses to a rule that outranks it (Candidate.step).
_OUTRANKED = {"specificity": "特别性", "authority": "权威", "priority": "优先级",
              "recency": "新旧"}
#: Steps at which a matching rule cannot be applied at all: its lead is refused.
_INAPPLICABLE = frozenset({"role", "departmental"})
#: A time at which nothing changes, for a matrix whose rules carry no dates at all.
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: How many rule ids a message names; the finding's ``rule_ids`` carry them all.
_NAMES_SHOWN = 6


class _TicketSpace:
    """Every ticket a rule can match, cut into finitely many cases that resolution cannot tell
    apart, so that "never wins" can be decided exactly by running the canon itself
    (:func:`rules.resolution.resolve`) once per case:

    - category: each leaf under the rule's category (tickets are classified at leaves);
    - area: for each leaf, one area per class of areas that lie inside the same scopes of the
      rules on the leaf's path and whose territorial unit (属地单位) resolves alike (none, a
      territorial unit, another unit), plus "no area" for a rule without a scope;
    - time: one moment in each interval between the validity bounds of the rules on the
      leaf's path, within the rule's own validity;
    - attributes and text: the smallest tickets the rule matches (:func:`_witnesses`).
    """

    def __init__(self, j: Jurisdiction, rules: Sequence[Rule], settings: Settings) -> None:
        self.j = j
        self.settings = settings
        self.by_id = {r.id: r for r in rules}
        self.by_category: dict[str, list[Rule]] = defaultdict(list)
        for r in rules:
            self.by_category[r.category].append(r)
        # An area's kind: how a role lead resolves there (no unit, a territorial unit, other).
        self._kinds: dict[str, bool | None] = {}
        self._children: dict[str | None, list[str]] = defaultdict(list)
        for code in sorted(j.areas):
            self._kinds[code] = _area_kind(j, code)
            self._children[j.areas[code].parent].append(code)
        self._subtree_kinds: dict[str, frozenset[bool | None]] = {}
        for code in sorted(j.areas, key=j.area_depth, reverse=True):
            self._subtree_kinds[code] = frozenset({self._kinds[code]}).union(
                *(self._subtree_kinds[c] for c in self._children[code]))
        self._leaves: dict[str, list[str]] = {}
        self._considered: dict[str, list[Rule]] = {}
        self._areas: dict[frozenset[str], list[str | None]] = {}
        self._leaf_areas: dict[str, list[str | None]] = {}
        self._bounds: dict[str, list[datetime]] = {}

    def leaves(self, category: str) -> list[str]:
        if category not in self._leaves:
            children = sorted(self.j.category_children(category))
            self._leaves[category] = [leaf for child in children
                                      for leaf in self.leaves(child)] or [category]
        return self._leaves[category]

    def considered(self, leaf: str) -> list[Rule]:
        """The rules on the leaf's category path, as resolution is given them."""
        if leaf not in self._considered:
            self._considered[leaf] = [r for c in self.j.category_path(leaf)
                                      for r in self.by_category.get(c, ())]
        return self._considered[leaf]

    def areas(self, rule: Rule, leaf: str) -> list[str | None]:
        """One area per class the rules on the leaf's path cannot tell apart, within the
        rule's scope; "no area" (None) last."""
        if leaf not in self._leaf_areas:
            scopes = frozenset(r.area for r in self.considered(leaf) if r.area)
            if scopes not in self._areas:
                self._areas[scopes] = self._representatives(scopes)
            self._leaf_areas[leaf] = self._areas[scopes]
        areas = self._leaf_areas[leaf]
        if rule.area is None:
            return areas
        return [a for a in areas if a is not None and rule.area in self.j.area_path(a)]

    def _representatives(self, scopes: frozenset[str]) -> list[str | None]:
        """One area for each (nearest scope on its path, kind); territorial kinds first (there
        a role lead applies, so a rule that can win at all usually wins in the first case
        tried), "no area" last. Walks the area tree, skipping subtrees that hold no scope and
        no kind not yet found."""
        above_scopes = {a for scope in scopes for a in self.j.area_path(scope)}
        found: dict[tuple[str | None, bool | None], str] = {}

        def visit(code: str, owner: str | None) -> None:
            found.setdefault((owner, self._kinds[code]), code)
            for child in self._children[code]:
                child_owner = child if child in scopes else owner
                if child not in above_scopes and self._subtree_kinds[child] <= {
                        kind for o, kind in found if o == child_owner}:
                    continue
                visit(child, child_owner)

        for root in self._children[None]:
            visit(root, root if root in scopes else None)
        ordered = sorted(found.items(), key=lambda item: item[0][1] is not True)
        return [code for _, code in ordered] + [None]

    def moments(self, rule: Rule, leaf: str) -> list[datetime]:
        """One moment per interval of the rule's validity in which the set of valid rules on
        the leaf's path is constant."""
        if leaf not in self._bounds:
            self._bounds[leaf] = sorted({t for r in self.considered(leaf)
                                         for t in (r.valid_from, r.valid_to) if t is not None})
        bounds = self._bounds[leaf]
        moments = [t for t in bounds
                   if (rule.valid_from is None or t >= rule.valid_from)
                   and (rule.valid_to is None or t < rule.valid_to)]
        if rule.valid_from is None:
            moments.insert(0, bounds[0] - timedelta(days=1) if bounds else _ANY_TIME)
        return moments


def _area_kind(j: Jurisdiction, area: str) -> bool | None:
    """How a role lead resolves in ``area``: to no unit (None), to a territorial unit (True)
    or to another unit (False)."""
    unit = j.territorial_unit(area)
    return None if unit is None else (unit in j.units and j.units[unit].is_territorial)


def _witnesses(rule: Rule, considered: Sequence[Rule]) -> list[tuple[dict[str, str], str]]:
    """The smallest tickets ``rule`` matches: only its own attributes, one value for each class
    of values the other rules treat alike, and one of its keywords as the whole text (or no
    text). A ticket only gains matches as it gains attributes or text, so a rule beaten on
    each of these is beaten on every ticket it matches."""
    others = [s for s in considered if s is not rule]
    choices: list[list[tuple[str, str]]] = []
    for key in sorted(rule.when):
        values: dict[frozenset[str], str] = {}
        for value in rule.when[key]:
            values.setdefault(frozenset(s.id for s in others if value in s.when.get(key, ())),
                              value)
        choices.append([(key, v) for v in values.values()])
    texts: dict[frozenset[str], str] = {}
    for word in rule.text_any:
        texts.setdefault(frozenset(w for s in others for w in s.text_any if w in word), word)
    return [(dict(attrs), text) for attrs in product(*choices)
            for text in (list(texts.values()) or [""])]


def _fate(rule: Rule, ctx: TicketContext, considered: Sequence[Rule], j: Jurisdiction,
          settings: Settings) -> tuple[str | None, list[str]]:
    """What became of ``rule`` on one ticket (its candidate step, None if not considered) and
    the rules that won."""
    decision = resolve(ctx, considered, j, settings)
    step = next((c.step for c in decision.candidates if c.rule_id == rule.id), None)
    return step, [c.rule_id for c in decision.candidates if c.step in ("won", "tie")]


def _cases(space: _TicketSpace,
           rule: Rule) -> Iterator[Iterator[tuple[str | None, list[str]]]]:
    """For each (leaf, area) of the rule's reach, its fate on its witnesses over time."""
    j = space.j
    for leaf in space.leaves(rule.category):
        considered = space.considered(leaf)
        path = j.category_path(leaf)
        witnesses = _witnesses(rule, considered)
        moments = space.moments(rule, leaf)
        for area in space.areas(rule, leaf):
            area_path = j.area_path(area) if area is not None else ()
            yield (_fate(rule, TicketContext(Ticket(leaf, moment, area=area, attributes=attrs,
                                                    text=text), path, area_path),
                         considered, j, space.settings)
                   for moment in moments for attrs, text in witnesses)


def never_wins(space: _TicketSpace, rule: Rule) -> tuple[list[str], list[str]] | None:
    """The rules that beat ``rule`` and the canon steps at which it loses, when no ticket it
    matches is ever decided by it; None when some ticket is (it wins, or ties with a rule of
    the same rank), or when it applies nowhere (its lead refused everywhere: reported as
    ``departmental_pushdown`` or ``no_territorial_unit``)."""
    winners: set[str] = set()
    steps: set[str] = set()
    for fates in _cases(space, rule):
        for step, won in fates:
            if step is None or step in _INAPPLICABLE:
                # its lead is refused in this leaf and area (or the leaf is not dispatched at
                # all and no rule is considered), at every time
                break
            if step not in _OUTRANKED:
                return None  # it wins or ties here
            steps.add(step)
            winners.update(won)
    if not winners:
        return None
    ordered = sorted(winners, key=lambda i: (tuple(-x for x in rank(space.by_id[i], space.j)),
                                             i))
    return ordered, [s for s in _OUTRANKED if s in steps]


def shadowed(j: Jurisdiction, rules: Iterable[Rule],
             settings: Settings | None = None) -> list[Finding]:
    """Rules that can never win under the canon, whatever level they sit on: on every leaf of
    the rule's category, in every area of its scope, at every time of its validity and for
    every ticket it matches, another rule outranks it. A township rule on a level-2 category
    is dead when district-wide rules on each leaf below it exist (deeper category beats
    deeper area); a rule that wins before another starts, or for tickets outside another's
    conditions, is not.

    >>> from jurisdiction.model import *
    >>> j = Jurisdiction.build(
    ...     [Unit("JD-HP", "和平街道", UnitKind.STREET),
    ...      Unit("D-RL", "热力公司", UnitKind.UTILITY)],
    ...     [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
    ...      Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP")],
    ...     [Category("03", "城乡建设", None), Category("0303", "供暖", "03"),
    ...      Category("030301", "暖气不热", "0303")])
    >>> rules = [Rule("local", "0303", TERRITORIAL, "b", area="101"),
    ...          Rule("leaf", "030301", "D-RL", "b")]
    >>> [(f.code, f.rule_ids) for f in shadowed(j, rules, Settings())]
    [('shadowed', ('local', 'leaf'))]
    """
    rules = list(rules)
    space = _TicketSpace(j, rules, settings or Settings())
    out = []
    for r in sorted(rules, key=lambda r: r.id):
        verdict = never_wins(space, r)
        if verdict is None:
            continue
        winners, steps = verdict
        names = "、".join(winners[:_NAMES_SHOWN]) + (
            f" 等 {len(winners)} 条" if len(winners) > _NAMES_SHOWN else "")
        how = "、".join(_OUTRANKED[s] for s in steps)
        interior = bool(j.category_children(r.category))
        where = f"在分类 {r.category} 下的任何末级事项上都" if interior else ""
        only = (f"；只有直接按分类 {r.category} 提交（未细分到末级）的工单才由它决定"
                if interior else "")
        out.append(Finding("shadowed", "warning",
                           f"规则 {r.id} {where}永远不会胜出：凡它匹配的工单，都有排序更高的"
                           f"规则胜出（输在{how}）：{names}{only}", (r.id, *winners),
                           r.category, (r.area,) if r.area else ()))
    return out


def _content(rule: Rule) -> tuple[Any, ...]:
    """What a rule says, without its id and basis; order of values, keywords and co-handlers
    does not matter."""
    return (rule.category, rule.area,
            frozenset((k, frozenset(v)) for k, v in rule.when.items()),
            frozenset(rule.text_any), rule.lead, frozenset(rule.co_handlers),
            rule.valid_from, rule.valid_to, rule.priority, rule.source)


def duplicates(rules: Iterable[Rule]) -> list[Finding]:
    """Rules that say the same (category, area, conditions, keywords, lead, co-handlers,
    validity, priority, source) under different ids, e.g. a list imported a second time
    without its 规则编号: routing is unchanged, but every later edit must be made twice.

    >>> [f.rule_ids for f in duplicates([Rule("A", "03", "D", "b"), Rule("B", "03", "D", "c")])]
    [('A', 'B')]
    """
    groups: dict[tuple[Any, ...], list[Rule]] = defaultdict(list)
    for r in rules:
        groups[_content(r)].append(r)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ids = tuple(sorted(r.id for r in members))
        first = members[0]
        out.append(Finding("duplicate_rule", "warning",
                           f"规则 {'、'.join(ids)} 内容相同（分类、区域、条件、关键词、主办、协办、"
                           "有效期、优先级、来源均一致），只是编号不同：请保留一条",
                           ids, first.category, (first.area,) if first.area else ()))
    return sorted(out, key=lambda f: f.rule_ids)

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


def conditional_rules(matrix: MatrixLike, rules_by_category: Mapping[str, list[Rule]],
                      category: str, area: str, at: datetime, plain: Decision,
                      applies: dict[tuple[str, str, bool | None], bool] | None = None,
                      ) -> list[Rule]:
    """The rules with conditions that decide a ticket of ``category`` in ``area`` at ``at``
    once the ticket meets their conditions (valid then, their lead applies there). ``plain`` is
    the decision on a plain ticket of the cell (:func:`cell_decision`): its candidates that
    lost on ``when`` or ``text`` are the conditional rules in scope. ``applies`` caches whether
    a rule's lead applies, per rule, category and how a role resolves in the area."""
    j = matrix.jurisdiction
    path, area_path = j.category_path(category), j.area_path(area)
    considered = [r for c in path for r in rules_by_category.get(c, ())]
    by_id = {r.id: r for r in considered}
    applies = {} if applies is None else applies
    out = []
    for candidate in plain.candidates:
        rule = by_id.get(candidate.rule_id)
        if rule is None or candidate.step not in ("when", "text") or not rule.is_valid_at(at):
            continue
        key = (rule.id, category, _area_kind(j, area))
        if key not in applies:
            attrs, text = _witnesses(rule, considered)[0]
            ctx = TicketContext(Ticket(category, at, area=area, attributes=attrs, text=text),
                                path, area_path)
            step, _ = _fate(rule, ctx, considered, j, matrix.settings)
            applies[key] = step is not None and step not in _INAPPLICABLE
        if applies[key]:
            out.append(rule)
    return out


def _conditions_text(rule: Rule) -> str:
    parts = [f"{k}={'/'.join(v)}" for k, v in sorted(rule.when.items())]
    if rule.text_any:
        parts.append("关键词 " + "、".join(rule.text_any))
    return f"{rule.id}（{'；'.join(parts)}）"


def _scope(areas: Sequence[str], townships: Sequence[Any]) -> str:
    return "全部乡镇街道" if len(areas) == len(townships) else f"{len(areas)}个乡镇街道"


def gaps(matrix: MatrixLike, rules: list[Rule],
         at: datetime) -> tuple[list[Finding], dict[str, int], int]:
    """Leaf category × township cells where tickets fall through to a fallback at ``at``,
    grouped by category.

    A plain ticket (no attributes, no text) meets no rule's conditions, so it is the first to
    fall through. Where it does but rules with conditions apply in the cell, only tickets
    outside their conditions fall through: ``conditional_coverage`` (info) names those
    conditions. Where no rule applies at all it is a ``gap`` (warning)."""
    j = matrix.jurisdiction
    by_category: dict[str, list[Rule]] = defaultdict(list)
    for r in rules:
        by_category[r.category].append(r)
    townships = j.townships()
    out: list[Finding] = []
    by_status: dict[str, int] = defaultdict(int)
    total = 0
    applies: dict[tuple[str, str, bool | None], bool] = {}
    for leaf in j.category_leaves():
        gap_areas = []
        step = None
        conditional: dict[tuple[str, ...], tuple[list[Rule], list[str]]] = {}
        for township in townships:
            decision = cell_decision(matrix, by_category, leaf, township.code, at)
            total += 1
            by_status[decision.status.value] += 1
            if decision.status in (Status.FALLBACK, Status.UNROUTED):
                step = decision.fallback_step
                covering = conditional_rules(matrix, by_category, leaf, township.code, at,
                                             decision, applies)
                if covering:
                    ids = tuple(r.id for r in covering)
                    conditional.setdefault(ids, (covering, []))[1].append(township.code)
                else:
                    gap_areas.append(township.code)
        name = j.categories[leaf].name
        if gap_areas:
            out.append(Finding("gap", "warning",
                               f"分类 {name}（{leaf}）在{_scope(gap_areas, townships)}无规则，"
                               f"只能兜底（{step}）", category=leaf, areas=tuple(gap_areas)))
        for ids, (covering, areas) in conditional.items():
            out.append(Finding(
                "conditional_coverage", "info",
                f"分类 {name}（{leaf}）在{_scope(areas, townships)}只有附条件的规则："
                f"{'、'.join(map(_conditions_text, covering))}；不满足这些条件的工单只能兜底"
                f"（{step}）", ids, leaf, tuple(areas)))
    return out, dict(by_status), total
