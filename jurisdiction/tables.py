"""SQLAlchemy tables for the jurisdiction model (the storage adapter; the model itself is
:mod:`jurisdiction.model`). Every table of quanze hangs off :data:`metadata`.

Units, areas and categories are stored as revisions: a change inserts a row for the new
rule-set version (``version``); the state at version V is, per code, the latest row with
``version <= V`` unless that row says ``retired``. Nothing is updated in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _revisioned(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name, metadata,
        Column("code", String(64), primary_key=True),
        Column("version", Integer, primary_key=True),
        *columns,
        Column("retired", Boolean, nullable=False, default=False),
    )


units = _revisioned(
    "units",
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
)

areas = _revisioned(
    "areas",
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("parent", String(64)),
    Column("unit", String(64)),
)

categories = _revisioned(
    "categories",
    Column("name", String(200), nullable=False),
    Column("parent", String(64)),
    Column("departmental", Boolean, nullable=False, default=False),
    Column("default_unit", String(64)),
    Column("intake", String(20)),  # jurisdiction.model.Intake; null: dispatched as usual
)

settings = _revisioned(
    "settings",
    Column("value", String(500)),
)

ruleset_versions = Table(
    "ruleset_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", String(500), nullable=False, default=""),
    # SHA-256 (hex) of the matrix's content at this version (rules.store.content_digest);
    # null on versions committed before digests existed
    Column("digest", String(64)),
    # how ``digest`` was computed: null or 1, one hash of the whole matrix; 2, per-row sums
    # (rules.store.DIGEST_SCHEME)
    Column("digest_scheme", Integer),
)
