"""The arbitration desk (裁定台): the dispute queue, a dispute's page (争议详情) with 认领, the
ruling form (预览影响, 确认裁定) and 提交陈述, and a ruling's result. A unit's clerk sees only the
disputes their unit is a party to. Every action calls the function its API route calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import Connection

from api.pages.units import TERRITORIAL_NAME, UnitNotResolved, resolve, resolve_many, suggest
from api.pages.web import FormErrors, FormStaffDep, StaffDep, message_of, render, services_of
from api.routes.disputes import StatementCreate, claim_as, dispute_view, file_statement
from api.routes.rulings import preview_as, rule_as
from api.staff import Staff
from arbitration import rulings, service
from arbitration.disputes import DisputeStatus
from arbitration.rulings import Generalize, RulingRequest
from jurisdiction.errors import Conflict, Forbidden, NotFound, QuanzeError
from jurisdiction.model import Unit
from rules.model import TERRITORIAL

router = APIRouter(include_in_schema=False)


def category_choices(request: Request) -> list[tuple[str, str]]:
    """The first two levels of the category tree, for a filter: (code, indented name)."""
    j = services_of(request).router.current().jurisdiction
    out = []
    for code, category in sorted(j.categories.items()):
        depth = len(j.category_path(code))
        if depth <= 2:
            out.append((code, ("　" * (depth - 1)) + category.name))
    return out


@router.get("/disputes", response_class=HTMLResponse)
def queue(request: Request, staff: StaffDep,
          status: Annotated[str, Query(max_length=20)] = "",
          party: Annotated[str, Query(max_length=64)] = "",
          category: Annotated[str, Query(max_length=64)] = "",
          overdue: Annotated[str, Query(max_length=5)] = "",
          after: Annotated[str, Query(max_length=400)] = "") -> HTMLResponse:
    """争议队列: soonest deadline first, overdue marked; filters by status, party, category."""
    services = services_of(request)
    matrix = services.router.current()
    own = staff.unit if staff.role == "unit" else None
    with services.db.connect() as conn:
        page = service.list_disputes(
            conn, status=status or None, party=own or party or None,
            category=category or None, overdue=True if overdue == "1" else None,
            now=services.clock(), limit=50, after=after or None)
    units = matrix.jurisdiction.units
    parties = sorted(units.values(), key=lambda u: (str(u.kind), u.name))
    return render(request, "disputes.html", title="争议队列", disputes=page["disputes"],
                  next=page["next"], statuses=list(DisputeStatus), parties=parties,
                  categories=category_choices(request), own=own,
                  filters={"status": status, "party": party, "category": category,
                           "overdue": overdue})


# -- a dispute: what it is about, and settling it ------------------------------------------------

#: notices after a successful form (POST-redirect-GET): ?notice=<key>
NOTICES = {"claimed": "已认领该争议，请在期限内作出裁定。", "statement": "陈述已提交。",
           "ruled": "裁定已生效：派单规则已写入目录，相关工单已改派。"}
TEXT_LIMITS = {"reasoning": 10_000, "basis": 2_000, "document_no": 100}
RULING_FIELDS = {"lead": "lead", "co_handlers": "co_handlers", "reasoning": "reasoning",
                 "basis": "basis", "document_no": "document_no",
                 "generalize.category": "gen_category", "generalize.area": "gen_area",
                 "generalize": "gen_category", "retire_rules": "retire_rules",
                 "text_any": "gen_keywords"}
STATEMENT_FIELDS = {"unit": "st_unit", "text": "st_text", "basis": "st_basis",
                    "proposed_lead": "st_lead"}
KEYWORDS = re.compile(r"[、，,;；\s]+")
#: the biggest form field the desk reads at all (its own limits are smaller, with messages)
FORM_MAX = 40_000


def can_rule(staff: Staff) -> bool:
    return staff.role in ("arbiter", "admin")


def check_visible(conn: Connection, staff: Staff, dispute_id: str) -> None:
    """A unit's clerk sees only their unit's disputes: any other is "not found", as if it
    did not exist (``dispute_not_found``, the same as for an unknown id)."""
    parties = service.load_dispute(conn, dispute_id).parties
    if staff.role == "unit" and staff.unit not in parties:
        raise NotFound(f"unknown dispute {dispute_id!r}", code="dispute_not_found",
                       dispute_id=dispute_id)


def visible_dispute(conn: Connection, request: Request, staff: Staff,
                    dispute_id: str) -> dict[str, Any]:
    """The dispute as the page shows it, to whom may see it (:func:`check_visible`)."""
    check_visible(conn, staff, dispute_id)
    matrix = services_of(request).router.current()
    return dispute_view(conn, matrix, dispute_id, ticket_decision=True)


@dataclass
class RulingForm:
    """The ruling form as typed, and what it resolves to."""

    lead: str = ""
    lead_code: str = ""
    co_handlers: str = ""
    co_handler_codes: list[str] = field(default_factory=list)
    reasoning: str = ""
    basis: str = ""
    document_no: str = ""
    gen_category: str = ""
    gen_area: str = ""
    gen_keywords: str = ""
    retire_rules: list[str] = field(default_factory=list)
    plan_digest: str = ""

    def request(self, units: Mapping[str, Unit], errors: FormErrors) -> RulingRequest | None:
        """The ruling request, or None with ``errors`` filled (nothing is sent then)."""
        lead = ""
        if self.lead_code and (self.lead_code in units or self.lead_code == TERRITORIAL):
            lead = self.lead_code
        elif not self.lead.strip():
            errors.fields["lead"] = "请选择主办单位"
        else:
            try:
                lead = resolve(units, self.lead, territorial=True)
            except UnitNotResolved as exc:
                errors.fields["lead"] = exc.message
        co: list[str] = [c for c in self.co_handler_codes if c in units or c == TERRITORIAL]
        try:
            co += resolve_many(units, self.co_handlers, territorial=True)
        except UnitNotResolved as exc:
            errors.fields["co_handlers"] = exc.message
        co = [c for c in dict.fromkeys(co) if c != lead]
        if len(co) > 32:
            errors.fields["co_handlers"] = "协办单位最多32个"
        names = {"reasoning": "裁定理由", "basis": "依据", "document_no": "文号"}
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name).strip()
            if not value:
                errors.fields[name] = f"请填写{names[name]}"
            elif len(value) > limit:
                errors.fields[name] = f"{names[name]}不能超过{limit}字（现有{len(value)}字）"
        keywords = [k for k in KEYWORDS.split(self.gen_keywords) if k]
        if len(keywords) > 20 or any(len(k) > 50 for k in keywords):
            errors.fields["gen_keywords"] = "关键词最多20个，每个不超过50字"
        if len(self.retire_rules) > 500:
            errors.fields["retire_rules"] = "一次最多停用500条规则"
        if errors:
            return None
        generalize = (Generalize(category=self.gen_category, area=self.gen_area or None,
                                 text_any=tuple(keywords)) if self.gen_category else None)
        return RulingRequest(lead=lead, co_handlers=tuple(co), reasoning=self.reasoning.strip(),
                             basis=self.basis.strip(), document_no=self.document_no.strip(),
                             generalize=generalize, retire_rules=tuple(self.retire_rules))


def ruling_form(lead: Annotated[str, Form(max_length=FORM_MAX)] = "",
                lead_code: Annotated[str, Form(max_length=64)] = "",
                co_handlers: Annotated[str, Form(max_length=FORM_MAX)] = "",
                co_handler_codes: Annotated[list[str], Form()] = [],  # noqa: B006
                reasoning: Annotated[str, Form(max_length=FORM_MAX)] = "",
                basis: Annotated[str, Form(max_length=FORM_MAX)] = "",
                document_no: Annotated[str, Form(max_length=FORM_MAX)] = "",
                gen_category: Annotated[str, Form(max_length=64)] = "",
                gen_area: Annotated[str, Form(max_length=64)] = "",
                gen_keywords: Annotated[str, Form(max_length=FORM_MAX)] = "",
                retire_rules: Annotated[list[str], Form()] = [],  # noqa: B006
                plan_digest: Annotated[str, Form(max_length=64)] = "") -> RulingForm:
    return RulingForm(lead=lead, lead_code=lead_code, co_handlers=co_handlers,
                      co_handler_codes=[c for c in co_handler_codes if c][:100],
                      reasoning=reasoning, basis=basis, document_no=document_no,
                      gen_category=gen_category, gen_area=gen_area, gen_keywords=gen_keywords,
                      retire_rules=[r for r in retire_rules if r][:1000],
                      plan_digest=plan_digest)


RulingFormDep = Annotated[RulingForm, Depends(ruling_form)]


@dataclass
class StatementForm:
    st_unit: str = ""
    st_text: str = ""
    st_basis: str = ""
    st_lead: str = ""
    st_lead_code: str = ""


def statement_form(st_unit: Annotated[str, Form(max_length=64)] = "",
                   st_text: Annotated[str, Form(max_length=FORM_MAX)] = "",
                   st_basis: Annotated[str, Form(max_length=FORM_MAX)] = "",
                   st_lead: Annotated[str, Form(max_length=FORM_MAX)] = "",
                   st_lead_code: Annotated[str, Form(max_length=64)] = "") -> StatementForm:
    return StatementForm(st_unit, st_text, st_basis, st_lead, st_lead_code)


StatementFormDep = Annotated[StatementForm, Depends(statement_form)]


def _scopes(request: Request, dispute: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The written-back rule's choices: the dispute's category and those above it; the whole
    district or the dispute's area and the areas above it."""
    j = services_of(request).router.current().jurisdiction
    categories: list[tuple[str, str]] = []
    category = dispute.get("category")
    if isinstance(category, str) and category in j.categories:
        for code in reversed(j.category_path(category)):
            categories.append((code, " › ".join(j.categories[c].name
                                                for c in j.category_path(code)[1:])
                               or j.categories[code].name))
    areas: list[tuple[str, str]] = [("", "全区")]
    area = dispute.get("area")
    if isinstance(area, str) and area in j.areas:
        for code in reversed(j.area_path(area)):
            if j.areas[code].parent is not None:
                areas.append((code, j.areas[code].name))
    return {"categories": categories, "areas": areas}


def _candidates(dispute: Mapping[str, Any]) -> list[str]:
    decision = dispute.get("decision") or {}
    explanation = decision.get("explanation") or {}
    return [c["rule_id"] for c in explanation.get("candidates", [])]


def _page(request: Request, staff: Staff, dispute_id: str, *, status_code: int = 200,
          form: RulingForm | None = None, statement: StatementForm | None = None,
          errors: FormErrors | None = None, statement_errors: FormErrors | None = None,
          preview: Mapping[str, Any] | None = None, notice: str = "") -> HTMLResponse:
    services = services_of(request)
    with services.db.connect() as conn:
        dispute = visible_dispute(conn, request, staff, dispute_id)
    active = dispute["status"] in ("open", "under_review")
    deadline = dispute.get("stage_deadline")
    overdue = bool(active and deadline and services.clock() > datetime.fromisoformat(deadline))
    party_codes = [p["code"] for p in dispute["parties"] if p]
    holds = (dispute["status"] == "under_review"
             and dispute.get("arbiter_id") == staff.caller.key_id)
    scopes = _scopes(request, dispute)
    if form is None:
        form = RulingForm(gen_category=dispute.get("category") or "")
    if statement is None:
        statement = StatementForm(st_unit=staff.unit or "" if staff.role == "unit" else "")
    speaks_for = (party_codes if can_rule(staff)
                  else [staff.unit] if staff.role == "unit" and staff.unit in party_codes
                  else [])
    return render(request, "dispute.html", status_code=status_code,
                  title=f"争议 {dispute_id}", d=dispute, active=active, overdue=overdue,
                  can_rule=can_rule(staff), holds=holds, form=form, statement=statement,
                  errors=errors or FormErrors(), statement_errors=statement_errors or FormErrors(),
                  preview=preview, scopes=scopes, candidates=_candidates(dispute),
                  speaks_for=speaks_for if active else [], notice=notice)


def _field_of(exc: QuanzeError, fields: Mapping[str, str]) -> str | None:
    name = exc.context.get("field")
    if not isinstance(name, str):
        return None
    base = name.split("[")[0]
    return fields.get(name) or fields.get(base)


@router.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_page(request: Request, staff: StaffDep, dispute_id: str,
                 notice: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    """争议详情: the parties and their statements, the ticket's path and events, the routing
    explanation, similar past rulings; for the arbiter, 认领 and the ruling form."""
    return _page(request, staff, dispute_id, notice=NOTICES.get(notice, ""))


def visible_units(request: Request, staff: Staff, dispute_id: str) -> Mapping[str, Unit]:
    """The matrix's units, once the dispute is found visible to ``staff`` (a form posted
    about another unit's dispute gets the same 404 as its page)."""
    services = services_of(request)
    with services.db.connect() as conn:
        check_visible(conn, staff, dispute_id)
    return services.router.current().jurisdiction.units


@router.post("/disputes/{dispute_id}/claim", response_class=HTMLResponse, response_model=None)
def claim_page(request: Request, staff: FormStaffDep,
               dispute_id: str) -> HTMLResponse | RedirectResponse:
    """认领: the dispute taken up by the person signed in (回避 and a claim by another
    arbiter are shown on the page)."""
    visible_units(request, staff, dispute_id)
    try:
        claim_as(services_of(request), staff.caller, dispute_id)
    except (Forbidden, Conflict) as exc:
        if exc.code == "forbidden":
            raise
        return _page(request, staff, dispute_id, status_code=exc.status,
                     errors=FormErrors(general=[message_of(exc, request)]))
    return RedirectResponse(f"/disputes/{dispute_id}?notice=claimed", status_code=303)


@router.post("/disputes/{dispute_id}/statements", response_class=HTMLResponse,
             response_model=None)
def statement_page(request: Request, staff: FormStaffDep, dispute_id: str,
                   form: StatementFormDep) -> HTMLResponse | RedirectResponse:
    """提交陈述: a party's case, by its clerk or an arbiter on its behalf."""
    services = services_of(request)
    units = visible_units(request, staff, dispute_id)
    errors = FormErrors()
    unit = staff.unit if staff.role == "unit" else form.st_unit
    if not unit:
        errors.fields["st_unit"] = "请选择代表哪个当事单位陈述"
    text, basis = form.st_text.strip(), form.st_basis.strip()
    if not text:
        errors.fields["st_text"] = "请填写陈述内容"
    elif len(text) > 10_000:
        errors.fields["st_text"] = f"陈述内容不能超过10000字（现有{len(text)}字）"
    if len(basis) > 4_000:
        errors.fields["st_basis"] = f"依据不能超过4000字（现有{len(basis)}字）"
    lead: str | None = None
    if form.st_lead_code in units:
        lead = form.st_lead_code
    elif form.st_lead.strip():
        try:
            lead = resolve(units, form.st_lead)
        except UnitNotResolved as exc:
            errors.fields["st_lead"] = exc.message
    if not errors:
        try:
            file_statement(services, staff.caller, dispute_id, StatementCreate(
                unit=unit or "", text=text, basis=basis or None, proposed_lead=lead))
        except QuanzeError as exc:
            if exc.code == "forbidden":
                raise
            target = _field_of(exc, STATEMENT_FIELDS)
            if target is not None:
                errors.fields[target] = message_of(exc, request)
            else:
                errors.general.append(message_of(exc, request))
            return _page(request, staff, dispute_id, status_code=exc.status, statement=form,
                         statement_errors=errors)
        return RedirectResponse(f"/disputes/{dispute_id}?notice=statement#statements",
                                status_code=303)
    return _page(request, staff, dispute_id, status_code=422, statement=form,
                 statement_errors=errors)


def _ruling_failed(request: Request, staff: Staff, dispute_id: str, form: RulingForm,
                   exc: QuanzeError) -> HTMLResponse:
    errors = FormErrors()
    target = _field_of(exc, RULING_FIELDS)
    if target is not None:
        errors.fields[target] = message_of(exc, request)
    else:
        errors.general.append(message_of(exc, request))
    form.plan_digest = ""
    return _page(request, staff, dispute_id, status_code=exc.status, form=form, errors=errors)


@router.post("/disputes/{dispute_id}/ruling/preview", response_class=HTMLResponse)
def preview_page(request: Request, staff: FormStaffDep, dispute_id: str,
                 form: RulingFormDep) -> HTMLResponse:
    """预览影响: what the ruling would do, shown above the form (kept filled) with 确认裁定
    carrying the preview's plan digest. Writes nothing."""
    services = services_of(request)
    units = visible_units(request, staff, dispute_id)
    errors = FormErrors()
    ruling = form.request(units, errors)
    if ruling is None:
        form.plan_digest = ""
        return _page(request, staff, dispute_id, status_code=422, form=form, errors=errors)
    try:
        preview = preview_as(services, staff.caller, dispute_id, ruling)
    except QuanzeError as exc:
        if exc.code == "forbidden":
            raise
        return _ruling_failed(request, staff, dispute_id, form, exc)
    form.plan_digest = preview["plan_digest"]
    form.lead_code, form.lead = ruling.lead, _unit_label(units, ruling.lead)
    form.co_handler_codes, form.co_handlers = list(ruling.co_handlers), ""
    return _page(request, staff, dispute_id, form=form, preview=preview)


@router.post("/disputes/{dispute_id}/ruling", response_class=HTMLResponse, response_model=None)
def ruling_page(request: Request, staff: FormStaffDep, dispute_id: str,
                form: RulingFormDep) -> HTMLResponse | RedirectResponse:
    """确认裁定: the ruling written as previewed (a changed plan asks to preview again)."""
    services = services_of(request)
    units = visible_units(request, staff, dispute_id)
    errors = FormErrors()
    ruling = form.request(units, errors)
    if ruling is not None and not form.plan_digest:
        errors.general.append("请先预览影响，再确认裁定。")
    if ruling is None or errors:
        form.plan_digest = ""
        return _page(request, staff, dispute_id, status_code=422, form=form, errors=errors)
    try:
        done = rule_as(services, staff.caller, dispute_id, ruling, form.plan_digest)
    except QuanzeError as exc:
        if exc.code == "forbidden":
            raise
        return _ruling_failed(request, staff, dispute_id, form, exc)
    return RedirectResponse(f"/rulings/{done['ruling_id']}?notice=ruled", status_code=303)


def _unit_label(units: Mapping[str, Unit], code: str) -> str:
    if code == TERRITORIAL:
        return f"{TERRITORIAL_NAME}（{TERRITORIAL}）"
    return f"{units[code].name}（{code}）" if code in units else code


@router.get("/rulings/{ruling_id}", response_class=HTMLResponse)
def ruling_result(request: Request, staff: StaffDep, ruling_id: str,
                  notice: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    """裁定结果: the ruling, its written-back rule and the tickets it re-dispatched."""
    services = services_of(request)
    matrix = services.router.current()
    with services.db.connect() as conn:
        ruling = rulings.get_ruling(conn, ruling_id, matrix)
        moved = rulings.redispatched(conn, ruling_id)
    return render(request, "ruling.html", title=f"裁定 {ruling.get('document_no') or ruling_id}",
                  r=ruling, moved=moved, notice=NOTICES.get(notice, ""))


@router.get("/units/suggest")
def suggest_units(request: Request, staff: StaffDep,
                  q: Annotated[str, Query(max_length=100)] = "",
                  territorial: Annotated[str, Query(max_length=1)] = "") -> JSONResponse:
    """The unit picker's suggestions: names containing ``q``, codes starting with it."""
    units = services_of(request).router.current().jurisdiction.units
    return JSONResponse({"units": suggest(units, q, territorial=territorial == "1")},
                        headers={"Cache-Control": "no-store"})
