"""API keys and roles. A key is shown once; only its SHA-256 is stored.

Roles: ``admin`` (everything), ``editor`` (the matrix), ``arbiter`` (disputes and rulings),
``router`` (routing and ticket events: the hotline's routing system), ``unit`` (ticket events
and statements for its own unit), ``viewer`` (reads).

Every key has its own ``id`` (also the identity of an arbiter: two keys are two arbiters,
whatever their names), may expire, can be revoked or rotated (a new secret under the same
id), and remembers when it was last used. Revocations and rotations count up the key epoch;
each server reads the epoch at most every :data:`EPOCH_CHECK_SECONDS` and forgets the keys it
had verified when it moved (:class:`KeyCache`), so a revoked secret stops working on every
server within a second, while a routing call still does not read the key table."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.db import SQLITE_BUSY_MS
from api.tables import api_key_epoch, api_keys
from arbitration import audit
from arbitration.disputes import Arbiter
from jurisdiction.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized

ROLES = ("admin", "editor", "arbiter", "router", "unit", "viewer")


#: how long a verified key is trusted before it is looked up again (expiry is checked on
#: every use; revocation and rotation are caught by the epoch, see :class:`KeyCache`)
KEY_CACHE_SECONDS = 30.0
#: how often a server reads the key epoch: a revoked key is refused within this (plus the
#: time of one read) on every server
EPOCH_CHECK_SECONDS = 0.5
#: a key's last use is written at most this often per key and server
LAST_USED_SECONDS = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    role: str
    unit: str | None = None
    expires_at: datetime | None = None
    #: a person signed in to the workbench (api.staff), rather than a key
    login: str | None = None

    @property
    def actor(self) -> str:
        """Who the audit log names: the key's role and name, or a person's with their login
        (two people may share a name)."""
        if self.login is not None:
            return f"{self.role}:{self.name}（{self.login}）"
        return f"{self.role}:{self.name}"

    @property
    def arbiter(self) -> Arbiter:
        """The caller as an arbiter: identified by its key's id, shown by its name, standing
        aside (回避) from disputes of its unit."""
        return Arbiter(id=self.key_id, name=self.name, unit=self.unit)

    def require(self, *roles: str) -> None:
        if self.role != "admin" and self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this; needs one of "
                            f"{', '.join(('admin', *roles))}", code="forbidden", role=self.role)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _secret(key_id: str) -> str:
    return f"qz_{key_id}_{secrets.token_urlsafe(24)}"


def expiry(*, until: str | None = None, days: int | None = None, now: datetime,
           tz: str = "Asia/Shanghai") -> datetime | None:
    """When a key made at ``now`` expires: at the end of the day ``until`` (a date, in the
    district's time zone), or ``days`` days from now; None for never.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 30, tzinfo=UTC)
    >>> expiry(until="2027-06-30", now=now).isoformat()
    '2027-07-01T00:00:00+08:00'
    >>> expiry(days=7, now=now).isoformat()
    '2026-12-07T00:00:00+00:00'
    """
    if until is not None and days is not None:
        raise InvalidInput("give an expiry date or a number of days, not both",
                           code="invalid_expiry", field="expires")
    if days is not None:
        if not 1 <= days <= 3660:
            raise InvalidInput(f"a key lasts 1 to 3660 days, not {days}",
                               code="invalid_expiry", field="days")
        return now + timedelta(days=days)
    if until is None:
        return None
    try:
        day = date.fromisoformat(until)
    except ValueError as exc:
        raise InvalidInput(f"expiry {until!r} is not a date (YYYY-MM-DD)",
                           code="invalid_expiry", field="expires") from exc
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    if end <= now:
        raise InvalidInput(f"expiry {until} is in the past", code="invalid_expiry",
                           field="expires")
    return end


def key_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A key as listed (``quanze keys list --json``, ``GET /v1/keys``): never its secret."""

    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    return {"id": row["id"], "name": row["name"], "role": row["role"], "unit": row["unit"],
            "created_at": iso(row["created_at"]), "last_used_at": iso(row["last_used_at"]),
            "revoked": bool(row["revoked"]), "revoked_at": iso(row["revoked_at"]),
            "expires_at": iso(row["expires_at"]), "rotated_at": iso(row["rotated_at"])}


def issue_key(conn: Connection, *, role: str, name: str, unit: str | None, now: datetime,
              expires_at: datetime | None = None,
              actor: str | None = None) -> tuple[dict[str, Any], str]:
    """A new key: its document and its secret (shown once). With an ``actor`` the creation
    goes to the audit log."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}",
                           code="invalid_role", field="role")
    if role == "unit" and not unit:
        raise InvalidInput("a unit key needs --unit", code="unit_required", field="unit")
    key_id = secrets.token_hex(4)
    key = _secret(key_id)
    conn.execute(insert(api_keys).values(id=key_id, key_hash=_hash(key), name=name, role=role,
                                         unit=unit, created_at=now, revoked=False,
                                         expires_at=expires_at))
    doc = _get(conn, key_id)
    if actor is not None:
        audit.record(conn, actor=actor, action="key_created", subject=f"key:{key_id}",
                     before=None, after=doc, at=now)
    return doc, key


def create_key(conn: Connection, *, role: str, name: str, unit: str | None,
               now: datetime, expires_at: datetime | None = None,
               actor: str | None = None) -> str:
    """A new key's secret (see :func:`issue_key`)."""
    return issue_key(conn, role=role, name=name, unit=unit, now=now, expires_at=expires_at,
                     actor=actor)[1]


def _get(conn: Connection, key_id: str, *, for_update: bool = False) -> dict[str, Any]:
    query = select(api_keys).where(api_keys.c.id == key_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"unknown key {key_id!r}", code="key_not_found", key_id=key_id)
    return key_document(dict(row))


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key, oldest first."""
    rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
    return [key_document(dict(r)) for r in rows.mappings()]


def _bump_epoch(conn: Connection) -> None:
    """Count the key epoch up (in the caller's transaction): servers forget verified keys."""
    bump = update(api_key_epoch).where(api_key_epoch.c.id == 1).values(
        epoch=api_key_epoch.c.epoch + 1)
    if conn.execute(bump).rowcount == 1:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(api_key_epoch).values(id=1, epoch=1))
    except IntegrityError:  # another writer made the row meanwhile
        conn.execute(bump)


def key_epoch(conn: Connection) -> int:
    return conn.execute(select(api_key_epoch.c.epoch).where(api_key_epoch.c.id == 1)
                        ).scalar() or 0


def revoke_key(conn: Connection, key_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """The key revoked for good (revoking it again changes nothing)."""
    before = _get(conn, key_id, for_update=True)
    if before["revoked"]:
        return before
    conn.execute(update(api_keys).where(api_keys.c.id == key_id)
                 .values(revoked=True, revoked_at=now))
    _bump_epoch(conn)
    after = _get(conn, key_id)
    audit.record(conn, actor=actor, action="key_revoked", subject=f"key:{key_id}",
                 before={"revoked": False}, after={"revoked": True}, at=now)
    return after


def rotate_key(conn: Connection, key_id: str, *, actor: str,
               now: datetime) -> tuple[dict[str, Any], str]:
    """A new secret for the key (same id, role and unit); the old secret is refused from
    now on. A revoked key stays revoked (``Conflict`` ``key_revoked``)."""
    before = _get(conn, key_id, for_update=True)
    if before["revoked"]:
        raise Conflict(f"key {key_id} is revoked; create a new one", code="key_revoked",
                       key_id=key_id)
    key = _secret(key_id)
    conn.execute(update(api_keys).where(api_keys.c.id == key_id)
                 .values(key_hash=_hash(key), rotated_at=now))
    _bump_epoch(conn)
    audit.record(conn, actor=actor, action="key_rotated", subject=f"key:{key_id}",
                 before={"rotated_at": before["rotated_at"]}, after={"rotated_at":
                                                                     now.isoformat()}, at=now)
    return _get(conn, key_id), key


def record_last_used(conn: Connection, used: Mapping[str, datetime]) -> None:
    """Each key's last use, never moved back."""
    c = api_keys.c
    for key_id, at in used.items():
        conn.execute(update(api_keys).where(
            c.id == key_id, (c.last_used_at.is_(None)) | (c.last_used_at < at))
            .values(last_used_at=at))


def authenticate(conn: Connection, key: str | None, now: datetime | None = None) -> Caller:
    if not key:
        raise Unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)",
                           code="unauthorized")
    row = conn.execute(select(api_keys).where(api_keys.c.key_hash == _hash(key))).mappings().first()
    if row is None or row["revoked"]:
        raise Unauthorized("unknown or revoked API key", code="unauthorized")
    caller = Caller(row["id"], row["name"], row["role"], row["unit"], row["expires_at"])
    if now is not None and is_expired(caller, now):
        raise Unauthorized("this API key has expired", code="key_expired")
    return caller


def is_expired(caller: Caller, now: datetime) -> bool:
    return caller.expires_at is not None and now >= caller.expires_at


@contextmanager
def _briefly(conn: Connection) -> Iterator[None]:
    """Wait at most a tenth of a second for SQLite's write lock: a last-use time can wait for
    the next check, but the request that carries it must not queue behind matrix writers (it
    answered 503 after 2 s while twelve rule edits held the lock in turn)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA busy_timeout = 100")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")


@dataclass
class KeyCache:
    """The keys one server has verified, so that a routing call does not read the key table.

    An entry is trusted for :data:`KEY_CACHE_SECONDS`, but only while the key epoch has not
    moved: :meth:`refresh` (due every :data:`EPOCH_CHECK_SECONDS`) reads the epoch and forgets
    every entry when another server (or this one) revoked or rotated a key. The same call
    writes the last-use times noted since (at most one per key a minute), so neither costs a
    database write on the request path. ``ticker`` is the monotonic clock (a test's fake)."""

    ticker: Callable[[], float] = time.monotonic
    interval: float = EPOCH_CHECK_SECONDS
    entries: dict[str, tuple[float, Caller]] = field(default_factory=dict)
    epoch: int | None = None
    checked: float = float("-inf")
    checking: bool = False
    noted: dict[str, float] = field(default_factory=dict)
    pending: dict[str, datetime] = field(default_factory=dict)

    def is_due(self, tick: float) -> bool:
        return not self.checking and tick - self.checked >= self.interval

    def lookup(self, key: str, tick: float, clock: Callable[[], datetime]) -> Caller | None:
        """The verified caller of ``key``, or None when it must be looked up."""
        entry = self.entries.get(key)
        if entry is None or tick - entry[0] >= KEY_CACHE_SECONDS:
            return None
        caller = entry[1]
        if caller.expires_at is not None and is_expired(caller, clock()):
            self.entries.pop(key, None)
            return None
        self.note_use(caller, tick, clock)
        return caller

    def remember(self, key: str, caller: Caller, tick: float,
                 clock: Callable[[], datetime]) -> None:
        self.entries[key] = (tick, caller)
        self.note_use(caller, tick, clock)

    def note_use(self, caller: Caller, tick: float, clock: Callable[[], datetime]) -> None:
        last = self.noted.get(caller.key_id)
        if last is None or tick - last >= LAST_USED_SECONDS:
            self.noted[caller.key_id] = tick
            self.pending[caller.key_id] = clock()

    def forget(self) -> None:
        """Drop every verified key (after this server revoked or rotated one)."""
        self.entries = {}

    def refresh(self, db: Engine, tick: float) -> None:
        """Read the epoch (forgetting every entry when it moved) and write pending last-use
        times. On a database error the entries are dropped (fail closed) and it is raised."""
        self.checked = tick
        pending, self.pending = self.pending, {}
        try:
            with db.connect() as conn:
                epoch = key_epoch(conn)
        except Exception:
            self.forget()
            raise
        if epoch != self.epoch:
            self.forget()
            self.epoch = epoch
        if pending:
            try:
                with db.begin() as conn, _briefly(conn):
                    record_last_used(conn, pending)
            except Exception:  # busy or lost: kept for the next check, never a refusal
                for key_id, used in pending.items():
                    self.pending.setdefault(key_id, used)
                log.info("last use of %d key(s) left for the next check", len(pending),
                         exc_info=True)
