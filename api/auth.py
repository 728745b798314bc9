"""API keys and roles. A key is shown once; only its SHA-256 is stored.

Roles: ``admin`` (everything), ``editor`` (the matrix), ``arbiter`` (disputes and rulings),
``router`` (routing and ticket events: the hotline's routing system), ``unit`` (ticket events
and statements for its own unit), ``viewer`` (reads)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from api.tables import api_keys
from jurisdiction.errors import Forbidden, InvalidInput, Unauthorized

ROLES = ("admin", "editor", "arbiter", "router", "unit", "viewer")


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    role: str
    unit: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"

    def require(self, *roles: str) -> None:
        if self.role != "admin" and self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this; needs one of "
                            f"{', '.join(('admin', *roles))}", code="forbidden", role=self.role)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, *, role: str, name: str, unit: str | None,
               now: datetime) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}",
                           code="invalid_role", field="role")
    if role == "unit" and not unit:
        raise InvalidInput("a unit key needs --unit", code="unit_required", field="unit")
    key_id = secrets.token_hex(4)
    key = f"qz_{key_id}_{secrets.token_urlsafe(24)}"
    conn.execute(insert(api_keys).values(id=key_id, key_hash=_hash(key), name=name, role=role,
                                         unit=unit, created_at=now, revoked=False))
    return key


def authenticate(conn: Connection, key: str | None) -> Caller:
    if not key:
        raise Unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)",
                           code="unauthorized")
    row = conn.execute(select(api_keys).where(api_keys.c.key_hash == _hash(key))).mappings().first()
    if row is None or row["revoked"]:
        raise Unauthorized("unknown or revoked API key", code="unauthorized")
    return Caller(row["id"], row["name"], row["role"], row["unit"])
