"""What every page of the workbench shares: templates, Chinese dates, the signed-in person,
CSRF, and errors as pages.

Pages are server-rendered (Jinja2) and call the same functions as the API; a page handler
only reads the form, calls them and renders. Handlers are plain ``def``: FastAPI runs them
in its thread pool, so the database calls they make never block the event loop."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api import zh
from api.deps import Services
from api.staff import IDLE_MINUTES, SESSION_COOKIE, Staff, session_staff
from jurisdiction.errors import Forbidden, QuanzeError

HERE = Path(__file__).parent
#: the sign-in form's CSRF token (double submit: cookie and hidden field) before a session
SIGNIN_COOKIE = "quanze_signin"
WEEKDAYS = "一二三四五六日"

templates = Jinja2Templates(directory=HERE / "templates")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _local(moment: datetime | str, tz: str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def cn_date(moment: datetime | str | None, tz: str = "Asia/Shanghai") -> str:
    """``2026年12月1日 星期二`` in the district's time zone (Beijing time).

    >>> cn_date("2026-11-30T18:00:00+00:00")
    '2026年12月1日 星期二'
    """
    return "—" if moment is None or moment == "" else zh.format_time(_local(moment, tz).date())


def cn_time(moment: datetime | str | None, tz: str = "Asia/Shanghai") -> str:
    """``2026年12月1日 星期二 10:00`` in the district's time zone (Beijing time).

    >>> cn_time("2026-12-01T02:00:00+00:00")
    '2026年12月1日 星期二 10:00'
    """
    return "—" if moment is None or moment == "" else zh.format_time(_local(moment, tz))


templates.env.filters["cn_date"] = cn_date
templates.env.filters["cn_time"] = cn_time
templates.env.globals["role_names"] = zh.ROLE


# -- who is signed in ----------------------------------------------------------------------------


class SignInRequired(Exception):
    """No session, or it ended: the page answers with the sign-in form (a redirect)."""

    def __init__(self, next_url: str, expired: bool) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.expired = expired


def _here(request: Request) -> str:
    url = request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def signed_in(request: Request) -> Staff:
    """The person signed in, or :class:`SignInRequired` (a redirect to the sign-in page;
    when a cookie was sent, its session has ended: 登录已过期)."""
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    staff = None
    if token:
        with services.db.begin() as conn:
            staff = session_staff(conn, token, now=services.clock())
    if staff is None:
        raise SignInRequired(_here(request) if request.method == "GET" else "/",
                             expired=bool(token))
    request.state.staff = staff
    return staff


StaffDep = Annotated[Staff, Depends(signed_in)]


def checked_form(request: Request, staff: StaffDep,
                 csrf_token: Annotated[str, Form(max_length=200)] = "") -> Staff:
    """The person posting a form, once the form's CSRF token matched their session's (403
    ``csrf_failed`` otherwise: a page of another site cannot post in their name)."""
    if not secrets.compare_digest(csrf_token.encode(), staff.csrf_token.encode()):
        raise Forbidden("the form's security token is missing or stale", code="csrf_failed")
    return staff


FormStaffDep = Annotated[Staff, Depends(checked_form)]


def safe_next(url: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``) is followed after signing in.

    >>> safe_next("/disputes?status=open"), safe_next("https://evil.example/"), safe_next("//x")
    ('/disputes?status=open', '/', '/')
    """
    if not url:
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//") \
            or "\\" in url:
        return "/"
    return url


def sign_in_redirect(exc: SignInRequired) -> RedirectResponse:
    target = "/login?next=" + quote(exc.next_url, safe="")
    if exc.expired:
        target += "&expired=1"
    return RedirectResponse(target, status_code=303)


# -- rendering -----------------------------------------------------------------------------------


@dataclass
class FormErrors:
    """Messages in Chinese beside the fields they concern, and one for the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


#: the navigation: (label, path, roles that see it; empty for everyone)
NAVIGATION: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("争议队列", "/disputes", ()),
    ("本单位工单", "/tickets", ("unit",)),
    ("待审退单", "/returns", ("router", "admin")),
    ("派单目录", "/catalogue", ()),
    ("变更审核", "/changesets", ("editor", "admin")),
    ("责任图谱", "/graphs", ()),
    ("统计", "/statistics", ()),
    ("审计日志", "/audit", ()),
)


#: on every page: not cached (it shows one person's work), not framed by another site
#: (clickjacking a 确认裁定 button), no content-type guessing, no address leaking to others
#: and only this server's scripts run: no inline script, no eval (the in-browser Graphviz
#: compiles WebAssembly), nothing loaded from elsewhere (offline networks, and injection)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY}


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page, with what the layout needs: the person, the navigation, the district's
    time zone and name."""
    services = services_of(request)
    staff: Staff | None = getattr(request.state, "staff", None)
    matrix = services.router.current()
    nav = [(label, path) for label, path, roles in NAVIGATION
           if not roles or (staff is not None and staff.role in roles)]
    j = matrix.jurisdiction

    def category_name(code: str | None) -> str:
        """A category by its path of names, top level first: 城乡建设 › 违法建设."""
        if code is None:
            return "—"
        if code not in j.categories:
            return code
        # category_path is nearest first: reversed, it reads from the top level down.
        return " › ".join(j.categories[c].name for c in reversed(j.category_path(code)))

    def area_name(code: str | None) -> str:
        if code is None:
            return "—"
        return j.areas[code].name if code in j.areas else code

    def unit_name(code: str | None) -> str:
        if code is None:
            return "—"
        if code == "@territorial":
            return "属地街乡"
        return j.units[code].name if code in j.units else code

    def query_with(**changes: str) -> str:
        params = dict(request.query_params)
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v})

    base = {"staff": staff, "nav": nav, "path": request.url.path,
            "tz": matrix.settings.timezone, "units": j.units, "now": services.clock(),
            "category_name": category_name, "area_name": area_name, "unit_name": unit_name,
            "query_with": query_with, "label": label}
    response = templates.TemplateResponse(request, template, {**base, **context},
                                           status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


STATUS_TITLES: Mapping[int, str] = {
    400: "请求有误", 401: "需要登录", 403: "无权访问", 404: "未找到", 405: "不支持的操作",
    409: "操作冲突", 413: "内容过大", 422: "填写有误", 500: "系统内部错误", 503: "服务暂不可用"}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error shown as a page of the workbench, in Chinese."""
    return render(request, "error.html", status_code=status,
                  title=STATUS_TITLES.get(status, "出错了"), message=message)


def label(kind: str, value: str | None) -> str:
    """The Chinese name of an enumerated value (a dispute status, an event type …)."""
    return "—" if value is None else zh.label(kind, value)


def message_of(exc: QuanzeError, request: Request | None = None) -> str:
    """The error in Chinese, for the person reading the page (units by their names)."""
    names = None
    if request is not None:
        units = services_of(request).router.current().jurisdiction.units
        names = {code: unit.name for code, unit in units.items()}
    return zh.message(exc, names=names)


__all__ = ["IDLE_MINUTES", "FormErrors", "FormStaffDep", "StaffDep", "checked_form", "cn_date",
           "cn_time", "error_page", "message_of", "render", "safe_next", "signed_in"]
