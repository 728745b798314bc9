"""Change sets (变更草稿): catalogue changes drafted, checked, and published by a second person."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from arbitration import changesets
from arbitration.changesets import Person, Proposal
from jurisdiction.errors import InvalidInput, LimitExceeded

router = APIRouter(prefix="/v1", tags=["changesets"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: content types of a duty-list upload → the file suffix it is read as
UPLOAD_TYPES = {XLSX: ".xlsx", "text/csv": ".csv", "application/csv": ".csv"}


class ChangeSetIn(BaseModel):
    """A proposed catalogue change: rules to add or replace (full rule objects, as in a
    bundle) and rule ids to retire."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "小区内私搭乱建改由住建委主办",
        "rules": [{"id": "R-0301-01", "category": "0301", "lead": "D-ZJ",
                   "co_handlers": ["@territorial"], "basis": "区政府常务会议纪要第9号"}],
        "retire": []}]})

    title: str = Field(min_length=1, max_length=200)
    rules: list[dict[str, Any]] = Field(default_factory=list,
                                        max_length=changesets.MAX_RULES)
    retire: list[str] = Field(default_factory=list, max_length=changesets.MAX_RULES)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="Why it is rejected.")


def person(caller: Caller) -> Person:
    """The caller as the author or reviewer of a change set (identity: the key's id, or
    ``user:<id>`` for a person signed in)."""
    return Person(actor=caller.actor, identity=caller.key_id, role=caller.role)


@router.post("/changesets", status_code=201, summary="Draft a change set (变更草稿)")
def create_change_set(body: ChangeSetIn, services: ServicesDep,
                      caller: CallerDep) -> dict[str, Any]:
    """Checks every rule as an import would (422 naming the field; a change the engine
    could not serve is refused too), and stores the draft with the `verify` findings of the
    matrix as it would be, its impact (decisions of the last 90 days whose replay would
    change, open tickets whose lead would move, rules outranked) and its diff against the
    live matrix. Routing does not change until a second editor approves it."""
    proposal = Proposal.parse(body.model_dump())
    return changesets.draft(services.db, services.router, proposal, by=person(caller),
                            now=services.clock())


@router.post("/changesets/workbook", status_code=201,
             summary="Draft a change set from a duty-list file (.xlsx or .csv)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 XLSX: {"schema": {"type": "string", "format": "binary"}},
                 "text/csv": {"schema": {"type": "string"}}}}})
async def create_change_set_from_workbook(
        request: Request, services: ServicesDep, caller: CallerDep,
        title: str = Query(min_length=1, max_length=200),
        mode: Literal["merge", "replace"] = Query(
            "merge", description="replace: also retire the live catalogue rules the file "
            "does not name"),
        filename: str | None = Query(None, max_length=200,
                                     description="The file's name, for problem locations."),
) -> dict[str, Any]:
    """The file's rules that differ from the live matrix become the change set's rules
    (`mode=replace`: the live catalogue rules it lacks are retired); then as
    `POST /v1/changesets`. `notes` says what the file holds that a change set does not
    carry (units, areas, categories the live matrix lacks)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = UPLOAD_TYPES.get(kind)
    if suffix is None:
        raise InvalidInput("send the duty list as an .xlsx workbook or a .csv file "
                           f"(Content-Type {XLSX} or text/csv)", code="invalid_file",
                           field="content-type")
    raw = await request.body()
    limit = services.settings.max_body_bytes
    if len(raw) > limit:
        raise LimitExceeded(f"the file is larger than {limit} bytes", code="body_too_large",
                            limit=limit)
    name = filename if filename and filename.lower().endswith(suffix) else f"duty-list{suffix}"
    return await run_in_threadpool(_draft_from_file, services, caller, raw, name, title, mode)


def _draft_from_file(services: Services, caller: Caller, raw: bytes, name: str, title: str,
                     mode: str) -> dict[str, Any]:
    caller.require("editor")
    proposal, notes = changesets.proposal_from_duty_list(
        raw, name, services.router.current(), title=title, mode=mode)
    drafted = changesets.draft(services.db, services.router, proposal, by=person(caller),
                               now=services.clock(), source=name)
    return {**drafted, "notes": notes}


@router.get("/changesets", summary="Change sets, newest first")
def list_change_sets(services: ServicesDep, caller: CallerDep,
                     status: Literal["draft", "published", "rejected", "superseded"] | None
                     = None,
                     rule_id: str | None = Query(None, description="Those touching this rule."),
                     limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    with services.db.connect() as conn:
        items = changesets.list_change_sets(conn, status=status, rule_id=rule_id, limit=limit)
    return {"items": items}


@router.get("/changesets/{change_set_id}", summary="A change set with its checks and history")
def get_change_set(change_set_id: str, services: ServicesDep,
                   caller: CallerDep) -> dict[str, Any]:
    with services.db.connect() as conn:
        return changesets.get_change_set(conn, change_set_id)


@router.post("/changesets/{change_set_id}/approve",
             summary="Approve and publish a change set (a second person: 403 for its author)")
def approve_change_set(change_set_id: str, services: ServicesDep,
                       caller: CallerDep) -> dict[str, Any]:
    """Publishes the draft as a new rule-set version, in use at once; other drafts touching
    the same rules become `superseded`. 409 `change_set_stale` when the live matrix moved so
    that the change no longer applies as drafted."""
    return changesets.approve(services.db, services.router, change_set_id, by=person(caller),
                              now=services.clock(), after=services.after_matrix_change)


@router.post("/changesets/{change_set_id}/reject", summary="Reject a change set")
def reject_change_set(change_set_id: str, body: RejectIn, services: ServicesDep,
                      caller: CallerDep) -> dict[str, Any]:
    return changesets.reject(services.db, change_set_id, by=person(caller), reason=body.reason,
                             now=services.clock())
