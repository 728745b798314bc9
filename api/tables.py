"""Tables of the API layer: API keys (stored as hashes)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String, Table

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
)
