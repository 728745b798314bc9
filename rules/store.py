"""Loading and changing the matrix in the database (the repository of the rules layer).

The matrix at a rule-set version is rebuilt from append-only revision rows; a change inserts
one ``ruleset_versions`` row and the revisions it makes, in the caller's transaction.
Two writers racing for the same next version collide on its primary key: one wins, the other
gets :class:`~jurisdiction.errors.Conflict` and may retry on the new state.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from jurisdiction.bulk import insert_rows
from jurisdiction.errors import Conflict, NotFound, ProblemList, RulesetCorrupt
from jurisdiction.model import Area, AreaLevel, Category, Intake, Jurisdiction, Unit, UnitKind
from jurisdiction.tables import areas, categories, ruleset_versions, settings, units
from rules.bundle import check_jurisdiction, check_references
from rules.departmental import with_derived_defaults
from rules.model import Rule, RuleSource, Settings
from rules.tables import rules as rules_table

log = logging.getLogger("quanze.rules")

KINDS = ("units", "areas", "categories", "rules", "settings")


@dataclass(frozen=True)
class Matrix:
    """The whole matrix at one rule-set version, with a category index for routing."""

    version: int
    jurisdiction: Jurisdiction
    rules: Mapping[str, Rule]
    settings: Settings
    by_category: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    #: the content digest (:func:`content_digest`) of what this matrix holds; empty on a
    #: matrix that was only validated, never committed or loaded
    digest: str = ""
    #: the digest ``ruleset_versions`` holds for this version (None: stored before digests)
    recorded_digest: str | None = None

    @classmethod
    def build(cls, version: int, jurisdiction: Jurisdiction, rules: Mapping[str, Rule],
              settings: Settings, *, digest: str = "",
              recorded_digest: str | None = None) -> Matrix:
        index: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules.values():
            index[rule.category].append(rule)
        # where departmental gaps go, worked out once per version (rules.departmental)
        jurisdiction = with_derived_defaults(jurisdiction, rules.values())
        return cls(version, jurisdiction, dict(rules), settings,
                   {k: tuple(sorted(v, key=lambda r: r.id)) for k, v in index.items()},
                   digest, recorded_digest)

    @property
    def is_intact(self) -> bool:
        """Are its rules what was committed as this version? (False when the rows were
        changed after the commit; true when no digest was recorded, as before digests.)"""
        return self.recorded_digest is None or self.recorded_digest == self.digest

    def considered(self, category_path: Iterable[str]) -> list[Rule]:
        """Rules on a ticket's category path (the candidates of the canon)."""
        result: list[Rule] = []
        for code in category_path:
            result += self.by_category.get(code, ())
        return result


# -- rows <-> values -------------------------------------------------------------------------

def _unit_row(u: Unit) -> dict[str, Any]:
    return {"code": u.code, "name": u.name, "kind": u.kind.value}


def _area_row(a: Area) -> dict[str, Any]:
    return {"code": a.code, "name": a.name, "level": a.level.value, "parent": a.parent,
            "unit": a.unit}


def _category_row(c: Category) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "parent": c.parent,
            "departmental": c.departmental, "default_unit": c.default_unit,
            "intake": c.intake.value if c.intake else None}


def rule_row(r: Rule) -> dict[str, Any]:
    return {"id": r.id, "category": r.category, "area": r.area,
            "when": {k: list(v) for k, v in r.when.items()}, "text_any": list(r.text_any),
            "lead": r.lead, "co_handlers": list(r.co_handlers), "basis": r.basis,
            "source": r.source.value, "priority": r.priority,
            "valid_from": r.valid_from.isoformat() if r.valid_from else None,
            "valid_to": r.valid_to.isoformat() if r.valid_to else None,
            "ruling_id": r.ruling_id, "note": r.note}


def rule_from_row(row: Mapping[str, Any]) -> Rule:
    return Rule(
        id=row["id"], category=row["category"], area=row["area"],
        when={k: tuple(v) for k, v in row["when"].items()}, text_any=tuple(row["text_any"]),
        lead=row["lead"], co_handlers=tuple(row["co_handlers"]), basis=row["basis"],
        source=RuleSource(row["source"]), priority=row["priority"],
        valid_from=datetime.fromisoformat(row["valid_from"]) if row["valid_from"] else None,
        valid_to=datetime.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
        ruling_id=row["ruling_id"], note=row["note"] or "", revision=row["revision"])


# -- the content digest ------------------------------------------------------------------------

#: What a version's digest covers, per kind: the fields of its stored rows that say what the
#: matrix is (not the version number, a rule's revision, the retired mark, actors or times).
#: The digest is stored with every version, so changing these lists (or their order) changes
#: every digest: that needs a migration that recomputes ``ruleset_versions.digest``.
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "kind"),
    "areas": ("code", "name", "level", "parent", "unit"),
    "categories": ("code", "name", "parent", "departmental", "default_unit", "intake"),
    "rules": ("id", "category", "area", "when", "text_any", "lead", "co_handlers", "basis",
              "source", "priority", "valid_from", "valid_to", "ruling_id", "note"),
    "settings": ("hotline_office", "timezone"),
}
_PICK = {kind: itemgetter(*fields) for kind, fields in CONTENT_FIELDS.items()}


def content_digest(matrix: Matrix) -> str:
    """The SHA-256 (hex) of what ``matrix`` holds: its units, areas, categories with their
    flags, rules and settings, each as its canonical row, ordered by code. Equal content
    gives an equal digest, whatever the version number, revisions, actors or times.

    >>> from jurisdiction.model import Jurisdiction
    >>> empty = Matrix.build(0, Jurisdiction.build([], [], []), {}, Settings())
    >>> content_digest(empty) == content_digest(Matrix.build(7, empty.jurisdiction, {},
    ...                                                      Settings()))
    True
    >>> content_digest(empty) == content_digest(Matrix.build(0, empty.jurisdiction, {},
    ...                                                      Settings(hotline_office="O")))
    False
    """
    return _digest(matrix.jurisdiction, map(rule_row, matrix.rules.values()), matrix.settings)


def _digest(j: Jurisdiction, rule_rows: Iterable[Mapping[str, Any]], s: Settings) -> str:
    """:func:`content_digest` from the rules' rows (``rule_row`` or the stored rows: a commit
    has made them for its diff, a load has read them, so neither serialises 55,000 rules
    twice). Rows are positional lists under their field names, one orjson document with
    sorted keys (the ``when`` maps), hashed once."""
    def rows(kind: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        pick = _PICK[kind]
        picked = [pick(row) for row in items]
        picked.sort(key=_FIRST)
        return {"fields": CONTENT_FIELDS[kind], "rows": picked}

    document = {
        "units": rows("units", map(_unit_row, j.units.values())),
        "areas": rows("areas", map(_area_row, j.areas.values())),
        "categories": rows("categories", map(_category_row, j.categories.values())),
        "rules": rows("rules", rule_rows),
        "settings": rows("settings", [{"hotline_office": s.hotline_office,
                                       "timezone": s.timezone}]),
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


_FIRST = itemgetter(0)


_TABLES: dict[str, tuple[Table, str]] = {
    "units": (units, "code"), "areas": (areas, "code"), "categories": (categories, "code"),
    "settings": (settings, "code"), "rules": (rules_table, "id"),
}


def _latest(conn: Connection, kind: str, version: int) -> dict[str, dict[str, Any]]:
    table, key = _TABLES[kind]
    rows = conn.execute(select(table).where(table.c.version <= version)
                        .order_by(table.c[key], table.c.version)).mappings()
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row[key]] = dict(row)
    return {k: v for k, v in latest.items() if not v["retired"]}


def current_version(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ruleset_versions.c.version), 0)))
               .scalar_one())


def list_versions(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest rule-set versions, newest first: number, time, who and why."""
    rows = conn.execute(select(ruleset_versions).order_by(ruleset_versions.c.version.desc())
                        .limit(limit)).mappings()
    return [dict(r) for r in rows]


def load_matrix(conn: Connection, version: int | None = None, *,
                verify: bool = True) -> Matrix:
    """The matrix as it stood at ``version`` (default: the current one).

    Its digest is computed from the rows read and compared with the one recorded when the
    version was committed: rows changed since (by hand, by a broken copy) raise
    ``RulesetCorrupt`` (``ruleset_digest_mismatch``) — a version whose rules are not what
    was committed is never served. With ``verify=False`` (replay, and the base of a change
    that replaces it) the matrix is returned anyway; :attr:`Matrix.is_intact` says which."""
    head = current_version(conn)
    if version is None:
        version = head
    elif version < 0 or version > head:
        raise NotFound(f"no rule-set version {version}", code="ruleset_version_not_found",
                       version=version)
    j = Jurisdiction.build(
        [Unit(r["code"], r["name"], UnitKind(r["kind"])) for r in _latest(conn, "units", version)
         .values()],
        [Area(r["code"], r["name"], AreaLevel(r["level"]), r["parent"], r["unit"])
         for r in _latest(conn, "areas", version).values()],
        [Category(r["code"], r["name"], r["parent"], r["departmental"], r["default_unit"],
                  Intake(r["intake"]) if r["intake"] else None)
         for r in _latest(conn, "categories", version).values()])
    rule_rows = _latest(conn, "rules", version)
    rules = {k: rule_from_row(r) for k, r in rule_rows.items()}
    s = {k: r["value"] for k, r in _latest(conn, "settings", version).items()}
    settings_ = Settings(hotline_office=s.get("hotline_office"),
                         timezone=s.get("timezone") or "Asia/Shanghai")
    recorded = conn.execute(select(ruleset_versions.c.digest)
                            .where(ruleset_versions.c.version == version)).scalar()
    matrix = Matrix.build(version, j, rules, settings_,
                          digest=_digest(j, rule_rows.values(), settings_),
                          recorded_digest=recorded)
    if verify and not matrix.is_intact:
        log.error("rule-set version %d: its rows do not match the digest recorded when it was "
                  "committed (recorded %s, now %s)", version, recorded, matrix.digest)
        raise corruption(matrix)
    return matrix


def corruption(matrix: Matrix) -> RulesetCorrupt:
    return RulesetCorrupt(
        f"rule-set version {matrix.version} is not what was committed: its rows were changed "
        "afterwards (content digest mismatch); activate an earlier version",
        code="ruleset_digest_mismatch", version=matrix.version,
        recorded_digest=matrix.recorded_digest, digest=matrix.digest)


# -- changes ---------------------------------------------------------------------------------

RETIRE = object()


@dataclass
class ChangeSet:
    """What a write wants: per kind, code → new value, or :data:`RETIRE`.

    ``where`` maps ``"kind:code"`` to the location the value came from (a JSON path or a
    spreadsheet row) so problems point back at the input.
    """

    units: dict[str, Unit | object] = field(default_factory=dict)
    areas: dict[str, Area | object] = field(default_factory=dict)
    categories: dict[str, Category | object] = field(default_factory=dict)
    rules: dict[str, Rule | object] = field(default_factory=dict)
    settings: Settings | None = None
    where: dict[str, str] = field(default_factory=dict)


@dataclass
class ChangeReport:
    version: int
    previous_version: int
    added: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    changed: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    retired: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    dry_run: bool = False

    @property
    def is_empty(self) -> bool:
        return not any(self.added[k] or self.changed[k] or self.retired[k] for k in KINDS)

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset_version": self.version, "previous_version": self.previous_version,
                "added": {k: len(v) for k, v in self.added.items()},
                "changed": {k: len(v) for k, v in self.changed.items()},
                "retired": {k: len(v) for k, v in self.retired.items()},
                "unchanged": self.unchanged,
                "ids": {"added": self.added, "changed": self.changed, "retired": self.retired},
                "dry_run": self.dry_run}


def _merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for code, value in changes.items():
        if value is RETIRE:
            merged.pop(code, None)
        else:
            merged[code] = value
    return merged


def validate(base: Matrix, change: ChangeSet) -> tuple[Matrix, ProblemList]:
    """The matrix the change would make, and every problem it would have."""
    problems = ProblemList()
    j = base.jurisdiction
    u = _merge(j.units, change.units)
    a = _merge(j.areas, change.areas)
    c = _merge(j.categories, change.categories)
    r = _merge(base.rules, change.rules)
    s = change.settings or base.settings
    check_jurisdiction(u, a, c, problems, change.where)
    if problems:
        return base, problems
    new_j = Jurisdiction.build(u.values(), a.values(), c.values())
    where = {k.split(":", 1)[1]: v for k, v in change.where.items() if k.startswith("rule:")}
    check_references(new_j, r.values(), s, problems, where)
    return Matrix.build(base.version, new_j, r, s), problems


def diff(base: Matrix, target: Matrix, report: ChangeReport,
         rule_rows: list[Mapping[str, Any]] | None = None) -> dict[str, list[Any]]:
    """Fill ``report`` and return the revision rows to write per kind; ``rule_rows``, if
    given, receives the row of every rule of ``target`` (its digest reads them)."""
    rows: dict[str, list[Any]] = {k: [] for k in KINDS}
    pairs: list[tuple[str, Mapping[str, Any], Mapping[str, Any], Any]] = [
        ("units", base.jurisdiction.units, target.jurisdiction.units, _unit_row),
        ("areas", base.jurisdiction.areas, target.jurisdiction.areas, _area_row),
        ("categories", base.jurisdiction.categories, target.jurisdiction.categories,
         _category_row),
        ("rules", base.rules, target.rules, rule_row),
        ("settings", _settings_map(base.settings), _settings_map(target.settings),
         lambda v: v),
    ]
    for kind, old, new, to_row in pairs:
        keep = rule_rows if kind == "rules" and rule_rows is not None else None
        for code, value in new.items():
            row = to_row(value)
            if keep is not None:
                keep.append(row)
            if code not in old:
                report.added[kind].append(code)
                rows[kind].append((code, row, False))
            elif to_row(old[code]) != row:
                report.changed[kind].append(code)
                rows[kind].append((code, row, False))
            else:
                report.unchanged[kind] += 1
        for code in old:
            if code not in new:
                report.retired[kind].append(code)
                rows[kind].append((code, to_row(old[code]), True))
    return rows


def _settings_map(s: Settings) -> dict[str, dict[str, Any]]:
    return {k: {"code": k, "value": v} for k, v in
            (("hotline_office", s.hotline_office), ("timezone", s.timezone)) if v is not None}


def commit(conn: Connection, base: Matrix, change: ChangeSet, *, actor: str, note: str,
           now: datetime) -> tuple[Matrix, ChangeReport]:
    """Validate and write a change as one new rule-set version (or nothing, if it changes
    nothing). Raises BundleInvalid with every problem; Conflict if another writer won."""
    if not base.is_intact and not _replaces_everything(base, change):
        # built on rows changed behind quanze's back, the change would carry them into a
        # version with a fresh digest, served as if committed
        raise corruption(base)
    target, problems = validate(base, change)
    problems.raise_if_any("change")
    report = ChangeReport(base.version, base.version)
    rule_rows: list[Mapping[str, Any]] = []
    rows = diff(base, target, report, rule_rows)
    if report.is_empty:
        return base, report
    version = base.version + 1
    digest = _digest(target.jurisdiction, rule_rows, target.settings)
    try:
        with conn.begin_nested():
            conn.execute(insert(ruleset_versions).values(
                version=version, created_at=now, actor=actor, note=note[:500],
                digest=digest))
    except IntegrityError as exc:
        raise Conflict("the matrix changed while this change was prepared; retry",
                       code="ruleset_conflict", version=version) from exc
    revisions = _write_revisions(conn, base, rows, version=version, actor=actor)
    report.version = version
    rules = {k: replace(v, revision=revisions.get(k, v.revision))
             for k, v in target.rules.items()}
    return Matrix.build(version, target.jurisdiction, rules, target.settings, digest=digest,
                        recorded_digest=digest), report


def _write_revisions(conn: Connection, base: Matrix, rows: dict[str, list[Any]], *,
                     version: int, actor: str) -> dict[str, int]:
    """Insert the revision rows of a new version (the diff's), each kind in bulk; returns
    the new revision number of every rule written."""
    revisions: dict[str, int] = {}
    readded = _last_revisions(conn, [code for code, _, _ in rows["rules"]
                                     if code not in base.rules])
    for kind, kind_rows in rows.items():
        table, key = _TABLES[kind]
        payload = []
        for code, row, retired in kind_rows:
            values = dict(row, version=version, retired=retired)
            values[key] = code
            if kind == "rules":
                old = base.rules.get(code)
                values["revision"] = (old.revision if old else readded.get(code, 0)) + 1
                values["actor"] = actor
                revisions[code] = values["revision"]
            payload.append(values)
        insert_rows(conn, table, payload)  # COPY / executemany: the import's rows in bulk
    return revisions


def _replaces_everything(base: Matrix, change: ChangeSet) -> bool:
    """Does ``change`` name every unit, area, category and rule of ``base`` (a new value or
    a retirement) and the settings, so that nothing of ``base`` is carried over? (Activating
    an earlier version, an import with ``mode=replace`` and settings.)"""
    j = base.jurisdiction
    return change.settings is not None and all(
        set(existing) <= set(named) for existing, named in (
            (j.units, change.units), (j.areas, change.areas),
            (j.categories, change.categories), (base.rules, change.rules)))


def _last_revisions(conn: Connection, rule_ids: list[str]) -> dict[str, int]:
    """The last revision of rule ids that existed before (a re-added id continues its count),
    asked in a few grouped queries rather than one per rule."""
    found: dict[str, int] = {}
    for start in range(0, len(rule_ids), 500):
        chunk = rule_ids[start:start + 500]
        query = (select(rules_table.c.id, func.max(rules_table.c.revision))
                 .where(rules_table.c.id.in_(chunk)).group_by(rules_table.c.id))
        found.update({rule_id: int(rev) for rule_id, rev in conn.execute(query)})
    return found


def rule_history(conn: Connection, rule_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(rules_table).where(rules_table.c.id == rule_id)
                        .order_by(rules_table.c.version)).mappings().all()
    if not rows:
        raise NotFound(f"unknown rule {rule_id!r}", code="rule_not_found", rule_id=rule_id)
    return [dict(r) for r in rows]
