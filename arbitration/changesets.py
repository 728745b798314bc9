"""Change sets (变更草稿): catalogue changes that are checked, shown with their impact and
published only after a second person approves them (四眼原则).

A change set proposes rules to add or replace (full rule objects, the bundle's format) and
rule ids to retire. Drafting it runs every step an import or ``PATCH /v1/rules`` runs —
parsing, the references check, compile and the engine's limits — on the live matrix and
rolls back (:func:`rules.admin.apply` with ``dry_run``): a change the service could not
serve is refused at draft time, and a draft never changes routing. What is stored with it:

- ``findings``: ``verify`` of the matrix as it would be (``new``: not a finding of the live
  matrix);
- ``impact``: as a ruling preview shows it (:func:`arbitration.rulings.change_impact`): the
  decisions of the last :data:`IMPACT_DAYS` days whose replay would change, the open tickets
  whose lead would move, the rules the new ones outrank;
- ``diff``: per rule, ``added``, ``changed`` (field by field, old → new) or ``retired``
  against the live matrix (:func:`readable_diff`);
- the live revision of every rule it touches (``base_revisions``).

Publishing (:func:`approve`, editor or admin, never the author: 403 ``own_change_set``)
re-checks against the live matrix: a touched rule whose revision moved since the draft, or a
change that no longer validates, is 409 ``change_set_stale``. It then writes through the same
path as ``PATCH /v1/rules`` (one new rule-set version whose note names the change set,
audited, installed in the router at once) and marks every other draft touching one of its
rule ids ``superseded``. :func:`reject` records a reason (the author may withdraw a draft this
way). Nothing is edited away: each status change is an event in ``change_set_events`` and the
row's status is its projection; rejected and superseded change sets stay readable.

>>> from jurisdiction.model import Category, Jurisdiction, Unit, UnitKind
>>> from rules.model import Settings
>>> j = Jurisdiction.build([Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT),
...                         Unit("D-CG", "城管委", UnitKind.DEPARTMENT)], [],
...                        [Category("03", "城乡建设", None)])
>>> live = Matrix.build(1, j, {"R-1": Rule("R-1", "03", "D-ZJ", "清单")}, Settings())
>>> proposal = Proposal.parse({"title": "改由城管委主办", "rules": [
...     {"id": "R-1", "category": "03", "lead": "D-CG", "basis": "清单"}], "retire": []})
>>> [(d["rule_id"], d["change"], d["fields"]) for d in readable_diff(live, proposal)]
[('R-1', 'changed', [{'field': 'lead', 'old': 'D-ZJ', 'new': 'D-CG'}])]
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import Engine as DbEngine

from arbitration import audit
from arbitration.policy import DEFAULT_POLICY
from arbitration.rulings import change_impact
from arbitration.tables import change_set_events, change_sets
from jurisdiction.errors import (
    BundleInvalid,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ProblemList,
)
from rules import admin
from rules.bundle import _Reader, parse_rule
from rules.model import Rule, RuleSource
from rules.service import Router
from rules.store import RETIRE, ChangeSet, Matrix
from rules.verification import verify

STATUSES = ("draft", "published", "rejected", "superseded")
#: who may draft, approve and reject change sets
ROLES = ("editor", "admin")
#: the impact counts the decisions made for the last this many days
IMPACT_DAYS = 90
#: the most rules (and retirements) one change set may carry
MAX_RULES = 5000
PROPOSAL_FIELDS = ("title", "rules", "retire")


@dataclass(frozen=True, slots=True)
class Person:
    """Who acts on a change set: ``actor`` is what the audit log names, ``identity`` tells
    two people apart (an API key's id, or ``user:<id>`` for a person signed in), ``role``
    decides what they may do."""

    actor: str
    identity: str
    role: str

    def require_editor(self) -> None:
        if self.role not in ROLES:
            raise Forbidden(f"role {self.role!r} may not change the catalogue; needs editor "
                            "or admin", code="forbidden", role=self.role)


@dataclass(frozen=True)
class Proposal:
    """What a change set proposes: a title, rules to add or replace, rule ids to retire."""

    title: str
    rules: tuple[Rule, ...] = ()
    retire: tuple[str, ...] = ()
    #: ``rule:<id>`` → where the rule came from (``rules[3]``, ``清单!12``)
    where: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> Proposal:
        """A proposal from a request body ``{"title", "rules", "retire"}``; every rule is
        parsed as an import parses it. Raises ``InvalidInput`` naming the field (a rule's
        problems all at once, as ``BundleInvalid`` located ``rules[i].field``)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("the body must be an object with title, rules and retire",
                               code="invalid_body", field="body")
        for key in data:
            if key not in PROPOSAL_FIELDS:
                raise InvalidInput(f"unknown field {key!r}", code="unknown_field",
                                   field=str(key))
        title = data.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise InvalidInput("title must be a non-empty string of at most 200 characters",
                               code="invalid_value", field="title")
        raw_rules = data.get("rules", [])
        raw_retire = data.get("retire", [])
        for name, value in (("rules", raw_rules), ("retire", raw_retire)):
            if not isinstance(value, list):
                raise InvalidInput(f"{name} must be a list", code="invalid_value", field=name)
            if len(value) > MAX_RULES:
                raise InvalidInput(f"{name} may hold at most {MAX_RULES} entries",
                                   code="too_many", field=name)
        problems = ProblemList()
        reader = _Reader(problems)
        rules: list[Rule] = []
        where: dict[str, str] = {}
        for i, item in enumerate(raw_rules):
            rule = parse_rule(reader, item, f"rules[{i}]")
            if rule is None:
                continue
            if f"rule:{rule.id}" in where:
                problems.add(f"rules[{i}].id", f"rule {rule.id!r} is proposed twice",
                             code="duplicate_rule", field="id")
                continue
            where[f"rule:{rule.id}"] = f"rules[{i}]"
            rules.append(rule)
        if problems:
            raise _located(BundleInvalid("change set", problems.problems))
        retire: list[str] = []
        for i, rule_id in enumerate(raw_retire):
            if not isinstance(rule_id, str) or not rule_id:
                raise InvalidInput("a rule id to retire must be a non-empty string",
                                   code="invalid_value", field=f"retire[{i}]")
            if rule_id in retire or f"rule:{rule_id}" in where:
                raise InvalidInput(f"rule {rule_id!r} is named twice in the change set",
                                   code="duplicate_rule", field=f"retire[{i}]")
            retire.append(rule_id)
        return cls(title.strip(), tuple(rules), tuple(retire), where)

    @property
    def rule_ids(self) -> list[str]:
        """Every rule id the proposal touches, sorted."""
        return sorted({r.id for r in self.rules} | set(self.retire))

    def documents(self) -> list[dict[str, Any]]:
        return [rule.content() for rule in self.rules]


# -- pure: the change, its diff ------------------------------------------------------------------


def build_change(proposal: Proposal) -> Callable[[Matrix], ChangeSet]:
    """The matrix change of a proposal on ``base`` (for :func:`rules.admin.apply`): a retired
    id must exist (422 naming ``retire[i]``); a replaced rule keeps its revision count."""
    def build(base: Matrix) -> ChangeSet:
        change = ChangeSet(where=dict(proposal.where))
        for rule in proposal.rules:
            old = base.rules.get(rule.id)
            change.rules[rule.id] = replace(rule, revision=old.revision) if old else rule
        for i, rule_id in enumerate(proposal.retire):
            if rule_id not in base.rules:
                raise InvalidInput(f"there is no live rule {rule_id!r} to retire",
                                   code="unknown_rule", field=f"retire[{i}]", value=rule_id)
            change.rules[rule_id] = RETIRE
        return change
    return build


def effective(proposal: Proposal, live: Matrix) -> Proposal:
    """The proposal without the rules that equal the live ones (they change nothing)."""
    kept = tuple(r for r in proposal.rules
                 if r.id not in live.rules or live.rules[r.id].content() != r.content())
    where = {k: v for k, v in proposal.where.items()
             if k in {f"rule:{r.id}" for r in kept}}
    return replace(proposal, rules=kept, where=where)


def readable_diff(live: Matrix, proposal: Proposal) -> list[dict[str, Any]]:
    """Per rule the proposal touches, against ``live``: ``added`` (with the rule),
    ``changed`` (each differing field, ``old`` → ``new``, with the rule as it would be),
    ``retired`` (with the rule as it stands), in rule id order; rules equal to the live
    ones are left out."""
    out: list[dict[str, Any]] = []
    for rule in proposal.rules:
        new = rule.content()
        old_rule = live.rules.get(rule.id)
        if old_rule is None:
            out.append({"rule_id": rule.id, "change": "added", "fields": [], "rule": new})
            continue
        old = old_rule.content()
        fields = [{"field": key, "old": old[key], "new": new[key]}
                  for key in new if old.get(key) != new[key]]
        if fields:
            out.append({"rule_id": rule.id, "change": "changed", "fields": fields,
                        "rule": new})
    for rule_id in proposal.retire:
        gone = live.rules.get(rule_id)
        out.append({"rule_id": rule_id, "change": "retired", "fields": [],
                    "rule": gone.content() if gone is not None else None})
    return sorted(out, key=lambda d: str(d["rule_id"]))


def new_change_set_id(now: datetime, tz: str = DEFAULT_POLICY.tz) -> str:
    """``CS-YYYYMMDD-xxxxxxxx``, dated in the district's time zone (like a dispute's id)."""
    return f"CS-{now.astimezone(ZoneInfo(tz)):%Y%m%d}-{uuid.uuid4().hex[:8]}"


# -- the service ---------------------------------------------------------------------------------


def _finding_key(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    return (finding["code"], finding["severity"], tuple(finding["rule_ids"]),
            finding["category"], tuple(finding["areas"]))


#: the live matrix's finding keys per (version, digest, hour): ``verify`` of a city-sized
#: matrix takes seconds (13.5 s for 6,851 rules on the test machine under load), and every
#: draft of the hour is checked against the same live matrix
_LIVE_FINDINGS: dict[tuple[int, str, datetime], frozenset[tuple[Any, ...]]] = {}
_LIVE_FINDINGS_LOCK = threading.Lock()


def _live_findings(live: Matrix, at: datetime) -> frozenset[tuple[Any, ...]]:
    key = (live.version, live.digest, at)
    with _LIVE_FINDINGS_LOCK:
        found = _LIVE_FINDINGS.get(key)
    if found is None:
        found = frozenset(_finding_key(f.as_dict()) for f in verify(live, at).findings)
        with _LIVE_FINDINGS_LOCK:
            _LIVE_FINDINGS.clear()  # only the newest is asked for
            _LIVE_FINDINGS[key] = found
    return found


def assess(conn: Connection, live: Matrix, would_be: Matrix, proposal: Proposal, *,
           now: datetime) -> dict[str, Any]:
    """The checks a draft shows: ``findings`` of the matrix as it would be (checked as it
    routes at the start of the hour, ``new`` when the live matrix has no such finding), its
    ``impact`` and its ``diff`` against ``live``."""
    at = now.replace(minute=0, second=0, microsecond=0)
    before = _live_findings(live, at)
    findings = [dict(f.as_dict(), new=_finding_key(f.as_dict()) not in before)
                for f in verify(would_be, at).findings]
    gone = set(proposal.retire) | {r.id for r in proposal.rules if r.id in live.rules}
    new_rules = [would_be.rules[r.id] for r in proposal.rules]
    impact = change_impact(conn, live, new_rules, gone, now=now,
                           since=now - timedelta(days=IMPACT_DAYS))
    impact["days"] = IMPACT_DAYS
    return {"findings": findings, "impact": impact, "diff": readable_diff(live, proposal)}


def draft(db: DbEngine, router: Router, proposal: Proposal, *, by: Person, now: datetime,
          source: str = "api") -> dict[str, Any]:
    """Record a change set as a draft, checked and assessed; routing does not change.

    The change is built, validated, compiled and loaded into the engine on the live matrix,
    then rolled back (what ``?dry_run=true`` of an import does): invalid rules are 422
    naming the field, a change the engine refuses is 422, a change that changes nothing is
    422 ``empty_change_set``."""
    by.require_editor()
    seen: dict[str, Matrix] = {}
    build = build_change(proposal)

    def remember(base: Matrix) -> ChangeSet:
        seen["base"] = base
        return build(base)

    try:
        would_be, report = admin.apply(db, router, remember, actor=by.actor,
                                       note=f"change set draft: {proposal.title}", now=now,
                                       dry_run=True)
    except BundleInvalid as exc:
        raise _located(exc) from None
    if report.is_empty:
        raise InvalidInput("the change set changes nothing in the live matrix",
                           code="empty_change_set", field="rules")
    live = seen["base"]
    proposal = effective(proposal, live)
    change_set_id = new_change_set_id(now)
    with db.begin() as conn:
        checks = assess(conn, live, would_be, proposal, now=now)
        row = {
            "id": change_set_id, "title": proposal.title, "status": "draft",
            "rules": proposal.documents(), "retire": list(proposal.retire),
            "rule_ids": proposal.rule_ids, "base_version": live.version,
            "base_revisions": {rule_id: (live.rules[rule_id].revision
                                         if rule_id in live.rules else None)
                               for rule_id in proposal.rule_ids},
            **checks, "source": source[:200], "author": by.actor, "author_id": by.identity,
            "created_at": now,
        }
        conn.execute(insert(change_sets).values(**row))
        _event(conn, change_set_id, "drafted", by=by, at=now,
               payload={"base_version": live.version, "rule_ids": proposal.rule_ids})
        audit.record(conn, actor=by.actor, action="change_set_drafted",
                     subject=f"change_set:{change_set_id}", before=None,
                     after={"title": proposal.title, "rules": row["rules"],
                            "retire": row["retire"], "base_version": live.version}, at=now)
        return get_change_set(conn, change_set_id)


def approve(db: DbEngine, router: Router, change_set_id: str, *, by: Person, now: datetime,
            after: admin.AfterCommit | None = None) -> dict[str, Any]:
    """Publish a draft: a new rule-set version made through the matrix's write path (the
    version's note names the change set), in use at once; other drafts touching one of its
    rule ids become ``superseded``. 403 ``own_change_set`` for its author; 409
    ``change_set_not_draft`` unless it is a draft; 409 ``change_set_stale`` when the live
    matrix moved so that the change no longer applies as drafted."""
    by.require_editor()
    for attempt in range(3):
        try:
            with admin.writer_queue(db):
                return _approve_once(db, router, change_set_id, by=by, now=now, after=after)
        except Conflict as exc:
            if exc.code != "ruleset_conflict" or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _approve_once(db: DbEngine, router: Router, change_set_id: str, *, by: Person,
                  now: datetime, after: admin.AfterCommit | None) -> dict[str, Any]:
    new_matrix: Matrix | None = None
    with admin.write_transaction(db) as conn:
        admin.lock_matrix(conn)
        row = _draft_row(conn, change_set_id)
        if is_author(row, by):
            raise Forbidden("a change set is published by a second person, not its author "
                            "(四眼原则)", code="own_change_set", change_set_id=change_set_id)
        proposal = stored_proposal(row)
        live = _head(conn, router)
        moved = [rule_id for rule_id, revision in row["base_revisions"].items()
                 if (live.rules[rule_id].revision if rule_id in live.rules else None)
                 != revision]
        if moved:
            raise Conflict(f"rules {', '.join(sorted(moved))} changed since the change set "
                           "was drafted; draft it again on the live matrix",
                           code="change_set_stale", change_set_id=change_set_id,
                           rule_ids=sorted(moved), base_version=row["base_version"],
                           live_version=live.version)
        try:
            new_matrix, report = admin.apply(
                db, router, build_change(proposal), actor=by.actor,
                note=f"change set {change_set_id}: {row['title']}", now=now, after=after,
                conn=conn)
        except InvalidInput as exc:
            raise Conflict(f"the change set no longer applies to the live matrix: "
                           f"{exc.message}", code="change_set_stale",
                           change_set_id=change_set_id, cause=exc.code,
                           problems=[p.as_dict() for p in getattr(exc, "problems", [])]
                           ) from exc
        if report.is_empty:
            raise Conflict("the live matrix already holds this change", code="change_set_stale",
                           change_set_id=change_set_id)
        _decide(conn, row, "published", by=by, at=now, version=report.version)
        superseded = _supersede_overlapping(conn, row, by=by, at=now, version=report.version)
        audit.record(conn, actor=by.actor, action="change_set_published",
                     subject=f"change_set:{change_set_id}", before={"status": "draft"},
                     after={"status": "published", "ruleset_version": report.version,
                            "superseded": superseded}, at=now)
        answer = get_change_set(conn, change_set_id)
    router.install(new_matrix)
    return answer


def is_author(change_set: Mapping[str, Any], by: Person) -> bool:
    """Whether ``by`` drafted the change set (the same identity, not merely the same name)."""
    return bool(change_set["author_id"] == by.identity)


def may_approve(change_set: Mapping[str, Any], by: Person) -> bool:
    """Whether ``by`` may publish the change set now: a draft, an editor or admin, and not
    its author (四眼原则) — what :func:`approve` checks before it re-checks the matrix."""
    return (change_set["status"] == "draft" and by.role in ROLES
            and not is_author(change_set, by))


def may_reject(change_set: Mapping[str, Any], by: Person) -> bool:
    """Whether ``by`` may reject the draft (its author may withdraw it this way)."""
    return change_set["status"] == "draft" and by.role in ROLES


def reject(db: DbEngine, change_set_id: str, *, by: Person, reason: str,
           now: datetime) -> dict[str, Any]:
    """Reject a draft with a reason (its author may withdraw it this way); it stays on
    record."""
    by.require_editor()
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a rejection needs a reason", code="invalid_value", field="reason")
    with db.begin() as conn:
        row = _draft_row(conn, change_set_id, for_update=True)
        _decide(conn, row, "rejected", by=by, at=now, reason=reason.strip()[:2000])
        audit.record(conn, actor=by.actor, action="change_set_rejected",
                     subject=f"change_set:{change_set_id}", before={"status": "draft"},
                     after={"status": "rejected", "reason": reason.strip()[:2000]}, at=now)
        return get_change_set(conn, change_set_id)


def get_change_set(conn: Connection, change_set_id: str) -> dict[str, Any]:
    """The change set with its checks and its history of events, oldest first."""
    found = conn.execute(select(change_sets).where(change_sets.c.id == change_set_id)
                         ).mappings().first()
    if found is None:
        raise NotFound(f"unknown change set {change_set_id!r}", code="change_set_not_found",
                       change_set_id=change_set_id)
    events = conn.execute(select(change_set_events)
                          .where(change_set_events.c.change_set_id == change_set_id)
                          .order_by(change_set_events.c.seq)).mappings()
    return {**_row_out(dict(found)), "history": [
        {"seq": e["seq"], "type": e["type"], "at": e["at"].isoformat(), "actor": e["actor"],
         "actor_id": e["actor_id"], **e["payload"]} for e in events]}


def list_change_sets(conn: Connection, *, status: str | None = None, rule_id: str | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """Change sets, newest first, without their impact sample and diff (``GET`` one for
    them); ``status`` filters, ``rule_id`` keeps those touching that rule."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           code="invalid_value", field="status")
    query = select(change_sets).order_by(change_sets.c.created_at.desc(), change_sets.c.id)
    if status is not None:
        query = query.where(change_sets.c.status == status)
    out = []
    for row in conn.execute(query).mappings():
        if rule_id is not None and rule_id not in row["rule_ids"]:
            continue
        item = _row_out(dict(row))
        impact = item.pop("impact")
        item.pop("diff")
        item["findings"] = len(item["findings"])
        item["impact"] = {"changed_decisions": impact["changed_decisions"]["count"],
                          "open_tickets": len(impact["open_tickets"])}
        out.append(item)
        if len(out) >= limit:
            break
    return out


def stored_proposal(row: Mapping[str, Any]) -> Proposal:
    """The proposal of a stored change set, parsed again as at its draft."""
    return Proposal.parse({"title": row["title"], "rules": row["rules"],
                           "retire": row["retire"]})


# -- a duty-list file as a change set ------------------------------------------------------------


def proposal_from_duty_list(content: bytes, filename: str, live: Matrix, *, title: str,
                            mode: str = "merge") -> tuple[Proposal, list[str]]:
    """The change set a duty-list file (.xlsx or .csv, read by :mod:`rules.dutylist`) makes
    on ``live``: its rules that differ from the live ones (new or changed); with
    ``mode=replace`` also the retirement of every live catalogue rule the file does not
    name. A change set carries rules only: units, areas and categories of the file that the
    live matrix lacks are not added (a rule naming one is refused when drafted), and the
    notes say so. Returns the proposal and the notes (Chinese, for staff)."""
    from rules.dutylist import read_duty_list

    if mode not in ("merge", "replace"):
        raise InvalidInput(f"mode must be merge or replace, not {mode!r}",
                           code="invalid_mode", field="mode")
    name = Path(filename).name or "duty-list"
    suffix = Path(name).suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv"):
        raise InvalidInput("a duty list is an .xlsx workbook or a .csv file",
                           code="invalid_file", field="body")
    j = live.jurisdiction
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        data = read_duty_list(path, notes=notes,
                              known_units={u.name: u.code for u in j.units.values()}
                              | {c: c for c in j.units},
                              unit_kinds={u.code: u.kind.value for u in j.units.values()})
    for kind, live_codes, label in (("units", j.units, "单位"), ("areas", j.areas, "区域"),
                                    ("categories", j.categories, "事项分类")):
        missing = sorted(str(item.get("code")) for item in data.get(kind) or ()
                         if isinstance(item, Mapping) and item.get("code") not in live_codes)
        if missing:
            more = "等" if len(missing) > 10 else ""
            notes.append(f"文件中有 {len(missing)} 个{label}不在现行目录中"
                         f"（{'、'.join(missing[:10])}{more}）：变更草稿只含规则，"
                         f"请先导入这些{label}")
    rules = data.get("rules") or []
    proposal = Proposal.parse({"title": title, "rules": rules, "retire": []})
    named = {r.id for r in proposal.rules}
    changed = effective(proposal, live)
    retire: tuple[str, ...] = ()
    if mode == "replace":
        retire = tuple(sorted(rule_id for rule_id, rule in live.rules.items()
                              if rule_id not in named and rule.source == RuleSource.CATALOG))
    return replace(changed, retire=retire), notes


# -- storage helpers -----------------------------------------------------------------------------


def _located(exc: BundleInvalid) -> BundleInvalid:
    """``field`` of the problem answer: the first problem's full location in the request
    (``rules[0].lead``) rather than the bare field name (``lead``)."""
    first = next((p for p in exc.problems if p.location.startswith("rules[")), None)
    if first is not None and "field" not in exc.context:
        at = first.location
        if first.field and not at.endswith(f".{first.field}"):
            at = f"{at}.{first.field}"
        exc.context["field"] = at
    return exc


def _head(conn: Connection, router: Router) -> Matrix:
    return admin.head_matrix(conn, router)[0]


def _draft_row(conn: Connection, change_set_id: str, *,
               for_update: bool = False) -> dict[str, Any]:
    query = select(change_sets).where(change_sets.c.id == change_set_id)
    if for_update:
        query = query.with_for_update()
    found = conn.execute(query).mappings().first()
    if found is None:
        raise NotFound(f"unknown change set {change_set_id!r}", code="change_set_not_found",
                       change_set_id=change_set_id)
    if found["status"] != "draft":
        raise Conflict(f"change set {change_set_id} is {found['status']}, not a draft",
                       code="change_set_not_draft", change_set_id=change_set_id,
                       status=found["status"])
    return dict(found)


def _decide(conn: Connection, row: Mapping[str, Any], status: str, *, by: Person,
            at: datetime, version: int | None = None, reason: str | None = None,
            superseded_by: str | None = None) -> None:
    """Move a draft to ``status`` (only a draft: a concurrent decision makes this one 409)
    and record the event."""
    done = conn.execute(update(change_sets).where(
        change_sets.c.id == row["id"], change_sets.c.status == "draft").values(
        status=status, decided_at=at, decided_by=by.actor, decided_by_id=by.identity,
        reason=reason, published_version=version, superseded_by=superseded_by))
    if done.rowcount != 1:
        raise Conflict(f"change set {row['id']} was decided meanwhile",
                       code="change_set_not_draft", change_set_id=row["id"])
    payload: dict[str, Any] = {"status": status}
    if version is not None:
        payload["ruleset_version"] = version
    if reason is not None:
        payload["reason"] = reason
    if superseded_by is not None:
        payload["superseded_by"] = superseded_by
    _event(conn, row["id"], status, by=by, at=at, payload=payload)


def _supersede_overlapping(conn: Connection, published: Mapping[str, Any], *, by: Person,
                           at: datetime, version: int) -> list[str]:
    touched = set(published["rule_ids"])
    drafts = conn.execute(select(change_sets.c.id, change_sets.c.rule_ids).where(
        change_sets.c.status == "draft", change_sets.c.id != published["id"])
        .order_by(change_sets.c.id)).all()
    superseded = []
    for other in drafts:
        overlap = sorted(touched & set(other.rule_ids))
        if not overlap:
            continue
        _decide(conn, {"id": other.id}, "superseded", by=by, at=at, version=None,
                reason=f"已被变更 {published['id']} 取代（同涉规则 {'、'.join(overlap)}；"
                       f"规则集版本 {version}）", superseded_by=published["id"])
        superseded.append(other.id)
    return superseded


def _event(conn: Connection, change_set_id: str, kind: str, *, by: Person, at: datetime,
           payload: Mapping[str, Any]) -> None:
    seq = conn.execute(select(func.coalesce(func.max(change_set_events.c.seq), 0)).where(
        change_set_events.c.change_set_id == change_set_id)).scalar_one() + 1
    conn.execute(insert(change_set_events).values(
        change_set_id=change_set_id, seq=seq, type=kind, at=at, actor=by.actor,
        actor_id=by.identity, payload=dict(payload)))


def _row_out(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "decided_at"):
        if isinstance(out.get(key), datetime):
            out[key] = out[key].isoformat()
    return out

