"""The arbitration queue: GET|POST /v1/disputes, GET /v1/disputes/{id}, statements, claims,
escalation; and the routing hook that opens a dispute for an ambiguous decision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from api.routes.tickets import check_place, check_units, write_transaction
from arbitration import service
from arbitration.tickets import Event, EventType
from jurisdiction.errors import Forbidden, InvalidInput, NotFound, QuanzeError
from rules.model import Decision, Ticket
from rules.service import get_decision, unit_ref
from rules.store import Matrix

router = APIRouter(prefix="/v1", tags=["disputes"])

Code = Field(None, min_length=1, max_length=64)


class DisputeCreate(BaseModel):
    """A dispute opened by hand (e.g. after a 会商 request)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "parties": ["D-CG", "JD-HP"], "ticket_id": "T20261126-0001",
        "note": "城管与街道对小区内违建的主办单位有分歧"}]})

    parties: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20, description="The units in dispute.")
    reason: str = Field("manual", description="manual | return | bounce | bounce_cap | "
                        "ambiguous")
    ticket_id: str | None = Field(None, max_length=100)
    category: str | None = Code
    area: str | None = Code
    interim_owner: str | None = Field(None, min_length=1, max_length=64, description=(
        "Who holds the ticket meanwhile; default the ticket's current holder."))
    decision_id: str | None = Field(None, max_length=40)
    note: str | None = Field(None, max_length=4000)


class StatementCreate(BaseModel):
    """A party's case (陈述)."""

    model_config = ConfigDict(extra="forbid")

    unit: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=10_000)
    basis: str | None = Field(None, max_length=4000)
    proposed_lead: str | None = Code


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arbiter: str | None = Field(None, max_length=200, description="Ignored: the arbiter is "
                                "the authenticated caller (its key's id; its name is shown).")


def _ref(matrix: Matrix, code: str | None) -> dict[str, str] | None:
    return unit_ref(matrix, code)


def _out(matrix: Matrix, dispute: dict[str, Any]) -> dict[str, Any]:
    """Unit references as {code, name, kind} objects."""
    out = dict(dispute)
    out["parties"] = [_ref(matrix, u) for u in dispute["parties"]]
    out["interim_owner"] = _ref(matrix, dispute.get("interim_owner"))
    out["statements"] = [{**s, "unit": _ref(matrix, s["unit"]),
                          "proposed_lead": _ref(matrix, s.get("proposed_lead"))}
                         for s in dispute.get("statements", [])]
    return out


def _subtree(codes: dict[str, Any], path_of: Callable[[str], tuple[str, ...]],
             code: str) -> set[str]:
    """``code``, its ancestors and its descendants."""
    related = set(path_of(code))
    related.update(c for c in codes if code in path_of(c))
    return related


def _similar(conn: Connection, matrix: Matrix, dispute: dict[str, Any]) -> list[dict[str, Any]]:
    j = matrix.jurisdiction
    category, area = dispute.get("category"), dispute.get("area")
    if category is None or category not in j.categories:
        return []
    categories = _subtree(dict(j.categories), j.category_path, category)
    areas = (_subtree(dict(j.areas), j.area_path, area)
             if area is not None and area in j.areas else None)
    found = service.similar_rulings(conn, categories=categories, areas=areas,
                                    exclude_dispute=dispute["id"])
    return [{**r, "lead": _ref(matrix, r["lead"]),
             "co_handlers": [_ref(matrix, c) for c in r["co_handlers"]]} for r in found]


# -- the queue -------------------------------------------------------------------------------


@router.get("/disputes", summary="The arbitration queue, soonest deadline first")
def list_disputes(services: ServicesDep, caller: CallerDep,
                  status: Annotated[str | None, Query(
                      description="open | under_review | ruled | withdrawn")] = None,
                  party: Annotated[str | None, Query(description="A unit code")] = None,
                  category: Annotated[str | None, Query(
                      description="A category code: it and its subtree")] = None,
                  overdue: bool | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  after: Annotated[str | None, Query(
                      description="The `next` cursor of the previous page")] = None,
                  ) -> dict[str, Any]:
    matrix = services.router.current()
    with services.db.connect() as conn:
        page = service.list_disputes(conn, status=status, party=party, category=category,
                                     overdue=overdue, now=services.clock(), limit=limit,
                                     after=after)
    return {"disputes": [_out(matrix, d) for d in page["disputes"]], "next": page["next"]}


@router.post("/disputes", status_code=201, summary="Open a dispute by hand")
def open_dispute(body: DisputeCreate, services: ServicesDep,
                 caller: CallerDep) -> dict[str, Any]:
    """Opens a dispute between `parties`; with a `ticket_id`, the ticket goes into dispute
    and its interim owner (by default its current holder) keeps it meanwhile."""
    caller.require("router", "arbiter")
    matrix = services.router.current()
    for i, code in enumerate(body.parties):
        check_units(matrix, **{f"parties.{i}": code})
    check_units(matrix, interim_owner=body.interim_owner)
    check_place(matrix, body.category, body.area)
    now = services.clock()
    with write_transaction(services) as conn:
        category, area, interim = body.category, body.area, body.interim_owner
        ticket = None
        if body.ticket_id is not None:
            ticket = service.load_ticket(conn, body.ticket_id)
            if ticket is None:
                # A reference in the body, not the resource of the path: 422 naming the
                # field (contract.md), like an unknown unit or category.
                raise InvalidInput(f"unknown ticket {body.ticket_id!r}",
                                   code="unknown_ticket", field="ticket_id",
                                   ticket_id=body.ticket_id)
            category, area = category or ticket.category, area or ticket.area
            interim = interim or ticket.holder
        policy = service.load_policy(conn, service.district_of(matrix, area))
        dispute_id = service.open_dispute_record(
            conn, reason=body.reason, parties=body.parties, ticket_id=body.ticket_id,
            category=category, area=area, interim_owner=interim, decision_id=body.decision_id,
            actor=caller.actor, now=now, policy=policy)
        if ticket is not None and body.ticket_id is not None:
            at = max(now, ticket.updated_at) if ticket.updated_at else now
            service.record_ticket_event(
                conn, ticket_id=body.ticket_id,
                event=Event(EventType.DISPUTE_OPENED, at, unit=interim, dispute_id=dispute_id,
                            note=body.note),
                actor=caller.actor, now=now, policy=policy,
                territorial_unit=service.territorial_unit_of(matrix, area))
        return _out(matrix, service.get_dispute(conn, dispute_id))


@router.post("/disputes/escalate", summary="Escalate overdue disputes")
def escalate(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Every open or claimed dispute past its stage deadline is escalated once per deadline
    (its `escalated` count goes up, and an `escalated` event names the stage)."""
    caller.require("arbiter")
    now = services.clock()
    with write_transaction(services) as conn:
        count = service.flag_overdue(conn, now, service.load_policy(conn))
    return {"escalated": count, "at": now.isoformat()}


def dispute_view(conn: Connection, matrix: Matrix, dispute_id: str, *,
                 ticket_decision: bool = False) -> dict[str, Any]:
    """Everything to rule on a dispute, as GET /v1/disputes/{id} answers and the desk's page
    shows: the dispute with its statements, the routing decision that opened it, the ticket
    (path and history) and similar past rulings. With ``ticket_decision``, a dispute that no
    decision opened (a bounce, a manual one) shows its ticket's newest routing decision."""
    dispute = service.get_dispute(conn, dispute_id)
    out = _out(matrix, dispute)
    decision_id = dispute["decision_id"]
    if decision_id is None and ticket_decision and dispute["ticket_id"] is not None:
        context = service.routing_context(conn, dispute["ticket_id"])
        decision_id = context["decision_id"] if context else None
    out["decision"] = get_decision(conn, decision_id)["response"] if decision_id else None
    out["ticket"] = None
    if dispute["ticket_id"] is not None:
        try:
            out["ticket"] = service.get_ticket(conn, dispute["ticket_id"],
                                               matrix.jurisdiction.units)
        except NotFound:
            out["ticket"] = None
    out["similar_rulings"] = _similar(conn, matrix, dispute)
    return out


@router.get("/disputes/{dispute_id}", summary="A dispute with everything to rule on it")
def get_dispute(dispute_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Both sides' statements, the routing explanation (the decision, when a routing tie
    opened it), the ticket's path and history, and similar past rulings (same category
    ancestry, same or related area)."""
    matrix = services.router.current()
    with services.db.connect() as conn:
        return dispute_view(conn, matrix, dispute_id)


def file_statement(services: Services, caller: Caller, dispute_id: str,
                   body: StatementCreate) -> dict[str, Any]:
    """A party's statement, by a clerk of that unit or an arbiter on its behalf (the API's
    and the desk's page's one way in)."""
    caller.require("unit", "arbiter")
    if caller.role == "unit" and body.unit != caller.unit:
        raise Forbidden(f"a key of {caller.unit} may only speak for its own unit",
                        code="forbidden", unit=caller.unit)
    matrix = services.router.current()
    check_units(matrix, proposed_lead=body.proposed_lead)
    with write_transaction(services) as conn:
        dispute = service.add_statement(conn, dispute_id, unit=body.unit, text=body.text,
                                        basis=body.basis, proposed_lead=body.proposed_lead,
                                        actor=caller.actor, now=services.clock())
        return _out(matrix, dispute)


def claim_as(services: Services, caller: Caller, dispute_id: str) -> dict[str, Any]:
    """The dispute claimed by ``caller`` as arbiter (the API's and the desk's one way in)."""
    caller.require("arbiter")
    matrix = services.router.current()
    now = services.clock()
    with write_transaction(services) as conn:
        state = service.load_dispute(conn, dispute_id)
        policy = service.load_policy(conn, service.district_of(matrix, state.area))
        dispute = service.claim_dispute(conn, dispute_id, caller.arbiter, now, policy)
        return _out(matrix, dispute)


@router.post("/disputes/{dispute_id}/statements", status_code=201,
             summary="A party's statement (陈述)")
def add_statement(dispute_id: str, body: StatementCreate, services: ServicesDep,
                  caller: CallerDep) -> dict[str, Any]:
    return file_statement(services, caller, dispute_id, body)


@router.post("/disputes/{dispute_id}/claim", summary="Take up a dispute for review")
def claim(dispute_id: str, services: ServicesDep, caller: CallerDep,
          body: ClaimRequest | None = None) -> dict[str, Any]:
    """The arbiter is the authenticated caller, identified by its key (a body's `arbiter` is
    ignored). Only one arbiter holds a dispute: a claim by another key, even of the same
    name, is 409 `dispute_claimed`. An arbiter whose key is bound to a party unit must stand
    aside (回避): 403 `conflict_of_interest`."""
    return claim_as(services, caller, dispute_id)


# -- the routing hook ------------------------------------------------------------------------


def on_decision(services: Services) -> Callable[..., dict[str, Any]]:
    """The hook :func:`api.routes.routing.record_many` calls before storing each decision: an
    ambiguous decision opens a dispute and names it in ``dispute_id``."""

    def hook(conn: Connection, document: dict[str, Any], decision: Decision, ticket: Ticket,
             actor: str, now: datetime) -> dict[str, Any]:
        if document.get("status") != "ambiguous":
            return document
        try:
            matrix = services.router.at_version(conn, int(document["ruleset_version"]))
        except QuanzeError:
            matrix = services.router.current()
        return service.open_ambiguous_dispute(conn, document, decision, ticket, matrix,
                                              actor=actor, now=now)

    return hook
