"""POST /v1/tickets/{id}/events, GET /v1/tickets/{id}; GET|PUT /v1/policy.

A write is one transaction: the history, the projection, any dispute it opens, the audit
entries and the Idempotency-Key record commit together or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from api.schemas import Instant
from arbitration import service
from arbitration.tables import idempotency_keys
from arbitration.tickets import CLIENT_EVENT_TYPES, Event, EventType, permits
from jurisdiction.errors import Conflict, Forbidden, InvalidInput, QuanzeError
from rules import admin
from rules.store import Matrix

router = APIRouter(prefix="/v1", tags=["tickets"])

Text = Field(None, max_length=4000)
Code = Field(None, min_length=1, max_length=64)


class TicketEventCreate(BaseModel):
    """Something that happened to a ticket (contract.md: Tickets, disputes and rulings)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "type": "return_requested", "unit": "D-CG", "at": "2026-11-23T11:00:00+08:00",
        "reason_code": "territory_mismatch", "basis": "《示范区街道履职事项清单》第12项",
        "proposed_unit": "JD-DH"}]})

    type: str = Field(description="dispatched | signed | return_requested | return_upheld | "
                      "return_rejected | reassigned | completed | closed_out_of_scope")
    unit: str | None = Field(None, min_length=1, max_length=64,
                             description="The unit dispatched to, signing, or returning.")
    at: Instant | None = Field(None, description="When it happened; default now.")
    reason_code: str | None = Field(None, max_length=40, description="Return reason (退单原因).")
    basis: str | None = Text
    proposed_unit: str | None = Code
    to_unit: str | None = Code
    note: str | None = Text
    tier: str | None = Field(None, max_length=40,
                             description="Return window tier of a dispatch (standard|complex).")
    category: str | None = Code
    area: str | None = Code
    outcome: str | None = Field(
        None, max_length=40, description="closed_out_of_scope only: informed (告知) | "
        "terminated (终止办理) | transferred (转其他渠道). Only the hotline office "
        "(settings.hotline_office) closes a ticket as out of scope; it ends the ticket.")


@contextlib.contextmanager
def write_transaction(services: Services) -> Iterator[Connection]:
    """One write transaction, queued on the app's write lock. Every audited write takes the
    audit chain's head row, so writes are serial in the database anyway; queueing them here
    first keeps a thread from holding that row lock while it waits for the GIL (measured on
    PostgreSQL: 84 events/s with the threads contending, the target 100/s with the queue)."""
    with services.write_lock, admin.write_transaction(services.db) as conn:
        yield conn


def check_units(matrix: Matrix, **codes: str | None) -> None:
    """Every named unit exists in the current matrix (else 422 naming the field)."""
    for field, code in codes.items():
        if code is not None and code not in matrix.jurisdiction.units:
            raise InvalidInput(f"unknown unit {code!r}", code="unknown_unit", field=field,
                               value=code)


def check_place(matrix: Matrix, category: str | None, area: str | None) -> None:
    if category is not None and category not in matrix.jurisdiction.categories:
        raise InvalidInput(f"unknown category {category!r}", code="unknown_category",
                           field="category", value=category)
    if area is not None and area not in matrix.jurisdiction.areas:
        raise InvalidInput(f"unknown area {area!r}", code="unknown_area", field="area",
                           value=area)


def _check_out_of_scope_caller(caller: Caller, event: Event, hotline_office: str | None) -> None:
    """A key bound to a unit closes a ticket as out of scope only if that unit is the hotline
    office (domain.md §5a: the hotline reviews and ends it)."""
    if event.type != EventType.CLOSED_OUT_OF_SCOPE or caller.unit is None:
        return
    if caller.unit != hotline_office:
        raise Forbidden(f"only the hotline office closes a ticket as out of scope; a key of "
                        f"{caller.unit} may not", code="forbidden", unit=caller.unit)


def _check_unit_caller(caller: Caller, event: Event, holder: str | None) -> None:
    """A unit key speaks only for its own unit: it signs, returns or completes its tickets
    (and, for the hotline office, closes them as out of scope)."""
    if caller.role != "unit":
        return
    if event.type == EventType.CLOSED_OUT_OF_SCOPE and event.unit == caller.unit:
        return  # the caller is the hotline office (_check_out_of_scope_caller)
    if event.type not in (EventType.SIGNED, EventType.RETURN_REQUESTED, EventType.COMPLETED):
        raise Forbidden(f"a unit key may not post {event.type} events", code="forbidden",
                        role=caller.role, type=str(event.type))
    if event.unit != caller.unit or (event.type == EventType.COMPLETED
                                     and holder != caller.unit):
        raise Forbidden(f"a key of {caller.unit} may only post events of its own unit "
                        "(name it in 'unit')", code="forbidden", unit=caller.unit)


# -- Idempotency-Key -----------------------------------------------------------------------------


def _fingerprint(scope: str, payload: Mapping[str, Any]) -> str:
    raw = json.dumps([scope, payload], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def stored_response(conn: Connection, key: str, scope: str,
                    digest: str) -> tuple[int, dict[str, Any]] | None:
    """The first answer given to ``key``; a key reused for another request is 422."""
    row = conn.execute(select(idempotency_keys)
                       .where(idempotency_keys.c.key == key)).mappings().first()
    if row is None:
        return None
    if row["scope"] != scope or row["request_hash"] != digest:
        raise InvalidInput("this Idempotency-Key was used for a different request",
                           code="idempotency_key_reused", field="Idempotency-Key")
    return row["status_code"], dict(row["response"])


def _idempotency(caller: Caller, header: str | None) -> str | None:
    if header is None:
        return None
    if not header.strip() or len(header) > 150:
        raise InvalidInput("Idempotency-Key must be 1–150 characters",
                           code="invalid_idempotency_key", field="Idempotency-Key")
    return f"{caller.key_id}:{header}"  # a key belongs to one caller


def idempotent(services: Services, caller: Caller, header: str | None, scope: str,
               payload: Mapping[str, Any], write: Any, status_code: int = 200) -> JSONResponse:
    """Run ``write(conn)`` once per Idempotency-Key: a retry with the same key and body gets
    the first answer, and nothing is applied again."""
    key = _idempotency(caller, header)
    digest = _fingerprint(scope, payload)
    try:
        with write_transaction(services) as conn:
            if key is not None:
                first = stored_response(conn, key, scope, digest)
                if first is not None:
                    return JSONResponse(first[1], status_code=first[0])
            document = write(conn)
            if key is not None:
                conn.execute(insert(idempotency_keys).values(
                    key=key, scope=scope, request_hash=digest, status_code=status_code,
                    response=document, created_at=services.clock()))
    except (IntegrityError, Conflict):
        # A concurrent request with the same key may have won the race: answer as it did.
        if key is None:
            raise
        with services.db.connect() as conn:
            first = stored_response(conn, key, scope, digest)
        if first is None:
            raise
        return JSONResponse(first[1], status_code=first[0])
    return JSONResponse(document, status_code=status_code)


# -- tickets ---------------------------------------------------------------------------------------


def _event(ticket_id: str, body: TicketEventCreate, now: datetime) -> Event:
    if body.type not in CLIENT_EVENT_TYPES:
        raise InvalidInput(f"unknown event type {body.type!r}; expected one of "
                           f"{', '.join(sorted(CLIENT_EVENT_TYPES))}",
                           code="invalid_event_type", field="type", type=body.type,
                           ticket_id=ticket_id)
    data = body.model_dump(exclude_none=True)
    data.setdefault("at", now)
    return Event.from_dict(data)


def ticket_event_writer(services: Services, caller: Caller, ticket_id: str,
                        body: TicketEventCreate) -> Callable[[Connection], dict[str, Any]]:
    """The checks and the write of a ticket event, shared by the API and the workbench: the
    caller's role and unit, the units and place named, then ``write(conn)`` — run it in one
    write transaction — applies the event and answers the ticket's state. Raises the checks'
    errors before anything is written."""
    caller.require("router", "unit")
    now = services.clock()
    event = _event(ticket_id, body, now)
    matrix = services.router.current()
    check_units(matrix, unit=event.unit, to_unit=event.to_unit,
                proposed_unit=event.proposed_unit)
    check_place(matrix, event.category, event.area)
    _check_out_of_scope_caller(caller, event, matrix.settings.hotline_office)

    def write(conn: Connection) -> dict[str, Any]:
        current = service.load_ticket(conn, ticket_id, for_update=True)
        nonlocal event
        _check_unit_caller(caller, event, current.holder if current else None)
        area = current.area if current is not None else event.area
        if current is None and event.category is None:
            routed = service.routing_context(conn, ticket_id)
            if routed is not None:
                event = Event.from_dict({**event.as_dict(), "category": routed["category"],
                                         "area": event.area or routed["area"]})
                area = event.area
        policy = service.load_policy(conn, service.district_of(matrix, area))
        state = service.record_ticket_event(
            conn, ticket_id=ticket_id, event=event, actor=caller.actor, now=now, policy=policy,
            territorial_unit=service.territorial_unit_of(matrix, area),
            hotline_office=matrix.settings.hotline_office)
        return service.ticket_document(state, matrix.jurisdiction.units, policy)

    return write


def may_post(caller: Caller, matrix: Matrix, view: service.TicketView, event: Event) -> bool:
    """Whether ``caller`` could post ``event`` to the ticket now: the same caller checks as
    :func:`ticket_event_writer` and the state machine's own (pages offer only these)."""
    try:
        caller.require("router", "unit")
        _check_out_of_scope_caller(caller, event, matrix.settings.hotline_office)
        _check_unit_caller(caller, event, view.state.holder)
        service.check_out_of_scope_closer(event, matrix.settings.hotline_office)
    except QuanzeError:
        return False
    return permits(view.state, event, view.policy, territorial_unit=view.territorial_unit)


@router.post("/tickets/{ticket_id}/events", summary="Record a ticket event (派单, 签收, 退单 …)")
def post_event(ticket_id: Annotated[str, Path(min_length=1, max_length=100)],
               body: TicketEventCreate, services: ServicesDep, caller: CallerDep,
               idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Applies the event to the ticket's history and answers the ticket's state. A return
    must come within the return window (working days); a dispatch back to a unit that
    returned the ticket (A → B → A), or past the bounce cap, opens a dispute and the interim
    owner holds the ticket. A retry with the same `Idempotency-Key` is applied once."""
    write = ticket_event_writer(services, caller, ticket_id, body)
    scope = f"POST /v1/tickets/{ticket_id}/events"
    return idempotent(services, caller, idempotency_key, scope,
                      body.model_dump(mode="json", exclude_unset=True), write)


@router.get("/tickets/{ticket_id}", summary="A ticket's state and history")
def get_ticket(ticket_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    matrix = services.router.current()
    with services.db.connect() as conn:
        return service.get_ticket(conn, ticket_id, matrix.jurisdiction.units, matrix)


# -- policy ----------------------------------------------------------------------------------


def _district(services: Services, district: str | None) -> str | None:
    if district is None:
        return None
    matrix = services.router.current()
    if district not in matrix.jurisdiction.areas:
        raise InvalidInput(f"unknown area {district!r}", code="unknown_area",
                           field="district", area_code=district)
    return matrix.jurisdiction.district_of(district)


@router.get("/policy", tags=["policy"], summary="The process rules of a district")
def get_policy(services: ServicesDep, caller: CallerDep,
               district: Annotated[str | None, Query(
                   description="An area code (its district's policy); default: the policy "
                   "of districts without their own.")] = None) -> dict[str, Any]:
    key = _district(services, district)
    with services.db.connect() as conn:
        return service.get_policy(conn, key)


@router.put("/policy", tags=["policy"], summary="Set the process rules of a district")
def put_policy(services: ServicesDep, caller: CallerDep,
               body: Annotated[dict[str, Any], Body(examples=[{
                   "bounce_cap": 3, "return_windows": {"standard": 1, "complex": 2},
                   "calendar": {"years": [2027], "holidays": ["2027-01-01"],
                                "working_days": []}}])],
               district: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """Return windows, sign-in windows, bounce cap, dispute deadlines, interim owner order,
    time zone and the calendar override (`calendar`: `years` it fully describes, `holidays`
    and `working_days` as `YYYY-MM-DD`, overriding the holiday library); fields left out take
    the built-in (Tianjin) values. Every value is checked for meaning (422 `invalid_policy`
    naming the field). Stored as a new revision: earlier tickets replay under the policy they
    were handled with; provisional dispute deadlines are counted again under it."""
    caller.require()
    key = _district(services, district)
    matrix = services.router.current()
    with write_transaction(services) as conn:
        return service.put_policy(conn, key, body, actor=caller.actor, now=services.clock(),
                                  matrix=matrix)
