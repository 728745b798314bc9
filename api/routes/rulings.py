"""Rulings (裁定): preview, rule (with write-back as a standing rule), read, list."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from arbitration import rulings
from arbitration.rulings import Generalize, RulingRequest

router = APIRouter(prefix="/v1", tags=["rulings"])


class GeneralizeIn(BaseModel):
    """The standing rule the ruling writes back (以制度形式固化)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64,
                          description="Category the rule covers (and its descendants).")
    area: str | None = Field(None, min_length=1, max_length=64,
                             description="Area scope (and its descendants); null: everywhere.")
    when: dict[str, str | int | float | bool | list[str | int | float | bool]] = Field(
        default_factory=dict, description="Attribute conditions, as in a rule.")
    text_any: list[str] = Field(default_factory=list, description="Keywords, as in a rule.")
    valid_from: AwareDatetime | None = Field(
        None, description="Default open: the rule also speaks to past tickets in a preview.")
    valid_to: AwareDatetime | None = None


class RulingIn(BaseModel):
    """A ruling on a dispute: who leads (主办), who assists (协办), why, on what basis."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "lead": "JD-HP", "co_handlers": ["D-ZJ"], "reasoning": "…", "basis": "…",
        "document_no": "示政办裁〔2026〕3号",
        "generalize": {"category": "030101", "area": "110199", "when": {}, "text_any": []},
        "retire_rules": []}]})

    lead: str = Field(min_length=1, max_length=64, description="Unit code or @territorial.")
    co_handlers: list[str] = Field(default_factory=list, max_length=32)
    reasoning: str = Field(min_length=1, max_length=10_000)
    basis: str = Field(min_length=1, max_length=2_000, description="依据")
    document_no: str = Field(min_length=1, max_length=100, description="文号")
    generalize: GeneralizeIn | None = None
    retire_rules: list[str] = Field(default_factory=list, max_length=500)
    supersedes: str | None = Field(None, min_length=1, max_length=40,
                                   description="The earlier ruling this one replaces.")
    plan_digest: str | None = Field(
        None, min_length=1, max_length=64,
        description="The preview's `plan_digest`: the ruling refuses (409 "
        "`ruling_plan_changed`) when its effects would differ from the preview's.")

    def to_request(self) -> RulingRequest:
        g = self.generalize
        return RulingRequest(
            lead=self.lead, co_handlers=tuple(self.co_handlers), reasoning=self.reasoning,
            basis=self.basis, document_no=self.document_no,
            generalize=None if g is None else Generalize(
                category=g.category, area=g.area, when=dict(g.when),
                text_any=tuple(g.text_any), valid_from=g.valid_from, valid_to=g.valid_to),
            retire_rules=tuple(self.retire_rules), supersedes=self.supersedes)


class WarningOut(BaseModel):
    code: str
    message: str
    field: str | None = None
    unit: str | None = None


class RulingOut(BaseModel):
    ruling_id: str
    dispute_id: str
    rule_id: str | None = None
    ruleset_version: int
    retired_rules: list[str]
    ticket_id: str | None = None
    lead: str
    supersedes: str | None = None
    open_tickets: list[dict[str, Any]] = Field(
        description="The open tickets re-dispatched: those the preview listed.")
    open_tickets_kept: list[dict[str, Any]] = Field(
        description="Open tickets the new rules route elsewhere that stay where they are.")
    warnings: list[WarningOut]
    plan_digest: str


def preview_as(services: Services, caller: Caller, dispute_id: str,
               request: RulingRequest) -> dict[str, Any]:
    """A ruling's preview for ``caller`` (the API's and the desk's one way in)."""
    caller.require("arbiter")
    return rulings.preview(services.db, services.router, dispute_id, request,
                           arbiter=caller.arbiter, now=services.clock())


def rule_as(services: Services, caller: Caller, dispute_id: str, request: RulingRequest,
            plan_digest: str | None) -> dict[str, Any]:
    """A ruling by ``caller`` (the API's and the desk's one way in)."""
    caller.require("arbiter")
    with writer(services):
        return rulings.rule_dispute(services.db, services.router, dispute_id, request,
                                    arbiter=caller.arbiter, actor=caller.actor,
                                    now=services.clock(), after=services.after_matrix_change,
                                    plan_digest=plan_digest)


@router.post("/disputes/{dispute_id}/ruling/preview", summary="Preview a ruling's impact")
def preview_ruling(dispute_id: str, body: RulingIn, services: ServicesDep,
                   caller: CallerDep) -> dict[str, Any]:
    """The stored decisions the ruling would have changed (those whose replay under the new
    rule-set version differs), the open tickets the ruling re-dispatches — exactly those —
    and those it leaves, the rules it outranks and those that still outrank it, and
    `warnings` (`{code, message}`; none blocks the ruling). Writes nothing."""
    return preview_as(services, caller, dispute_id, body.to_request())


@router.post("/disputes/{dispute_id}/ruling", response_model=RulingOut, status_code=201,
             summary="Rule on a dispute (裁定)")
def rule(dispute_id: str, body: RulingIn, services: ServicesDep,
         caller: CallerDep) -> dict[str, Any]:
    """Records the ruling, writes its rule back (a new rule-set version, in use at once),
    re-dispatches the open tickets its preview listed (the dispute's own to the ruled lead),
    closes the dispute — in one transaction. Only the arbiter holding the claim may rule
    (409 ``dispute_not_claimed``)."""
    return rule_as(services, caller, dispute_id, body.to_request(), body.plan_digest)


def writer(services: Services) -> contextlib.AbstractContextManager[Any]:
    """SQLite lets one writer in at a time and fails the others' snapshots; queue them here."""
    if services.db.dialect.name == "sqlite":
        return services.write_lock
    return contextlib.nullcontext()


@router.get("/rulings/{ruling_id}", summary="A ruling, its rule and lineage")
def get_ruling(ruling_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    matrix = services.router.current()
    with services.db.connect() as conn:
        return rulings.get_ruling(conn, ruling_id, matrix)


@router.get("/rulings", summary="Rulings, newest first")
def list_rulings(services: ServicesDep, caller: CallerDep,
                 category: str | None = Query(None, description="Includes categories below."),
                 dispute_id: str | None = None,
                 limit: int = Query(100, ge=1, le=500)) -> dict[str, Any]:
    matrix = services.router.current()
    with services.db.connect() as conn:
        items = rulings.list_rulings(conn, matrix, category=category, dispute_id=dispute_id,
                                     limit=limit)
    return {"items": items}
