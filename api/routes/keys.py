"""API keys for admins: GET|POST /v1/keys, POST /v1/keys/{id}/revoke, /v1/keys/{id}/rotate.
Every change goes to the audit log; a secret is shown once, in the answer that made it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api import auth
from api.deps import CallerDep, ServicesDep
from api.routes.tickets import check_units, write_transaction
from jurisdiction.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["keys"])


class KeyCreate(BaseModel):
    """A new key; `expires` (a date: valid through that day) or `days` limit its life."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "role": "arbiter", "name": "区政府办 张三", "expires": "2027-06-30"}]})

    role: Literal["admin", "editor", "arbiter", "router", "unit", "viewer"]
    unit: str | None = Field(None, min_length=1, max_length=64,
                             description="The unit the key speaks for (required for `unit`).")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="Shown in the audit log; default the role.")
    expires: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                description="Last day the key works (district time zone).")
    days: int | None = Field(None, ge=1, le=3660, description="The key works for N days.")
    expires_at: AwareDatetime | None = Field(None, description="An exact expiry time.")


class KeyPublic(BaseModel):
    id: str
    name: str
    role: str
    unit: str | None
    created_at: str
    last_used_at: str | None
    revoked: bool
    revoked_at: str | None = None
    expires_at: str | None = None
    rotated_at: str | None = None


class KeyWithSecret(KeyPublic):
    key: Annotated[str, Field(description="The secret: shown only in this answer.")]


class KeyList(BaseModel):
    keys: list[KeyPublic]


@router.get("/keys", response_model=KeyList, summary="Every API key (never its secret)")
def list_keys(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    caller.require()
    with services.db.connect() as conn:
        return {"keys": auth.list_keys(conn)}


@router.post("/keys", response_model=KeyWithSecret, status_code=201,
             summary="Create an API key")
def create_key(body: KeyCreate, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    caller.require()
    matrix = services.router.current()
    check_units(matrix, unit=body.unit)
    now = services.clock()
    if body.expires_at is not None and (body.expires or body.days):
        raise InvalidInput("give one of expires, days, expires_at", code="invalid_expiry",
                           field="expires_at")
    expires_at = body.expires_at or auth.expiry(until=body.expires, days=body.days, now=now,
                                                tz=_timezone(services))
    with write_transaction(services) as conn:
        doc, key = auth.issue_key(conn, role=body.role, name=body.name or body.role,
                                  unit=body.unit, now=now, expires_at=expires_at,
                                  actor=caller.actor)
    return {**doc, "key": key}


@router.post("/keys/{key_id}/revoke", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(key_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Refused at once by this server, within a second by every other one."""
    caller.require()
    with write_transaction(services) as conn:
        doc = auth.revoke_key(conn, key_id, actor=caller.actor, now=services.clock())
    services.keys.forget()
    return doc


@router.post("/keys/{key_id}/rotate", response_model=KeyWithSecret,
             summary="A new secret for an API key")
def rotate_key(key_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Same id, role and unit; the old secret is refused (within a second everywhere)."""
    caller.require()
    with write_transaction(services) as conn:
        doc, key = auth.rotate_key(conn, key_id, actor=caller.actor, now=services.clock())
    services.keys.forget()
    return {**doc, "key": key}


def _timezone(services: ServicesDep) -> str:
    return services.router.current().settings.timezone
