"""Signing in and out, and the home page (each role's own start)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.pages.web import (
    SIGNIN_COOKIE,
    FormErrors,
    FormStaffDep,
    StaffDep,
    message_of,
    render,
    safe_next,
    services_of,
)
from api.staff import SESSION_COOKIE, SESSION_HOURS, sign_in, sign_out
from jurisdiction.errors import QuanzeError

router = APIRouter(include_in_schema=False)

#: where each role starts
HOME = {"unit": "/tickets", "router": "/returns"}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(request: Request, *, login: str = "", errors: FormErrors | None = None,
          status_code: int = 200, notice: str | None = None) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "signin.html", status_code=status_code, login=login,
                      errors=errors or FormErrors(), csrf=token, notice=notice,
                      next=safe_next(request.query_params.get("next")))
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    notice = "登录已过期，请重新登录。" if request.query_params.get("expired") else None
    return _form(request, notice=notice)


@router.post("/login", response_class=HTMLResponse)
def signin(request: Request, login: Annotated[str, Form(max_length=64)] = "",
           password: Annotated[str, Form(max_length=200)] = "",
           csrf_token: Annotated[str, Form(max_length=200)] = "",
           next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        return _form(request, login=login, status_code=403, errors=FormErrors(
            general=["页面已失效，请重新输入用户名和密码后登录。"]))
    errors = FormErrors()
    if not login.strip():
        errors.fields["login"] = "请填写用户名。"
    if not password:
        errors.fields["password"] = "请填写密码。"
    if errors:
        return _form(request, login=login, errors=errors, status_code=422)
    services = services_of(request)
    failure: QuanzeError | None = None
    with services.db.begin() as conn:
        try:
            staff, token = sign_in(conn, login.strip(), password, now=services.clock())
        except QuanzeError as exc:
            failure = exc  # the transaction commits: the failure count is kept
    if failure is not None:
        return _form(request, login=login, status_code=failure.status,
                     errors=FormErrors(general=[message_of(failure, request)]))
    response = RedirectResponse(safe_next(next) if next != "/" else HOME.get(staff.role, "/"),
                                status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=_secure(request), max_age=SESSION_HOURS * 3600, path="/")
    response.delete_cookie(SIGNIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def signout(request: Request, staff: FormStaffDep) -> Response:
    services = services_of(request)
    with services.db.begin() as conn:
        sign_out(conn, request.cookies.get(SESSION_COOKIE, ""), now=services.clock())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(staff: StaffDep) -> Response:
    return RedirectResponse(HOME.get(staff.role, "/disputes"), status_code=303)
