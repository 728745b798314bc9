"""The FastAPI application factory. Nothing is built at import time: the lifespan creates
the database engine and the router, and closes them."""

from __future__ import annotations

import gc
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import pages, problems
from api.db import make_engine, upgrade
from api.deps import Services, get_caller, utc_now
from api.routes import (
    changesets,
    disputes,
    graph,
    keys,
    matrix,
    routing,
    rulings,
    stats,
    tickets,
)
from api.settings import AppSettings
from jurisdiction.errors import Unavailable
from rules.service import Router, open_decision_log

DESCRIPTION = """quanze (权责) routes every 12345 ticket to the unit closest in function
(职能最近): who leads (主办), who assists (协办), by which rule and basis (依据), following the
resolution canon. Authenticate with `Authorization: Bearer <key>` (`quanze keys create`)."""


class _BodyTooLarge(HTTPException):
    """Raised inside the app by RequestLimits' receive once the body passes the limit. An
    HTTPException, so that FastAPI's body reader passes it on (it turns other exceptions into
    400) and the problem handler answers 413 wherever it is caught."""


class _NulInBody(HTTPException):
    """Raised by RequestLimits' receive when a JSON body escapes a NUL character."""

    code = "invalid_character"


#: ``\u0000`` in JSON text, unless its backslash is itself escaped (an even run before it)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RequestLimits:
    """Refuses, before any route sees it, a request whose path, query or JSON body holds a NUL
    character (422) or whose body is over the limit (413), as problem+json (a pure ASGI
    middleware: no per-request task, unlike ``@app.middleware``).

    A declared ``Content-Length`` over the limit is refused before anything is read. The bytes
    actually received are counted too: a chunked body (no length) or one that sends more than
    it declared is cut off at the limit instead of being read whole (a 200 MB chunked body
    was read into memory before this check existed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _refusal(self) -> Response:
        return problems.problem(413, "body_too_large",
                                f"request body is larger than {self.limit} bytes",
                                limit=self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            # PostgreSQL text cannot hold NUL: an id or filter with one answered 500 there.
            await problems.problem(
                422, "invalid_character",
                "the request path or query holds a NUL character (%00)")(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refusal()(scope, receive, send)
                return
        received = 0
        started = False
        tail = b""

        async def counted_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.limit:
                    raise _BodyTooLarge(413, f"request body is larger than {self.limit} bytes")
                # A NUL in any string of a JSON body answered 500 on PostgreSQL (its text
                # cannot hold one) wherever the string was stored: a unit's name, a note, a
                # statement. The tail carries an escape cut between two chunks.
                if _JSON_NUL.search(tail + chunk):
                    raise _NulInBody(422, "the body holds a NUL character (\\u0000)")
                tail = (tail + chunk)[-64:]
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refusal()(scope, receive, send)
        except _NulInBody:
            if started:
                raise
            await problems.problem(
                422, "invalid_character",
                "the body holds a NUL character (\\u0000)")(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query: bytes = scope.get("query_string", b"")
    return b"%00" in raw or b"\x00" in raw or b"%00" in query or b"\x00" in query


#: seconds /v1/health/ready waits for the database
READY_TIMEOUT = 2.0


def _ping(db: Engine) -> None:
    with db.connect() as conn:
        conn.execute(text("SELECT 1"))


#: objects allocated (net) between young-generation collections; CPython's default is 700
YOUNG_COLLECTION_THRESHOLD = 50_000


def settle_heap() -> None:
    """Move what the process holds for long (the compiled matrix above all) out of the
    garbage collector's sight. Without this, every full collection walked the whole matrix
    and stopped the event loop for tens of milliseconds: the p99 of /v1/route fell from
    about 50 to under 10 ms with it. The frozen set is collected again first, so earlier
    matrices that became garbage are not kept."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class HeapSettler:
    """What the router calls after each install (``on_install``): collect and freeze only
    what was allocated since the last install, and every ``full_every`` installs settle the
    whole heap (:func:`settle_heap`).

    :func:`settle_heap` on every install walked the whole heap with the event loop stopped
    (0.09 s on the city, for every change, a replica's included). An earlier matrix that
    became garbage is freed by reference counting all the same (its maps and rules hold no
    reference cycles: memory stays flat over 1,000 versions,
    tests/integration/test_incremental_change.py); the periodic full pass frees any cycle an
    earlier freeze kept."""

    def __init__(self, full_every: int = 100) -> None:
        self._full_every = full_every
        self._installs = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self._installs += 1
            if self._installs % self._full_every == 0:
                settle_heap()
            else:
                gc.collect()
                gc.freeze()


def create_app(settings: AppSettings | None = None, *,
               clock: Callable[[], datetime] = utc_now, migrate: bool = True) -> FastAPI:
    settings = settings or AppSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = make_engine(settings.database_url)
        if migrate:
            upgrade(db)
        router = Router(db, refresh_interval=settings.refresh_interval,
                        on_install=HeapSettler())
        decision_log = open_decision_log(db)
        services = Services(db=db, router=router, settings=settings, clock=clock,
                            decision_log=decision_log)
        services.on_decision = disputes.on_decision(services)
        configure = getattr(app.state, "configure", None)
        if configure is not None:
            configure(services)
        app.state.services = services
        router.current()  # the first ticket does not pay for loading the matrix
        router.start_refreshing()
        # A routing call allocates and frees a few hundred objects and leaves no cycles: at
        # CPython's default the young generation was collected every request or two, 3 % of
        # the server's time under load (measured), for nothing to free.
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            await decision_log.aclose()
            router.close()
            db.dispose()

    # /docs is served by api.pages from vendored Swagger UI (no CDN); ReDoc is not offered.
    app = FastAPI(title="quanze", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    problems.install(app, pages=pages.page_error)

    def openapi() -> dict[str, Any]:
        # The key is read by api.deps.get_caller; declare it here so /docs can send it.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API key from `quanze keys create`"}}
            schema["security"] = [{"bearer": []}]
            problems.document_errors(schema, _routes(app.routes), caller=get_caller)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(RequestLimits, limit=settings.max_body_bytes)

    @app.get("/v1/health", tags=["meta"], summary="Liveness, and the rule-set version served")
    async def health(response: Response) -> dict[str, Any]:
        # From memory only: it answers at once whatever the database does.
        status = app.state.services.router.status()
        # which process answered, when `quanze serve --workers N` runs several
        response.headers["X-Quanze-Worker"] = str(os.getpid())
        return {"status": "degraded" if status["degraded"] else "ok", **status}

    @app.get("/v1/health/ready", tags=["meta"], summary="Readiness: the database answers",
             responses={503: {"description": "The database does not answer in time."}})
    async def ready() -> dict[str, Any]:
        services = app.state.services
        try:
            with anyio.fail_after(READY_TIMEOUT):
                await anyio.to_thread.run_sync(_ping, services.db, abandon_on_cancel=True)
        except (TimeoutError, DBAPIError) as exc:
            raise Unavailable("the database does not answer", code="database_unavailable",
                              timeout=READY_TIMEOUT) from exc
        status = services.router.status()
        return {"ready": True, **status}

    app.include_router(routing.router)
    app.include_router(matrix.router)
    app.include_router(graph.router)
    app.include_router(tickets.router)
    app.include_router(disputes.router)
    app.include_router(rulings.router)
    app.include_router(stats.router)
    app.include_router(keys.router)
    app.include_router(changesets.router)
    pages.install(app)
    return app


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes as declared, those of included routers too (FastAPI 0.16x wraps an included
    router; tests/e2e/test_openapi_problems.py notices if that changes)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route
