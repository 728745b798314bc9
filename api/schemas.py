"""Request and response schemas (pydantic), documented field by field for the OpenAPI."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from jurisdiction.instants import FIRST_YEAR, LAST_YEAR, is_in_service_span

#: no control characters (PostgreSQL text cannot hold NUL; none belongs in an id or code)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Code = Field(min_length=1, max_length=64, pattern=PRINTABLE)


def _in_service_span(moment: datetime) -> datetime:
    if not is_in_service_span(moment):
        raise ValueError(f"must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


#: A time from outside (ISO 8601 with a zone) within the years quanze computes with: year 1
#: or 9999 overflowed the UTC conversions and answered 500.
Instant = Annotated[AwareDatetime, AfterValidator(_in_service_span)]
#: A time of a rule's validity: a naive one is read as Beijing time by the bundle reader.
RuleTime = Annotated[datetime, AfterValidator(_in_service_span)]

#: JSON's exact integers (what every JSON reader keeps without loss); a larger one broke the
#: response encoder (orjson stops at 64 bits) and answered 500.
SafeInt = Annotated[int, Field(ge=-(2**53), le=2**53)]


def _plain_value(value: bool | int | float | str) -> bool | int | float | str:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not -(2**53) <= value <= 2**53:
        raise ValueError("an integer must lie between -2**53 and 2**53")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


#: An attribute value a rule's `when` can test: a string, a boolean, an exact integer or a
#: finite number (NaN and infinities compare equal to nothing).
AttributeValue = Annotated[StrictBool | int | float | str, AfterValidator(_plain_value)]


class RouteRequest(BaseModel):
    """One ticket to route (派单)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "ticket_id": "T20261126-0001", "category": "030101", "area": "110199001",
        "attributes": {"location_type": "residential_compound"}, "text": "小区内有人私搭乱建",
        "as_of": "2026-11-26T10:00:00+08:00"}]})

    ticket_id: str | None = Field(None, max_length=100, pattern=PRINTABLE,
                                  description="The hotline's ticket id (工单编号), if known.")
    category: str = Field(min_length=1, max_length=64, pattern=PRINTABLE,
                          description="Matter category code (事项分类), usually a leaf.")
    area: str | None = Field(None, min_length=1, max_length=64, pattern=PRINTABLE,
                             description="Area code where the matter is (community, township…).")
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict, description="Facts the rules may test (`when`), e.g. "
        "location_type. At most 64.")
    text: str = Field("", description="The citizen's words; rules with `text_any` test it. "
                      "At most 10,000 characters.")
    as_of: Instant | None = Field(
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


IntakeCode = Literal["not_accepted", "transfer_110", "transfer_119", "transfer_120",
                     "transfer_122"]


class IntakeOut(BaseModel):
    """Why a request is not dispatched: its category's intake flag (受理口径)."""

    code: IntakeCode = Field(description="not_accepted (不予受理 by 12345) | transfer_110 | "
                             "transfer_119 | transfer_120 | transfer_122 (转110/119/120/122)")
    label: str = Field(description="The flag as staff read it, e.g. 转110（公安）.")
    category: str = Field(description="The category that carries the flag (the ticket's own "
                          "or an ancestor).")


class DecisionOut(BaseModel):
    """A routing decision (派单决定)."""

    decision_id: str
    ticket_id: str | None = None
    ruleset_version: int
    ruleset_digest: str | None = Field(None, description="SHA-256 of the rule-set version's "
                                       "content the decision was made by (null before 0008).")
    status: Literal["routed", "fallback", "ambiguous", "unrouted", "out_of_scope"] = Field(
        description="routed | fallback | ambiguous | unrouted; out_of_scope when the "
        "category carries an intake flag: then `lead` is null and `intake` says why.")
    lead: UnitRef | None = Field(description="主办: the unit that leads (for `ambiguous`, the "
                                 "interim owner; null for `out_of_scope`).")
    co_handlers: list[UnitRef] = Field(description="协办: units that assist.")
    rule: RuleRef | None
    explanation: Explanation
    dispute_id: str | None = None
    as_of: str
    intake: IntakeOut | None = Field(None, description="Only on `out_of_scope` decisions.")


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
    intake: IntakeCode | None = Field(
        None, description="Intake flag: not_accepted (not accepted by 12345) or transfer_110 "
        "| transfer_119 | transfer_120 | transfer_122. Routing reports it instead of a lead, "
        "for this category and every category under it.")


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
    priority: SafeInt = 0
    valid_from: RuleTime | None = None
    valid_to: RuleTime | None = None
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
    priority: SafeInt | None = None
    valid_from: RuleTime | None = None
    valid_to: RuleTime | None = None
    note: str | None = None


class ChangeOut(BaseModel):
    ruleset_version: int
    previous_version: int
    added: dict[str, int]
    changed: dict[str, int]
    retired: dict[str, int]
    unchanged: dict[str, int]
    ids: dict[str, dict[str, list[str]]]
    dry_run: bool = Field(False, description="True: nothing was written; this is what the "
                          "change would do.")
