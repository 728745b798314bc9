"""变更审核: the catalogue changed through reviewed change sets (变更草稿), in the pages.

From a rule's page an editor drafts a change to it (修改此规则) or its retirement (废止此规则);
from a leaf's page a new rule (新增规则); a duty-list file makes one too (上传责任清单). Each
form posts what ``POST /v1/changesets`` posts, through the same service
(:mod:`arbitration.changesets`) as the person signed in: a draft never changes routing. The
draft's page shows its diff against the live matrix, the ``verify`` findings of the matrix as
it would be, its impact, and its history; a second editor publishes it (批准发布) or sends it
back with a reason (退回). Who may do what is :func:`arbitration.changesets.may_approve`'s
answer, the page only shows it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import zh
from api.pages.catalogue import RULE_FIELDS
from api.pages.units import UnitNotResolved, resolve
from api.pages.web import (
    HERE,
    FormErrors,
    FormStaffDep,
    StaffDep,
    message_of,
    render,
    services_of,
    templates,
)
from api.routes.changesets import person
from api.staff import Staff
from arbitration import changesets
from arbitration.changesets import Proposal
from jurisdiction.errors import BundleInvalid, NotFound, QuanzeError
from jurisdiction.model import Jurisdiction
from rules.model import TERRITORIAL, Rule
from rules.store import Matrix

router = APIRouter(include_in_schema=False)

Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=4000)]

#: what a person may type for the territorial role (属地) in a unit field
TERRITORIAL_NAMES = frozenset({TERRITORIAL, "属地", "属地街乡", "属地单位"})
#: separators of a list typed in one field (units, keywords, a condition's values)
SEPARATORS = re.compile(r"[、,，;；\n]+")
#: the rule form's fields in order, with their Chinese labels (a rule's own fields named as
#: the catalogue's rule page names them)
FORM_LABELS: Mapping[str, str] = {
    "title": "变更标题", "rule_id": "规则编号", **{k: v for k, v in RULE_FIELDS
                                             if k not in ("id", "source", "ruling_id")}}
#: the notice after each action
DONE: Mapping[str, str] = {"drafted": "已保存为变更草稿，尚未生效：须由另一位编辑审核发布。",
                           "rejected": "已退回该变更草稿，退回理由已记录。",
                           "approved": "已批准并发布。"}
#: the list's filters: (status, Chinese name); "" is every status
STATUS_FILTERS = (("", "全部"), *[(s, zh.label("change_set_status", s))
                                 for s in changesets.STATUSES])
#: the unit picker's script (the dispute desk's): the lead field is marked up for it, and
#: works as a plain text field where it is absent
PICKER = HERE / "static" / "unit-picker.js"


def may_edit(staff: Staff) -> bool:
    """Whether the person may draft change sets (the pages offer the forms only then)."""
    return staff.role in changesets.ROLES


# the catalogue's pages offer 修改此规则, 废止此规则 and 新增规则 to those who may draft
templates.env.globals["may_edit_catalogue"] = may_edit


# -- the rule form -------------------------------------------------------------------------------


@dataclass
class RuleForm:
    """The rule form as typed: every field a string."""

    title: str = ""
    rule_id: str = ""
    category: str = ""
    area: str = ""
    when: str = ""
    text_any: str = ""
    lead: str = ""
    lead_code: str = ""
    co_handlers: str = ""
    basis: str = ""
    priority: str = "0"
    valid_from: str = ""
    valid_to: str = ""
    note: str = ""

    @classmethod
    def of(cls, rule: Rule, j: Jurisdiction, tz: str) -> RuleForm:
        """The form filled with a live rule, as a person would type it."""
        return cls(
            rule_id=rule.id, category=rule.category, area=rule.area or "",
            when="\n".join(f"{k}={'、'.join(v)}" for k, v in rule.when.items()),
            text_any="、".join(rule.text_any), lead=_unit_text(j, rule.lead),
            lead_code=rule.lead, co_handlers="、".join(_unit_text(j, c)
                                                      for c in rule.co_handlers),
            basis=rule.basis, priority=str(rule.priority),
            valid_from=_day(rule.valid_from, tz), valid_to=_day(rule.valid_to, tz),
            note=rule.note)


def rule_form(title: Short = "",
              new_id: Annotated[str, Form(alias="rule_id", max_length=200)] = "",
              category: Short = "", area: Short = "",
              when: Text = "", text_any: Text = "", lead: Short = "", lead_code: Short = "",
              co_handlers: Text = "", basis: Text = "", priority: Short = "0",
              valid_from: Short = "", valid_to: Short = "", note: Text = "") -> RuleForm:
    return RuleForm(title, new_id, category, area, when, text_any, lead, lead_code,
                    co_handlers, basis, priority, valid_from, valid_to, note)


def _unit_text(j: Jurisdiction, code: str) -> str:
    if code == TERRITORIAL:
        return "属地街乡"
    return f"{j.units[code].name}（{code}）" if code in j.units else code


def _day(moment: datetime | None, tz: str) -> str:
    return "" if moment is None else moment.astimezone(ZoneInfo(tz)).date().isoformat()


def _resolve_code(items: Mapping[str, Any], text: str) -> str | None:
    """A category or area as typed: its code, ``名称（代码）`` or a name only one has."""
    text = text.strip()
    if text in items:
        return text
    found = re.fullmatch(r"(.*?)\s*[（(]\s*([^()（）]+?)\s*[）)]", text)
    if found and found.group(2) in items:
        return found.group(2)
    named = [code for code, item in items.items() if item.name == text]
    return named[0] if len(named) == 1 else None


def _party(j: Jurisdiction, text: str) -> str:
    """A unit field as typed, read as every form reads it (:func:`api.pages.units.resolve`:
    a name, a code, ``名称（代码）``, a part of one name, 属地街乡 for the territorial role).
    The picker's hidden code is not used: without the script it keeps the rule's old lead
    whatever is typed."""
    text = text.strip()
    if text in TERRITORIAL_NAMES:
        return TERRITORIAL
    return resolve(j.units, text, territorial=True)


def _moment(text: str, old: datetime | None, tz: str) -> str | None:
    """A date field as the rule's time: the start of that day in the district's time zone,
    or the rule's own time where the day is the one it already had."""
    text = text.strip()
    if not text:
        return None
    day = date.fromisoformat(text)
    if old is not None and _day(old, tz) == text:
        return old.isoformat()
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).isoformat()


def rule_document(form: RuleForm, matrix: Matrix, base: Rule | None,
                  errors: FormErrors) -> dict[str, Any] | None:
    """The rule object the form proposes (the bundle's format, as the API takes it), or
    None with the reasons in ``errors`` beside their fields. Names are resolved to codes
    here; everything else is checked by the service."""
    j = matrix.jurisdiction
    tz = matrix.settings.timezone
    doc: dict[str, Any] = {}
    if base is not None:
        doc["id"] = base.id
    elif not form.rule_id.strip():
        errors.fields["rule_id"] = "请填写规则编号。"
    elif form.rule_id.strip() in matrix.rules:
        errors.fields["rule_id"] = (f"规则编号「{form.rule_id.strip()}」已在使用，请换一个编号，"
                                    "或到该规则的页面修改它。")
    else:
        doc["id"] = form.rule_id.strip()
    category = _resolve_code(j.categories, form.category)
    if not form.category.strip():
        errors.fields["category"] = "请填写事项分类。"
    elif category is None:
        errors.fields["category"] = (f"没有名为「{form.category.strip()}」的事项分类，"
                                     "请填写分类代码或名称。")
    doc["category"] = category
    doc["area"] = None
    if form.area.strip():
        doc["area"] = _resolve_code(j.areas, form.area)
        if doc["area"] is None:
            errors.fields["area"] = (f"没有名为「{form.area.strip()}」的区域，"
                                     "请填写区域代码或名称；全区适用请留空。")
    when: dict[str, list[str]] = {}
    for line in form.when.splitlines():
        if not line.strip():
            continue
        key, sep, values = re.sub(r"\s*[=＝:：]\s*", "=", line.strip(), count=1).partition("=")
        items = [v.strip() for v in SEPARATORS.split(values) if v.strip()]
        if not sep or not key.strip() or not items:
            errors.fields["when"] = "附加条件每行写一条：属性=取值，多个取值用“、”分隔。"
            break
        when[key.strip()] = items
    doc["when"] = when
    doc["text_any"] = [w.strip() for w in SEPARATORS.split(form.text_any) if w.strip()]
    if not form.lead.strip():
        errors.fields["lead"] = "请填写主办单位。"
    else:
        try:
            doc["lead"] = _party(j, form.lead)
        except UnitNotResolved as exc:
            errors.fields["lead"] = exc.message
    co: list[str] = []
    for text in SEPARATORS.split(form.co_handlers):
        if not text.strip():
            continue
        try:
            party = _party(j, text)
        except UnitNotResolved as exc:
            errors.fields["co_handlers"] = exc.message
            break
        if party not in co:
            co.append(party)
    doc["co_handlers"] = co
    doc["basis"] = form.basis.strip() or None  # the service says it is required
    try:
        doc["priority"] = int(form.priority.strip() or "0")
    except ValueError:
        errors.fields["priority"] = zh.message_for("invalid_priority")
    for name in ("valid_from", "valid_to"):
        try:
            doc[name] = _moment(getattr(form, name), getattr(base, name, None), tz)
        except ValueError:
            errors.fields[name] = "请填写有效的日期，如 2027-01-01。"
    doc["source"] = base.source.value if base is not None else "catalog"
    doc["ruling_id"] = base.ruling_id if base is not None else None
    doc["note"] = form.note.strip()
    if not form.title.strip():
        errors.fields["title"] = "请填写变更标题，说明改什么、为什么改。"
    return None if errors else doc


def _field_of(location: str) -> str:
    """The form field a service problem concerns: ``rules[0].lead`` → ``lead``,
    ``rules[0].co_handlers[1]`` → ``co_handlers``, ``rules[0].id`` → ``rule_id``."""
    name = re.sub(r"\[\d+\]", "", location.rsplit(".", 1)[-1]) if "." in location \
        else re.sub(r"\[\d+\]$", "", location)
    return "rule_id" if name == "id" else name


def place(request: Request, exc: QuanzeError, errors: FormErrors,
          fields: Mapping[str, str]) -> None:
    """The service's refusal beside the fields it names (each problem of a refused rule
    beside its own field), else above the form."""
    problems = exc.problems if isinstance(exc, BundleInvalid) else []
    for problem in problems:
        name = _field_of(problem.location if problem.field is None
                         or problem.location.endswith(problem.field)
                         else f"{problem.location}.{problem.field}")
        text = zh.message_for(problem.code, {"field": problem.field or name})
        if name in fields:
            errors.fields.setdefault(name, text)
        else:
            errors.general.append(text)
    if problems:
        return
    name = _field_of(str(exc.context.get("field") or ""))
    if name in fields:
        errors.fields[name] = message_of(exc, request)
    else:
        errors.general.append(message_of(exc, request))


def _draft(request: Request, staff: Staff, body: dict[str, Any]) -> dict[str, Any]:
    """What ``POST /v1/changesets`` does with ``body``, as the person signed in."""
    services = services_of(request)
    proposal = Proposal.parse(body)
    return changesets.draft(services.db, services.router, proposal, by=person(staff.caller),
                            now=services.clock(), source="workbench")


def _form_page(request: Request, *, mode: str, form: RuleForm, base: Rule | None,
               errors: FormErrors | None = None, status_code: int = 200) -> HTMLResponse:
    title = {"edit": "修改规则", "new": "新增规则", "retire": "废止规则"}[mode]
    if base is not None:
        title = f"{title} {base.id}"
    return render(request, "changeset_rule_form.html", status_code=status_code, title=title,
                  mode=mode, form=asdict(form), base=base, errors=errors or FormErrors(),
                  labels=FORM_LABELS, picker=PICKER.exists())


def _live_rule(request: Request, staff: Staff, rule_id: str) -> Rule:
    staff.caller.require("editor")
    rule = services_of(request).router.current().rules.get(rule_id)
    if rule is None:
        raise NotFound(f"no live rule {rule_id!r}", code="unknown_rule", value=rule_id)
    return rule


RuleId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/catalogue/rules/{rule_id}/change", response_class=HTMLResponse)
def edit_rule_form(request: Request, staff: StaffDep, rule_id: RuleId) -> HTMLResponse:
    """修改此规则: the rule's fields to change; submitting drafts a change set."""
    rule = _live_rule(request, staff, rule_id)
    matrix = services_of(request).router.current()
    return _form_page(request, mode="edit", base=rule,
                      form=RuleForm.of(rule, matrix.jurisdiction, matrix.settings.timezone))


@router.post("/catalogue/rules/{rule_id}/change", response_class=HTMLResponse)
def edit_rule(request: Request, staff: FormStaffDep, rule_id: RuleId,
              form: Annotated[RuleForm, Depends(rule_form)]) -> Response:
    rule = _live_rule(request, staff, rule_id)
    return _submit(request, staff, "edit", form, rule)


@router.get("/catalogue/rules/{rule_id}/retire", response_class=HTMLResponse)
def retire_rule_form(request: Request, staff: StaffDep, rule_id: RuleId) -> HTMLResponse:
    """废止此规则: a title and a confirmation; submitting drafts the retirement."""
    rule = _live_rule(request, staff, rule_id)
    return _form_page(request, mode="retire", base=rule, form=RuleForm(rule_id=rule.id))


@router.post("/catalogue/rules/{rule_id}/retire", response_class=HTMLResponse)
def retire_rule(request: Request, staff: FormStaffDep, rule_id: RuleId,
                title: Short = "") -> Response:
    rule = _live_rule(request, staff, rule_id)
    form = RuleForm(title=title, rule_id=rule.id)
    errors = FormErrors()
    if not title.strip():
        errors.fields["title"] = "请填写变更标题，说明为什么废止。"
        return _form_page(request, mode="retire", base=rule, form=form, errors=errors,
                          status_code=422)
    return _drafted_or_form(request, staff, "retire", form, rule,
                            {"title": title, "rules": [], "retire": [rule.id]})


@router.get("/catalogue/categories/{code}/new-rule", response_class=HTMLResponse)
def new_rule_form(request: Request, staff: StaffDep,
                  code: Annotated[str, Path(max_length=64)]) -> HTMLResponse:
    """新增规则 on a category: the form with the category filled in and a free rule id."""
    staff.caller.require("editor")
    matrix = services_of(request).router.current()
    if code not in matrix.jurisdiction.categories:
        raise NotFound(f"unknown category {code!r}", code="unknown_category", value=code)
    return _form_page(request, mode="new", base=None,
                      form=RuleForm(rule_id=_free_id(matrix, code), category=code))


@router.post("/catalogue/categories/{code}/new-rule", response_class=HTMLResponse)
def new_rule(request: Request, staff: FormStaffDep, code: Annotated[str, Path(max_length=64)],
             form: Annotated[RuleForm, Depends(rule_form)]) -> Response:
    staff.caller.require("editor")
    return _submit(request, staff, "new", form, None)


def _free_id(matrix: Matrix, category: str) -> str:
    """``R-<category>-NN``, the first number no live rule uses."""
    n = 1
    while f"R-{category}-{n:02d}" in matrix.rules:
        n += 1
    return f"R-{category}-{n:02d}"


def _submit(request: Request, staff: Staff, mode: str, form: RuleForm,
            base: Rule | None) -> Response:
    errors = FormErrors()
    doc = rule_document(form, services_of(request).router.current(), base, errors)
    if doc is None:
        return _form_page(request, mode=mode, form=form, base=base, errors=errors,
                          status_code=422)
    return _drafted_or_form(request, staff, mode, form, base,
                            {"title": form.title, "rules": [doc], "retire": []})


def _drafted_or_form(request: Request, staff: Staff, mode: str, form: RuleForm,
                     base: Rule | None, body: dict[str, Any]) -> Response:
    errors = FormErrors()
    try:
        drafted = _draft(request, staff, body)
    except QuanzeError as exc:
        if exc.status in (401, 403, 404) and not exc.context.get("field"):
            raise
        place(request, exc, errors, FORM_LABELS)
        return _form_page(request, mode=mode, form=form, base=base, errors=errors,
                          status_code=422 if exc.status < 500 else exc.status)
    return RedirectResponse(f"/changesets/{drafted['id']}?done=drafted", status_code=303)


# -- a duty list as a change set -----------------------------------------------------------------


@router.get("/changesets/upload", response_class=HTMLResponse)
def upload_form(request: Request, staff: StaffDep) -> HTMLResponse:
    """上传责任清单: a duty-list workbook (.xlsx) or .csv file becomes a change set."""
    staff.caller.require("editor")
    return render(request, "changeset_upload.html", title="上传责任清单", errors=FormErrors(),
                  form={"title": "", "mode": "merge"})


@router.post("/changesets/upload", response_class=HTMLResponse)
def upload(request: Request, staff: FormStaffDep, title: Short = "",
           mode: Annotated[str, Form(max_length=10)] = "merge",
           file: Annotated[UploadFile | None, File()] = None) -> Response:
    """The file's rules that differ from the live matrix become a draft (as
    ``POST /v1/changesets/workbook``); what the file holds that a change set does not carry
    is shown on the draft's page."""
    staff.caller.require("editor")
    services = services_of(request)
    errors = FormErrors()
    form = {"title": title, "mode": mode}
    content = b""
    name = (file.filename or "") if file is not None else ""
    if not title.strip():
        errors.fields["title"] = "请填写变更标题，说明这次清单调整的来由。"
    if mode not in ("merge", "replace"):
        errors.fields["mode"] = zh.message_for("invalid_mode")
    if file is None or not name:
        errors.fields["file"] = "请选择责任清单文件（.xlsx 或 .csv）。"
    else:
        limit = services.settings.max_body_bytes  # as POST /v1/changesets/workbook
        content = file.file.read(limit + 1)
        if len(content) > limit:
            errors.fields["file"] = zh.message_for("body_too_large", {"limit": limit})
    notes: list[str] = []
    if not errors:
        try:
            proposal, notes = changesets.proposal_from_duty_list(
                content, name, services.router.current(), title=title, mode=mode)
            drafted = changesets.draft(services.db, services.router, proposal,
                                       by=person(staff.caller), now=services.clock(),
                                       source=name)
        except BundleInvalid as exc:
            # a rule of the file is refused: where it is in the file, and what is wrong
            errors.general += [_located(p) for p in exc.problems[:20]]
        except QuanzeError as exc:
            if exc.status in (401, 403):
                raise
            field = exc.context.get("field")
            key = {"body": "file", "title": "title", "mode": "mode"}.get(str(field))
            if key is not None:
                errors.fields[key] = message_of(exc, request)
            else:
                errors.general.append(message_of(exc, request))
    if errors:
        return render(request, "changeset_upload.html", status_code=422, title="上传责任清单",
                      errors=errors, form=form)
    if notes:
        # the notes are not stored with the change set: shown once, on this answer
        return _detail(request, staff, drafted["id"], notice=DONE["drafted"], notes=notes)
    return RedirectResponse(f"/changesets/{drafted['id']}?done=drafted", status_code=303)


def _located(problem: Any) -> str:
    """A problem of the file, where it is (``清单!12``) and what is wrong, in Chinese."""
    text = zh.message_for(problem.code, {"field": problem.field} if problem.field else {})
    return f"{problem.location}：{text}"


# -- the list and one change set -----------------------------------------------------------------


@router.get("/changesets", response_class=HTMLResponse)
def change_set_list(request: Request, staff: StaffDep,
                    status: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    """变更审核: change sets newest first, by status."""
    services = services_of(request)
    with services.db.connect() as conn:
        items = changesets.list_change_sets(conn, status=status or None, limit=200)
    return render(request, "changesets.html", title="变更审核", items=items, status=status,
                  filters=STATUS_FILTERS, may_edit=may_edit(staff))


ChangeSetId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/changesets/{change_set_id}", response_class=HTMLResponse)
def change_set_page(request: Request, staff: StaffDep,
                    change_set_id: ChangeSetId) -> HTMLResponse:
    """A change set: its diff, findings, impact and history, and the reviewer's buttons."""
    return _detail(request, staff, change_set_id,
                   notice=DONE.get(request.query_params.get("done", "")))


def _detail(request: Request, staff: Staff, change_set_id: str, *, notice: str | None = None,
            errors: FormErrors | None = None, reason: str = "", status_code: int = 200,
            notes: list[str] | None = None) -> HTMLResponse:
    services = services_of(request)
    with services.db.connect() as conn:
        cs = changesets.get_change_set(conn, change_set_id)
    who = person(staff.caller)
    matrix = services.router.current()
    findings = sorted(cs["findings"], key=lambda f: (not f.get("new"), f["severity"] != "error",
                                                     f["code"]))
    return render(request, "changeset.html", status_code=status_code,
                  title=f"变更草稿 {cs['title']}", cs=cs, findings=findings,
                  may_approve=changesets.may_approve(cs, who),
                  may_reject=changesets.may_reject(cs, who),
                  is_author=changesets.is_author(cs, who), notice=notice, notes=notes or [],
                  errors=errors or FormErrors(), reason=reason, labels=dict(RULE_FIELDS),
                  live_version=matrix.version)


@router.post("/changesets/{change_set_id}/approve", response_class=HTMLResponse)
def approve(request: Request, staff: FormStaffDep, change_set_id: ChangeSetId) -> Response:
    """批准发布: as ``POST /v1/changesets/{id}/approve``; a refusal (its author: 四眼原则; a
    draft gone stale) comes back on the change set's page, nothing written."""
    services = services_of(request)
    try:
        changesets.approve(services.db, services.router, change_set_id,
                           by=person(staff.caller), now=services.clock(),
                           after=services.after_matrix_change)
    except QuanzeError as exc:
        if exc.status in (401, 404):
            raise
        return _detail(request, staff, change_set_id, status_code=exc.status,
                       errors=FormErrors(general=[message_of(exc, request)]))
    return RedirectResponse(f"/changesets/{change_set_id}?done=approved", status_code=303)


@router.post("/changesets/{change_set_id}/reject", response_class=HTMLResponse)
def reject(request: Request, staff: FormStaffDep, change_set_id: ChangeSetId,
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """退回: as ``POST /v1/changesets/{id}/reject``; the reason is required."""
    services = services_of(request)
    try:
        changesets.reject(services.db, change_set_id, by=person(staff.caller), reason=reason,
                          now=services.clock())
    except QuanzeError as exc:
        if exc.status in (401, 404):
            raise
        errors = FormErrors()
        if exc.context.get("field") == "reason":
            errors.fields["reason"] = "请填写退回理由。" if not reason.strip() \
                else message_of(exc, request)
        else:
            errors.general.append(message_of(exc, request))
        return _detail(request, staff, change_set_id, status_code=exc.status, errors=errors,
                       reason=reason)
    return RedirectResponse(f"/changesets/{change_set_id}?done=rejected", status_code=303)

