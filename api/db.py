"""Database engine and migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from rules.admin import WRITER_OPTION

MIGRATIONS = Path(__file__).parent / "migrations"


def _dumps(value: Any) -> str:
    # JSON columns (decisions, events) are written on every routing call; orjson is several
    # times faster than the standard library here and writes UTF-8 as it is.
    return orjson.dumps(value).decode()


#: how long a SQLite connection waits for the write lock before "database is locked" (ms)
SQLITE_BUSY_MS = 30_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _dumps)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                 "timeout": SQLITE_BUSY_MS / 1000},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # pysqlite begins a transaction only before an INSERT, UPDATE or DELETE, so a
            # SAVEPOINT opened first began one of its own, and its RELEASE committed the new
            # rule-set version row alone: other processes saw the version 0.4-1 s before its
            # rules. quanze begins every transaction itself (below, SQLAlchemy's recipe).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writer's transaction takes the write lock at once: a deferred one that read
            # and then wrote after another connection's commit failed at once ("database is
            # locked"; the busy timeout does not cover it). Readers stay deferred, so they
            # never wait for a writer (WAL).
            writes = conn.get_execution_options().get(WRITER_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration (``quanze db upgrade``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")



@contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """A new empty schema ``<prefix><hex>`` on the PostgreSQL server at ``url``, dropped with
    all it holds afterwards; yields a URL whose connections use it. For tests and benchmarks,
    which must not touch the database's other users."""
    schema = prefix + uuid.uuid4().hex[:12]
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
