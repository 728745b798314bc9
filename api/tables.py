"""Tables of the API layer: API keys (stored as hashes) and the key epoch."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table

from jurisdiction.tables import UTCDateTime, metadata

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(20), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("unit", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", UTCDateTime),
    Column("expires_at", UTCDateTime),  # null: never
    Column("rotated_at", UTCDateTime),  # when the current secret replaced the previous one
    Column("last_used_at", UTCDateTime),  # recorded at most once a minute per process
)

#: One row, counted up by every revocation and rotation: each server reads it every half
#: second and forgets the keys it verified when it moved, so a revoked secret is refused
#: everywhere within a second without looking every key up on every request.
api_key_epoch = Table(
    "api_key_epoch", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", Integer, nullable=False),
)

#: Staff accounts of the workbench (``quanze users create``): people, not machines. A
#: password is kept only as an argon2 hash; ``failed_logins`` and ``locked_until`` lock an
#: account out after repeated wrong passwords.
staff_users = Table(
    "staff_users", metadata,
    Column("id", String(20), primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("unit", String(64)),
    Column("password_hash", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)

#: Signed-in sessions: the cookie holds a random token, the table only its SHA-256, so a
#: copy of the database signs nobody in. Ending a session (sign-out, expiry, a disabled
#: account, a password reset) takes effect on the next request everywhere.
staff_sessions = Table(
    "staff_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(20), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)
