"""Routing as a service: keeps the compiled matrix current, decides, records decisions.

A :class:`Router` belongs to one process. It holds the matrix of the newest rule-set version it
has seen, compiled into the engine; it looks at the database's head version every
``refresh_interval`` seconds, and at once when PostgreSQL announces a commit (so a change
committed by any process is in use within about that time plus reading and compiling what
changed), and a change committed through this process is installed at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import operator
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Connection, insert, select
from sqlalchemy import Engine as DbEngine

from jurisdiction.errors import (
    EngineError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RulesetCorrupt,
    Unavailable,
)
from jurisdiction.model import Intake
from jurisdiction.model import unit_ref as model_unit_ref
from rules import rollups
from rules.compiler import (
    Shard,
    ShardKey,
    compile_shards,
    index_groups,
    matched_rules,
    needs_engine,
    recompile_shards,
    ticket_message,
)
from rules.conditions import TicketContext
from rules.engine import Engine, Routes
from rules.model import Decision, Rule, Ticket
from rules.privacy import mask_text
from rules.resolution import context_for, resolve
from rules.store import NOTIFY_CHANNEL, Matrix, current_version, load_matrix, load_since
from rules.tables import decisions
from rules.verification import Finding

log = logging.getLogger("quanze.rules")

MAX_TEXT_CHARS = 10_000
MAX_ATTRIBUTES = 64


@dataclass(frozen=True)
class Unservable:
    """The newest rule-set version could not be loaded into the engine, or its rows are not
    what was committed (``ruleset_digest_mismatch``); an older one serves."""

    version: int
    code: str
    message: str


#: how many older versions a starting router tries when the newest cannot be served
MAX_FALLBACK_VERSIONS = 50


@dataclass(frozen=True)
class Live:
    """A matrix with the engine routes and shards compiled from it, swapped in as one."""

    matrix: Matrix
    routes: Routes
    shards: dict[ShardKey, Shard]
    groups_of: dict[str, list[ShardKey]]


@dataclass(frozen=True)
class Compiled:
    """A matrix's shards, those compiled anew for it, and its engine routes when they were
    made from the previous ones (None: the engine makes them from the shards)."""

    shards: dict[ShardKey, Shard]
    fresh: Mapping[ShardKey, Shard]
    routes: Routes | None
    #: the shards' keys by group (rules.compiler.index_groups)
    groups_of: dict[str, list[ShardKey]]


@dataclass(frozen=True)
class CompileStats:
    """What the last compile of a version cost: shards compiled anew and kept, and engine
    rulesets created (a one-rule change: 1, all the others kept, at most 1)."""

    version: int
    compiled: int
    reused: int
    created: int


class Router:
    def __init__(self, db: DbEngine, *, refresh_interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic,
                 on_install: Callable[[], None] | None = None) -> None:
        self._db = db
        #: called after a new matrix is in use (the app settles its heap here)
        self._on_install = on_install
        self._engine = Engine()
        self._matrix: Matrix | None = None
        #: the live generation, and the one before it (its rulesets are kept one load longer,
        #: so a decision that took it while a new one was swapped in still matches by it)
        self._live: Live | None = None
        self._previous: Live | None = None
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._history: OrderedDict[int, Matrix] = OrderedDict()
        #: the last version read whole from the store for a replay (see :meth:`_remember`)
        self._loaded: Matrix | None = None
        #: matrices compiled by :meth:`prepare`, with their shards, until one of their
        #: version is installed (a writer and the refresher may each have one under way)
        self._prepared: list[tuple[Matrix, Compiled]] = []
        self._prepared_lock = threading.Lock()
        #: set while the newest version cannot be served (an older one is)
        self.unservable: Unservable | None = None
        #: what compiling the last prepared or installed version cost
        self.last_compile: CompileStats | None = None
        self._refresher: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    # -- the current matrix -----------------------------------------------------------------
    def current(self) -> Matrix:
        """The newest servable matrix. Refreshing in the background (:meth:`start_refreshing`,
        as the server does), this reads memory only: no request waits on the database or a
        compile. Otherwise the database is asked when ``refresh_interval`` has passed.
        A newest version the engine refuses is not retried until a newer one comes; routing
        stays on the version in use (at start, the newest older one that loads)."""
        matrix = self._matrix
        if matrix is not None and self._refresher is not None:
            return matrix
        now = self._clock()
        if matrix is None or now - self._checked_at >= self._refresh_interval:
            self._refresh()
            self._checked_at = now
        assert self._matrix is not None
        return self._matrix

    def _refresh(self) -> None:
        with self._db.connect() as conn:
            head = current_version(conn)
            if self._is_new(head):
                with self._lock:
                    if self._is_new(head):
                        self._load_newest(conn, head)

    def start_refreshing(self) -> None:
        """Look for versions committed by other processes from a thread of its own, every
        ``refresh_interval`` seconds, and at once when PostgreSQL announces one (LISTEN, see
        :func:`rules.store.notify_change`); a new one is read (only what changed since the
        version in use, :func:`rules.store.load_since`) and compiled (only the shards whose
        rules changed) there, and swapped in whole. The event loop never waits for it. (Done
        on the event loop, the first route after another server's change waited 239 ms for
        it, and a frozen database froze every request.)"""
        if self._refresher is not None or self._refresh_interval <= 0:
            return
        self.current()
        self._stopping.clear()
        self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                           name="quanze-matrix-refresh")
        self._refresher.start()
        if self._db.dialect.name == "postgresql":
            self._listener = threading.Thread(target=self._listen_loop, daemon=True,
                                              name="quanze-matrix-listen")
            self._listener.start()

    def _refresh_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._refresh_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._refresh()
            except Exception as exc:  # the database is away: keep serving, look again later
                log.warning("could not look for a new rule-set version: %s", exc)

    def _listen_loop(self) -> None:
        """Wake the refresher when a commit on this schema announces a version. Polling
        stays on as the safety net (a lost connection, a missed notification)."""
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database is away: polling goes on; try again
                log.warning("could not listen for rule-set versions: %s", exc)
                self._stopping.wait(max(self._refresh_interval, 1.0))

    def _listen(self) -> None:
        connection = self._db.raw_connection()
        try:
            raw: Any = connection.driver_connection
            raw.rollback()
            raw.autocommit = True
            schema = raw.execute("SELECT current_schema()").fetchone()[0]
            raw.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._wake.set()  # whatever was committed before the LISTEN
            while not self._stopping.is_set():
                for note in raw.notifies(timeout=1.0):
                    if note.payload.rsplit(":", 1)[0] == schema:
                        self._wake.set()
                    if self._stopping.is_set():
                        break
        finally:
            connection.invalidate()  # never back to the pool in LISTEN and autocommit

    def _is_new(self, head: int) -> bool:
        if self._matrix is None:
            return True
        refused = self.unservable is not None and self.unservable.version == head
        # newer only: a head read before this process installed its own later commit is old
        # news (it used to be installed over the newer version, compiled whole)
        return head > self._matrix.version and not refused

    def _load_newest(self, conn: Connection, head: int) -> None:
        try:
            live = self._live
            if live is not None and live.matrix is self._matrix:
                loaded = load_since(conn, live.matrix, head)
                if loaded.rules is not None:  # only rules changed: compile only those
                    self.prepare(loaded.matrix, live.matrix, loaded.rules)
                self._install(loaded.matrix)
            else:
                self._install(load_matrix(conn, head))
            return
        except (EngineError, RulesetCorrupt) as exc:
            self.unservable = Unservable(head, exc.code, str(exc))
            log.error("rule-set version %d cannot be served (%s); %s", head, exc,
                      "keeping the version in use" if self._matrix else "trying older ones")
        if self._matrix is not None:
            return
        for version in range(head - 1, max(-1, head - 1 - MAX_FALLBACK_VERSIONS), -1):
            try:
                self._install(load_matrix(conn, version))
            except (EngineError, RulesetCorrupt) as exc:
                log.error("rule-set version %d cannot be served either (%s)", version, exc)
                continue
            log.warning("serving rule-set version %d instead of %d", version, head)
            return
        raise EngineError(f"no rule-set version from {head} down can be served",
                          code="engine_no_servable_version", version=head)

    def prepare(self, matrix: Matrix, base: Matrix | None = None,
                changed: Iterable[str] | None = None) -> None:
        """Compile ``matrix`` and create its engine rulesets without using them yet: a change
        that the engine would refuse raises here, inside the writer's transaction, so it is
        never committed (a refused import used to commit first and brick every process).

        Given the ``base`` it was made from (the matrix in use) and the ids of the rules
        ``changed``, only the shards holding those rules are compiled; the others, and their
        rulesets, are kept (:func:`rules.compiler.recompile_shards`)."""
        compiled = self._compile(matrix, base, changed)
        created = self._engine.preload(compiled.fresh.values())
        if self.last_compile is not None:
            self.last_compile = replace(self.last_compile, created=created)
        with self._prepared_lock:
            self._prepared.append((matrix, compiled))

    def _compile(self, matrix: Matrix, base: Matrix | None,
                 changed: Iterable[str] | None) -> Compiled:
        live = self._live
        j = matrix.jurisdiction
        if (changed is None and base is None and live is not None
                and live.matrix.jurisdiction.areas is j.areas
                and live.matrix.jurisdiction.categories is j.categories):
            # not prepared (another thread installed first): what differs from the live
            # matrix is found by identity, since versions share their unchanged rules
            base, old = live.matrix, live.matrix.rules
            changed = [rule_id for rule_id, rule in matrix.rules.items()
                       if old.get(rule_id) is not rule]
            changed += [rule_id for rule_id in old if rule_id not in matrix.rules]
        if (changed is not None and base is not None and live is not None
                and live.matrix is base and base.jurisdiction.areas is j.areas
                and base.jurisdiction.categories is j.categories):
            ids = list(changed)
            result = recompile_shards(
                live.shards, j, [base.rules[i] for i in ids if i in base.rules],
                [matrix.rules[i] for i in ids if i in matrix.rules], groups_of=live.groups_of)
            self.last_compile = CompileStats(matrix.version, result.compiled, result.reused, 0)
            routes = dict(live.routes)
            for key in result.removed:
                del routes[key]
            routes.update((key, shard.digest) for key, shard in result.fresh.items())
            return Compiled(result.shards, result.fresh, routes, result.groups_of)
        shards = compile_shards(matrix.rules.values(), j)
        self.last_compile = CompileStats(matrix.version, len(shards), 0, 0)
        return Compiled(shards, shards, None, index_groups(shards))

    def install(self, matrix: Matrix) -> None:
        """Use ``matrix`` now (after this process committed it)."""
        with self._lock:
            if self._matrix is None or matrix.version > self._matrix.version:
                self._install(matrix)

    def _install(self, matrix: Matrix) -> None:
        with self._prepared_lock:
            prepared = [compiled for m, compiled in self._prepared if m is matrix]
            self._prepared = [(m, compiled) for m, compiled in self._prepared
                              if m.version > matrix.version]
        compiled = prepared[0] if prepared else self._compile(matrix, None, None)
        routes = self._engine.load(compiled.shards, compiled.routes)
        # one generation swapped in: the pair (matrix, routes) is read as one by decide
        self._previous, self._live = self._live, Live(matrix, routes, compiled.shards,
                                                      compiled.groups_of)
        self._matrix = matrix
        if self.unservable is not None and matrix.version >= self.unservable.version:
            self.unservable = None
        self._remember(matrix)
        if self._on_install is not None:
            self._on_install()

    def status(self) -> dict[str, Any]:
        """What this process serves, from memory (no database call: health reads it)."""
        serving = self._matrix.version if self._matrix is not None else None
        refused = self.unservable
        return {"serving_version": serving, "degraded": refused is not None,
                "unservable": None if refused is None else {
                    "version": refused.version, "code": refused.code,
                    "message": refused.message}}

    def findings(self) -> list[Finding]:
        """What ``verify`` must add about this process: an error while the newest version
        cannot be served."""
        refused, serving = self.unservable, self._matrix
        if refused is None or serving is None:
            return []
        if refused.code == "ruleset_digest_mismatch":
            return [Finding(
                "version_unservable", "error",
                f"规则版本 {refused.version} 的规则在提交后被改动（内容摘要不符），不予使用；"
                f"当前按版本 {serving.version} 派单；请核查数据库，并执行 quanze versions "
                f"activate {serving.version} 恢复")]
        return [Finding(
            "version_unservable", "error",
            f"规则版本 {refused.version} 无法加载到规则引擎（{refused.code}），当前按版本 "
            f"{serving.version} 派单；请修正后重新导入，或执行 quanze versions activate "
            f"{serving.version} 恢复")]

    def at_version(self, conn: Connection, version: int) -> Matrix:
        """The matrix of an earlier version (for replay, and as the base of a change), with a
        small cache. Not refused when its rows changed after the commit: replay reports it
        (``digest_matches``), :func:`rules.store.commit` refuses to build on it unless the
        change replaces everything; :attr:`Matrix.is_intact` says which."""
        if self._matrix is not None and version == self._matrix.version:
            return self._matrix
        if version in self._history:
            self._history.move_to_end(version)
            return self._history[version]
        loaded = self._loaded
        if loaded is not None and loaded.version == version:
            return loaded
        matrix = self._loaded = load_matrix(conn, version, verify=False)
        return matrix

    def _remember(self, matrix: Matrix) -> None:
        """Keep the last few installed matrices for replay and as bases of changes. Versions
        made by a change share their rules with the version before (:meth:`Matrix.evolve`),
        so these cost a few MB at city scale, not whole matrices. A version read from the
        store for a replay shares nothing: only the last one read is kept
        (:meth:`at_version`); others are read again when asked."""
        self._history[matrix.version] = matrix
        while len(self._history) > HISTORY_SIZE:
            self._history.popitem(last=False)

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        for name in ("_refresher", "_listener"):
            thread = getattr(self, name)
            setattr(self, name, None)
            if thread is not None:
                thread.join()
        self._engine.close()
        self._live = self._previous = self._loaded = None
        self._history.clear()

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, ticket: Ticket, matrix: Matrix | None = None) -> tuple[Matrix, Decision]:
        """Route one ticket by the live engine, under ``matrix`` (default: the current one).
        The engine's answer is taken from the generation compiled from that very matrix, so
        the decision's version names the rules it used; a matrix whose rulesets are gone
        (older than the generation before the live one) is decided by the plain evaluator,
        which gives the same answer."""
        matrix = matrix or self.current()
        ctx = ticket_context(ticket, matrix)
        routes = self._routes_of(matrix)
        decision = None if routes is None else engine_decision(self._engine, routes, matrix,
                                                               ctx)
        if decision is None:
            decision = resolve(ctx, matrix.considered(ctx.category_path),
                               matrix.jurisdiction, matrix.settings)
        return matrix, decision

    def _routes_of(self, matrix: Matrix) -> Routes | None:
        for generation in (self._live, self._previous):
            if generation is not None and generation.matrix is matrix:
                return generation.routes
        return None


#: recent matrices a router keeps for replay and as the base of a change
HISTORY_SIZE = 4


def engine_decision(engine: Engine, routes: Routes, matrix: Matrix, ctx: TicketContext
                    ) -> Decision | None:
    """The decision by the engine's matches (None when the rulesets of ``routes`` are gone).

    Only the rules on the ticket's category path *and* in its area are walked (the rest are
    counted, as the plain evaluator counts them): the matched ones without a test, the others
    to say why they lost. The engine is asked only when one of them states a condition."""
    relevant, elsewhere = matrix.relevant(ctx.category_path, ctx.area_path)
    names: Collection[str] | None = (engine_matches(engine, ctx, routes)
                                     if needs_engine(relevant) else frozenset())
    if names is None:
        return None
    return resolve(ctx, relevant, matrix.jurisdiction, matrix.settings,
                   matched_rules(names, relevant, ctx), excluded_by_area=elsewhere)


def engine_matches(engine: Engine, ctx: TicketContext, routes: Routes | None = None
                   ) -> set[str] | None:
    """The names of the condition patterns the engine matches for a ticket (posted to the
    shards of its category path); None when the rulesets of ``routes`` are gone."""
    message = ticket_message(ctx.category_path, ctx.ticket.attributes)
    return engine.match(message, ctx.category_path, routes)


def live_matches(engine: Engine, rules: Mapping[str, Rule], ctx: TicketContext,
                 routes: Routes | None = None) -> set[str] | None:
    """The ``rules`` the engine matches for a ticket, with the conditions kept beside it
    applied (:func:`rules.compiler.matched_rules`); None when the rulesets of ``routes``
    are gone."""
    names = engine_matches(engine, ctx, routes)
    return None if names is None else matched_rules(names, rules.values(), ctx)


def ticket_context(ticket: Ticket, matrix: Matrix) -> TicketContext:
    """Check a ticket against the matrix; unknown codes are 422s naming the field."""
    if ticket.category not in matrix.jurisdiction.categories:
        raise InvalidInput(f"unknown category {ticket.category!r}", code="unknown_category",
                           field="category", value=ticket.category)
    if ticket.area is not None and ticket.area not in matrix.jurisdiction.areas:
        raise InvalidInput(f"unknown area {ticket.area!r}", code="unknown_area", field="area",
                           value=ticket.area)
    if len(ticket.text) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"text is longer than {MAX_TEXT_CHARS} characters",
                            code="text_too_large", field="text", limit=MAX_TEXT_CHARS)
    if len(ticket.attributes) > MAX_ATTRIBUTES:
        raise LimitExceeded(f"more than {MAX_ATTRIBUTES} attributes",
                            code="attributes_too_large", field="attributes",
                            limit=MAX_ATTRIBUTES)
    return context_for(ticket, matrix.jurisdiction)


def evaluate(ticket: Ticket, matrix: Matrix) -> Decision:
    """Route one ticket with the plain evaluator (replay, impact previews)."""
    ctx = ticket_context(ticket, matrix)
    return resolve(ctx, matrix.considered(ctx.category_path), matrix.jurisdiction,
                   matrix.settings)


# -- the decision document ----------------------------------------------------------------------

def unit_ref(matrix: Matrix, code: str | None) -> dict[str, str] | None:
    return model_unit_ref(matrix.jurisdiction.units, code)


def decision_document(decision: Decision, matrix: Matrix, *, decision_id: str,
                      ticket: Ticket, dispute_id: str | None = None) -> dict[str, Any]:
    """The decision as the API returns and stores it (contract.md)."""
    rule = decision.rule
    return {
        "decision_id": decision_id,
        "ticket_id": ticket.ticket_id,
        "ruleset_version": matrix.version,
        "ruleset_digest": matrix.digest or None,
        "status": decision.status.value,
        "lead": unit_ref(matrix, decision.lead),
        "co_handlers": [unit_ref(matrix, c) for c in decision.co_handlers],
        "rule": None if rule is None else {
            "id": rule.id, "source": rule.source.value, "basis": rule.basis,
            "revision": rule.revision, "ruling_id": rule.ruling_id, "category": rule.category,
            "area": rule.area},
        "explanation": {
            "summary": decision.summary,
            "fallback_step": decision.fallback_step,
            "tied_rules": list(decision.tied_rules),
            "candidates": [c.as_dict() for c in decision.candidates],
            "excluded_by_area": decision.excluded_by_area,
        },
        "dispute_id": dispute_id,
        "as_of": ticket.as_of.isoformat(),
        **_intake(decision),
    }


def _intake(decision: Decision) -> dict[str, Any]:
    """``intake`` of an ``out_of_scope`` decision: ``{code, label, category}``; null on the
    others (and absent from decisions stored before it existed: read it as null)."""
    if decision.intake is None:
        return {"intake": None}
    return {"intake": {"code": decision.intake, "label": Intake(decision.intake).label,
                       "category": decision.intake_category}}


_ID_PREFIX = uuid.uuid4().hex[:16]  # random per process: ids from several servers never meet
_ID_COUNTER = itertools.count(1)


def new_decision_id() -> str:
    """A unique decision id without a system call per decision (``uuid4`` reads the kernel's
    random source each time, a measured share of the routing path)."""
    return f"dec_{_ID_PREFIX}{next(_ID_COUNTER):016x}"


_INSERT_DECISION = insert(decisions)


def stored_request(request: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The route request as it is stored: the text and every text attribute value with
    personal data masked (:func:`rules.privacy.mask_text`); and whether an attribute value
    was masked (the explanation quotes attribute values, so it is masked too)."""
    stored = dict(request)
    text = stored.get("text")
    if text:
        stored["text"] = mask_text(text)
    attributes = stored.get("attributes")
    if attributes:
        # attribute values are mostly short codes: one look at each, a copy only if needed
        for value in attributes.values():
            if type(value) is str and len(value) > 6 and mask_text(value) is not value:
                stored["attributes"] = {k: mask_text(v) if isinstance(v, str) else v
                                        for k, v in attributes.items()}
                return stored, True
    return stored, False


def stored_response(document: Mapping[str, Any]) -> dict[str, Any]:
    """The decision document with personal data masked in its explanation (a candidate's
    reason quotes the ticket's attribute value, ``工单为 '…'``)."""
    explanation = dict(document["explanation"])
    explanation["summary"] = mask_text(explanation["summary"])
    explanation["candidates"] = [
        {**c, "reason": mask_text(c["reason"])} if isinstance(c.get("reason"), str) else c
        for c in explanation["candidates"]]
    return {**document, "explanation": explanation}


def decision_row(document: Mapping[str, Any], ticket: Ticket, request: Mapping[str, Any], *,
                 actor: str, now: datetime) -> dict[str, Any]:
    """The decision as stored: its request with personal data masked (routing has read the
    raw text already; the document sent back quotes no text)."""
    lead = document["lead"]
    stored, masked_attribute = stored_request(request)
    return {
        "id": document["decision_id"], "ticket_id": ticket.ticket_id,
        "ruleset_version": document["ruleset_version"],
        "ruleset_digest": document.get("ruleset_digest"), "created_at": now,
        "as_of": ticket.as_of, "category": ticket.category, "area": ticket.area,
        "status": document["status"], "lead": lead["code"] if lead else None,
        "rule_id": document["rule"]["id"] if document["rule"] else None,
        "request": stored,
        "response": stored_response(document) if masked_attribute else dict(document),
        "actor": actor}


def record_decisions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert decision rows (:func:`decision_row`) in the caller's transaction, and add them
    to the daily counts the statistics read (:func:`rules.rollups.count_decisions`); a
    decision is never changed. (One prebuilt statement: building ``insert().values()`` per
    call cost more than the insert.)"""
    if rows:
        conn.execute(_INSERT_DECISION, rows)
        rollups.count_decisions(conn, rows)


class DecisionBatch:
    """Group commit off the event loop, for SQLite (whose driver blocks): decisions submitted
    while a write is under way are written together in the next one, by a thread of its own;
    each caller is answered after the commit that holds its decision. (PostgreSQL's is
    :class:`LoopDecisionLog`.)

    The loop never waits on the database. (It used to write on the loop, one more loop turn
    after the first submission: with the database frozen for 8 s, even /v1/health took
    7.9 s.) Under load the batches grow by themselves, as long as the previous write takes.
    """

    def __init__(self, db: DbEngine, *, max_batch: int = 500) -> None:
        self._writer = DecisionWriter(db)
        self._max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``row``; the future is settled on the caller's loop once it is committed
        (or with the error that kept it out)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the decision log is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="quanze-decision-writer")
                self._thread.start()
            self._pending.append((row, future))
            self._ready.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
            errors = self._writer.write([row for row, _ in batch])
            settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None],
                                                                Exception | None]]] = {}
            for (_, future), error in zip(batch, errors, strict=True):
                settled.setdefault(future.get_loop(), []).append((future, error))
            for loop, results in settled.items():  # one wake-up per loop, not per decision
                with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                    loop.call_soon_threadsafe(_settle, results)

    async def aclose(self) -> None:
        """:meth:`close`, off the event loop (it waits for the last write)."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Write what is queued, then stop the thread and close the connection."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        self._writer.close()


class LoopDecisionLog:
    """PostgreSQL's group commit, on the event loop: decisions submitted while a write is
    under way are written together by the next one, over one psycopg asyncio connection;
    each caller is answered after the commit that holds its decision.

    One connection, so one write at a time: the batches grow while a write is under way, and
    the server sends fewer, larger ones. (Two connections writing side by side made batches
    half the size, and each round trip costs the server the same CPU however many rows it
    carries: route throughput was 0.47 of the no-op's against 0.56 with one, measured in one
    run of ``benchmarks/bench_http.py``.)

    A batch is one statement in autocommit (:attr:`DecisionRows.batch`: the rows and their
    daily counts), so one answer from the server. No thread is involved: a writer thread
    had to win the GIL back from the busy loop after each of the driver's socket calls (14
    times a batch in pipeline mode, 3 in autocommit: ``benchmarks/bench_gil.py``), and every
    caller waited for those turns. The loop never waits on the database either: a frozen
    server leaves the write pending, and callers give up on their own timeout (a 503).

    A failed batch is written once more row by row, so one bad row fails alone; the
    connection is dropped after any error and made anew for the next write."""

    def __init__(self, db: DbEngine, *, max_batch: int = 500) -> None:
        self._rows = DecisionRows(db)
        cargs, cparams = db.dialect.create_connect_args(db.url)
        self._connect = functools.partial(psycopg.AsyncConnection.connect, *cargs,
                                          autocommit=True, **cparams)
        self._max_batch = max_batch
        self._connection: psycopg.AsyncConnection[Any] | None = None  # made on first use
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    def submit(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``row``; the future is settled once it is committed (or with the error that
        kept it out). Called on the loop the log's writes run on."""
        if self._closed:
            raise RuntimeError("the decision log is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                errors = await self._write([row for row, _ in batch])
                _settle([(future, error)
                         for (_, future), error in zip(batch, errors, strict=True)])
        except asyncio.CancelledError:  # its loop is closing: the write is abandoned
            await self._drop()
            raise
        finally:
            self._writer = None

    async def _write(self, rows: list[dict[str, Any]]) -> list[Exception | None]:
        try:
            await self._execute(self._rows.document(rows))
            return [None] * len(rows)
        except Exception:  # a bad row, or a lost connection: each row once more, alone
            await self._drop()
        errors: list[Exception | None] = []
        for row in rows:
            try:
                await self._execute(self._rows.document([row]))
                errors.append(None)
            except Exception as exc:
                await self._drop()
                errors.append(self._rows.translated(exc))
        return errors

    async def _execute(self, document: str) -> None:
        if self._connection is None:
            self._connection = await self._connect()
        await self._connection.execute(self._rows.batch, [document])

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def aclose(self) -> None:
        """Write what is queued, then close the connection."""
        self._closed = True
        while self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self._drop()


#: what the server stores its routing decisions with
DecisionLog = DecisionBatch | LoopDecisionLog


def open_decision_log(db: DbEngine) -> DecisionLog:
    """The server's group commit: on the event loop for PostgreSQL (its asyncio driver);
    in a thread of its own for SQLite, whose driver blocks."""
    if db.dialect.name == "postgresql":
        return LoopDecisionLog(db)
    return DecisionBatch(db)


class WriteDeadlines:
    """How long a caller of the decision log waits for its commit: :meth:`wait` fails with
    TimeoutError once ``timeout`` seconds have passed. One timer for all the waiting
    callers, armed for the oldest (one timeout, so the deadlines come in time order). The
    logs' futures are settled on the caller's loop and nothing needs cancelling (a log skips
    a future its caller gave up on), so failing the future is all it takes. A timer per
    request (``call_later``, and before it ``wait_for``'s waiter future and callbacks) was
    4-5 % of the server's time under load (profiled under ``benchmarks/bench_http.py``)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: collections.deque[tuple[float, asyncio.Future[None]]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self, stored: asyncio.Future[None]) -> None:
        """Wait for ``stored`` at most the timeout, else raise TimeoutError."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the app started again on another loop (tests)
            self._loop, self._queue, self._timer = loop, collections.deque(), None
        self._queue.append((loop.time() + self._timeout, stored))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._expire, loop)
        await stored

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # armed on a loop the app has left since
            return
        now = loop.time()
        queue = self._queue
        while queue and (queue[0][1].done() or queue[0][0] <= now):
            _, future = queue.popleft()
            if not future.done():
                future.set_exception(TimeoutError())
        self._timer = loop.call_at(queue[0][0], self._expire, loop) if queue else None


def _settle(results: list[tuple[asyncio.Future[None], Exception | None]]) -> None:
    for future, error in results:
        if future.done():  # the caller stopped waiting
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class DecisionRows:
    """Decision rows as the DB-API takes them, and the statements that store them.

    The rows are the same as SQLAlchemy would write (each column's own bind processor for
    the dialect turns values into driver values), without its per-statement machinery, which
    cost more than the insert itself (measured: 55 against 22 µs a row in batches of four on
    SQLite).

    On PostgreSQL a batch is ONE statement with ONE parameter (:attr:`batch`): the rows as a
    JSON array, unpacked by the server (``json_populate_recordset``), stored with their
    daily counts (:func:`rules.rollups.counted_insert`). Its text never changes, so the
    driver prepares it once; a multi-row ``VALUES`` list with a parameter per value had a
    text per batch size, and converting and adapting its parameters cost more than
    deciding the ticket (profiled under ``benchmarks/bench_http.py``)."""

    def __init__(self, db: DbEngine) -> None:
        self._db = db
        dialect = db.dialect
        quote = dialect.identifier_preparer.quote
        # text_removed_at is set by the retention purge, never when a decision is made
        columns = [c for c in decisions.columns if c.name != "text_removed_at"]
        names = ", ".join(quote(c.name) for c in columns)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        table = quote(decisions.name)
        #: one row's INSERT (SQLite: ``executemany`` of it, then :meth:`count`)
        self.insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join([mark] * len(columns))})"
        #: PostgreSQL: the rows of :meth:`document` and their daily counts, in one statement
        self.batch = rollups.counted_insert(
            dialect, f"INSERT INTO {table} ({names}) SELECT {names} "
                     f"FROM json_populate_recordset(NULL::{table}, {mark}::json)")
        self._values = operator.itemgetter(*(c.name for c in columns))
        self._names = [str(c.name) for c in columns]  # not quoted_name: orjson wants str
        self._processors = [
            (i, process) for i, c in enumerate(columns)
            if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        # the JSON document carries JSON values as they are, and the rest as processed
        self._document_processors = [(self._names[i], process) for i, process in
                                     self._processors if not isinstance(columns[i].type, JSON)]
        self._zone_sql = rollups.zone_sql(dialect)
        self._count_sql = rollups.decision_upsert(dialect)

    def params(self, row: Mapping[str, Any]) -> list[Any]:
        values = list(self._values(row))
        for i, process in self._processors:
            values[i] = process(values[i])
        return values

    def document(self, rows: Iterable[Mapping[str, Any]]) -> str:
        """:attr:`batch`'s parameter: ``rows`` as a JSON array of objects."""
        out = []
        for row in rows:
            values = dict(zip(self._names, self._values(row), strict=True))
            for name, process in self._document_processors:
                values[name] = process(values[name])
            out.append(values)
        return orjson.dumps(out).decode()

    def count(self, rows: list[dict[str, Any]], cursor: Any) -> None:
        """Add ``rows`` to the daily counts, in two steps (the zone is read first)."""
        cursor.execute(self._zone_sql)
        found = cursor.fetchone()
        if found is not None:
            counts = rollups.decision_counts(rows, rollups.zone(found[0]))
            if counts:
                cursor.executemany(self._count_sql,
                                   rollups.decision_params(self._db.dialect, counts))

    def translated(self, exc: Exception) -> Exception:
        """The driver's own error for a lost or refused connection becomes quanze's
        ``Unavailable`` (a 503 the client retries): the writers talk to the DB-API directly,
        so SQLAlchemy never wraps it (it answered 500 while PostgreSQL restarted)."""
        dbapi = self._db.dialect.loaded_dbapi
        if isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError):
            outage = Unavailable("the decision could not be stored; retry shortly",
                                 code="database_unavailable")
            outage.__cause__ = exc
            return outage
        return exc


class DecisionWriter:
    """Inserts decision rows (:class:`DecisionRows`) through the DB-API directly, on one
    connection it keeps, for :class:`DecisionBatch`'s thread. A failed batch is rolled back
    and its rows written one by one, so one bad row fails alone; the connection is replaced
    after any error.

    On a SQLite file the writer's connection does not checkpoint the write-ahead log itself
    (a checkpoint copies the log into the database and cost a third of every commit's time,
    all of it in the event loop); :class:`Checkpointer` does that in a thread of its own.

    On PostgreSQL a batch is ONE statement (:attr:`DecisionRows.batch`) and COMMIT, sent
    together in pipeline mode. The server does not use this writer (:class:`LoopDecisionLog`
    does, on the event loop): every answer from the server made this thread wait for the GIL
    while the loop was busy (``benchmarks/bench_gil.py``)."""

    def __init__(self, db: DbEngine) -> None:
        self._db = db
        self._rows = DecisionRows(db)
        self._connection: Any = None
        self._lock = threading.Lock()
        self._checkpointer = Checkpointer(db) if _is_sqlite_file(db) else None
        self._pipelined = db.dialect.name == "postgresql"

    def write(self, rows: list[dict[str, Any]]) -> list[Exception | None]:
        """Write ``rows`` in one transaction; returns, per row, None or why it failed."""
        with self._lock:  # one connection: loops in other threads (tests) take turns
            return self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> list[Exception | None]:
        try:
            self._insert(rows)
            return [None] * len(rows)
        except Exception:  # a bad row, or a lost connection: each row once more, alone
            self._discard()
        errors: list[Exception | None] = []
        for row in rows:
            try:
                self._insert([row])
                errors.append(None)
            except Exception as exc:
                self._discard()
                errors.append(self._rows.translated(exc))
        return errors

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """The rows and their daily counts (:mod:`rules.rollups`) in one transaction."""
        if self._connection is None:
            self._connection = self._db.raw_connection()
            if self._checkpointer is not None:
                self._checkpointer.start()
                self._connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")
        raw = self._connection.driver_connection
        cursor = raw.cursor()
        try:
            if self._pipelined:
                with raw.pipeline():
                    cursor.execute(self._rows.batch, [self._rows.document(rows)])
                    raw.commit()  # sent with the statement: one answer for both
                return
            cursor.execute("BEGIN")  # the engine's SQLite connections do not begin alone
            cursor.executemany(self._rows.insert, [self._rows.params(row) for row in rows])
            self._rows.count(rows, cursor)
        finally:
            cursor.close()
        raw.commit()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.driver_connection.rollback()
            connection.invalidate()

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            if self._checkpointer is not None:
                connection.driver_connection.execute("PRAGMA wal_autocheckpoint=1000")
            connection.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()


def _is_sqlite_file(db: DbEngine) -> bool:
    return db.dialect.name == "sqlite" and db.url.database not in (None, "", ":memory:")


class Checkpointer:
    """Checkpoints a SQLite database's write-ahead log every ``interval`` seconds from a
    daemon thread (PASSIVE: it never blocks readers or the writer, and SQLite does the work
    outside the GIL)."""

    def __init__(self, db: DbEngine, *, interval: float = 0.5) -> None:
        self._db = db
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="quanze-wal-checkpoint",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        connection = self._db.raw_connection()
        raw: Any = connection.driver_connection
        try:
            while not self._stopped.wait(self._interval):
                with contextlib.suppress(Exception):  # busy or locked: next time
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopped.set()
            thread.join()


def get_decision(conn: Connection, decision_id: str) -> dict[str, Any]:
    row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
    if row is None:
        raise NotFound(f"unknown decision {decision_id!r}", code="decision_not_found",
                       decision_id=decision_id)
    return dict(row)


def recent_decisions(conn: Connection, rule_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest stored decisions that name ``rule_id`` as their rule, newest first: id,
    time, ticket, category, area, status, lead and rule-set version (not the request, which
    may hold a citizen's words)."""
    d = decisions
    rows = conn.execute(select(d.c.id, d.c.created_at, d.c.as_of, d.c.ticket_id, d.c.category,
                               d.c.area, d.c.status, d.c.lead, d.c.ruleset_version)
                        .where(d.c.rule_id == rule_id)
                        .order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


#: joins the keywords a purged decision kept into the text it is replayed with; a keyword
#: would have to contain this private-use character to match across two of them
KEPT_KEYWORDS_SEPARATOR = "\ue000"


def ticket_from_request(request: Mapping[str, Any], default_as_of: datetime) -> Ticket:
    """A Ticket from a validated route request (see api.schemas.RouteRequest) or a stored one.

    A stored request whose text the retention purge removed (``text_removed``) is given the
    keywords it kept as its text, so keyword rules decide as they did (see
    :mod:`arbitration.retention`)."""
    as_of = request.get("as_of") or default_as_of
    if isinstance(as_of, str):
        as_of = datetime.fromisoformat(as_of)
    text = request.get("text") or ""
    if request.get("text_removed"):
        text = KEPT_KEYWORDS_SEPARATOR.join(request.get("kept_keywords") or ())
    return Ticket(category=request["category"], area=request.get("area"),
                  attributes=dict(request.get("attributes") or {}),
                  text=text, as_of=as_of, ticket_id=request.get("ticket_id"))


def replay_decision(row: Mapping[str, Any], matrix: Matrix) -> dict[str, Any]:
    """A stored decision (a ``decisions`` row) decided again with the plain evaluator under
    ``matrix``, and whether the answer is the same (status, lead, co-handlers, rule).

    ``digest_matches`` says whether ``matrix`` holds the very rules the decision was made by
    (its content digest against the one the decision recorded; null for a decision stored
    before digests). Replayed under its own version, a mismatch means the version's rows
    were changed after the decision, or the decision was made by other rules than its
    version number says: ``same`` is then false whatever the answers. Under another version
    the digests differ whenever the content does, and ``same`` compares the answers only.

    When the retention purge has removed the ticket's text, ``text_removed`` is true and the
    keyword tests read the keywords the decision kept: every keyword the matrix had when the
    text was removed (``keywords_version``). Under a version up to that one,
    ``keyword_tests`` is ``exact``; under a later one it is ``limited``: a keyword that only
    later rules use was not kept, so those rules cannot match and ``same`` may be false for
    that reason alone."""
    request = dict(row["request"])
    request["as_of"] = row["as_of"].isoformat()
    ticket = ticket_from_request(request, row["as_of"])
    decision_id = row["id"]
    replayed = decision_document(evaluate(ticket, matrix), matrix, decision_id=decision_id,
                                 ticket=ticket)
    original = row["response"]
    same = (replayed["status"] == original["status"]
            and replayed["lead"] == original["lead"]
            and replayed["co_handlers"] == original["co_handlers"]
            and (replayed["rule"] or {}).get("id") == (original["rule"] or {}).get("id"))
    recorded = row.get("ruleset_digest")
    digest_matches = None if recorded is None else matrix.has_digest(recorded)
    if digest_matches is False and matrix.version == row["ruleset_version"]:
        same = False
    answer = {"decision_id": decision_id, "original_version": row["ruleset_version"],
              "replayed_version": matrix.version, "same": same,
              "digest_matches": digest_matches, "original_digest": recorded,
              "replayed_digest": matrix.digest or None, "original": original,
              "replayed": replayed, "text_removed": bool(request.get("text_removed"))}
    if answer["text_removed"]:
        kept_at = request.get("keywords_version")
        answer["keyword_tests"] = ("exact" if isinstance(kept_at, int)
                                   and matrix.version <= kept_at else "limited")
    return answer

