"""The staff workbench (权责工作台): server-rendered Chinese pages under ``/``, beside the API
under ``/v1``. Every asset is served from the package (``/static``): district networks are
often offline, and a page that loads from a CDN is blank there. ``/docs`` is Swagger UI from
the same vendored files."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.pages import audit, catalogue, changesets, desk, graphs, signin, statistics, tickets
from api.pages.web import HERE, SignInRequired, error_page, message_of, sign_in_redirect
from jurisdiction.errors import QuanzeError

#: paths that belong to the API and its documents: errors there stay problem+json
API_PREFIXES = ("/v1/", "/openapi.json", "/docs", "/static/")

#: what a person is told when the error is not one quanze raised on purpose
GENERIC = {404: "您要找的页面不存在。", 405: "不支持这样打开该页面。",
           413: "提交的内容过大。", 422: "提交的内容有误，请检查后重试。",
           500: "系统内部错误，已记录，请稍后重试或联系管理员。",
           503: "数据库暂时无法连接，请稍后重试。"}


def is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in API_PREFIXES)


def page_error(request: Request, status: int, code: str,
               exc: QuanzeError | None) -> Response | None:
    if not is_page(request):
        return None
    message = message_of(exc, request) if exc is not None else GENERIC.get(status, "请求无法完成。")
    return error_page(request, status, message)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for pages in (signin, desk, changesets, catalogue, graphs, statistics, audit, tickets):
        app.include_router(pages.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="quanze 接口文档",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # Swagger UI sends the document to validator.swagger.io unless told not to.
            swagger_ui_parameters={"validatorUrl": None})
