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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from operator import attrgetter, itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from jurisdiction.bulk import insert_rows
from jurisdiction.errors import Conflict, NotFound, ProblemList, RulesetCorrupt
from jurisdiction.model import Area, AreaLevel, Category, Intake, Jurisdiction, Unit, UnitKind
from jurisdiction.tables import areas, categories, ruleset_versions, settings, units
from rules.bundle import check_jurisdiction, check_references
from rules.departmental import derive_defaults, with_derived_defaults
from rules.model import Rule, RuleSource, Settings
from rules.tables import rules as rules_table

log = logging.getLogger("quanze.rules")

_ID = attrgetter("id")

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
    #: the per-kind sums the digest is made of (:class:`ContentSums`); None until computed
    sums: ContentSums | None = None

    @classmethod
    def build(cls, version: int, jurisdiction: Jurisdiction, rules: Mapping[str, Rule],
              settings: Settings, *, digest: str = "",
              recorded_digest: str | None = None, sums: ContentSums | None = None) -> Matrix:
        index: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules.values():
            index[rule.category].append(rule)
        # where departmental gaps go, worked out once per version (rules.departmental)
        jurisdiction = with_derived_defaults(jurisdiction, rules.values())
        return cls(version, jurisdiction, dict(rules), settings,
                   {k: tuple(sorted(v, key=_ID)) for k, v in index.items()},
                   digest, recorded_digest, sums)

    def evolve(self, version: int, rules: Mapping[str, Rule | None], settings: Settings, *,
               digest: str = "", recorded_digest: str | None = None,
               sums: ContentSums | None = None) -> Matrix:
        """This matrix with ``rules`` replaced (None: removed) and ``settings``, on the same
        units, areas and categories: the category index and the derived defaults are
        redone for the categories the changed rules are on only, so a one-rule change costs
        one rule, not the 55,050 of a city (:meth:`build` took 1 s of a 2 s PATCH there)."""
        merged = dict(self.rules)
        touched: set[str] = set()
        for rule_id, rule in rules.items():
            old = merged.pop(rule_id, None)
            if old is not None:
                touched.add(old.category)
            if rule is not None:
                merged[rule_id] = rule
                touched.add(rule.category)
        incoming: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules.values():
            if rule is not None:
                incoming[rule.category].append(rule)
        index = dict(self.by_category)
        for code in touched:
            members = [r for r in index.get(code, ()) if r.id not in rules]
            members += incoming.get(code, ())
            if members:
                index[code] = tuple(sorted(members, key=_ID))
            else:
                index.pop(code, None)
        j = self.jurisdiction
        derived = dict(j.derived_defaults)
        districts = [None, *(code for code, a in j.areas.items() if a.parent is None)]
        for code in touched:
            for district in districts:
                derived.pop((code, district), None)
        derived.update(derive_defaults(j, (r for code in touched
                                           for r in index.get(code, ()))))
        evolved = Matrix(version, j.with_derived_defaults(derived), merged, settings, index,
                         digest, recorded_digest, sums)
        places = self.__dict__.get("_places")
        if places:  # the area index of every untouched category carries over
            evolved._places.update((code, by_area) for code, by_area in places.items()
                                   if code not in touched)
        return evolved

    @property
    def is_intact(self) -> bool:
        """Are its rules what was committed as this version? (False when the rows were
        changed after the commit; true when no digest was recorded, as before digests.)"""
        return self.recorded_digest is None or self.recorded_digest == self.digest

    def has_digest(self, recorded: str) -> bool:
        """Is ``recorded`` (a decision's digest) the digest of this matrix's content, in this
        version's scheme or the first one (:func:`content_digest_v1`, versions committed
        before per-row sums)?"""
        if recorded == self.digest:
            return True
        return len(recorded) == 64 and recorded == self.legacy_digest

    @cached_property
    def legacy_digest(self) -> str:
        """:func:`content_digest_v1` of this matrix, computed once if asked."""
        return content_digest_v1(self)

    def considered(self, category_path: Iterable[str]) -> list[Rule]:
        """Rules on a ticket's category path (the candidates of the canon)."""
        result: list[Rule] = []
        for code in category_path:
            result += self.by_category.get(code, ())
        return result

    def relevant(self, category_path: Iterable[str], area_path: Collection[str]
                 ) -> tuple[list[Rule], int]:
        """The rules on a ticket's category path that apply in its area (city-wide, or on an
        area of its path), in the order of :meth:`considered`, and how many others the
        category path holds (other districts' and townships' rules, which the canon only
        counts). An index lookup per category and area, not a walk: a city-wide category
        holds sixteen districts' rules."""
        result: list[Rule] = []
        others = 0
        places = self._places
        for code in category_path:
            place = places.get(code)
            if place is None:
                place = places[code] = _Place.of(self.by_category.get(code, ()))
            by_area = place.by_area
            found = by_area.get(None, ())
            mixed = False
            for area in area_path:
                here = by_area.get(area)
                if here:
                    mixed = bool(found)
                    found = found + here if found else here
            result += sorted(found, key=_ID) if mixed else found
            others += place.count - len(found)
        return result, others

    @cached_property
    def _places(self) -> dict[str, _Place]:
        """:meth:`relevant`'s index, filled per category on first use (a version's first
        ticket of a category pays for it; :meth:`evolve` carries the untouched ones over)."""
        return {}


@dataclass(frozen=True, slots=True)
class _Place:
    """A category's rules by the area they apply in (None: everywhere), and how many."""

    by_area: Mapping[str | None, tuple[Rule, ...]]
    count: int

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> _Place:
        grouped: dict[str | None, list[Rule]] = defaultdict(list)
        for rule in rules:
            grouped[rule.area].append(rule)
        return cls({area: tuple(members) for area, members in grouped.items()}, len(rules))


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


#: The digest's scheme, recorded beside it (``ruleset_versions.digest_scheme``): 1 (or null),
#: one SHA-256 over the whole sorted matrix (:func:`content_digest_v1`), cost 210 ms per
#: commit of the city; 2, per-row sums that a change updates for the rows it writes.
DIGEST_SCHEME = 2
_MODULUS = 1 << 256


@dataclass(frozen=True)
class ContentSums:
    """Per kind, the sum modulo 2**256 of the SHA-256 of each row's content fields (a
    multiset hash: order-free, and a change adds and subtracts the rows it writes, so a commit
    of one rule hashes two rows, not 55,050)."""

    units: int = 0
    areas: int = 0
    categories: int = 0
    rules: int = 0
    settings: int = 0

    def with_rows(self, kind: str, removed: Iterable[Mapping[str, Any]],
                  added: Iterable[Mapping[str, Any]]) -> ContentSums:
        total = getattr(self, kind) - _row_sum(kind, removed) + _row_sum(kind, added)
        return replace(self, **{kind: total % _MODULUS})

    @property
    def digest(self) -> str:
        document = {"scheme": DIGEST_SCHEME, "fields": CONTENT_FIELDS,
                    "sums": {kind: f"{getattr(self, kind):064x}" for kind in KINDS}}
        return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _row_sum(kind: str, rows: Iterable[Mapping[str, Any]]) -> int:
    pick, dumps, sha, from_bytes = _PICK[kind], orjson.dumps, hashlib.sha256, int.from_bytes
    return sum(from_bytes(sha(dumps(pick(row), option=orjson.OPT_SORT_KEYS)).digest(), "big")
               for row in rows)


def _settings_row(s: Settings) -> dict[str, Any]:
    return {"hotline_office": s.hotline_office, "timezone": s.timezone}


def content_sums(j: Jurisdiction, rule_rows: Iterable[Mapping[str, Any]],
                 s: Settings) -> ContentSums:
    """The sums of a whole matrix, from its rules' rows (``rule_row`` or the stored rows)."""
    return ContentSums().with_rows("units", (), map(_unit_row, j.units.values())).with_rows(
        "areas", (), map(_area_row, j.areas.values())).with_rows(
        "categories", (), map(_category_row, j.categories.values())).with_rows(
        "rules", (), rule_rows).with_rows("settings", (), [_settings_row(s)])


def content_digest(matrix: Matrix) -> str:
    """The SHA-256 (hex) of what ``matrix`` holds: its units, areas, categories with their
    flags, rules and settings, each row's content fields hashed and summed per kind
    (:class:`ContentSums`). Equal content gives an equal digest, whatever the version number,
    revisions, actors, times or order.

    >>> from jurisdiction.model import Jurisdiction
    >>> empty = Matrix.build(0, Jurisdiction.build([], [], []), {}, Settings())
    >>> content_digest(empty) == content_digest(Matrix.build(7, empty.jurisdiction, {},
    ...                                                      Settings()))
    True
    >>> content_digest(empty) == content_digest(Matrix.build(0, empty.jurisdiction, {},
    ...                                                      Settings(hotline_office="O")))
    False
    """
    sums = matrix.sums or content_sums(matrix.jurisdiction, map(rule_row, matrix.rules.values()),
                                       matrix.settings)
    return sums.digest


def content_digest_v1(matrix: Matrix) -> str:
    """The digest of scheme 1 (versions committed before scheme 2): one SHA-256 of the whole
    matrix as one sorted document. Kept to verify those versions and their decisions."""
    return _digest_v1(matrix.jurisdiction, map(rule_row, matrix.rules.values()),
                      matrix.settings)


def _digest_v1(j: Jurisdiction, rule_rows: Iterable[Mapping[str, Any]], s: Settings) -> str:
    """:func:`content_digest_v1` from the rules' rows. Rows are positional lists under their
    field names, one orjson document with sorted keys (the ``when`` maps), hashed once."""
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
        "settings": rows("settings", [_settings_row(s)]),
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
    recorded, scheme = _recorded(conn, version)
    sums = content_sums(j, rule_rows.values(), settings_)
    digest = (sums.digest if scheme == DIGEST_SCHEME
              else _digest_v1(j, rule_rows.values(), settings_))
    matrix = Matrix.build(version, j, rules, settings_, digest=digest,
                          recorded_digest=recorded, sums=sums)
    if verify and not matrix.is_intact:
        log.error("rule-set version %d: its rows do not match the digest recorded when it was "
                  "committed (recorded %s, now %s)", version, recorded, matrix.digest)
        raise corruption(matrix)
    return matrix


def _recorded(conn: Connection, version: int) -> tuple[str | None, int | None]:
    row = conn.execute(select(ruleset_versions.c.digest, ruleset_versions.c.digest_scheme)
                       .where(ruleset_versions.c.version == version)).first()
    return (None, None) if row is None else (row[0], row[1])


@dataclass(frozen=True)
class Loaded:
    """A matrix read from the store and what changed since the one it was built on."""

    matrix: Matrix
    #: ids of the rules added, changed or retired since the base (None: loaded whole)
    rules: frozenset[str] | None = None


def load_since(conn: Connection, base: Matrix, version: int) -> Loaded:
    """The matrix at ``version`` read as ``base`` plus the rows written after it: a replica
    catching up reads what changed, not the whole matrix again (3.2 s on the city). Falls
    back to :func:`load_matrix` when units, areas or categories changed, when ``base`` is not
    an intact ancestor, or when ``version`` was committed before digest scheme 2. Raises
    ``RulesetCorrupt`` like :func:`load_matrix` when the result is not what was committed."""
    recorded, scheme = _recorded(conn, version)
    if (version <= base.version or base.sums is None or not base.is_intact
            or scheme != DIGEST_SCHEME):
        return Loaded(load_matrix(conn, version))
    for kind in ("units", "areas", "categories"):
        table, _ = _TABLES[kind]
        if conn.execute(select(func.count()).select_from(table).where(
                table.c.version > base.version, table.c.version <= version)).scalar_one():
            return Loaded(load_matrix(conn, version))
    rows = _written(conn, "rules", base.version, version)
    changes: dict[str, Rule | None] = {
        code: None if row["retired"] else rule_from_row(row) for code, row in rows.items()}
    settings_rows = _written(conn, "settings", base.version, version)
    s = {k: v for k, v in _settings_map(base.settings).items()}
    for code, row in settings_rows.items():
        if row["retired"]:
            s.pop(code, None)
        else:
            s[code] = {"code": code, "value": row["value"]}
    settings_ = Settings(hotline_office=(s.get("hotline_office") or {}).get("value"),
                         timezone=(s.get("timezone") or {}).get("value") or "Asia/Shanghai")
    sums = base.sums.with_rows(
        "rules", [rule_row(base.rules[code]) for code in rows if code in base.rules],
        [row for row in rows.values() if not row["retired"]])
    sums = replace(sums, settings=0).with_rows("settings", (), [_settings_row(settings_)])
    matrix = base.evolve(version, changes, settings_, digest=sums.digest,
                         recorded_digest=recorded, sums=sums)
    if not matrix.is_intact:
        log.error("rule-set version %d: its rows do not match the digest recorded when it was "
                  "committed (recorded %s, now %s)", version, recorded, matrix.digest)
        raise corruption(matrix)
    return Loaded(matrix, frozenset(changes))


def _written(conn: Connection, kind: str, after: int, upto: int) -> dict[str, dict[str, Any]]:
    """The last row of each code written in versions ``after`` < v <= ``upto``."""
    table, key = _TABLES[kind]
    rows = conn.execute(select(table).where(table.c.version > after, table.c.version <= upto)
                        .order_by(table.c[key], table.c.version)).mappings()
    return {row[key]: dict(row) for row in rows}


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
    """The matrix the change would make, and every problem it would have. A change of rules
    and settings only is checked and applied rule by rule (:meth:`Matrix.evolve`): the
    jurisdiction is the base's, checked when it was committed."""
    problems = ProblemList()
    where = {k.split(":", 1)[1]: v for k, v in change.where.items() if k.startswith("rule:")}
    s = change.settings or base.settings
    if not (change.units or change.areas or change.categories):
        named = {code: None if value is RETIRE else value
                 for code, value in change.rules.items()}
        rules = [rule for rule in named.values() if isinstance(rule, Rule)]
        check_references(base.jurisdiction, rules, s, problems, where)
        return base.evolve(base.version, named, s), problems  # type: ignore[arg-type]
    j = base.jurisdiction
    u = _merge(j.units, change.units)
    a = _merge(j.areas, change.areas)
    c = _merge(j.categories, change.categories)
    r = _merge(base.rules, change.rules)
    check_jurisdiction(u, a, c, problems, change.where)
    if problems:
        return base, problems
    new_j = Jurisdiction.build(u.values(), a.values(), c.values())
    check_references(new_j, r.values(), s, problems, where)
    return Matrix.build(base.version, new_j, r, s), problems


def diff(base: Matrix, target: Matrix, report: ChangeReport,
         change: ChangeSet | None = None) -> dict[str, list[Any]]:
    """Fill ``report`` and return the revision rows to write per kind. With ``change`` only
    the codes it names are compared (``target`` is ``base`` with them applied, so nothing else
    can differ): a one-rule change compares one rule, not the whole matrix."""
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
        if change is None or kind == "settings":
            codes: Iterable[str] = list(new) + [code for code in old if code not in new]
        else:
            codes = getattr(change, kind)
        for code in codes:
            if code not in new:
                if code in old:
                    report.retired[kind].append(code)
                    rows[kind].append((code, to_row(old[code]), True))
                continue
            row = to_row(new[code])
            if code not in old:
                report.added[kind].append(code)
                rows[kind].append((code, row, False))
            elif to_row(old[code]) != row:
                report.changed[kind].append(code)
                rows[kind].append((code, row, False))
        report.unchanged[kind] = len(new) - len(report.added[kind]) - len(report.changed[kind])
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
    rows = diff(base, target, report, change)
    if report.is_empty:
        return base, report
    version = base.version + 1
    sums = base.sums or content_sums(base.jurisdiction, map(rule_row, base.rules.values()),
                                     base.settings)
    pairs: list[tuple[str, Mapping[str, Any], Callable[[Any], dict[str, Any]]]] = [
        ("units", base.jurisdiction.units, _unit_row),
        ("areas", base.jurisdiction.areas, _area_row),
        ("categories", base.jurisdiction.categories, _category_row),
        ("rules", base.rules, rule_row)]
    for kind, old, to_row in pairs:
        if rows[kind]:
            sums = sums.with_rows(
                kind, [to_row(old[code]) for code, _, _ in rows[kind] if code in old],
                [row for _, row, retired in rows[kind] if not retired])
    sums = replace(sums, settings=0).with_rows("settings", (), [_settings_row(target.settings)])
    digest = sums.digest
    try:
        with conn.begin_nested():
            conn.execute(insert(ruleset_versions).values(
                version=version, created_at=now, actor=actor, note=note[:500],
                digest=digest, digest_scheme=DIGEST_SCHEME))
    except IntegrityError as exc:
        raise Conflict("the matrix changed while this change was prepared; retry",
                       code="ruleset_conflict", version=version) from exc
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
                old_rule = base.rules.get(code)
                values["revision"] = (old_rule.revision if old_rule
                                      else readded.get(code, 0)) + 1
                values["actor"] = actor
                revisions[code] = values["revision"]
            payload.append(values)
        insert_rows(conn, table, payload)  # COPY / executemany: the import's rows in bulk
    notify_change(conn, version)
    report.version = version
    return _revised(target, revisions, version, digest, sums), report


def _revised(target: Matrix, revisions: Mapping[str, int], version: int, digest: str,
             sums: ContentSums) -> Matrix:
    """``target`` as committed: its rules with their new revisions (the category index
    redone where they are), its version, digest and sums. Its maps are changed in place:
    :func:`validate` made them for this commit alone (copying the city's 55,050 rules once
    more cost 20 ms of a change)."""
    rules = cast(dict[str, Rule], target.rules)
    index = cast(dict[str, tuple[Rule, ...]], target.by_category)
    categories: set[str] = set()
    for code, revision in revisions.items():
        rule = rules.get(code)
        if rule is not None:
            rules[code] = replace(rule, revision=revision)
            categories.add(rule.category)
    for category in categories:
        index[category] = tuple(rules[r.id] for r in index[category])
    return replace(target, version=version, rules=rules, by_category=index, digest=digest,
                   recorded_digest=digest, sums=sums)


#: PostgreSQL channel on which a commit announces its version (``<schema>:<version>``);
#: delivered to listeners when the transaction commits, never if it rolls back
NOTIFY_CHANNEL = "quanze_matrix"


def notify_change(conn: Connection, version: int) -> None:
    """Tell other processes, when this transaction commits, that ``version`` exists (on
    PostgreSQL; other databases are polled, :class:`rules.service.Router`)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, current_schema() || ':' || :version)"),
                     {"channel": NOTIFY_CHANNEL, "version": str(version)})


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
    """Every revision of a rule, oldest first, each with the time and note of the rule-set
    version that wrote it (``changed_at``, ``change_note``)."""
    v = ruleset_versions
    rows = conn.execute(select(rules_table, v.c.created_at.label("changed_at"),
                               v.c.note.label("change_note"))
                        .outerjoin(v, v.c.version == rules_table.c.version)
                        .where(rules_table.c.id == rule_id)
                        .order_by(rules_table.c.version)).mappings().all()
    if not rows:
        raise NotFound(f"unknown rule {rule_id!r}", code="rule_not_found", rule_id=rule_id)
    return [dict(r) for r in rows]
