"""Rulings (裁定): the district's answer to a dispute, fixed as a standing rule
(以制度形式固化) so the same dispute does not come back.

A ruling names the lead (主办) and co-handlers (协办) with its reasoning, basis (依据) and
document number (文号). It may *generalize*: a rule with ``source: "ruling"`` is written back
into the matrix (category, area scope, ``when``, ``text_any``), and ``retire_rules`` are
retired, as one new rule-set version in the same transaction as the ruling, which also
closes the dispute and reassigns its ticket to the ruled lead. A ruling row is never edited;
a later ruling names the one it replaces in ``supersedes`` (its rule is retired then).

Before ruling, :func:`preview` shows the impact without writing anything: the stored
decisions the rule would have changed, the open tickets it would re-route, the rules it
outranks and those that would still beat it.

The pure part (request, the rule it writes, how it ranks against the matrix) comes first;
the service functions that read and write the database follow.

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
from arbitration.tables import rulings, tickets
from arbitration.tickets import ENDED_STATUSES, Event, EventType, TicketState
from jurisdiction.errors import Conflict, InvalidInput, NotFound
from jurisdiction.model import Jurisdiction
from rules import admin
from rules.conditions import TicketContext, mismatch
from rules.departmental import with_derived_defaults
from rules.model import ROLES, Decision, Rule, RuleSource, Status, Ticket
from rules.privacy import mask_text
from rules.resolution import context_for, rank, resolve, resolve_role
from rules.service import Router, ticket_from_request
from rules.store import RETIRE, ChangeSet, Matrix, current_version, rule_from_row
from rules.tables import decisions
from rules.tables import rules as rules_table

#: How many changed decisions and open tickets a preview lists (the count is always whole).
SAMPLE_SIZE = 20
OPEN_TICKETS_LIMIT = 100
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


# -- the preview ------------------------------------------------------------------------------


@dataclass
class _Counterfactual:
    """Decide tickets on the current matrix with the ruling's change, and tell whether the
    change is what moves the answer."""

    matrix: Matrix
    rule: Rule | None
    retired: frozenset[str]
    jurisdiction: Jurisdiction = field(init=False)

    def __post_init__(self) -> None:
        # the ruling's rule and retirements also move where departmental gaps go
        # (rules.departmental), as the matrix after the ruling will
        rules = [r for r in self.matrix.rules.values() if r.id not in self.retired]
        self.jurisdiction = with_derived_defaults(
            self.matrix.jurisdiction, rules + ([self.rule] if self.rule is not None else []))

    def decide(self, ctx: TicketContext) -> Decision:
        considered = [r for r in self.matrix.considered(ctx.category_path)
                      if r.id not in self.retired]
        if self.rule is not None and self.rule.category in ctx.category_path:
            considered.append(self.rule)
        return resolve(ctx, considered, self.jurisdiction, self.matrix.settings)

    def is_its_doing(self, decision: Decision, old_rule_id: str | None) -> bool:
        if old_rule_id is not None and old_rule_id in self.retired:
            return True
        if self.rule is None:
            return False
        return ((decision.rule is not None and decision.rule.id == self.rule.id)
                or self.rule.id in decision.tied_rules)


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


def _safe_rank(rule: Rule | None, j: Jurisdiction) -> tuple[float, ...]:
    if rule is None:
        return _LOWEST
    try:
        return rank(rule, j)
    except NotFound:  # its category or area is gone: it cannot hold against the new rule
        return _LOWEST


def _requests(conn: Connection, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        query = select(decisions.c.id, decisions.c.request).where(
            decisions.c.id.in_(ids[start:start + _CHUNK]))
        found.update({row.id: row.request for row in conn.execute(query)})
    return found


def _ref(status: str, lead: str | None, rule_id: str | None) -> dict[str, Any]:
    return {"status": status, "lead": lead, "rule_id": rule_id}


def changed_decisions(conn: Connection, matrix: Matrix, rule: Rule | None,
                      retired: Iterable[str], *, sample_size: int = SAMPLE_SIZE
                      ) -> dict[str, Any]:
    """The stored decisions whose lead or status the change would have changed.

    Only decisions that could change are decided again: SQL keeps those in the rule's
    category subtree, area scope and validity (and those won by a retired rule); of those,
    a decision routed by a rule of higher rank than the new one cannot change, so only the
    rest have their request read and go through the plain evaluator.
    """
    j = matrix.jurisdiction
    gone = frozenset(retired)
    what = _Counterfactual(matrix, rule, gone)
    cats: set[str] = set()
    areas: set[str] | None = None
    if rule is not None:
        cats.update(category_subtree(j, rule.category))
        if rule.area is not None:
            areas = set(area_subtree(j, rule.area))
    retired_cats = {c for rid in gone if rid in matrix.rules
                    for c in category_subtree(j, matrix.rules[rid].category)}
    cols = (decisions.c.id, decisions.c.ticket_id, decisions.c.ruleset_version,
            decisions.c.as_of, decisions.c.category, decisions.c.area, decisions.c.status,
            decisions.c.lead, decisions.c.rule_id)
    rows: list[Any] = []
    if cats:
        query = select(*cols).where(decisions.c.category.in_(sorted(cats)))
        if areas is not None:
            query = query.where(decisions.c.area.in_(sorted(areas)))
        if rule is not None and rule.valid_from is not None:
            query = query.where(decisions.c.as_of >= rule.valid_from)
        if rule is not None and rule.valid_to is not None:
            query = query.where(decisions.c.as_of < rule.valid_to)
        rows += conn.execute(query).all()
    extra = sorted(retired_cats - cats)
    if extra:
        rows += conn.execute(select(*cols).where(decisions.c.category.in_(extra),
                                                 decisions.c.rule_id.in_(sorted(gone)))).all()
    scanned = len(rows)
    mine = _safe_rank(rule, j)
    winners = _stored_winners(conn, {(r.rule_id, r.ruleset_version) for r in rows
                                     if r.rule_id is not None and r.rule_id not in gone
                                     and r.status == Status.ROUTED.value})
    hopeful = []
    for r in rows:
        if r.rule_id is not None and r.rule_id in gone:
            hopeful.append(r)
        elif rule is None or (r.category not in cats
                              or (areas is not None and r.area not in areas)
                              or not rule.is_valid_at(r.as_of)):
            continue
        elif (r.status != Status.ROUTED.value
              or _safe_rank(winners.get((r.rule_id, r.ruleset_version)), j) <= mine):
            hopeful.append(r)
    requests = _requests(conn, [r.id for r in hopeful])
    count = 0
    sample: list[dict[str, Any]] = []
    for r in hopeful:
        request = dict(requests.get(r.id) or {"category": r.category, "area": r.area})
        request["as_of"] = r.as_of
        try:
            ctx = context_for(ticket_from_request(request, r.as_of), j)
        except (NotFound, InvalidInput):
            continue  # its codes are gone from the matrix: nothing to re-decide
        if rule is not None and r.rule_id not in gone and mismatch(rule, ctx) is not None:
            continue
        new = what.decide(ctx)
        if (new.status.value, new.lead) == (r.status, r.lead):
            continue
        if not what.is_its_doing(new, r.rule_id):
            continue
        count += 1
        if len(sample) < sample_size:
            sample.append({
                "decision_id": r.id, "ticket_id": r.ticket_id,
                "as_of": r.as_of.isoformat(), "ruleset_version": r.ruleset_version,
                "before": _ref(r.status, r.lead, r.rule_id),
                "after": _ref(new.status.value, new.lead,
                              new.rule.id if new.rule is not None else None)})
    return {"count": count, "sample": sample, "scanned": scanned, "replayed": len(hopeful)}


def open_tickets(conn: Connection, matrix: Matrix, rule: Rule | None, retired: Iterable[str],
                 *, now: datetime, ruling_ticket: str | None = None,
                 ruled_lead: str | None = None, limit: int = OPEN_TICKETS_LIMIT
                 ) -> list[dict[str, Any]]:
    """Tickets not completed, in the rule's scope, that it would route elsewhere now; and the
    dispute's own ticket, which the ruling hands to ``ruled_lead``."""
    j = matrix.jurisdiction
    what = _Counterfactual(matrix, rule, frozenset(retired))
    base = select(tickets.c.ticket_id, tickets.c.category, tickets.c.area, tickets.c.status,
                  tickets.c.owner, tickets.c.interim_owner, tickets.c.dispute_id).where(
        tickets.c.status.notin_([str(s) for s in ENDED_STATUSES]))
    query = base
    scoped = rule is not None
    if rule is not None:
        query = query.where(tickets.c.category.in_(category_subtree(j, rule.category)))
        if rule.area is not None:
            query = query.where(tickets.c.area.in_(area_subtree(j, rule.area)))
        if not rule.is_valid_at(now):
            scoped = False
    rows = list(conn.execute(query)) if scoped else []
    if ruling_ticket is not None and all(r.ticket_id != ruling_ticket for r in rows):
        rows += conn.execute(base.where(tickets.c.ticket_id == ruling_ticket)).all()
    found: list[dict[str, Any]] = []
    for r in rows:
        holder = r.interim_owner or r.owner
        entry = {"ticket_id": r.ticket_id, "status": r.status, "owner": r.owner,
                 "holder": holder, "dispute_id": r.dispute_id, "category": r.category,
                 "area": r.area}
        if r.ticket_id == ruling_ticket and ruled_lead is not None:
            lead = (_role_for(ruled_lead, r.category, r.area, now, j) if ruled_lead in ROLES
                    else ruled_lead)
            if lead is not None and (lead not in (r.owner, holder) or r.status == "in_dispute"):
                found.append(dict(entry, new_lead=lead, why="ruling"))
            continue
        if r.category is None or rule is None:
            continue
        request = _latest_request(conn, r.ticket_id) or {"category": r.category,
                                                          "area": r.area}
        request["as_of"] = now
        try:
            ctx = context_for(ticket_from_request(request, now), j)
        except (NotFound, InvalidInput):
            continue
        if mismatch(rule, ctx) is not None:
            continue
        new = what.decide(ctx)
        if new.lead not in (r.owner, holder) and what.is_its_doing(new, None):
            found.append(dict(entry, new_lead=new.lead, why="rule"))
        if len(found) >= limit:
            break
    return found


def _role_for(code: str, category: str | None, area: str | None, now: datetime,
              j: Jurisdiction) -> str | None:
    if area is None or area not in j.areas:
        return None
    ticket = Ticket(category=category or "", area=area, as_of=now)
    return resolve_role(code, TicketContext(ticket, (), j.area_path(area)), j)


def _latest_request(conn: Connection, ticket_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(decisions.c.request).where(decisions.c.ticket_id == ticket_id)
                       .order_by(decisions.c.created_at.desc()).limit(1)).first()
    return dict(row.request) if row is not None else None


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
    """What the ruling would do, without writing anything (contract: ``changed_decisions``,
    ``open_tickets``, ``outranks``, ``outranked_by``; also ``ties_with`` and the ``rule``)."""
    with db.connect() as conn:
        dispute, matrix, gone, rule = _ruling_inputs(conn, router, dispute_id, request,
                                                     arbiter=arbiter, ruling_id="rlg_preview")
        place = (standing(rule, matrix, gone) if rule is not None
                 else {"outranks": [], "outranked_by": [], "ties_with": []})
        changed = changed_decisions(conn, matrix, rule, gone)
        tickets_ = open_tickets(conn, matrix, rule, gone, now=now,
                                ruling_ticket=dispute.get("ticket_id"),
                                ruled_lead=request.lead)
    return {"dispute_id": dispute_id, "ruleset_version": matrix.version,
            "rule": rule.content() if rule is not None else None, "retire_rules": list(gone),
            "changed_decisions": changed, "open_tickets": tickets_, **place}


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
    matrix = router.current()
    head = current_version(conn)
    return matrix if head == matrix.version else router.at_version(conn, head)


def new_ruling_id() -> str:
    return "rlg_" + uuid.uuid4().hex[:16]


def rule_dispute(db: DbEngine, router: Router, dispute_id: str, request: RulingRequest, *,
                 arbiter: Arbiter | str, actor: str, now: datetime,
                 after: admin.AfterCommit | None = None) -> dict[str, Any]:
    """Rule on a dispute in one transaction: the ruling row, the written-back rule and the
    retirements (a new rule-set version), the dispute closed, its ticket reassigned to the
    ruled lead, audit entries; then the new matrix is installed in ``router``.

    Two rulings of one dispute at once leave exactly one: the other fails on the unique
    dispute id or the rule-set version and is retried, then finds the dispute ruled
    (``Conflict`` ``dispute_closed``).
    """
    for attempt in range(3):
        try:
            return _rule_once(db, router, dispute_id, request, arbiter=arbiter, actor=actor,
                              now=now, after=after)
        except Conflict as exc:
            if exc.code not in ("ruleset_conflict", "ruling_race") or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _rule_once(db: DbEngine, router: Router, dispute_id: str, request: RulingRequest, *,
               arbiter: Arbiter | str, actor: str, now: datetime,
               after: admin.AfterCommit | None) -> dict[str, Any]:
    ruling_id = new_ruling_id()
    new_matrix: Matrix | None = None
    with db.begin() as conn:
        service.load_dispute(conn, dispute_id, for_update=True)  # rulings queue up here
        dispute, base, gone, rule = _ruling_inputs(conn, router, dispute_id, request,
                                                   arbiter=arbiter, ruling_id=ruling_id)

        def build(matrix: Matrix) -> ChangeSet:
            check_request(request, matrix)
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
        ticket = service.load_ticket(conn, ticket_id) if ticket_id else None
        lead = _lead_for_ticket(request.lead, ticket, base, now)
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
        if ticket is not None and lead is not None:
            # Reassigned while the dispute is open: the hotline's designation, which the
            # ticket keeps (closing the dispute first would read as a bounce back to B).
            service.record_ticket_event(
                conn, ticket_id=ticket.ticket_id, event=Event(
                    EventType.REASSIGNED, max(now, ticket.updated_at or now), to_unit=lead,
                    note=f"裁定 {request.document_no}（{ruling_id}）"),
                actor=actor, now=now,
                policy=service.load_policy(conn, service.district_of(base, ticket.area)),
                territorial_unit=service.territorial_unit_of(base, ticket.area))
        service.close_dispute(conn, dispute_id, status="ruled", ruling_id=ruling_id,
                              actor=actor, now=now)
        audit.record(conn, actor=actor, action="ruling", subject=f"ruling:{ruling_id}",
                     before=None, after=_row_out(row), at=now)
    if new_matrix is not None:
        router.install(new_matrix)
    return {"ruling_id": ruling_id, "dispute_id": dispute_id,
            "rule_id": rule.id if rule is not None else None, "ruleset_version": version,
            "retired_rules": list(gone), "ticket_id": ticket_id, "lead": request.lead,
            "supersedes": request.supersedes}


def _lead_for_ticket(lead: str, ticket: TicketState | None, matrix: Matrix,
                     now: datetime) -> str | None:
    """The unit the dispute's ticket goes to (a role resolved for its area); None when there
    is no ticket, it is completed, or it already sits with that unit outside a dispute."""
    if ticket is None or ticket.status in ENDED_STATUSES:
        return None
    unit = (_role_for(lead, ticket.category, ticket.area, now, matrix.jurisdiction)
            if lead in ROLES else lead)
    if unit is None or (unit == ticket.owner and not ticket.dispute_open):
        return None
    return unit


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
