"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jurisdiction.errors import BundleInvalid, QuanzeError

PROBLEM = "application/problem+json"
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


def install(app: FastAPI) -> None:
    @app.exception_handler(QuanzeError)
    async def _quanze(request: Request, exc: QuanzeError) -> JSONResponse:
        extra: dict[str, Any] = {"context": {k: v for k, v in exc.context.items()
                                             if isinstance(v, str | int | float | bool)}}
        if "field" in exc.context:
            extra["field"] = exc.context["field"]
        if isinstance(exc, BundleInvalid):
            extra["problems"] = [p.as_dict() for p in exc.problems]
        return problem(exc.status, exc.code, exc.message, **extra)

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
