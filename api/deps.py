"""Dependencies shared by the routes: the services of the app, the caller, the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from api.auth import Caller, KeyCache, authenticate
from api.settings import AppSettings
from api.staff import SESSION_COOKIE, Staff, session_staff
from arbitration import audit
from jurisdiction.errors import Unavailable
from rules.service import DecisionLog, Router, WriteDeadlines
from rules.store import ChangeReport, Matrix

T = TypeVar("T")


def audit_matrix_change(conn: Connection, report: ChangeReport, base: Matrix, matrix: Matrix,
                        actor: str, now: datetime) -> None:
    """Every matrix change goes to the audit log in the same transaction."""
    audit.matrix_change_entry(conn, report, matrix, actor=actor, at=now,
                              before_rules=base.rules)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """What the app's lifespan builds once: database, router, settings, clock."""

    db: Engine
    router: Router
    settings: AppSettings
    clock: Callable[[], datetime] = field(default=utc_now)
    #: group commit of routing decisions (None: each is stored in its own transaction)
    decision_log: DecisionLog | None = None
    #: how long a route waits for its decision's commit (``settings.write_timeout``)
    write_deadlines: WriteDeadlines = field(init=False)
    #: called for each decision before it is stored (arbitration opens disputes here)
    on_decision: Callable[..., dict[str, Any]] | None = None
    #: called inside each matrix write's transaction (the audit log registers here)
    after_matrix_change: Callable[..., None] | None = field(
        default_factory=lambda: audit_matrix_change)
    #: verified keys, so a routing call does not read the key table every time; forgotten
    #: within a second of a revocation anywhere (api.auth.KeyCache)
    keys: KeyCache = field(default_factory=KeyCache)
    #: SQLite takes one writer at a time and makes the others sleep-and-retry; queueing the
    #: decision writes here instead keeps latency flat under concurrent routing
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.write_deadlines = WriteDeadlines(self.settings.write_timeout)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_caller(request: Request) -> Caller:
    """The caller of a request, from ``Authorization: Bearer <key>`` or ``X-API-Key``.
    (Reads the headers itself: declaring them as FastAPI ``Header`` parameters cost a
    measurable share of every routing call.)"""
    services: Services = request.app.state.services
    key = api_key(request.scope["headers"]) or ""
    if not key and request.method in ("GET", "HEAD"):
        # A person signed in to the workbench reads the API from the browser (a graph, a
        # ticket) with the session cookie. Reads only: a write needs a key, or a form of
        # the workbench with its CSRF token.
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            staff = await _bounded(services, _session_staff, services, token)
            if staff is not None:
                return staff.caller
    keys = services.keys
    tick = keys.ticker()
    if keys.is_due(tick):
        keys.checking = True
        started = threading.Event()

        def refresh() -> None:
            started.set()
            try:
                keys.refresh(services.db, tick)
            finally:
                keys.checking = False  # when it is done, even after the request gave up

        try:
            await _bounded(services, refresh)
        except Unavailable:
            if not started.is_set():
                keys.checking = False
            raise
    caller = keys.lookup(key, tick, services.clock)
    if caller is None:
        caller = await _bounded(services, _authenticate, services, key)
        keys.remember(key, caller, tick, services.clock)
    return caller


#: worker threads for the key and session checks, apart from the default pool: a check is a
#: quick read, and in the default pool it waited behind the ticket writes queued on the
#: write lock (each holding a thread) until it timed out as "the database does not answer"
#: (benchmarks/bench_city_day.py; tests/e2e/test_key_checks_under_load.py)
CHECK_THREADS = 4
_check_threads: RunVar[anyio.CapacityLimiter] = RunVar("quanze_check_threads")


def _check_limiter() -> anyio.CapacityLimiter:
    """The event loop's limiter for checks (made in the loop that uses it, as anyio makes
    its default one)."""
    try:
        return _check_threads.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(CHECK_THREADS)
        _check_threads.set(limiter)
        return limiter


async def _bounded(services: Services, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread of the checks' own, waited for at most the write
    timeout; then 503 ``database_unavailable``. A frozen database held the request whose key
    check fell due (one every half second) for as long as it stayed frozen (tests/faults).
    The thread is left to finish; while a key check is still running no other request
    starts one."""
    try:
        with anyio.fail_after(services.settings.write_timeout):
            return await anyio.to_thread.run_sync(call, *args, abandon_on_cancel=True,
                                                  limiter=_check_limiter())
    except TimeoutError:
        raise Unavailable("the database does not answer in time; retry shortly",
                          code="database_unavailable",
                          timeout=services.settings.write_timeout) from None


def api_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of ``Authorization: Bearer <key>`` (first) or ``X-API-Key``, read from the raw
    ASGI headers (names arrive lower-cased).

    >>> api_key([(b"authorization", b"Bearer qz_1 "), (b"x-api-key", b"qz_2")])
    'qz_1'
    >>> api_key([(b"x-api-key", b"qz_2")]), api_key([(b"authorization", b"Basic eA==")])
    ('qz_2', None)
    """
    key = None
    for name, value in headers:
        if name == b"authorization":
            if value[:7].lower() == b"bearer ":
                return value[7:].decode("latin-1").strip()
        elif name == b"x-api-key" and key is None:
            key = value.decode("latin-1")
    return key


def _session_staff(services: Services, token: str) -> Staff | None:
    with services.db.begin() as conn:
        return session_staff(conn, token, now=services.clock())


def _authenticate(services: Services, key: str | None) -> Caller:
    with services.db.connect() as conn:
        return authenticate(conn, key, services.clock())


CallerDep = Annotated[Caller, Depends(get_caller)]
