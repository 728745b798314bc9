"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute

from jurisdiction.errors import BundleInvalid, QuanzeError

log = logging.getLogger("quanze.api")

PROBLEM = "application/problem+json"
#: seconds a client should wait before retrying while the database is unreachable
RETRY_AFTER = 2
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Content too large",
          415: "Unsupported media type", 422: "Unprocessable content",
          500: "Internal error", 503: "Service unavailable"}


#: the ``Problem`` component of the OpenAPI document: every error body has this shape
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem detail; `code` is stable, `detail` is for people.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "description": "https://quanze.dev/problems/<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "a stable snake_case code"},
        "detail": {"type": "string"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}],
                  "description": "the request field (dotted path) that was wrong"},
        "errors": {"type": "array", "description": "each invalid field of the request",
                   "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "message": {"type": "string"},
                       "type": {"type": "string"}}}},
        "problems": {"type": "array", "description": "each problem of a bundle or change",
                     "items": {"type": "object", "properties": {
                         "location": {"type": "string"},
                         "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                         "code": {"type": "string"}, "message": {"type": "string"}}}},
        "context": {"type": "object", "description": "the error's keyword context"},
        "limit": {"type": "integer"},
        "retry_after": {"type": "integer"},
    },
}

#: what each error status of an operation means here (the OpenAPI descriptions)
MEANINGS = {
    401: "No key, or an unknown, expired or revoked key.",
    403: "The key's role or unit may not do this.",
    404: "Something the request looks up (the id in the path) does not exist.",
    409: "The state forbids the change, or a concurrent change came first: reload and retry.",
    413: "The body, or a list or text in it, is larger than its limit.",
    422: "A parameter or body field is invalid or names an unknown code; `field` names it.",
    503: "The database cannot be reached in time: retry after `Retry-After` seconds.",
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def may(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer statuses the rules of
    :func:`document_errors` do not infer (a 404 for a query parameter that names the thing
    looked up, a 413 for a result too large to render); the problem schema is added there."""
    return {status: {"description": MEANINGS[status]} for status in statuses}


def _calls(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_calls(d, call) for d in dependant.dependencies)


def document_errors(schema: dict[str, Any], routes: Iterable[BaseRoute],
                    caller: Callable[..., Any]) -> None:
    """Declare in an OpenAPI ``schema`` the problem responses of every operation of
    ``routes``, inferred from what each one takes (one place, instead of a ``responses=``
    on every route):

    - an operation that depends on ``caller`` (it authenticates, which reads the key table):
      401, 403, 503, and 409 when it writes (POST, PUT, PATCH, DELETE);
    - one with path parameters: 404; one with any parameter or a body: 422; a body: 413;
    - any other 4xx/5xx a route declares itself (:func:`may`).

    Every one is ``application/problem+json`` with the ``Problem`` schema; an operation
    that does not authenticate says so (``security: []``)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            statuses = {int(s) for s in operation.get("responses", {})
                        if str(s).isdigit() and int(s) >= 400}
            authenticated = _calls(route.dependant, caller)
            if authenticated:
                statuses |= {401, 403, 503} | ({409} if method in _WRITES else set())
            else:
                operation["security"] = []
            if route.dependant.path_params:
                statuses.add(404)
            if "requestBody" in operation:
                statuses |= {413, 422}
            if operation.get("parameters"):
                statuses.add(422)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                # A route's own description stands, except FastAPI's generic 422 one.
                declared = responses.get(str(status), {}).get("description")
                if status == 422 or not declared:
                    declared = MEANINGS.get(status, "")
                responses[str(status)] = {"description": declared, "content": content}
                if status == 503:
                    responses[str(status)]["headers"] = {"Retry-After": {
                        "description": "seconds to wait before retrying",
                        "schema": {"type": "integer"}}}
    # FastAPI's own 422 body, which no answer has: drop it once nothing refers to it.
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            components.pop(name, None)


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


#: renders an error as a page of the workbench when the request was for one (else None):
#: ``(request, status, code, error)``; the error is None for errors quanze did not raise
PageErrors = Callable[[Request, int, str, QuanzeError | None], Response | None]


def install(app: FastAPI, pages: PageErrors | None = None) -> None:
    """Every error as problem+json; with ``pages``, an error on a page of the workbench (a
    path outside the API) as a page in Chinese instead."""

    def as_page(request: Request, response: Response,
                exc: QuanzeError | None = None) -> Response:
        if pages is None:
            return response
        code = json.loads(bytes(response.body)).get("code", "error")
        page = pages(request, response.status_code, code, exc)
        return response if page is None else page

    @app.exception_handler(QuanzeError)
    async def _quanze(request: Request, exc: QuanzeError) -> Response:
        extra: dict[str, Any] = {"context": {k: v for k, v in exc.context.items()
                                             if _is_plain(v)}}
        if "field" in exc.context:
            extra["field"] = exc.context["field"]
        if isinstance(exc, BundleInvalid):
            extra["problems"] = [p.as_dict() for p in exc.problems]
            # Unknown codes in a request are 422 naming the field (contract.md): the first
            # problem's field stands for the whole, as for a validation error.
            named = [p.field for p in exc.problems if p.field]
            if named and "field" not in extra:
                extra["field"] = named[0]
        response = problem(exc.status, exc.code, exc.message, **extra)
        if exc.status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER)
        return as_page(request, response, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field_of(e.get("loc", ())), "message": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] or "(body)" for e in errors}))
        return as_page(request, problem(422, "invalid_request", f"invalid request: {fields}",
                                        field=errors[0]["field"] if errors else None,
                                        errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (bytes that are not UTF-8): the
            # same 422 as for JSON that does not parse, here and on the routes that read
            # their body themselves (/v1/route, /v1/bundle).
            return as_page(request, problem(422, "invalid_json",
                                            "the body is not JSON text (UTF-8)"))
        code = getattr(exc, "code", None) or {
            404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
            401: "unauthorized", 403: "forbidden"}.get(exc.status_code, "http_error")
        return as_page(request, problem(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        # A lost or refused connection (or a pool that cannot hand one out) is an outage the
        # client can retry; anything else the driver raised is an unexpected error.
        if exc.connection_invalidated or _is_outage(exc):
            return as_page(request, _unavailable(exc))
        return as_page(request, _internal(request, exc))

    @app.exception_handler(DisconnectionError)
    async def _disconnected(request: Request, exc: DisconnectionError) -> Response:
        return as_page(request, _unavailable(exc))

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> Response:
        return as_page(request, _unavailable(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client closed its connection while its body was being read (a load balancer's
        # timeout, a client stopped mid-request): nothing was done and nobody is listening.
        # It was logged as an unexpected error with its traceback.
        log.info("client disconnected before its request was read: %s %s",
                 request.method, request.url.path)
        return problem(400, "client_disconnected", "the client closed the connection")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return as_page(request, _internal(request, exc))


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
