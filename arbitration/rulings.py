"""Rulings (裁定): the district's answer to a dispute, fixed as a standing rule
(以制度形式固化) so the same dispute does not come back.

A ruling names the lead (主办) and co-handlers (协办) with its reasoning, basis (依据) and
document number (文号). It may *generalize*: a rule with ``source: "ruling"`` is written back
into the matrix (category, area scope, ``when``, ``text_any``), and ``retire_rules`` are
retired, as one new rule-set version in the same transaction as the ruling, which also
closes the dispute and reassigns its ticket to the ruled lead. A ruling row is never edited;
a later ruling names the one it replaces in ``supersedes`` (its rule is retired then).

What a ruling does is computed once, by :func:`plan_ruling` (a :class:`RulingPlan`):
:func:`preview` returns the plan without writing anything, and :func:`rule_dispute`
carries it out — the open tickets the preview lists are exactly those the ruling
re-dispatches. The plan also holds the stored decisions the change would have changed
(those whose replay under the new rule-set version differs), the rules the new rule
outranks and those that would still beat it, and warnings (:func:`ruling_warnings`).

The pure part (request, the rule it writes, how it ranks against the matrix, warnings, what
happens to one ticket) comes first; the functions that read and write the database
follow.

>>> from datetime import datetime
>>> from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind
>>> from rules.model import Rule, Settings
>>> from rules.store import Matrix
>>> j = Jurisdiction.build(
...     [Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT)],
...     [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
...      Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP")],
...     [Category("03", "城乡建设", None), Category("0301", "违法建设", "03"),
...      Category("030101", "小区违建", "0301")])
>>> m = Matrix.build(1, j, {"R-1": Rule("R-1", "0301", "JD-HP", "清单"),
...                         "R-2": Rule("R-2", "030101", "JD-HP", "清单", area="101")},
...                  Settings())
>>> req = RulingRequest(lead="D-ZJ", reasoning="…", basis="会商纪要", document_no="裁〔2026〕3号",
...                     generalize=Generalize(category="030101", area="1"))
>>> check_request(req, m)
>>> rule = ruling_rule(req, "rlg_0a1b2c")
>>> rule.id, rule.source.value, rule.basis
('RUL-0a1b2c', 'ruling', '裁〔2026〕3号 会商纪要')
>>> standing(rule, m)
{'outranks': ['R-1'], 'outranked_by': ['R-2'], 'ties_with': []}
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy import Engine as DbEngine
from sqlalchemy.exc import IntegrityError

from arbitration import audit, service
from arbitration.disputes import Arbiter
from arbitration.policy import Policy
from arbitration.tables import audit_log, rulings, tickets
from arbitration.tickets import ENDED_STATUSES, Event, EventType, TicketState, TicketStatus
from arbitration.tickets import apply as apply_event
from jurisdiction.errors import Conflict, InvalidInput, NotFound, QuanzeError
from jurisdiction.model import Jurisdiction
from rules import admin
from rules.conditions import TicketContext, mismatch
from rules.departmental import with_derived_defaults
from rules.model import ROLES, Decision, Rule, RuleSource, Status, Ticket
from rules.privacy import mask_text
from rules.resolution import context_for, rank, resolve, resolve_role
from rules.service import Router, ticket_from_request
from rules.store import RETIRE, ChangeSet, Matrix, rule_from_row
from rules.tables import decisions
from rules.tables import rules as rules_table

#: How many changed decisions and open tickets a preview lists (the count is always whole).
SAMPLE_SIZE = 20
_CHUNK = 500
_LOWEST: tuple[float, ...] = (float("-inf"),) * 6


# -- the request and the rule it writes (pure) ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class Generalize:
    """The scope of the rule a ruling writes back: category (and its descendants), optional
    area scope, attribute conditions and keywords, optional validity (open by default, so
    the rule also speaks to the decisions a preview replays)."""

    category: str
    area: str | None = None
    when: Mapping[str, Any] = field(default_factory=dict)
    text_any: tuple[str, ...] = ()
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class RulingRequest:
    """What the arbiter decides (the contract's ruling body)."""

    lead: str
    reasoning: str
    basis: str
    document_no: str
    co_handlers: tuple[str, ...] = ()
    generalize: Generalize | None = None
    retire_rules: tuple[str, ...] = ()
    supersedes: str | None = None

    def __post_init__(self) -> None:
        # Stored in the ruling, its written-back rule and the audit log: personal data masked.
        object.__setattr__(self, "reasoning", mask_text(self.reasoning))
        object.__setattr__(self, "basis", mask_text(self.basis))

    def as_dict(self) -> dict[str, Any]:
        g = self.generalize
        return {
            "lead": self.lead, "co_handlers": list(self.co_handlers),
            "reasoning": self.reasoning, "basis": self.basis, "document_no": self.document_no,
            "generalize": None if g is None else {
                "category": g.category, "area": g.area,
                "when": {k: list(v) if isinstance(v, list | tuple) else v
                         for k, v in g.when.items()},
                "text_any": list(g.text_any),
                "valid_from": g.valid_from.isoformat() if g.valid_from else None,
                "valid_to": g.valid_to.isoformat() if g.valid_to else None},
            "retire_rules": list(self.retire_rules), "supersedes": self.supersedes,
        }


def _unknown(field_name: str, what: str, code: str, value: str) -> InvalidInput:
    return InvalidInput(f"unknown {what} {value!r}", code=code, field=field_name, value=value)


def check_request(request: RulingRequest, matrix: Matrix) -> None:
    """Every code the request names must exist in ``matrix``: 422 ``InvalidInput`` naming the
    field (``lead``, ``co_handlers[1]``, ``generalize.category``, ``retire_rules[0]`` …)."""
    j = matrix.jurisdiction
    if request.lead not in j.units and request.lead not in ROLES:
        raise _unknown("lead", "unit", "unknown_unit", request.lead)
    for i, code in enumerate(request.co_handlers):
        if code not in j.units and code not in ROLES:
            raise _unknown(f"co_handlers[{i}]", "unit", "unknown_unit", code)
    g = request.generalize
    if g is not None:
        if g.category not in j.categories:
            raise _unknown("generalize.category", "category", "unknown_category", g.category)
        if g.area is not None and g.area not in j.areas:
            raise _unknown("generalize.area", "area", "unknown_area", g.area)
    for i, rule_id in enumerate(request.retire_rules):
        if rule_id not in matrix.rules:
            raise _unknown(f"retire_rules[{i}]", "rule", "unknown_rule", rule_id)


def rule_id_for(ruling_id: str) -> str:
    """The written-back rule's id: ``RUL-`` and the ruling id's suffix.

    >>> rule_id_for("rlg_5f2c")
    'RUL-5f2c'
    """
    return "RUL-" + ruling_id.split("_", 1)[-1]


def ruling_rule(request: RulingRequest, ruling_id: str) -> Rule:
    """The rule a generalizing ruling writes back (``source: ruling``); its basis is the
    document number and the ruling's basis. Malformed conditions are 422 naming the field."""
    g = request.generalize
    if g is None:
        raise InvalidInput("the ruling does not generalize", code="invalid_request",
                           field="generalize")
    document = {
        "id": rule_id_for(ruling_id), "category": g.category, "area": g.area,
        "when": dict(g.when), "text_any": list(g.text_any), "lead": request.lead,
        "co_handlers": list(request.co_handlers),
        "basis": f"{request.document_no} {request.basis}".strip(),
        "source": RuleSource.RULING.value, "priority": 0,
        "valid_from": g.valid_from.isoformat() if g.valid_from else None,
        "valid_to": g.valid_to.isoformat() if g.valid_to else None,
        "ruling_id": ruling_id, "note": request.reasoning[:500],
    }
    return admin.parse_rule_document(document, "$.generalize")


def category_subtree(j: Jurisdiction, code: str) -> list[str]:
    """``code`` and every category below it."""
    out, stack = [], [code]
    while stack:
        current = stack.pop()
        out.append(current)
        stack += j.category_children(current)
    return out


def area_subtree(j: Jurisdiction, code: str) -> list[str]:
    """``code`` and every area below it."""
    return [a for a in j.areas if code in j.area_path(a)]


def _comparable(a: str, b: str, path_of: Callable[[str], tuple[str, ...]]) -> bool:
    return a in path_of(b) or b in path_of(a)


def _overlaps(rule: Rule, other: Rule, j: Jurisdiction) -> bool:
    """Could both rules match one ticket, as far as scope and validity tell?"""
    if other.category not in j.categories or not _comparable(rule.category, other.category,
                                                             j.category_path):
        return False
    if rule.area is not None and other.area is not None and (
            other.area not in j.areas or not _comparable(rule.area, other.area, j.area_path)):
        return False
    for key, allowed in rule.when.items():
        if key in other.when and not set(allowed) & set(other.when[key]):
            return False
    lo = max((t for t in (rule.valid_from, other.valid_from) if t is not None), default=None)
    hi = min((t for t in (rule.valid_to, other.valid_to) if t is not None), default=None)
    return lo is None or hi is None or lo < hi


def standing(rule: Rule, matrix: Matrix, retired: Iterable[str] = ()) -> dict[str, list[str]]:
    """Where the rule stands among the rules it shares cells with: those it outranks (it beats
    them wherever both match), those that would still beat it (deeper category or area, more
    conditions …) and those of equal rank (a different lead there makes routing ambiguous)."""
    j = matrix.jurisdiction
    gone = set(retired) | {rule.id}
    mine = rank(rule, j)
    codes = set(j.category_path(rule.category)) | set(category_subtree(j, rule.category))
    result: dict[str, list[str]] = {"outranks": [], "outranked_by": [], "ties_with": []}
    for code in codes:
        for other in matrix.by_category.get(code, ()):
            if other.id in gone or not _overlaps(rule, other, j):
                continue
            theirs = rank(other, j)
            key = "outranks" if theirs < mine else "outranked_by" if theirs > mine else "ties_with"
            result[key].append(other.id)
    return {k: sorted(v) for k, v in result.items()}


# -- the plan: what a ruling does, computed once for its preview and for itself ---------------


@dataclass(frozen=True, slots=True)
class RulingWarning:
    """Something the arbiter should know before ruling; ``message`` is for staff (Chinese).
    No warning blocks a ruling (docs/architecture.md, Rulings)."""

    code: str
    message: str
    field: str | None = None
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field,
                "unit": self.unit}


def ruling_warnings(request: RulingRequest, j: Jurisdiction) -> list[RulingWarning]:
    """What the request does that is legal but probably not meant:

    - ``no_rule_written``: without ``generalize`` the ruling writes no rule, so the next
      ticket of the kind is routed as before and the dispute can come back;
    - ``fixed_territorial_outside_scope``: a fixed street or township (or community) named as
      lead or co-handler of a rule whose area scope reaches beyond that unit's own territory
      — every ticket of the kind in other townships would go to it too; ``@territorial``
      names the territorial unit of each ticket's own area instead.

    >>> from jurisdiction.model import Area, AreaLevel, Category, Unit, UnitKind
    >>> j = Jurisdiction.build(
    ...     [Unit("JD-HP", "和平街道", UnitKind.STREET),
    ...      Unit("U-W", "自来水公司", UnitKind.UTILITY)],
    ...     [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
    ...      Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP")],
    ...     [Category("03", "供水", None)])
    >>> req = RulingRequest(lead="U-W", co_handlers=("JD-HP",), reasoning="…", basis="…",
    ...                     document_no="裁〔2026〕1号", generalize=Generalize(category="03"))
    >>> [(w.code, w.field) for w in ruling_warnings(req, j)]
    [('fixed_territorial_outside_scope', 'co_handlers[0]')]
    >>> inside = Generalize(category="03", area="101")
    >>> from dataclasses import replace
    >>> ruling_warnings(replace(req, generalize=inside), j)
    []
    >>> [w.code for w in ruling_warnings(RulingRequest("U-W", "…", "…", "裁〔2026〕1号"), j)]
    ['no_rule_written']
    """
    g = request.generalize
    if g is None:
        return [RulingWarning(
            "no_rule_written",
            "本裁定未推广为规则（未填写“推广范围”）：只改派本争议的工单，不写入派单目录；"
            "同类工单今后仍按现有规则派单，同样的争议可能再次发生。", field="generalize")]
    scope_path = j.area_path(g.area) if g.area is not None and g.area in j.areas else ()
    scope_name = j.areas[g.area].name if scope_path and g.area else "全部区域"
    found: list[RulingWarning] = []
    named = [("lead", request.lead, "主办"), *(
        (f"co_handlers[{i}]", code, "协办") for i, code in enumerate(request.co_handlers))]
    for field_name, code, role in named:
        unit = j.units.get(code)
        if unit is None or not unit.is_territorial:
            continue
        if any(j.areas[a].unit == code for a in scope_path):
            continue  # the scope lies inside the unit's own territory
        found.append(RulingWarning(
            "fixed_territorial_outside_scope",
            f"{unit.name}（{code}）是固定的街乡单位，被定为{role}单位，但推广范围"
            f"（{scope_name}）超出其辖区：其他街乡的同类工单也会交给{unit.name}{role}。"
            f"如应由工单所在地的街乡{role}，请改用 @territorial（属地单位）；"
            f"如确只针对{unit.name}辖区，请把推广范围限定在其辖区内。",
            field=field_name, unit=code))
    return found


@dataclass(frozen=True, slots=True)
class Redispatch:
    """An open ticket the ruling re-dispatches (改派) to ``new_lead``: the dispute's own
    ticket (``why: ruling``), or one the written-back rule or a retirement routes elsewhere
    while it still sits with the unit the current rules give it (``why: rule``)."""

    ticket_id: str
    status: str
    owner: str | None
    holder: str | None
    dispute_id: str | None
    category: str | None
    area: str | None
    new_lead: str
    why: str
    at: datetime  # when the re-dispatch is recorded (the ticket's clock never runs back)

    def as_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "status": self.status, "owner": self.owner,
                "holder": self.holder, "dispute_id": self.dispute_id,
                "category": self.category, "area": self.area, "new_lead": self.new_lead,
                "why": self.why}


@dataclass(frozen=True, slots=True)
class Kept:
    """An open ticket the new rules would route to ``new_lead`` that the ruling leaves where
    it is, and why (``reason``: ``in_dispute``, ``return_pending``, ``placed_elsewhere`` — the
    hotline put it with another unit than the rules give —, or the state machine's refusal of
    the re-dispatch, e.g. ``would_open_dispute``)."""

    ticket_id: str
    holder: str | None
    new_lead: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "holder": self.holder, "new_lead": self.new_lead,
                "reason": self.reason}


@dataclass(frozen=True)
class RulingPlan:
    """Everything a ruling does, computed by :func:`plan_ruling` for the preview (which
    returns it) and for the ruling (which carries it out): the rule it writes, the rules it
    retires, where the rule stands, the open tickets it re-dispatches and those it leaves,
    the warnings; and, for the preview, the stored decisions the change would have changed."""

    ruleset_version: int
    rule: Rule | None
    retired: tuple[str, ...]
    standing: Mapping[str, list[str]]
    redispatch: tuple[Redispatch, ...]
    kept: tuple[Kept, ...]
    warnings: tuple[RulingWarning, ...]
    changed_decisions: Mapping[str, Any] | None = None

    @property
    def digest(self) -> str:
        """A fingerprint of the plan's effects (not of its rule id, which the preview cannot
        know): a ruling given the preview's digest refuses to act on a different plan."""
        rule = None
        if self.rule is not None:
            rule = {k: v for k, v in self.rule.content().items() if k not in ("id", "ruling_id")}
        body = {"v": self.ruleset_version, "rule": rule, "retired": sorted(self.retired),
                "tickets": sorted((r.ticket_id, r.new_lead) for r in self.redispatch)}
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        """The preview's answer (contract: ``changed_decisions``, ``open_tickets``,
        ``outranks``, ``outranked_by``)."""
        out: dict[str, Any] = {
            "ruleset_version": self.ruleset_version,
            "rule": self.rule.content() if self.rule is not None else None,
            "retire_rules": list(self.retired),
            "open_tickets": [r.as_dict() for r in self.redispatch],
            "open_tickets_kept": [k.as_dict() for k in self.kept],
            "warnings": [w.as_dict() for w in self.warnings],
            "plan_digest": self.digest, **self.standing}
        if self.changed_decisions is not None:
            out["changed_decisions"] = dict(self.changed_decisions)
        return out


@dataclass
class _Counterfactual:
    """Decide tickets on the current matrix, and on the matrix a change makes (its new rules
    added, its retirements gone — a replaced rule is both): the same evaluator the replay of
    a decision uses. A ruling adds at most one rule; a change set any number."""

    matrix: Matrix
    rules: tuple[Rule, ...]
    retired: frozenset[str]
    jurisdiction: Jurisdiction = field(init=False)

    def __post_init__(self) -> None:
        # the new rules and retirements also move where departmental gaps go
        # (rules.departmental), as the matrix after the change will
        kept = [r for r in self.matrix.rules.values() if r.id not in self.retired]
        self.jurisdiction = with_derived_defaults(self.matrix.jurisdiction,
                                                  kept + list(self.rules))

    def now(self, ctx: TicketContext) -> Decision:
        return resolve(ctx, self.matrix.considered(ctx.category_path),
                       self.matrix.jurisdiction, self.matrix.settings)

    def after(self, ctx: TicketContext) -> Decision:
        considered = [r for r in self.matrix.considered(ctx.category_path)
                      if r.id not in self.retired]
        considered += [r for r in self.rules if r.category in ctx.category_path]
        return resolve(ctx, considered, self.jurisdiction, self.matrix.settings)

    def matches_new(self, ctx: TicketContext) -> bool:
        """Does one of the new rules match the ticket?"""
        return any(mismatch(rule, ctx) is None for rule in self.rules)


def _answer(decision: Decision) -> dict[str, Any]:
    """What a decision's replay compares (``GET /v1/decisions/{id}/replay``: ``same``)."""
    return {"status": decision.status.value, "lead": decision.lead,
            "co_handlers": list(decision.co_handlers),
            "rule_id": decision.rule.id if decision.rule is not None else None}


def decision_change(before: Decision, after: Decision) -> list[str]:
    """The parts of the answer that differ, in the order the replay compares them (status,
    lead, co-handlers, winning rule); empty when the replay would say ``same``."""
    a, b = _answer(before), _answer(after)
    return [key for key in ("status", "lead", "co_handlers", "rule_id") if a[key] != b[key]]


def plan_ticket(state: TicketState, *, target: str, why: str, at: datetime, policy: Policy,
                territorial_unit: str | None) -> Redispatch | Kept:
    """Whether the ruling re-dispatches one open ticket to ``target``: a ``reassigned`` event
    is tried on the ticket's state with the state machine the ruling then records it with;
    a refusal, or a re-dispatch that would open a dispute (a bounce back to a unit that
    returned it, the bounce cap), leaves the ticket where it is."""
    try:
        outcome = apply_event(state, Event(EventType.REASSIGNED, at, to_unit=target), policy,
                              territorial_unit=territorial_unit)
    except QuanzeError as exc:
        return Kept(state.ticket_id, state.holder, target, exc.code)
    if outcome.effects:
        return Kept(state.ticket_id, state.holder, target, "would_open_dispute")
    return Redispatch(state.ticket_id, str(state.status), state.owner, state.holder,
                      state.dispute_id, state.category, state.area, target, why, at)


# -- reading what the plan needs ----------------------------------------------------------------


def _stored_winners(conn: Connection, pairs: set[tuple[str, int]]) -> dict[tuple[str, int],
                                                                          Rule | None]:
    """Each (rule id, rule-set version) → the rule as it stood at that version."""
    revisions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids = sorted({rule_id for rule_id, _ in pairs})
    for start in range(0, len(ids), _CHUNK):
        query = (select(rules_table).where(rules_table.c.id.in_(ids[start:start + _CHUNK]))
                 .order_by(rules_table.c.id, rules_table.c.version))
        for row in conn.execute(query).mappings():
            revisions[row["id"]].append(dict(row))
    found: dict[tuple[str, int], Rule | None] = {}
    for rule_id, version in pairs:
        rows = [r for r in revisions.get(rule_id, ()) if r["version"] <= version]
        found[(rule_id, version)] = (rule_from_row(rows[-1])
                                     if rows and not rows[-1]["retired"] else None)
    return found


def _requests(conn: Connection, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        query = select(decisions.c.id, decisions.c.request).where(
            decisions.c.id.in_(ids[start:start + _CHUNK]))
        found.update({row.id: row.request for row in conn.execute(query)})
    return found


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where a rule can match: its category subtree, area subtree (None: anywhere) and
    validity."""

    categories: tuple[str, ...]
    areas: tuple[str, ...] | None
    valid_from: datetime | None
    valid_to: datetime | None

    @classmethod
    def of(cls, rule: Rule, j: Jurisdiction) -> _Scope | None:
        if rule.category not in j.categories or (rule.area is not None
                                                 and rule.area not in j.areas):
            return None
        return cls(tuple(sorted(category_subtree(j, rule.category))),
                   tuple(sorted(area_subtree(j, rule.area))) if rule.area else None,
                   rule.valid_from, rule.valid_to)


def _scopes(matrix: Matrix, rules: Sequence[Rule], gone: frozenset[str]
            ) -> tuple[list[_Scope], list[_Scope]]:
    """The scopes of the new rules, and of the retired rules as they stand in ``matrix``."""
    j = matrix.jurisdiction
    mine = [s for s in (_Scope.of(rule, j) for rule in rules) if s is not None]
    retired = [s for s in (_Scope.of(matrix.rules[r], j) for r in sorted(gone)
                           if r in matrix.rules) if s is not None]
    return mine, retired


def _new_rules(rule: Rule | None) -> tuple[Rule, ...]:
    return (rule,) if rule is not None else ()


def _in_scope(scope: _Scope, category: Any, area: Any, as_of: Any = None) -> Any:
    """The SQL condition of a scope on a table with category and area columns."""
    cond = category.in_(scope.categories)
    if scope.areas is not None:
        cond = cond & area.in_(scope.areas)
    if as_of is not None and scope.valid_from is not None:
        cond = cond & (as_of >= scope.valid_from)
    if as_of is not None and scope.valid_to is not None:
        cond = cond & (as_of < scope.valid_to)
    return cond


def _moved_defaults(before: Jurisdiction, after: Jurisdiction
                    ) -> set[tuple[str, str | None]]:
    """The (category, district) pairs whose derived departmental default differs."""
    old, new = before.derived_defaults, after.derived_defaults
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def changed_decisions(conn: Connection, matrix: Matrix, rules: Sequence[Rule],
                      retired: Iterable[str], *, since: datetime | None = None,
                      sample_size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """The stored decisions whose replay under the new rule-set version would differ from
    their replay under the current one (status, lead, co-handlers or winning rule: what
    ``GET /v1/decisions/{id}/replay`` compares) — for a decision made under the current
    version, exactly those whose replay under the new version is not ``same``. The new
    version is ``matrix`` with ``rules`` added (or replacing the rule of their id, which is
    then also in ``retired``) and ``retired`` gone; ``since`` keeps the decisions made for a
    time (``as_of``) from then on.

    Only decisions that could change are decided again: SQL keeps those in the scope
    (category subtree, area subtree, validity) of a new rule or of a retired rule — no
    other decision can be touched by the change; of those in a new rule's scope only, a
    decision routed by a winner that still stands unchanged at the current version and
    outranks every new rule cannot change, so only the rest have their request read and are
    decided twice. Where the change moves a category's derived departmental default
    (:mod:`rules.departmental`), the fallbacks of that category in that district are decided
    again too, wherever the rules' own scope lies.
    """
    j = matrix.jurisdiction
    gone = frozenset(retired)
    new = tuple(rules)
    what = _Counterfactual(matrix, new, gone)
    mine_scopes, retired_scopes = _scopes(matrix, new, gone)
    cols = (decisions.c.id, decisions.c.ticket_id, decisions.c.ruleset_version,
            decisions.c.as_of, decisions.c.category, decisions.c.area, decisions.c.status,
            decisions.c.lead, decisions.c.rule_id)
    recent = decisions.c.as_of >= since if since is not None else None

    def select_rows(cond: Any) -> Any:
        return conn.execute(select(*cols).where(cond if recent is None else cond & recent))

    rows: dict[str, Any] = {}
    must: set[str] = set()  # in a retired rule's scope: always decided again
    for scope in retired_scopes:
        for r in select_rows(_in_scope(scope, decisions.c.category, decisions.c.area,
                                       decisions.c.as_of)):
            rows[r.id] = r
            must.add(r.id)
    for scope in mine_scopes:
        for r in select_rows(_in_scope(scope, decisions.c.category, decisions.c.area,
                                       decisions.c.as_of)):
            rows.setdefault(r.id, r)
    for category, district in _moved_defaults(j, what.jurisdiction):
        # A department-led rule (or its retirement) moves where its category's gaps go in
        # the whole district, whatever its own scope (rules.departmental): every fallback
        # there is decided again.
        cond = (decisions.c.status.in_((Status.FALLBACK.value, Status.UNROUTED.value))
                & decisions.c.category.in_(category_subtree(j, category))
                & (decisions.c.area.in_(area_subtree(j, district)) if district is not None
                   else decisions.c.area.is_(None)))
        for r in select_rows(cond):
            rows[r.id] = r
            must.add(r.id)
    scanned = len(rows)
    mine = max((rank(rule, j) for rule in new), default=_LOWEST)
    winners = _stored_winners(conn, {(r.rule_id, r.ruleset_version) for r in rows.values()
                                     if r.id not in must and r.rule_id is not None
                                     and r.status == Status.ROUTED.value})

    def cannot_change(r: Any) -> bool:
        if r.id in must or r.status != Status.ROUTED.value or r.rule_id is None:
            return False
        stored = winners.get((r.rule_id, r.ruleset_version))
        live = matrix.rules.get(r.rule_id)
        if stored is None or live is None or live.revision != stored.revision:
            return False  # its winner changed since: the current version may decide otherwise
        try:
            return rank(live, j) > mine
        except NotFound:
            return False

    hopeful = sorted((r for r in rows.values() if not cannot_change(r)),
                     key=lambda r: (r.as_of, r.id))
    requests = _requests(conn, [r.id for r in hopeful])
    count = lead_changed = 0
    sample: list[dict[str, Any]] = []
    for r in hopeful:
        request = dict(requests.get(r.id) or {"category": r.category, "area": r.area})
        request["as_of"] = r.as_of
        try:
            ctx = context_for(ticket_from_request(request, r.as_of), j)
        except (NotFound, InvalidInput):
            continue  # its codes are gone from the matrix: it cannot be replayed
        if r.id not in must and not what.matches_new(ctx):
            continue  # no new rule matches it, and no retired rule could
        before, after = what.now(ctx), what.after(ctx)
        changes = decision_change(before, after)
        if not changes:
            continue
        count += 1
        if "status" in changes or "lead" in changes:
            lead_changed += 1
        if len(sample) < sample_size:
            sample.append({
                "decision_id": r.id, "ticket_id": r.ticket_id,
                "as_of": r.as_of.isoformat(), "ruleset_version": r.ruleset_version,
                "changes": changes, "before": _answer(before), "after": _answer(after)})
    return {"count": count, "lead_changed": lead_changed, "sample": sample,
            "scanned": scanned, "replayed": len(hopeful)}


_OPEN = ("dispatched", "signed", "return_pending", "in_dispute")


def _latest_requests(conn: Connection, ticket_ids: Sequence[str]
                     ) -> dict[str, dict[str, Any]]:
    """Each ticket's latest routing request (what it was routed with)."""
    found: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for start in range(0, len(ticket_ids), _CHUNK):
        query = select(decisions.c.ticket_id, decisions.c.created_at, decisions.c.request) \
            .where(decisions.c.ticket_id.in_(ticket_ids[start:start + _CHUNK]))
        for row in conn.execute(query):
            held = found.get(row.ticket_id)
            if held is None or row.created_at >= held[0]:
                found[row.ticket_id] = (row.created_at, dict(row.request))
    return {k: v for k, (_, v) in found.items()}


def lead_changes(conn: Connection, matrix: Matrix, what: _Counterfactual, *, now: datetime,
                 exclude: Any = None) -> list[tuple[str, Decision, Decision]]:
    """The open tickets (but ``exclude``) whose lead the change would move: each decided (at
    ``now``, with its latest routing request) on the current matrix and on the changed one,
    in ticket id order, with both decisions. Only tickets in the scope of a new or a retired
    rule (valid at ``now``) can move, and of those in a new rule's scope only, those a new
    rule matches."""
    j = matrix.jurisdiction
    mine_scopes, retired_scopes = _scopes(matrix, what.rules, what.retired)
    rows: dict[str, Any] = {}
    must: set[str] = set()  # in a retired rule's scope
    scopes = [(s, True) for s in retired_scopes] + [(s, False) for s in mine_scopes]
    for scope, is_retired in scopes:
        if not ((scope.valid_from is None or scope.valid_from <= now)
                and (scope.valid_to is None or now < scope.valid_to)):
            continue
        query = select(tickets.c.ticket_id, tickets.c.category, tickets.c.area).where(
            tickets.c.status.in_(_OPEN), _in_scope(scope, tickets.c.category, tickets.c.area))
        for r in conn.execute(query):
            if r.ticket_id != exclude and r.ticket_id not in rows:
                rows[r.ticket_id] = r
                if is_retired:
                    must.add(r.ticket_id)
    ordered = sorted(rows)
    requests = _latest_requests(conn, ordered)
    moved: list[tuple[str, Decision, Decision]] = []
    for ticket_id in ordered:
        r = rows[ticket_id]
        request_body = requests.get(ticket_id) or {"category": r.category, "area": r.area}
        request_body["as_of"] = now
        try:
            ctx = context_for(ticket_from_request(request_body, now), j)
        except (NotFound, InvalidInput):
            continue
        if ticket_id not in must and not what.matches_new(ctx):
            continue
        before, after = what.now(ctx), what.after(ctx)
        if after.lead is None or after.lead == before.lead:
            continue
        moved.append((ticket_id, before, after))
    return moved


def change_impact(conn: Connection, matrix: Matrix, rules: Sequence[Rule],
                  retired: Iterable[str], *, now: datetime, since: datetime | None = None,
                  sample_size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """A catalogue change's impact, the way a ruling preview shows it, for ``rules`` added
    or replacing those of their ids (which are then also ``retired``) and ``retired`` gone:
    ``changed_decisions`` (:func:`changed_decisions`, from ``since``), ``open_tickets`` whose
    lead would move (:func:`lead_changes`; the change moves none of them itself), and where
    the new rules stand: the rules they ``outrank`` and those still ``outranked_by`` or
    ``ties_with`` them (:func:`standing`), each list sorted and without the change's own."""
    gone = frozenset(retired)
    new = tuple(rules)
    what = _Counterfactual(matrix, new, gone)
    j = matrix.jurisdiction
    tickets_out = []
    for ticket_id, before, after in lead_changes(conn, matrix, what, now=now):
        row = conn.execute(select(tickets.c.status, tickets.c.owner, tickets.c.category,
                                  tickets.c.area).where(tickets.c.ticket_id == ticket_id)
                           ).first()
        tickets_out.append({
            "ticket_id": ticket_id, "status": row.status if row else None,
            "owner": row.owner if row else None, "category": row.category if row else None,
            "area": row.area if row else None, "lead_before": before.lead,
            "lead_after": after.lead})
    own = {rule.id for rule in new}
    place: dict[str, set[str]] = {"outranks": set(), "outranked_by": set(), "ties_with": set()}
    for rule in new:
        if rule.category not in j.categories:
            continue
        for key, ids in standing(rule, matrix, gone).items():
            place[key] |= set(ids) - own
    return {"changed_decisions": changed_decisions(conn, matrix, new, gone, since=since,
                                                   sample_size=sample_size),
            "open_tickets": tickets_out, **{k: sorted(v) for k, v in place.items()}}


def _target_of(lead: str, category: str | None, area: str | None, now: datetime,
               j: Jurisdiction) -> str | None:
    """The unit a ruled lead names for a ticket (a role resolved for its area)."""
    if lead not in ROLES:
        return lead
    if area is None or area not in j.areas:
        return None
    ticket = Ticket(category=category or "", area=area, as_of=now)
    return resolve_role(lead, TicketContext(ticket, (), j.area_path(area)), j)


def plan_ruling(conn: Connection, matrix: Matrix, request: RulingRequest,
                dispute: Mapping[str, Any], *, rule: Rule | None, retired: Sequence[str],
                now: datetime, with_decisions: bool = True,
                for_update: bool = False) -> RulingPlan:
    """What the ruling does, read and computed the one way its preview and the ruling share.

    Open tickets: the dispute's own ticket goes to the ruled lead. Every other open ticket in
    the scope of the new rule or of a retired rule is decided (at ``now``, with its latest
    routing request) on the current matrix and on the ruling's; where the lead differs and
    the ticket still sits, undisputed and with no return pending, with the unit the current
    rules give it, the ruling re-dispatches it — if the ticket's state machine accepts the
    ``reassigned`` event without opening a dispute. The others are listed as kept, with
    their reason. ``with_decisions`` adds the stored decisions the change would have changed
    (the preview; the ruling writes no decision). ``for_update`` locks the tickets it reads
    (the ruling, which records their events in this transaction).
    """
    j = matrix.jurisdiction
    gone = frozenset(retired)
    what = _Counterfactual(matrix, _new_rules(rule), gone)
    redispatch: list[Redispatch] = []
    kept: list[Kept] = []
    policies: dict[str | None, Policy] = {}

    def policy_for(area: str | None) -> Policy:
        district = service.district_of(matrix, area)
        if district not in policies:
            policies[district] = service.load_policy(conn, district)
        return policies[district]

    def try_ticket(state: TicketState, target: str, why: str) -> None:
        at = max(now, state.updated_at or now)
        planned = plan_ticket(state, target=target, why=why, at=at,
                              policy=policy_for(state.area),
                              territorial_unit=service.territorial_unit_of(matrix, state.area))
        if isinstance(planned, Redispatch):
            redispatch.append(planned)
        else:
            kept.append(planned)

    own_id = dispute.get("ticket_id")
    if own_id:
        own = service.load_ticket(conn, str(own_id), for_update=for_update)
        if own is not None and own.status not in ENDED_STATUSES:
            target = _target_of(request.lead, own.category, own.area, now, j)
            if target is not None and not (target == own.owner and not own.dispute_open):
                try_ticket(own, target, "ruling")

    for ticket_id, before, after in lead_changes(conn, matrix, what, now=now,
                                                 exclude=own_id):
        state = service.load_ticket(conn, ticket_id, for_update=for_update)
        if state is None or after.lead is None or after.lead in (state.owner, state.holder):
            continue
        if state.status in (TicketStatus.IN_DISPUTE, TicketStatus.RETURN_PENDING):
            kept.append(Kept(ticket_id, state.holder, after.lead, str(state.status)))
        elif state.status not in (TicketStatus.DISPATCHED, TicketStatus.SIGNED):
            continue  # not open, or a state this rule does not know: nothing to move
        elif state.owner != before.lead or state.interim_owner is not None:
            kept.append(Kept(ticket_id, state.holder, after.lead, "placed_elsewhere"))
        else:
            try_ticket(state, after.lead, "rule")

    place = (standing(rule, matrix, gone) if rule is not None
             else {"outranks": [], "outranked_by": [], "ties_with": []})
    return RulingPlan(
        ruleset_version=matrix.version, rule=rule, retired=tuple(retired), standing=place,
        redispatch=tuple(redispatch), kept=tuple(kept),
        warnings=tuple(ruling_warnings(request, j)),
        changed_decisions=(changed_decisions(conn, matrix, _new_rules(rule), gone)
                           if with_decisions else None))


# -- the service ----------------------------------------------------------------------------------

def _check_dispute(dispute: Mapping[str, Any], arbiter: Arbiter | str) -> None:
    service.check_ruler(dispute, arbiter)


def _superseded(conn: Connection, ruling_id: str | None) -> dict[str, Any] | None:
    if ruling_id is None:
        return None
    row = conn.execute(select(rulings).where(rulings.c.id == ruling_id)).mappings().first()
    if row is None:
        raise _unknown("supersedes", "ruling", "unknown_ruling", ruling_id)
    later = conn.execute(select(rulings.c.id).where(rulings.c.supersedes == ruling_id)).first()
    if later is not None:
        raise Conflict(f"ruling {ruling_id} is already superseded by {later.id}",
                       code="ruling_superseded", ruling_id=ruling_id, superseded_by=later.id)
    return dict(row)


def _retired(request: RulingRequest, earlier: Mapping[str, Any] | None,
             matrix: Matrix) -> tuple[str, ...]:
    """``retire_rules``, and the superseded ruling's rule while it is still in force."""
    gone = list(request.retire_rules)
    old_rule = earlier.get("rule_id") if earlier else None
    if old_rule and old_rule in matrix.rules and old_rule not in gone:
        gone.append(old_rule)
    return tuple(gone)


def preview(db: DbEngine, router: Router, dispute_id: str, request: RulingRequest, *,
            arbiter: Arbiter | str, now: datetime) -> dict[str, Any]:
    """What the ruling would do, without writing anything: its :class:`RulingPlan`
    (contract: ``changed_decisions``, ``open_tickets``, ``outranks``, ``outranked_by``; also
    ``ties_with``, the ``rule``, ``open_tickets_kept``, ``warnings`` and ``plan_digest``)."""
    with db.connect() as conn:
        dispute, matrix, gone, rule = _ruling_inputs(conn, router, dispute_id, request,
                                                     arbiter=arbiter, ruling_id="rlg_preview")
        plan = plan_ruling(conn, matrix, request, dispute, rule=rule, retired=gone, now=now)
    return {"dispute_id": dispute_id, **plan.as_dict()}


def _ruling_inputs(conn: Connection, router: Router, dispute_id: str,
                   request: RulingRequest, *, arbiter: Arbiter | str, ruling_id: str,
                   ) -> tuple[dict[str, Any], Matrix, tuple[str, ...], Rule | None]:
    """What a ruling acts on, read the same way for its preview and for the ruling itself:
    the dispute (checked for this arbiter), the head matrix (the request checked against
    it), the rules it retires and the rule it writes back (None without ``generalize``)."""
    dispute = service.get_dispute(conn, dispute_id)
    _check_dispute(dispute, arbiter)
    matrix = _matrix(conn, router)
    check_request(request, matrix)
    gone = _retired(request, _superseded(conn, request.supersedes), matrix)
    rule = ruling_rule(request, ruling_id) if request.generalize is not None else None
    return dispute, matrix, gone, rule


def _matrix(conn: Connection, router: Router) -> Matrix:
    return admin.head_matrix(conn, router)[0]


def new_ruling_id() -> str:
    return "rlg_" + uuid.uuid4().hex[:16]


def rule_dispute(db: DbEngine, router: Router, dispute_id: str, request: RulingRequest, *,
                 arbiter: Arbiter | str, actor: str, now: datetime,
                 after: admin.AfterCommit | None = None,
                 plan_digest: str | None = None) -> dict[str, Any]:
    """Rule on a dispute in one transaction, carrying out its :class:`RulingPlan` — the one
    its preview showed: the ruling row, the written-back rule and the retirements (a new
    rule-set version), the planned open tickets re-dispatched (the dispute's own first),
    the dispute closed, audit entries; then the new matrix is installed in ``router``.

    With ``plan_digest`` (the preview's), a plan that differs — the matrix or the tickets
    changed since — is ``Conflict`` ``ruling_plan_changed`` and nothing is written.
    Two rulings of one dispute at once leave exactly one: the other fails on the unique
    dispute id or the rule-set version and is retried, then finds the dispute ruled
    (``Conflict`` ``dispute_closed``).
    """
    for attempt in range(3):
        try:
            with admin.writer_queue(db):  # a ruling writes the matrix: it queues with edits
                return _rule_once(db, router, dispute_id, request, arbiter=arbiter,
                                  actor=actor, now=now, after=after, plan_digest=plan_digest)
        except Conflict as exc:
            if exc.code not in ("ruleset_conflict", "ruling_race") or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _rule_once(db: DbEngine, router: Router, dispute_id: str, request: RulingRequest, *,
               arbiter: Arbiter | str, actor: str, now: datetime,
               after: admin.AfterCommit | None, plan_digest: str | None) -> dict[str, Any]:
    ruling_id = new_ruling_id()
    new_matrix: Matrix | None = None
    with admin.write_transaction(db) as conn:
        admin.lock_matrix(conn)  # before the head is read, so the plan's base stays the head
        service.load_dispute(conn, dispute_id, for_update=True)
        dispute, base, gone, rule = _ruling_inputs(conn, router, dispute_id, request,
                                                   arbiter=arbiter, ruling_id=ruling_id)
        plan = plan_ruling(conn, base, request, dispute, rule=rule, retired=gone, now=now,
                           with_decisions=False, for_update=True)
        if plan_digest is not None and plan_digest != plan.digest:
            raise Conflict("the ruling's effects differ from the preview's: preview again",
                           code="ruling_plan_changed", dispute_id=dispute_id,
                           expected=plan_digest, actual=plan.digest)

        def build(matrix: Matrix) -> ChangeSet:
            if matrix.version != base.version:  # planned on another version: plan again
                raise Conflict(f"the rule set moved from version {base.version} to "
                               f"{matrix.version} while ruling", code="ruleset_conflict")
            change = ChangeSet(where={f"rule:{rule.id}": "$.generalize"} if rule else {})
            if rule is not None:
                change.rules[rule.id] = rule
            for rule_id in gone:
                if rule_id in matrix.rules:
                    change.rules[rule_id] = RETIRE
            return change

        version = base.version
        if rule is not None or gone:
            new_matrix, report = admin.apply(
                db, router, build, actor=actor, note=f"ruling {ruling_id} "
                f"({request.document_no}) on dispute {dispute_id}", now=now, after=after,
                conn=conn)
            version = report.version
        ticket_id = dispute.get("ticket_id")
        row = {
            "id": ruling_id, "dispute_id": dispute_id, "ticket_id": ticket_id,
            "lead": request.lead, "co_handlers": list(request.co_handlers),
            "reasoning": request.reasoning, "basis": request.basis,
            "document_no": request.document_no,
            "generalize": request.as_dict()["generalize"],
            "rule_id": rule.id if rule is not None else None,
            "retired_rules": list(gone), "supersedes": request.supersedes,
            "category": (request.generalize.category if request.generalize
                         else dispute.get("category")),
            "area": (request.generalize.area if request.generalize
                     else dispute.get("area")),
            "ruleset_version": version, "arbiter": Arbiter.of(arbiter).name, "at": now,
        }
        try:
            with conn.begin_nested():
                conn.execute(insert(rulings).values(**row))
        except IntegrityError as exc:
            raise Conflict(f"dispute {dispute_id} was ruled meanwhile", code="ruling_race",
                           dispute_id=dispute_id) from exc
        for move in plan.redispatch:
            # The dispute's own ticket is reassigned while the dispute is open: the hotline's
            # designation, which the ticket keeps (closing the dispute first would read as a
            # bounce back to B). The others were checked against the same state machine.
            service.record_ticket_event(
                conn, ticket_id=move.ticket_id, event=Event(
                    EventType.REASSIGNED, move.at, to_unit=move.new_lead,
                    note=f"裁定 {request.document_no}（{ruling_id}）"),
                actor=actor, now=now, policy=service.load_policy(
                    conn, service.district_of(base, move.area)),
                territorial_unit=service.territorial_unit_of(base, move.area))
        service.close_dispute(conn, dispute_id, status="ruled", ruling_id=ruling_id,
                              actor=actor, now=now)
        audit.record(conn, actor=actor, action="ruling", subject=f"ruling:{ruling_id}",
                     before=None, after={**_row_out(row), "plan_digest": plan.digest,
                                         "redispatched": [m.as_dict() for m in plan.redispatch]},
                     at=now)
    if new_matrix is not None:
        router.install(new_matrix)
    return {"ruling_id": ruling_id, "dispute_id": dispute_id,
            "rule_id": rule.id if rule is not None else None, "ruleset_version": version,
            "retired_rules": list(gone), "ticket_id": ticket_id, "lead": request.lead,
            "supersedes": request.supersedes,
            "open_tickets": [m.as_dict() for m in plan.redispatch],
            "open_tickets_kept": [k.as_dict() for k in plan.kept],
            "warnings": [w.as_dict() for w in plan.warnings], "plan_digest": plan.digest}


# -- reading rulings ----------------------------------------------------------------------------


def _row_out(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    at = out.get("at")
    if isinstance(at, datetime):
        out["at"] = at.isoformat()
    return out


def _lineage(conn: Connection, row: Mapping[str, Any]) -> list[str]:
    """The chain of rulings this one belongs to, oldest first."""
    chain = [row["id"]]
    earlier = row["supersedes"]
    while earlier is not None and earlier not in chain:
        chain.insert(0, earlier)
        earlier = conn.execute(select(rulings.c.supersedes)
                               .where(rulings.c.id == earlier)).scalar()
    current = row["id"]
    while True:
        later = conn.execute(select(rulings.c.id).where(rulings.c.supersedes == current)
                             .order_by(rulings.c.at)).scalar()
        if later is None or later in chain:
            return chain
        chain.append(later)
        current = later


def get_ruling(conn: Connection, ruling_id: str, matrix: Matrix) -> dict[str, Any]:
    """The ruling with its rule (as in force, or its last revision when retired) and its
    lineage: ``supersedes``, ``superseded_by`` and the whole chain."""
    found = conn.execute(select(rulings).where(rulings.c.id == ruling_id)).mappings().first()
    if found is None:
        raise NotFound(f"unknown ruling {ruling_id!r}", code="ruling_not_found",
                       ruling_id=ruling_id)
    row = dict(found)
    out = _row_out(row)
    out["rule"] = None
    rule_id = row["rule_id"]
    if rule_id is not None:
        live = matrix.rules.get(rule_id)
        if live is not None:
            out["rule"] = dict(live.content(), revision=live.revision, in_force=True)
        else:
            last = conn.execute(select(rules_table).where(rules_table.c.id == rule_id)
                                .order_by(rules_table.c.version.desc()).limit(1)
                                ).mappings().first()
            if last is not None:
                out["rule"] = dict(rule_from_row(dict(last)).content(), revision=last["revision"],
                                   in_force=False)
    later = conn.execute(select(rulings.c.id).where(rulings.c.supersedes == ruling_id)
                         .order_by(rulings.c.at)).scalar()
    out["superseded_by"] = later
    out["lineage"] = _lineage(conn, row)
    return out


def redispatched(conn: Connection, ruling_id: str) -> list[dict[str, Any]]:
    """The open tickets the ruling re-dispatched (``Redispatch.as_dict``), as its audit entry
    recorded them in the ruling's transaction; empty for an unknown ruling."""
    after = conn.execute(select(audit_log.c.after).where(
        audit_log.c.action == "ruling", audit_log.c.subject == f"ruling:{ruling_id}")
        .order_by(audit_log.c.seq).limit(1)).scalar()
    if not isinstance(after, Mapping):
        return []
    return [dict(m) for m in after.get("redispatched", [])]


def list_rulings(conn: Connection, matrix: Matrix, *, category: str | None = None,
                 dispute_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Rulings, newest first; ``category`` includes the rulings on categories below it."""
    query = select(rulings).order_by(rulings.c.at.desc(), rulings.c.id).limit(limit)
    if category is not None:
        codes = (category_subtree(matrix.jurisdiction, category)
                 if category in matrix.jurisdiction.categories else [category])
        query = query.where(rulings.c.category.in_(codes))
    if dispute_id is not None:
        query = query.where(rulings.c.dispute_id == dispute_id)
    return [_row_out(dict(r)) for r in conn.execute(query).mappings()]
