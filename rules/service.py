"""Routing as a service: keeps the compiled matrix current, decides, records decisions.

A :class:`Router` belongs to one process. It holds the matrix of the newest rule-set version it
has seen, compiled into the engine; it looks at the database's head version at most every
``refresh_interval`` seconds (so a change committed by any process is in use within about
that time plus the compile), and a change committed through this process is installed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import operator
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy import Engine as DbEngine

from jurisdiction.errors import InvalidInput, LimitExceeded, NotFound
from jurisdiction.model import unit_ref as model_unit_ref
from rules.compiler import compile_shards, shard_keys_for, ticket_message
from rules.conditions import TicketContext, has_keyword
from rules.engine import Engine
from rules.model import Decision, Rule, Ticket
from rules.privacy import mask_text
from rules.resolution import context_for, resolve
from rules.store import Matrix, current_version, load_matrix
from rules.tables import decisions

MAX_TEXT_CHARS = 10_000
MAX_ATTRIBUTES = 64


class Router:
    def __init__(self, db: DbEngine, *, refresh_interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic,
                 on_install: Callable[[], None] | None = None) -> None:
        self._db = db
        #: called after a new matrix is in use (the app settles its heap here)
        self._on_install = on_install
        self._engine = Engine()
        self._matrix: Matrix | None = None
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._history: OrderedDict[int, Matrix] = OrderedDict()

    # -- the current matrix -----------------------------------------------------------------
    def current(self) -> Matrix:
        """The newest matrix, refreshed from the database when the interval has passed."""
        now = self._clock()
        if self._matrix is None or now - self._checked_at >= self._refresh_interval:
            with self._db.connect() as conn:
                head = current_version(conn)
                self._checked_at = now
                if self._matrix is None or head != self._matrix.version:
                    with self._lock:
                        if self._matrix is None or head != self._matrix.version:
                            self._install(load_matrix(conn, head))
        assert self._matrix is not None
        return self._matrix

    def install(self, matrix: Matrix) -> None:
        """Use ``matrix`` now (after this process committed it)."""
        with self._lock:
            if self._matrix is None or matrix.version > self._matrix.version:
                self._install(matrix)

    def _install(self, matrix: Matrix) -> None:
        self._engine.load(compile_shards(matrix.rules.values(), matrix.jurisdiction))
        self._matrix = matrix
        self._remember(matrix)
        if self._on_install is not None:
            self._on_install()

    def at_version(self, conn: Connection, version: int) -> Matrix:
        """The matrix of an earlier version (for replay), with a small cache."""
        if self._matrix is not None and version == self._matrix.version:
            return self._matrix
        if version in self._history:
            self._history.move_to_end(version)
            return self._history[version]
        matrix = load_matrix(conn, version)
        self._remember(matrix)
        return matrix

    def _remember(self, matrix: Matrix) -> None:
        self._history[matrix.version] = matrix
        while len(self._history) > 4:
            self._history.popitem(last=False)

    def close(self) -> None:
        self._engine.close()

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, ticket: Ticket, matrix: Matrix | None = None) -> tuple[Matrix, Decision]:
        """Route one ticket by the live engine."""
        matrix = matrix or self.current()
        ctx = ticket_context(ticket, matrix)
        matched = live_matches(self._engine, matrix.rules, ctx)
        considered = matrix.considered(ctx.category_path)
        return matrix, resolve(ctx, considered, matrix.jurisdiction, matrix.settings, matched)


def live_matches(engine: Engine, rules: Mapping[str, Rule], ctx: TicketContext) -> set[str]:
    """The rules the engine matches for a ticket, keyword condition applied (the one test
    kept out of the engine; see :func:`rules.conditions.has_keyword`)."""
    ticket = ctx.ticket
    district = ctx.area_path[-1] if ctx.area_path else None
    message = ticket_message(ctx.category_path, ctx.area_path, ticket.attributes,
                             ticket.as_of.timestamp())
    return {rule_id for rule_id in engine.match(message, shard_keys_for(ctx.category_path,
                                                                        district))
            if has_keyword(rules[rule_id], ticket.text)}


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
    }


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
        "ruleset_version": document["ruleset_version"], "created_at": now,
        "as_of": ticket.as_of, "category": ticket.category, "area": ticket.area,
        "status": document["status"], "lead": lead["code"] if lead else None,
        "rule_id": document["rule"]["id"] if document["rule"] else None,
        "request": stored,
        "response": stored_response(document) if masked_attribute else dict(document),
        "actor": actor}


def record_decision(conn: Connection, document: Mapping[str, Any], ticket: Ticket,
                    request: Mapping[str, Any], *, actor: str, now: datetime) -> None:
    """Insert the decision record in the caller's transaction; it is never changed. (One
    prebuilt statement: building ``insert().values()`` per call cost more than the insert.)"""
    conn.execute(_INSERT_DECISION, decision_row(document, ticket, request, actor=actor,
                                                now=now))


class DecisionBatch:
    """Group commit on the event loop: decisions submitted while the loop is busy are written
    together in one transaction, and each caller is answered after the commit.

    The write waits one more turn of the loop, so the requests that arrived meanwhile join
    it: with eight clients the batches grew from four decisions to eight and each decision
    cost 38 instead of 53 µs to store. The turn costs nothing when nothing else is ready.
    No second thread competes for the GIL with the request path (measured: a writer
    thread's share showed up as GIL waits in every socket write, and was slower)."""

    def __init__(self, db: DbEngine, *, max_batch: int = 500) -> None:
        self._writer = DecisionWriter(db)
        self._max_batch = max_batch
        # Per event loop: a batch is written by the loop its callers wait on (a server has
        # one; tests may drive the app from another).
        self._pending: dict[asyncio.AbstractEventLoop,
                            list[tuple[dict[str, Any], asyncio.Future[None]]]] = {}

    def submit(self, row: dict[str, Any]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            # one more turn of the loop: requests that arrive meanwhile join the batch
            loop.call_soon(loop.call_soon, self._flush, loop)
        pending.append((row, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        for start in range(0, len(batch), self._max_batch):
            part = batch[start:start + self._max_batch]
            errors = self._writer.write([row for row, _ in part])
            for (_, future), error in zip(part, errors, strict=True):
                if not future.done():
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)

    def close(self) -> None:
        self._writer.close()


class DecisionWriter:
    """Inserts decision rows through the DB-API directly, on one connection it keeps.

    The rows are the same as SQLAlchemy would write (each column's own bind processor for
    the dialect turns values into driver values), without its per-statement machinery, which
    cost more than the insert itself (measured: 55 against 22 µs a row in batches of four on
    SQLite). A failed batch is rolled back and its rows written one by one, so one bad row
    fails alone; the connection is replaced after any error.

    On a SQLite file the writer's connection does not checkpoint the write-ahead log itself
    (a checkpoint copies the log into the database and cost a third of every commit's time,
    all of it in the event loop); :class:`Checkpointer` does that in a thread of its own."""

    def __init__(self, db: DbEngine) -> None:
        self._db = db
        dialect = db.dialect
        quote = dialect.identifier_preparer.quote
        # text_removed_at is set by the retention purge, never when a decision is made
        columns = [c for c in decisions.columns if c.name != "text_removed_at"]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._sql = (f"INSERT INTO {quote(decisions.name)} "
                     f"({', '.join(quote(c.name) for c in columns)}) "
                     f"VALUES ({', '.join([mark] * len(columns))})")
        self._values = operator.itemgetter(*(c.name for c in columns))
        self._processors = [
            (i, process) for i, c in enumerate(columns)
            if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        self._connection: Any = None
        self._lock = threading.Lock()
        self._checkpointer = Checkpointer(db) if _is_sqlite_file(db) else None

    def _params(self, row: Mapping[str, Any]) -> list[Any]:
        values = list(self._values(row))
        for i, process in self._processors:
            values[i] = process(values[i])
        return values

    def write(self, rows: list[dict[str, Any]]) -> list[Exception | None]:
        """Write ``rows`` in one transaction; returns, per row, None or why it failed."""
        with self._lock:  # one connection: loops in other threads (tests) take turns
            return self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> list[Exception | None]:
        try:
            self._insert([self._params(row) for row in rows])
            return [None] * len(rows)
        except Exception:  # a bad row, or a lost connection: each row once more, alone
            self._discard()
        errors: list[Exception | None] = []
        for row in rows:
            try:
                self._insert([self._params(row)])
                errors.append(None)
            except Exception as exc:
                self._discard()
                errors.append(exc)
        return errors

    def _insert(self, params: list[list[Any]]) -> None:
        if self._connection is None:
            self._connection = self._db.raw_connection()
            if self._checkpointer is not None:
                self._checkpointer.start()
                self._connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")
        raw = self._connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.executemany(self._sql, params)
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
    answer = {"decision_id": decision_id, "original_version": row["ruleset_version"],
              "replayed_version": matrix.version, "same": same, "original": original,
              "replayed": replayed, "text_removed": bool(request.get("text_removed"))}
    if answer["text_removed"]:
        kept_at = request.get("keywords_version")
        answer["keyword_tests"] = ("exact" if isinstance(kept_at, int)
                                   and matrix.version <= kept_at else "limited")
    return answer

