"""Tickets on the workbench: a unit clerk's 本单位工单 (sign in, request a return inside the
window, complete), and the hotline's 待审退单 (uphold or reject a return), 改派 and closing a
ticket as out of scope.

Every action posts the same event as ``POST /v1/tickets/{id}/events``, through the same
checks (:func:`api.routes.tickets.ticket_event_writer`); a button is offered only where that
event would be taken (:func:`api.routes.tickets.may_post`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Caller
from api.pages import units as unit_names
from api.pages.web import (
    FormErrors,
    FormStaffDep,
    StaffDep,
    message_of,
    render,
    services_of,
)
from api.routes.tickets import (
    TicketEventCreate,
    may_post,
    ticket_event_writer,
    write_transaction,
)
from api.staff import Staff
from arbitration import service
from arbitration.tickets import OUT_OF_SCOPE_OUTCOMES, Event, EventType, TicketStatus
from jurisdiction.errors import NotFound, QuanzeError
from rules.store import Matrix

router = APIRouter(include_in_schema=False)

#: the page's actions and the event each posts
ACTIONS: Mapping[str, EventType] = {
    "sign": EventType.SIGNED, "return": EventType.RETURN_REQUESTED,
    "complete": EventType.COMPLETED, "uphold": EventType.RETURN_UPHELD,
    "reject": EventType.RETURN_REJECTED, "reassign": EventType.REASSIGNED,
    "close": EventType.CLOSED_OUT_OF_SCOPE,
}
#: what the next page says after each action succeeded
DONE: Mapping[str, str] = {
    "sign": "已签收该工单。", "return": "退单申请已提交，等待热线中心审核。",
    "complete": "该工单已办结。", "uphold": "已同意退单。", "uphold_reassign": "已同意退单并改派。",
    "reject": "已驳回退单，工单退回原单位继续办理。", "reassign": "已改派。",
    "close": "该工单已按非受理范围办结。",
}
#: how the routing decision placed the ticket (rules.model.Status)
DECISION_STATUS: Mapping[str, str] = {
    "routed": "按派单规则", "fallback": "无规则匹配，按兜底顺序",
    "ambiguous": "规则冲突，已发起争议", "unrouted": "未能派单，由热线中心暂管"}
#: the forms' fields by name, as a message about them says it
FIELD_LABELS: Mapping[str, str] = {
    "reason_code": "退单原因", "basis": "依据", "proposed_unit": "建议承办单位",
    "to_unit": "改派单位", "note": "说明", "outcome": "办结方式"}

Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]


def _own(staff: Staff) -> str | None:
    """The unit whose tickets a unit clerk sees; None for the roles that see all."""
    return staff.unit if staff.role == "unit" else None


def _offers(caller: Caller, staff: Staff, matrix: Matrix, view: service.TicketView,
            now: datetime) -> dict[str, bool]:
    """Which actions the page offers: those whose event the caller could post now."""
    policy = view.policy
    hotline = matrix.settings.hotline_office
    reason = next(iter(policy.reason_codes), "other")
    probes: dict[str, Event] = {
        "uphold": Event(EventType.RETURN_UPHELD, now),
        "reject": Event(EventType.RETURN_REJECTED, now),
        # any unit but the owner: whether the ticket may be dispatched again at all
        "reassign": Event(EventType.REASSIGNED, now, to_unit="\x00"),
        "close": Event(EventType.CLOSED_OUT_OF_SCOPE, now, unit=hotline, outcome="informed",
                       basis="—"),
    }
    if staff.role == "unit" and staff.unit is not None:
        probes = {
            "sign": Event(EventType.SIGNED, now, unit=staff.unit),
            "return": Event(EventType.RETURN_REQUESTED, now, unit=staff.unit,
                            reason_code=reason, basis="—"),
            "complete": Event(EventType.COMPLETED, now, unit=staff.unit),
        }
    return {action: may_post(caller, matrix, view, event) for action, event in probes.items()}


def _ticket_page(request: Request, staff: Staff, ticket_id: str, *, status_code: int = 200,
                 errors: Mapping[str, FormErrors] | None = None,
                 values: Mapping[str, Mapping[str, str]] | None = None) -> HTMLResponse:
    services = services_of(request)
    matrix = services.router.current()
    now = services.clock()
    with services.db.connect() as conn:
        view = service.ticket_view(conn, ticket_id, matrix, unit=_own(staff))
    ticket = view.document
    deadline = ticket.get("return_deadline")
    passed = deadline is not None and datetime.fromisoformat(deadline) < now
    done = DONE.get(request.query_params.get("done", ""))
    return render(request, "ticket.html", status_code=status_code,
                  title=f"工单 {ticket_id}", ticket=ticket, events=view.events,
                  decision=view.decision, offers=_offers(staff.caller, staff, matrix, view, now),
                  deadline_passed=passed, reasons=dict(view.policy.reason_codes),
                  outcomes=OUT_OF_SCOPE_OUTCOMES, own=_own(staff),
                  decision_statuses=DECISION_STATUS,
                  hotline=matrix.settings.hotline_office, notice=done,
                  errors=errors or {}, values=values or {})


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(request: Request, staff: StaffDep,
                status: Annotated[str, Query(max_length=20)] = "",
                unit: Annotated[str, Query(max_length=64)] = "",
                after: Annotated[str, Query(max_length=400)] = "") -> HTMLResponse:
    """本单位工单: a unit clerk's tickets (held now or before), newest activity first; the
    other roles see every ticket, with a unit filter."""
    services = services_of(request)
    matrix = services.router.current()
    own = _own(staff)
    with services.db.connect() as conn:
        page = service.list_tickets(conn, unit=own or unit or None, status=status or None,
                                    matrix=matrix, now=services.clock(), limit=50,
                                    after=after or None)
    units = sorted(matrix.jurisdiction.units.values(), key=lambda u: (str(u.kind), u.name))
    return render(request, "tickets.html", title="本单位工单" if own else "工单",
                  tickets=page["tickets"], next=page["next"], statuses=list(TicketStatus),
                  unit_choices=units, own=own, filters={"status": status, "unit": unit})


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, staff: StaffDep,
                ticket_id: Annotated[str, Path(min_length=1, max_length=100)]) -> HTMLResponse:
    """The ticket: its matter, text, routing, path, events and return window; the actions
    the signed-in person may take on it."""
    return _ticket_page(request, staff, ticket_id)


def _returns_page(request: Request, staff: Staff, *, status_code: int = 200,
                  errors: Mapping[str, FormErrors] | None = None,
                  values: Mapping[str, Mapping[str, str]] | None = None,
                  after: str = "") -> HTMLResponse:
    staff.caller.require("router")
    services = services_of(request)
    matrix = services.router.current()
    with services.db.connect() as conn:
        page = service.list_tickets(conn, status=str(TicketStatus.RETURN_PENDING),
                                    matrix=matrix, now=services.clock(), limit=50,
                                    after=after or None, oldest_first=True)
        reasons = dict(service.load_policy(conn).reason_codes)
    done = DONE.get(request.query_params.get("done", ""))
    return render(request, "returns.html", status_code=status_code, title="待审退单",
                  tickets=page["tickets"], next=page["next"], reasons=reasons, notice=done,
                  errors=errors or {}, values=values or {})


@router.get("/returns", response_class=HTMLResponse)
def returns(request: Request, staff: StaffDep,
            after: Annotated[str, Query(max_length=400)] = "") -> HTMLResponse:
    """待审退单: the returns awaiting the hotline's review, the longest waiting first."""
    return _returns_page(request, staff, after=after)


def _bodies(action: str, staff: Staff, matrix: Matrix, form: Mapping[str, str],
            errors: FormErrors) -> list[TicketEventCreate]:
    """The events an action posts (同意退单 with 改派至 posts two), from the form; a unit
    the service cannot be given, or a field only the page asks for, goes to ``errors``."""
    units = matrix.jurisdiction.units
    resolved: dict[str, str | None] = {}
    for name in ("proposed_unit", "to_unit"):
        typed = form.get(name, "")
        try:
            resolved[name] = unit_names.resolve(units, typed) if typed.strip() else None
        except unit_names.UnitNotResolved as exc:
            errors.fields[name] = exc.message
    note = form.get("note", "").strip() or None
    basis = form.get("basis", "").strip() or None
    kind = ACTIONS[action]
    if action == "reject" and note is None:
        # the hotline says why: the unit must keep a ticket it believes is not its own
        errors.fields["note"] = "请填写驳回理由。"
    if errors:
        return []
    body: dict[str, Any] = {"type": str(kind), "note": note}
    if action in ("sign", "return", "complete"):
        body["unit"] = staff.unit
    if action == "return":
        body.update(reason_code=form.get("reason_code") or None, basis=basis,
                    proposed_unit=resolved["proposed_unit"])
    elif action == "reassign":
        body["to_unit"] = resolved["to_unit"]
    elif action == "close":
        body.update(unit=matrix.settings.hotline_office, outcome=form.get("outcome") or None,
                    basis=basis)
    bodies = [TicketEventCreate.model_validate({k: v for k, v in body.items() if v is not None})]
    if action == "uphold" and resolved["to_unit"] is not None:
        bodies.append(TicketEventCreate.model_validate(
            {"type": str(EventType.REASSIGNED), "to_unit": resolved["to_unit"]}))
    return bodies


def _place(request: Request, exc: QuanzeError, form: Mapping[str, str],
           errors: FormErrors) -> None:
    """The error beside the form field it concerns (else above the form)."""
    field = str(exc.context.get("field") or "")
    if field in FIELD_LABELS:
        if not form.get(field, "").strip():
            errors.fields[field] = f"请填写{FIELD_LABELS[field]}。"
        else:
            errors.fields[field] = message_of(exc, request)
        return
    errors.general.append(message_of(exc, request))


@router.post("/tickets/{ticket_id}/{action}", response_class=HTMLResponse)
def act(request: Request, staff: FormStaffDep,
        ticket_id: Annotated[str, Path(min_length=1, max_length=100)],
        action: Annotated[str, Path(max_length=20)],
        reason_code: Short = "", basis: Text = "", proposed_unit: Short = "",
        to_unit: Short = "", note: Text = "", outcome: Short = "",
        back: Short = "") -> Response:
    """One action on a ticket (签收, 申请退单, 办结, 同意/驳回退单, 改派, 按非受理范围办结). On
    bad input the page comes back with the message beside the field and nothing written."""
    if action not in ACTIONS:
        raise NotFound(f"unknown action {action!r}", code="not_found")
    services = services_of(request)
    matrix = services.router.current()
    form = {"reason_code": reason_code, "basis": basis, "proposed_unit": proposed_unit,
            "to_unit": to_unit, "note": note, "outcome": outcome}
    on_returns = back == "returns"
    if staff.role == "unit":
        # a clerk acts only on tickets their unit holds or held: anything else is unknown
        with services.db.connect() as conn:
            service.ticket_view(conn, ticket_id, matrix, unit=staff.unit)
    errors = FormErrors()
    status = 422
    try:
        bodies = _bodies(action, staff, matrix, form, errors)
        if bodies:
            writes = [ticket_event_writer(services, staff.caller, ticket_id, b) for b in bodies]
            with write_transaction(services) as conn:
                for write in writes:
                    write(conn)
    except QuanzeError as exc:
        if exc.status in (403, 404):
            raise
        _place(request, exc, form, errors)
        status = exc.status
    if errors:
        key = f"{ticket_id}:{action}"
        if on_returns:
            return _returns_page(request, staff, status_code=status, errors={key: errors},
                                 values={key: form})
        return _ticket_page(request, staff, ticket_id, status_code=status,
                            errors={key: errors}, values={key: form})
    done = "uphold_reassign" if action == "uphold" and to_unit.strip() else action
    target = "/returns" if on_returns else f"/tickets/{ticket_id}"
    return RedirectResponse(f"{target}?done={done}", status_code=303)
