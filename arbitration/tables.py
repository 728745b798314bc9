"""SQLAlchemy tables of the arbitration layer: the audit log (append-only, hash-chained)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, Table, Text

from jurisdiction.tables import UTCDateTime, metadata

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: One row: the chain's head, locked by each writer so entries are numbered without gaps.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
)
