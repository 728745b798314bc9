"""The matrix: units, areas, categories, rules, the bundle, the rule-set version, verify."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import CallerDep, Services, ServicesDep
from api.schemas import AreaIn, CategoryIn, ChangeOut, RuleIn, RulePatch, UnitIn
from arbitration.service import verify_in_service
from jurisdiction.errors import InvalidInput, LimitExceeded
from jurisdiction.model import Area, AreaLevel, Category, Intake, Unit, UnitKind
from rules import admin
from rules.bundle import dump_bundle, parse_bundle
from rules.store import Matrix, list_versions, rule_history

router = APIRouter(prefix="/v1", tags=["matrix"])


def _change(services: Services, caller: Any, build: Any, note: str, *,
            dry_run: bool = False) -> dict[str, Any]:
    caller.require("editor")
    _, report = admin.apply(services.db, services.router, build, actor=caller.actor,
                            note=note, now=services.clock(), after=services.after_matrix_change,
                            dry_run=dry_run)
    return report.as_dict()


def _unit_out(u: Unit) -> dict[str, Any]:
    return {"code": u.code, "name": u.name, "kind": u.kind.value}


def _area_out(m: Matrix, a: Area) -> dict[str, Any]:
    return {"code": a.code, "name": a.name, "level": a.level.value, "parent": a.parent,
            "unit": a.unit, "territorial_unit": m.jurisdiction.territorial_unit(a.code)}


def _category_out(m: Matrix, c: Category) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "parent": c.parent, "departmental": c.departmental,
            "default_unit": c.default_unit, "intake": c.intake.value if c.intake else None,
            "depth": m.jurisdiction.category_depth(c.code),
            "path": list(reversed(m.jurisdiction.category_path(c.code)))}


# -- units, areas, categories ----------------------------------------------------------------

@router.get("/units", summary="Units (承办单位)")
def list_units(services: ServicesDep, caller: CallerDep,
               kind: UnitKind | None = None) -> dict[str, Any]:
    m = services.router.current()
    units = [u for u in m.jurisdiction.units.values() if kind is None or u.kind == kind]
    return {"ruleset_version": m.version,
            "items": [_unit_out(u) for u in sorted(units, key=lambda u: u.code)]}


@router.post("/units", response_model=ChangeOut, status_code=201, summary="Create a unit")
def create_unit(body: UnitIn, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    unit = Unit(body.code, body.name, UnitKind(body.kind))
    return _change(services, caller, admin.put_entity("units", unit, create=True),
                   f"create unit {unit.code}")


@router.put("/units/{code}", response_model=ChangeOut, summary="Update a unit")
def update_unit(code: str, body: UnitIn, services: ServicesDep,
                caller: CallerDep) -> dict[str, Any]:
    _same_code(code, body.code)
    unit = Unit(body.code, body.name, UnitKind(body.kind))
    return _change(services, caller, admin.put_entity("units", unit, create=False),
                   f"update unit {code}")


@router.get("/areas", summary="Areas and their territorial units (属地)")
def list_areas(services: ServicesDep, caller: CallerDep, level: AreaLevel | None = None,
               parent: str | None = None) -> dict[str, Any]:
    m = services.router.current()
    areas = [a for a in m.jurisdiction.areas.values()
             if (level is None or a.level == level) and (parent is None or a.parent == parent)]
    return {"ruleset_version": m.version,
            "items": [_area_out(m, a) for a in sorted(areas, key=lambda a: a.code)]}


@router.post("/areas", response_model=ChangeOut, status_code=201, summary="Create an area")
def create_area(body: AreaIn, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    area = Area(body.code, body.name, AreaLevel(body.level), body.parent, body.unit)
    return _change(services, caller, admin.put_entity("areas", area, create=True),
                   f"create area {area.code}")


@router.put("/areas/{code}", response_model=ChangeOut, summary="Update an area")
def update_area(code: str, body: AreaIn, services: ServicesDep,
                caller: CallerDep) -> dict[str, Any]:
    _same_code(code, body.code)
    area = Area(body.code, body.name, AreaLevel(body.level), body.parent, body.unit)
    return _change(services, caller, admin.put_entity("areas", area, create=False),
                   f"update area {code}")


@router.get("/categories", summary="Matter categories (事项分类)")
def list_categories(services: ServicesDep, caller: CallerDep,
                    parent: str | None = None, leaves: bool = False) -> dict[str, Any]:
    m = services.router.current()
    j = m.jurisdiction
    cats = [c for c in j.categories.values()
            if (parent is None or c.parent == parent)
            and (not leaves or not j.category_children(c.code))]
    return {"ruleset_version": m.version,
            "items": [_category_out(m, c) for c in sorted(cats, key=lambda c: c.code)]}


@router.post("/categories", response_model=ChangeOut, status_code=201,
             summary="Create a category")
def create_category(body: CategoryIn, services: ServicesDep,
                    caller: CallerDep) -> dict[str, Any]:
    cat = Category(body.code, body.name, body.parent, body.departmental, body.default_unit,
                   Intake(body.intake) if body.intake else None)
    return _change(services, caller, admin.put_entity("categories", cat, create=True),
                   f"create category {cat.code}")


@router.put("/categories/{code}", response_model=ChangeOut, summary="Update a category")
def update_category(code: str, body: CategoryIn, services: ServicesDep,
                    caller: CallerDep) -> dict[str, Any]:
    _same_code(code, body.code)
    cat = Category(body.code, body.name, body.parent, body.departmental, body.default_unit,
                   Intake(body.intake) if body.intake else None)
    return _change(services, caller, admin.put_entity("categories", cat, create=False),
                   f"update category {code}")


def _same_code(path_code: str, body_code: str) -> None:
    if path_code != body_code:
        raise InvalidInput(f"code in the body ({body_code!r}) differs from the path "
                           f"({path_code!r})", code="code_mismatch", field="code")


# -- rules -----------------------------------------------------------------------------------

@router.get("/rules", summary="Rules of the matrix (派单目录)")
def list_rules(services: ServicesDep, caller: CallerDep,
               category: str | None = Query(None, description="rules on this category or "
                                            "below it"),
               area: str | None = None, lead: str | None = None,
               source: Literal["catalog", "ruling", "manual"] | None = None,
               limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0),
               ) -> dict[str, Any]:
    m = services.router.current()
    j = m.jurisdiction
    if category is not None and category not in j.categories:
        raise InvalidInput(f"unknown category {category!r}", code="unknown_category",
                           field="category")
    items = [r for r in sorted(m.rules.values(), key=lambda r: r.id)
             if (category is None or j.is_category_within(r.category, category))
             and (area is None or r.area == area) and (lead is None or r.lead == lead)
             and (source is None or r.source.value == source)]
    return {"ruleset_version": m.version, "total": len(items),
            "items": [dict(r.content(), revision=r.revision)
                      for r in items[offset:offset + limit]]}


@router.post("/rules", response_model=ChangeOut, status_code=201, summary="Create a rule")
def create_rule(body: RuleIn, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    rule = admin.parse_rule_document(body.model_dump(mode="json"))
    return _change(services, caller, admin.create_rule(rule), f"create rule {rule.id}")


@router.get("/rules/{rule_id}", summary="A rule with its revision history")
def get_rule(rule_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    m = services.router.current()
    with services.db.connect() as conn:
        history = rule_history(conn, rule_id)
    current = m.rules.get(rule_id)
    return {"ruleset_version": m.version, "active": current is not None,
            "rule": dict(current.content(), revision=current.revision) if current else None,
            "history": [{"version": h["version"], "revision": h["revision"],
                         "retired": h["retired"], "actor": h["actor"]} for h in history]}


@router.patch("/rules/{rule_id}", response_model=ChangeOut,
              summary="Change a rule (a new revision and rule-set version)")
def patch_rule(rule_id: str, body: RulePatch, services: ServicesDep,
               caller: CallerDep) -> dict[str, Any]:
    fields = body.model_dump(mode="json", exclude_unset=True)
    return _change(services, caller, admin.patch_rule(rule_id, fields),
                   f"change rule {rule_id}")


@router.post("/rules/{rule_id}/retire", response_model=ChangeOut, summary="Retire a rule")
def retire_rule(rule_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return _change(services, caller, admin.retire_rules([rule_id]), f"retire rule {rule_id}")


# -- bundle, version, verify -------------------------------------------------------------------

@router.put("/bundle", response_model=ChangeOut, summary="Import a bundle (all or nothing)",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "description": "a bundle (contract.md)"}}}}})
async def put_bundle(
        request: Request, services: ServicesDep, caller: CallerDep,
        mode: Literal["merge", "replace"] = "merge",
        confirm: bool = Query(False, description="Needed when mode=replace would retire more "
                              "than a fifth of the live rules (else 409 confirm_required)."),
        dry_run: bool = Query(False, description="Check and compile the change, report what "
                              "it would do, write nothing.")) -> dict[str, Any]:
    caller.require("editor")
    raw = await request.body()
    if len(raw) > services.settings.max_body_bytes:
        raise LimitExceeded(f"the bundle is larger than {services.settings.max_body_bytes} "
                            "bytes", code="body_too_large", limit=services.settings.max_body_bytes)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", code="invalid_json") from exc
    except RecursionError as exc:
        raise InvalidInput("the body is nested too deeply to be a bundle",
                           code="invalid_json") from exc
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(import_document, services, caller, data, mode, "bundle",
                                   confirmed=confirm, dry_run=dry_run)


def import_document(services: Services, caller: Any, data: Any, mode: str, what: str, *,
                    confirmed: bool = False, dry_run: bool = False) -> dict[str, Any]:
    bundle = parse_bundle(data, what=what)
    where = admin.bundle_locations(data) if isinstance(data, dict) else {}
    return _change(services, caller,
                   lambda base: admin.bundle_changes(bundle, base, mode=mode, where=where,
                                                     confirmed=confirmed),
                   f"import {what} ({mode})", dry_run=dry_run)


@router.get("/bundle", summary="Export the matrix as a bundle")
def get_bundle(services: ServicesDep, caller: CallerDep) -> Response:
    m = services.router.current()
    body = dump_bundle(m.jurisdiction, m.rules.values(), m.settings)
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json",
                    headers={"X-Ruleset-Version": str(m.version)})


@router.get("/ruleset", summary="The current rule-set version and counts")
def ruleset(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    m = services.router.current()
    j = m.jurisdiction
    by_source: dict[str, int] = {}
    for r in m.rules.values():
        by_source[r.source.value] = by_source.get(r.source.value, 0) + 1
    return {"version": m.version, "counts": {
        "units": len(j.units), "areas": len(j.areas), "categories": len(j.categories),
        "leaf_categories": len(j.category_leaves()), "rules": len(m.rules),
        "rules_by_source": by_source}}


@router.get("/verify", summary="The matrix check (gaps, overlaps, shadowed, dangling)")
def get_verify(services: ServicesDep, caller: CallerDep,
               as_of: str | None = Query(None, description="ISO time; default now")
               ) -> dict[str, Any]:
    """Gaps, overlaps, shadowed rules, dangling references, and `calendar_unknown` where a
    district's working-day calendar lacks this year, or (from 1 November) next year."""
    at = services.clock()
    if as_of:
        from rules.bundle import parse_datetime

        try:
            at = parse_datetime(as_of)
        except ValueError as exc:
            raise InvalidInput(f"as_of: {exc}", code="invalid_value", field="as_of") from exc
    return verify_in_service(services.db, services.router, at).as_dict()


# -- rule-set versions -------------------------------------------------------------------------

@router.get("/versions", summary="Rule-set versions, newest first, and the one served")
def get_versions(services: ServicesDep, caller: CallerDep,
                 limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    with services.db.connect() as conn:
        versions = list_versions(conn, limit=limit)
    return {**services.router.status(), "versions": [
        {"version": v["version"], "created_at": v["created_at"].isoformat(),
         "actor": v["actor"], "note": v["note"], "digest": v["digest"]} for v in versions]}


@router.post("/versions/{version}/activate", response_model=ChangeOut,
             summary="Make an earlier version's matrix current again (as a new version)")
def activate_version(version: int, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    caller.require("admin")
    _, report = admin.activate_version(services.db, services.router, version,
                                       actor=caller.actor, now=services.clock(),
                                       after=services.after_matrix_change)
    return report.as_dict()
