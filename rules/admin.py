"""Changing the matrix: the service functions behind import, the matrix API and rulings.

Each opens one transaction, reads the current matrix, builds a :class:`~rules.store.ChangeSet`
with pure code, commits it as one new rule-set version and installs it in the router, so that
routing uses it at once.

Matrix writers queue; they do not race. Within a process they wait their turn before taking a
pooled connection (:func:`writer_queue`); across processes the database orders them:
on PostgreSQL a transaction-level advisory lock taken first in the transaction, on SQLite
``BEGIN IMMEDIATE`` (:data:`WRITER_OPTION`). Each writer then reads the head it will extend,
so two edits of different rules both succeed, one after the other; a ``Conflict`` is left
for true conflicts (a rule id that exists, a dispute already ruled). Before this, 16 of 20
concurrent creates of different rules got 409 ``ruleset_conflict`` on PostgreSQL, and 13 of
20 a 503 on SQLite (a deferred transaction that read, then wrote after another writer's
commit, fails at once with ``database is locked``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy import Engine as DbEngine

from jurisdiction.errors import Conflict, InvalidInput, NotFound, ProblemList, RulesetCorrupt
from jurisdiction.model import Area, Category, Unit
from rules.bundle import Bundle, _Reader, parse_rule
from rules.model import Rule
from rules.service import Router
from rules.store import (
    RETIRE,
    ChangeReport,
    ChangeSet,
    Matrix,
    commit,
    corruption,
    current_version,
    load_since,
    rule_row,
)

#: Hook called inside the writing transaction with (conn, report, base, new matrix, actor,
#: time); the audit log registers here without the rules layer importing it.
AfterCommit = Callable[[Connection, ChangeReport, Matrix, Matrix, str, datetime], None]


#: Execution option of a connection whose transactions write. On SQLite ``api.db`` begins
#: them with ``BEGIN IMMEDIATE``, taking the database's write lock before the first read:
#: a deferred transaction that read and then wrote after another connection's commit failed
#: at once (SQLITE_BUSY_SNAPSHOT; the busy timeout does not apply to it).
WRITER_OPTION = "quanze_writer"

#: PostgreSQL advisory lock class of matrix writers ("qz"); the second key is the schema's
#: hash, so test schemas on one server do not queue behind each other
MATRIX_LOCK_CLASS = 0x717A

_queues: weakref.WeakKeyDictionary[DbEngine, threading.Lock] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()


def writer_queue(db: DbEngine) -> threading.Lock:
    """This process's queue of matrix writers to ``db`` (one lock per engine). Taken before
    a connection, so a waiting writer holds no pooled connection (20 writers waiting on the
    database held 20 of them, and reads starved), and held until the writer has installed
    its matrix, so the next one compiles only after that."""
    with _queues_lock:
        lock = _queues.get(db)
        if lock is None:
            lock = _queues[db] = threading.Lock()
        return lock


@contextmanager
def write_transaction(db: DbEngine) -> Iterator[Connection]:
    """A transaction that writes: on SQLite it holds the write lock from its start (so what
    it reads is still true when it writes), on PostgreSQL it is an ordinary transaction."""
    with db.connect().execution_options(**{WRITER_OPTION: True}) as conn, conn.begin():
        yield conn


def lock_matrix(conn: Connection) -> None:
    """Wait, inside ``conn``'s transaction, until no other transaction is changing the matrix
    (released at commit or rollback; taking it again in the same transaction is free).
    Call it before reading the head version: under PostgreSQL's default isolation (read
    committed) every later statement then sees the previous writer's commit. On SQLite the
    writer's ``BEGIN IMMEDIATE`` already excludes every other writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:cls, hashtext(current_schema()))"),
                     {"cls": MATRIX_LOCK_CLASS})


def apply(db: DbEngine, router: Router, build: Callable[[Matrix], ChangeSet], *, actor: str,
          note: str, now: datetime, after: AfterCommit | None = None,
          conn: Connection | None = None,
          dry_run: bool = False) -> tuple[Matrix, ChangeReport]:
    """Build and commit a change on the newest matrix, in turn with other writers
    (:func:`writer_queue`, :func:`lock_matrix`).

    With ``conn`` the change joins the caller's transaction (a ruling writes its rule in the
    same transaction as the ruling) and the router is updated by the caller via
    :meth:`Router.install` after the commit. With ``dry_run`` every step runs — checks,
    compile, the engine's limits — and the transaction is rolled back: the report says what
    the change would do.
    """
    if conn is not None:
        return _apply_in(conn, router, build, actor=actor, note=note, now=now, after=after)
    if dry_run:
        with writer_queue(db), write_transaction(db) as c:
            lock_matrix(c)
            matrix, report = _apply_in(c, router, build, actor=actor, note=note, now=now,
                                       after=after)
            c.rollback()
        report.dry_run = True
        return matrix, report
    # Writers are queued, so the version race is lost only to a process that does not queue
    # (an older release during an upgrade); that is retried. Other conflicts are true ones.
    for attempt in range(3):
        try:
            with writer_queue(db):
                with write_transaction(db) as c:
                    lock_matrix(c)
                    matrix, report = _apply_in(c, router, build, actor=actor, note=note,
                                               now=now, after=after)
                router.install(matrix)
            return matrix, report
        except Conflict as exc:
            if exc.code != "ruleset_conflict" or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _apply_in(conn: Connection, router: Router, build: Callable[[Matrix], ChangeSet], *,
              actor: str, note: str, now: datetime,
              after: AfterCommit | None) -> tuple[Matrix, ChangeReport]:
    lock_matrix(conn)  # a caller's transaction (a ruling) should have taken it already
    base, since = head_matrix(conn, router)
    matrix, report = commit(conn, base, build(base), actor=actor, note=note, now=now)
    if not report.is_empty:
        # refused by the engine: raises, and nothing is committed; only the rules the change
        # names (and those another process changed since the version in use) are compiled
        # again when the base is, or was read from, the matrix in use
        changed = [*report.added["rules"], *report.changed["rules"], *report.retired["rules"]]
        if since is not None:
            # against the matrix in use now: the refresher may have installed a version
            # between the one served and the head meanwhile (``since`` covers both)
            router.prepare(matrix, router.current(), [*since, *changed])
        else:
            router.prepare(matrix, base, changed)
        if after is not None:
            after(conn, report, base, matrix, actor, now)
    return matrix, report


def head_matrix(conn: Connection, router: Router) -> tuple[Matrix, frozenset[str] | None]:
    """The newest committed matrix, and the ids of the rules changed since the one
    ``router`` serves when it was read as that one plus the rows written since; None when
    it is the one served, or was read whole.

    A process a moment behind another's commit (its refresher has not run yet) reads what
    changed (:func:`rules.store.load_since`), as its refresher would: reading and compiling
    the whole matrix instead took seconds at city scale and kept a second one in memory
    (found by benchmarks/bench_city_day.py, two replicas taking changes in turn). A head
    whose rows no longer match its digest is read as before (:meth:`Router.at_version`),
    for :func:`rules.store.commit` to judge."""
    served = router.current()
    head = current_version(conn)
    if head == served.version:
        return served, None
    if head > served.version:
        try:
            loaded = load_since(conn, served, head)
        except RulesetCorrupt:
            pass
        else:
            return loaded.matrix, loaded.rules
    return router.at_version(conn, head), None


#: a replacing import that would retire more than this share of the live rules must be
#: confirmed: a half-finished export loaded with ``mode=replace`` would empty the matrix
REPLACE_CONFIRM_SHARE = 0.2


def bundle_changes(bundle: Bundle, base: Matrix, *, mode: str,
                   where: Mapping[str, str] | None = None,
                   confirmed: bool = False) -> ChangeSet:
    """The change a bundle makes: ``merge`` adds and updates; ``replace`` also retires what
    the bundle does not name (``Conflict`` ``confirm_required`` when that is more than a fifth
    of the live rules and the caller has not ``confirmed``)."""
    if mode not in ("merge", "replace"):
        raise InvalidInput(f"mode must be merge or replace, not {mode!r}", code="invalid_mode",
                           field="mode")
    change = ChangeSet(where=dict(where or {}))
    change.units = {u.code: u for u in bundle.units}
    change.areas = {a.code: a for a in bundle.areas}
    change.categories = {c.code: c for c in bundle.categories}
    change.rules = {r.id: _keep_revision(r, base) for r in bundle.rules}
    change.settings = bundle.settings
    if mode == "replace":
        _retire_the_rest(change, base)
        retiring = sum(1 for value in change.rules.values() if value is RETIRE)
        if not confirmed and retiring > REPLACE_CONFIRM_SHARE * len(base.rules):
            raise Conflict(
                f"this import would retire {retiring} of {len(base.rules)} live rules; "
                "repeat it with confirm=true if that is intended (a dry run shows the diff)",
                code="confirm_required", retiring=retiring, live=len(base.rules))
    return change


def restore_version(target: Matrix) -> Callable[[Matrix], ChangeSet]:
    """The change that makes the matrix equal to ``target`` (an earlier version) again, as a
    new version: history is never rewritten, the old content is committed anew."""
    def build(base: Matrix) -> ChangeSet:
        t = target.jurisdiction
        change = ChangeSet(units=dict(t.units), areas=dict(t.areas),
                           categories=dict(t.categories), rules=dict(target.rules),
                           settings=target.settings)
        _retire_the_rest(change, base)
        return change
    return build


def activate_version(db: DbEngine, router: Router, version: int, *, actor: str, now: datetime,
                     after: AfterCommit | None = None) -> tuple[Matrix, ChangeReport]:
    """Make version ``version``'s matrix current again, committed as a new version (the way
    back from a change that went wrong, without SQL). Refused like any change if the engine
    cannot serve it."""
    with db.connect() as conn:
        target = router.at_version(conn, version)
    if not target.is_intact:  # its rows changed after its commit: not a way back
        raise corruption(target)
    return apply(db, router, restore_version(target), actor=actor,
                 note=f"activate version {version}", now=now, after=after)


def _retire_the_rest(change: ChangeSet, base: Matrix) -> None:
    """Retire whatever of ``base`` the change does not name."""
    j = base.jurisdiction
    for existing, incoming in ((j.units, change.units), (j.areas, change.areas),
                               (j.categories, change.categories), (base.rules, change.rules)):
        for code in existing:
            incoming.setdefault(code, RETIRE)


def bundle_locations(data: Mapping[str, Any]) -> dict[str, str]:
    """``kind:code`` → JSON path, so problems point at the bundle entry."""
    where: dict[str, str] = {}
    for key, prefix, field in (("rules", "rule", "id"), ("areas", "area", "code"),
                               ("categories", "category", "code"), ("units", "unit", "code")):
        items = data.get(key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, Mapping) and isinstance(item.get(field), str):
                    where[f"{prefix}:{item[field]}"] = f"{key}[{i}]"
    return where


def _keep_revision(rule: Rule, base: Matrix) -> Rule:
    old = base.rules.get(rule.id)
    return replace(rule, revision=old.revision) if old else rule


def parse_rule_document(data: Any, path: str = "$") -> Rule:
    """One rule from an API body; raises BundleInvalid naming each bad field."""
    problems = ProblemList()
    rule = parse_rule(_Reader(problems), data, path)
    problems.raise_if_any("rule")
    assert rule is not None
    return rule


def rule_or_404(matrix: Matrix, rule_id: str) -> Rule:
    rule = matrix.rules.get(rule_id)
    if rule is None:
        raise NotFound(f"unknown rule {rule_id!r}", code="rule_not_found", rule_id=rule_id)
    return rule


def create_rule(rule: Rule) -> Callable[[Matrix], ChangeSet]:
    def build(base: Matrix) -> ChangeSet:
        if rule.id in base.rules:
            raise Conflict(f"rule {rule.id!r} already exists; PATCH it instead",
                           code="rule_exists", rule_id=rule.id)
        return ChangeSet(rules={rule.id: rule}, where={f"rule:{rule.id}": "$"})
    return build


def patch_rule(rule_id: str, fields: Mapping[str, Any]) -> Callable[[Matrix], ChangeSet]:
    def build(base: Matrix) -> ChangeSet:
        old = rule_or_404(base, rule_id)
        if "id" in fields and fields["id"] != rule_id:
            raise InvalidInput("a rule's id cannot change", code="invalid_value", field="id")
        document = dict(rule_row(old), **fields)
        new = replace(parse_rule_document(document), revision=old.revision)
        return ChangeSet(rules={rule_id: new}, where={f"rule:{rule_id}": "$"})
    return build


def retire_rules(rule_ids: Iterable[str]) -> Callable[[Matrix], ChangeSet]:
    def build(base: Matrix) -> ChangeSet:
        for rule_id in rule_ids:
            rule_or_404(base, rule_id)
        return ChangeSet(rules=dict.fromkeys(rule_ids, RETIRE))
    return build


def put_entity(kind: str, value: Unit | Area | Category, *,
               create: bool) -> Callable[[Matrix], ChangeSet]:
    """Create (``create=True``: 409 if it exists) or update a unit, area or category."""
    def build(base: Matrix) -> ChangeSet:
        existing: Mapping[str, Any] = getattr(base.jurisdiction, kind)
        if create and value.code in existing:
            raise Conflict(f"{kind[:-1]} {value.code!r} already exists",
                           code=f"{kind[:-1]}_exists", code_value=value.code)
        if not create and value.code not in existing:
            raise NotFound(f"unknown {kind[:-1]} {value.code!r}", code=f"{kind[:-1]}_not_found")
        change = ChangeSet()
        getattr(change, kind)[value.code] = value
        return change
    return build
