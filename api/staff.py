"""Staff accounts and sessions: the people who sign in to the workbench (API keys are for
machines, :mod:`api.auth`).

A person signs in with a login and a password kept under argon2id. Five wrong passwords in a
row lock the account for :data:`LOCK_MINUTES` (等保 2.0 asks for lock-out after repeated
failures); the lock and every sign-in go to the audit log. A session is a random token in an
HttpOnly cookie, stored only as its SHA-256; it ends on sign-out, after
:data:`IDLE_MINUTES` without a request, after :data:`SESSION_HOURS` in all, and when the
account is disabled or its password reset. Each session carries its own CSRF token, which
every form posts back.

A signed-in person acts as a :class:`~api.auth.Caller` with the account's role and unit, so the
workbench's pages run the same checks as the API, and the audit log names the person
(``arbiter:王敏（wangmin）``)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.auth import ROLES, Caller
from api.tables import staff_sessions, staff_users
from arbitration import audit
from jurisdiction.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized

#: wrong passwords in a row that lock an account
MAX_FAILURES = 5
#: how long a locked account stays locked
LOCK_MINUTES = 15
#: a session ends after this long without a request
IDLE_MINUTES = 30
#: and after this long in all, however busy
SESSION_HOURS = 12
#: the session's last request is written at most this often
SEEN_SECONDS = 60
MIN_PASSWORD = 10
#: the cookie that holds a session's token
SESSION_COOKIE = "quanze_session"

_LOGIN = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,63}")
_hasher = PasswordHasher()
#: verified against when the login is unknown, so that a wrong login takes as long as a
#: wrong password and does not tell which logins exist
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Staff:
    """A signed-in person and the session they are in."""

    id: str
    login: str
    name: str
    role: str
    unit: str | None
    csrf_token: str

    @property
    def caller(self) -> Caller:
        """The person as a caller of the service functions: identified (as an arbiter too)
        by the account, not the session, so a claim survives signing in again."""
        return Caller(key_id=f"user:{self.id}", name=self.name, role=self.role,
                      unit=self.unit, login=self.login)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    """A password has at least :data:`MIN_PASSWORD` characters, letters and digits.

    >>> check_password("abc")
    Traceback (most recent call last):
    ...
    jurisdiction.errors.InvalidInput: a password has at least 10 characters (field='password')
    >>> check_password("qingshui2026")
    """
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters",
                           code="weak_password", field="password")
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise InvalidInput("a password mixes letters and digits", code="weak_password",
                           field="password")


def user_document(row: Any) -> dict[str, Any]:
    """An account as listed: never its hash."""

    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    return {"id": row["id"], "login": row["login"], "name": row["name"], "role": row["role"],
            "unit": row["unit"], "disabled": bool(row["disabled"]),
            "locked_until": iso(row["locked_until"]), "created_at": iso(row["created_at"]),
            "last_login_at": iso(row["last_login_at"])}


def _row(conn: Connection, login: str, *, for_update: bool = False) -> Any:
    query = select(staff_users).where(staff_users.c.login == login)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def _account(conn: Connection, login: str) -> Any:
    row = _row(conn, login, for_update=True)
    if row is None:
        raise NotFound(f"no account {login!r}", code="user_not_found", login=login)
    return row


def create_user(conn: Connection, *, login: str, name: str, role: str, unit: str | None,
                password: str, now: datetime, actor: str,
                units: Any = None) -> dict[str, Any]:
    """A new account. ``units``: the unit codes that exist (checked when given)."""
    if not _LOGIN.fullmatch(login):
        raise InvalidInput("a login is 2–64 letters, digits, '.', '_' or '-', starting with "
                           "a letter", code="invalid_login", field="login", login=login)
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a name is 1–200 characters", code="invalid_name", field="name")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}",
                           code="invalid_role", field="role")
    if role == "unit" and not unit:
        raise InvalidInput("a unit account needs --unit", code="unit_required", field="unit")
    if unit is not None and units is not None and unit not in units:
        raise InvalidInput(f"unknown unit {unit!r}", code="unknown_unit", field="unit",
                           value=unit)
    check_password(password)
    user_id = secrets.token_hex(4)
    try:
        with conn.begin_nested():
            conn.execute(insert(staff_users).values(
                id=user_id, login=login, name=name.strip(), role=role, unit=unit,
                password_hash=_hasher.hash(password), disabled=False, failed_logins=0,
                created_at=now, password_changed_at=now))
    except IntegrityError as exc:
        raise Conflict(f"the login {login!r} is taken", code="login_taken", field="login",
                       login=login) from exc
    doc = user_document(_row(conn, login))
    audit.record(conn, actor=actor, action="user_created", subject=f"user:{login}",
                 before=None, after=doc, at=now)
    return doc


def _end_sessions(conn: Connection, user_id: str, now: datetime) -> None:
    conn.execute(update(staff_sessions).where(staff_sessions.c.user_id == user_id,
                                              staff_sessions.c.ended_at.is_(None))
                 .values(ended_at=now))


def reset_password(conn: Connection, login: str, password: str, *, now: datetime,
                   actor: str) -> dict[str, Any]:
    """A new password; unlocks the account and ends its sessions."""
    row = _account(conn, login)
    check_password(password)
    conn.execute(update(staff_users).where(staff_users.c.id == row["id"]).values(
        password_hash=_hasher.hash(password), password_changed_at=now, failed_logins=0,
        locked_until=None))
    _end_sessions(conn, row["id"], now)
    doc = user_document(_row(conn, login))
    audit.record(conn, actor=actor, action="user_password_reset", subject=f"user:{login}",
                 before=user_document(row), after=doc, at=now)
    return doc


def set_disabled(conn: Connection, login: str, disabled: bool, *, now: datetime,
                 actor: str) -> dict[str, Any]:
    """Disable an account (its sessions end at once) or enable it again."""
    row = _account(conn, login)
    conn.execute(update(staff_users).where(staff_users.c.id == row["id"]).values(
        disabled=disabled, failed_logins=0, locked_until=None))
    if disabled:
        _end_sessions(conn, row["id"], now)
    doc = user_document(_row(conn, login))
    audit.record(conn, actor=actor, action="user_disabled" if disabled else "user_enabled",
                 subject=f"user:{login}", before=user_document(row), after=doc, at=now)
    return doc


def list_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(staff_users).order_by(staff_users.c.login)).mappings()
    return [user_document(r) for r in rows]


def sign_in(conn: Connection, login: str, password: str, *,
            now: datetime) -> tuple[Staff, str]:
    """The person and a new session token, or 401 ``sign_in_failed`` (the same for an
    unknown login and a wrong password), 403 ``account_locked`` / ``account_disabled``.
    Commit the transaction even when this raises: the failure count must be kept."""
    row = _row(conn, login, for_update=True) if _LOGIN.fullmatch(login) else None
    if row is None:
        _verify(_DUMMY_HASH, password)
        raise Unauthorized("wrong login or password", code="sign_in_failed")
    if row["disabled"]:
        raise Forbidden("this account is disabled", code="account_disabled", login=login)
    if row["locked_until"] is not None and row["locked_until"] > now:
        raise Forbidden("this account is locked after repeated wrong passwords",
                        code="account_locked", login=login, until=row["locked_until"])
    if not _verify(row["password_hash"], password):
        failures = row["failed_logins"] + 1
        locked = failures >= MAX_FAILURES
        conn.execute(update(staff_users).where(staff_users.c.id == row["id"]).values(
            failed_logins=0 if locked else failures,
            locked_until=now + timedelta(minutes=LOCK_MINUTES) if locked else None))
        if locked:
            audit.record(conn, actor=f"{row['role']}:{row['name']}（{login}）",
                         action="account_locked", subject=f"user:{login}", before=None,
                         after={"failures": failures, "minutes": LOCK_MINUTES}, at=now)
        raise Unauthorized("wrong login or password", code="sign_in_failed")
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(update(staff_users).where(staff_users.c.id == row["id"]).values(
        failed_logins=0, locked_until=None, last_login_at=now))
    conn.execute(insert(staff_sessions).values(token_hash=_digest(token), user_id=row["id"],
                                               csrf_token=csrf, created_at=now,
                                               last_seen_at=now))
    staff = Staff(id=row["id"], login=login, name=row["name"], role=row["role"],
                  unit=row["unit"], csrf_token=csrf)
    audit.record(conn, actor=staff.caller.actor, action="signed_in", subject=f"user:{login}",
                 before=None, after=None, at=now)
    return staff, token


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def session_staff(conn: Connection, token: str | None, *, now: datetime) -> Staff | None:
    """The person a session token belongs to, or None when there is no such session or it
    has ended, idled out or run out (it is then ended), or the account is disabled."""
    if not token or len(token) > 200:
        return None
    query = (select(staff_sessions, staff_users.c.login, staff_users.c.name,
                    staff_users.c.role, staff_users.c.unit, staff_users.c.disabled)
             .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
             .where(staff_sessions.c.token_hash == _digest(token)))
    row = conn.execute(query).mappings().first()
    if row is None or row["ended_at"] is not None or row["disabled"]:
        return None
    if (now - row["last_seen_at"] > timedelta(minutes=IDLE_MINUTES)
            or now - row["created_at"] > timedelta(hours=SESSION_HOURS)):
        conn.execute(update(staff_sessions).where(staff_sessions.c.token_hash == row["token_hash"])
                     .values(ended_at=now))
        return None
    if now - row["last_seen_at"] > timedelta(seconds=SEEN_SECONDS):
        conn.execute(update(staff_sessions).where(staff_sessions.c.token_hash == row["token_hash"])
                     .values(last_seen_at=now))
    return Staff(id=row["user_id"], login=row["login"], name=row["name"], role=row["role"],
                 unit=row["unit"], csrf_token=row["csrf_token"])


def sign_out(conn: Connection, token: str, *, now: datetime) -> None:
    staff = session_staff(conn, token, now=now)
    conn.execute(update(staff_sessions).where(staff_sessions.c.token_hash == _digest(token))
                 .values(ended_at=now))
    if staff is not None:
        audit.record(conn, actor=staff.caller.actor, action="signed_out",
                     subject=f"user:{staff.login}", before=None, after=None, at=now)
