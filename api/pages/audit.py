"""审计日志: the audit log to read — newest first, paged, filtered by person, object, action
and date; each entry links to the page of what it changed; the hash chain's state on top.

The chain's state is checked incrementally (:class:`arbitration.audit.ChainCache`, one per
app): a view checks only the entries added since the last one, and the whole chain again
hourly or when asked (``verify=full``), in the background when the log is long; checking
all of a 100,000-entry log on every view took 6.5-9 s.

Who may read it: the district office (admin, arbiter) and auditors (viewer). A unit's
clerk, the hotline and catalogue editors are refused: the log names every unit's work."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.pages.web import StaffDep, error_page, render, services_of
from arbitration import audit

router = APIRouter(include_in_schema=False)

#: the roles that may read the log (an auditor signs in as a viewer)
READERS = ("admin", "arbiter", "viewer")
PAGE = 50
REFUSED = "审计日志仅供区政府办公室（管理员、裁定员）和审计人员查看。"

#: where an entry's subject has a page of its own: kind -> path prefix
SUBJECT_PAGES = {"dispute": "/disputes/", "rule": "/catalogue/rules/", "ruling": "/rulings/",
                 "ticket": "/tickets/"}
#: the object kinds offered in the filter, as prefixes of the subject
SUBJECT_KINDS = ("dispute", "ticket", "ruling", "rule", "ruleset", "user", "key", "policy")


def link_of(subject: str) -> str | None:
    """The page of an entry's subject, where one exists.

    >>> link_of("dispute:DSP-1"), link_of("ruleset:7")
    ('/disputes/DSP-1', None)
    """
    kind, _, ident = subject.partition(":")
    prefix = SUBJECT_PAGES.get(kind)
    return prefix + ident if prefix and ident else None


def _chain_cache(request: Request) -> audit.ChainCache:
    """The app's cache of the chain's verification, made on first use."""
    state = request.app.state
    cache: audit.ChainCache | None = getattr(state, "audit_chain_cache", None)
    if cache is None:
        cache = state.audit_chain_cache = audit.ChainCache()
    return cache


def _facets(request: Request, conn: Any, head: int) -> dict[str, list[str]]:
    """The actors and actions for the filters, kept per app and extended by the entries
    added since (a DISTINCT over 100,000 entries took 370 ms per view)."""
    state = request.app.state
    known: tuple[int, dict[str, list[str]]] | None = getattr(state, "audit_facets", None)
    if known is None or known[0] > head:
        facets = audit.log_facets(conn)
    elif known[0] == head:
        return known[1]
    else:
        new = audit.log_facets(conn, after=known[0])
        facets = {k: sorted(set(known[1][k]) | set(new[k])) for k in known[1]}
    state.audit_facets = (head, facets)
    return facets


def _day(value: str, tz: ZoneInfo, field: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), tzinfo=tz)
    except ValueError:
        errors[field] = "请按“年-月-日”填写日期，例如 2026-11-01。"
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, staff: StaffDep,
               actor: Annotated[str, Query(max_length=200)] = "",
               subject: Annotated[str, Query(max_length=200)] = "",
               action: Annotated[str, Query(max_length=60)] = "",
               start: Annotated[str, Query(alias="from", max_length=10)] = "",
               end: Annotated[str, Query(alias="to", max_length=10)] = "",
               before: Annotated[int | None, Query(ge=1)] = None,
               verify: Annotated[str, Query(max_length=10)] = "") -> HTMLResponse:
    """The log, newest first: ``actor`` exact, ``subject`` a prefix (``dispute:``), one
    ``action``, dates ``from`` / ``to`` (both days included), ``before`` an entry number
    (the next page); ``verify=full`` checks the whole chain now."""
    if staff.role not in READERS:
        return error_page(request, 403, REFUSED)
    services = services_of(request)
    tz = ZoneInfo(services.router.current().settings.timezone)
    errors: dict[str, str] = {}
    begin = _day(start, tz, "from", errors)
    finish = _day(end, tz, "to", errors)
    if finish is not None:
        finish += timedelta(days=1)
    if begin is not None and finish is not None and finish <= begin:
        errors["to"] = "结束日期不能早于开始日期。"
    cache = _chain_cache(request)
    state = cache.state(services.db, now=services.clock(), full=verify == "full")
    with services.db.connect() as conn:
        head = state.seq if state is not None else audit.head_of(conn)[0]
        facets = _facets(request, conn, head)
        page: dict[str, Any] = {"entries": [], "next": None}
        if not errors:
            page = audit.list_entries(conn, actor=actor or None, subject=subject or None,
                                      action=action or None, start=begin, end=finish,
                                      before=before, limit=PAGE)
    entries = [dict(e, link=link_of(e["subject"]),
                    kind=e["subject"].partition(":")[0]) for e in page["entries"]]
    return render(request, "audit.html", status_code=422 if errors else 200, title="审计日志",
                  entries=entries, next=page["next"], state=state,
                  checking=cache.checking, head=head,
                  actors=facets["actors"], actions=facets["actions"],
                  kinds=SUBJECT_KINDS, errors=errors,
                  filters={"actor": actor, "subject": subject, "action": action,
                           "from": start, "to": end})
