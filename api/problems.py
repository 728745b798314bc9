"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from jurisdiction.errors import BundleInvalid, QuanzeError

log = logging.getLogger("quanze.api")

PROBLEM = "application/problem+json"
#: seconds a client should wait before retrying while the database is unreachable
RETRY_AFTER = 2
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Content too large",
          415: "Unsupported media type", 422: "Unprocessable content",
          500: "Internal error", 503: "Service unavailable"}


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://quanze.dev/problems/{code}", "title": TITLES.get(status, "Error"),
            "status": status, "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def _is_plain(value: Any) -> bool:
    """A context value a JSON problem can carry (a NaN in the input made the problem itself
    fail to encode, and the client got a 500)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def install(app: FastAPI) -> None:
    @app.exception_handler(QuanzeError)
    async def _quanze(request: Request, exc: QuanzeError) -> JSONResponse:
        extra: dict[str, Any] = {"context": {k: v for k, v in exc.context.items()
                                             if _is_plain(v)}}
        if "field" in exc.context:
            extra["field"] = exc.context["field"]
        if isinstance(exc, BundleInvalid):
            extra["problems"] = [p.as_dict() for p in exc.problems]
        response = problem(exc.status, exc.code, exc.message, **extra)
        if exc.status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_of(e.get("loc", ())), "message": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] or "(body)" for e in errors}))
        return problem(422, "invalid_request", f"invalid request: {fields}",
                       field=errors[0]["field"] if errors else None, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
                401: "unauthorized", 403: "forbidden"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # A lost or refused connection (or a pool that cannot hand one out) is an outage the
        # client can retry; anything else the driver raised is an unexpected error.
        if exc.connection_invalidated or _is_outage(exc):
            return _unavailable(exc)
        return _internal(request, exc)

    @app.exception_handler(DisconnectionError)
    async def _disconnected(request: Request, exc: DisconnectionError) -> JSONResponse:
        return _unavailable(exc)

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        return _unavailable(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)


def _is_outage(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def _unavailable(exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    response = problem(503, "database_unavailable",
                       "the database cannot be reached; retry shortly",
                       retry_after=RETRY_AFTER)
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error",
                   "an unexpected error occurred; it has been logged")
