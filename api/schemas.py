"""Request and response schemas (pydantic), documented field by field for the OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Code = Field(min_length=1, max_length=64)


class RouteRequest(BaseModel):
    """One ticket to route (派单)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "ticket_id": "T20261126-0001", "category": "030101", "area": "110199001",
        "attributes": {"location_type": "residential_compound"}, "text": "小区内有人私搭乱建",
        "as_of": "2026-11-26T10:00:00+08:00"}]})

    ticket_id: str | None = Field(None, max_length=100,
                                  description="The hotline's ticket id (工单编号), if known.")
    category: str = Field(min_length=1, max_length=64,
                          description="Matter category code (事项分类), usually a leaf.")
    area: str | None = Field(None, min_length=1, max_length=64,
                             description="Area code where the matter is (community, township…).")
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Facts the rules may test (`when`), e.g. "
        "location_type. At most 64.")
    text: str = Field("", description="The citizen's words; rules with `text_any` test it. "
                      "At most 10,000 characters.")
    as_of: AwareDatetime | None = Field(
        None, description="The time the routing applies to (ISO 8601 with a zone); default "
        "now. Rules are taken as valid at this time.")


class UnitRef(BaseModel):
    code: str
    name: str
    kind: str


class RuleRef(BaseModel):
    id: str
    source: str
    basis: str
    revision: int
    ruling_id: str | None = None
    category: str
    area: str | None = None


class CandidateOut(BaseModel):
    rule_id: str
    outcome: Literal["won", "lost"]
    step: str = Field(description="won; category/area/when/text/validity (did not match); "
                      "role; departmental; specificity/authority/priority/recency/tie.")
    reason: str


class Explanation(BaseModel):
    summary: str
    fallback_step: str | None = Field(
        None, description="category_default | derived_default | territorial | hotline_office "
        "when no rule won.")
    tied_rules: list[str] = []
    candidates: list[CandidateOut]
    excluded_by_area: int = Field(0, description="Rules of the category path whose area "
                                  "scope excludes the ticket (not listed).")


class DecisionOut(BaseModel):
    """A routing decision (派单决定)."""

    decision_id: str
    ticket_id: str | None = None
    ruleset_version: int
    status: Literal["routed", "fallback", "ambiguous", "unrouted"]
    lead: UnitRef | None = Field(description="主办: the unit that leads (for `ambiguous`, the "
                                 "interim owner).")
    co_handlers: list[UnitRef] = Field(description="协办: units that assist.")
    rule: RuleRef | None
    explanation: Explanation
    dispute_id: str | None = None
    as_of: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tickets: list[RouteRequest] = Field(description="At most 1,000 tickets.")


class BatchOut(BaseModel):
    decisions: list[DecisionOut]


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["department", "township", "street", "community", "utility", "office"]


class AreaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    level: Literal["district", "township", "community", "grid"]
    parent: str | None = None
    unit: str | None = None


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = None
    departmental: bool = False
    default_unit: str | None = None


class RuleIn(BaseModel):
    """A rule of the matrix (contract.md, bundle rules)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    category: str = Code
    area: str | None = None
    when: dict[str, Any] = Field(default_factory=dict,
                                 description="attribute → value or list of allowed values")
    text_any: list[str] = Field(default_factory=list)
    lead: str = Field(description="unit code or @territorial")
    co_handlers: list[str] = Field(default_factory=list)
    basis: str = Field(min_length=1, description="依据: law, mandate or minutes")
    source: Literal["catalog", "ruling", "manual"] = "catalog"
    priority: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    note: str = ""


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None = None
    area: str | None = None
    when: dict[str, Any] | None = None
    text_any: list[str] | None = None
    lead: str | None = None
    co_handlers: list[str] | None = None
    basis: str | None = None
    source: Literal["catalog", "ruling", "manual"] | None = None
    priority: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    note: str | None = None


class ChangeOut(BaseModel):
    ruleset_version: int
    previous_version: int
    added: dict[str, int]
    changed: dict[str, int]
    retired: dict[str, int]
    unchanged: dict[str, int]
    ids: dict[str, dict[str, list[str]]]
