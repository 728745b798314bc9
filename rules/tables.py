"""SQLAlchemy tables of the rules layer: rule revisions and decisions (append-only), and the
decisions' daily counts the statistics read (``decision_days``, ``rollup_zone``)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, String, Table, Text

from jurisdiction.tables import UTCDateTime, metadata

rules = Table(
    "rules", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),  # the rule-set version that wrote it
    Column("revision", Integer, nullable=False),  # 1, 2, … per rule id
    Column("category", String(64), nullable=False),
    Column("area", String(64)),
    Column("when", JSON, nullable=False),
    Column("text_any", JSON, nullable=False),
    Column("lead", String(64), nullable=False),
    Column("co_handlers", JSON, nullable=False),
    Column("basis", Text, nullable=False),
    Column("source", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    # ISO 8601 text: keeps the offset the administrator wrote (+08:00) through export.
    Column("valid_from", String(40)),
    Column("valid_to", String(40)),
    Column("ruling_id", String(64)),
    Column("note", Text, nullable=False, default=""),
    Column("retired", Boolean, nullable=False, default=False),
    Column("actor", String(200), nullable=False),
)

decisions = Table(
    "decisions", metadata,
    Column("id", String(40), primary_key=True),
    Column("ticket_id", String(100)),
    Column("ruleset_version", Integer, nullable=False),
    # the content digest of the matrix the decision was made by (null before digests)
    Column("ruleset_digest", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("category", String(64), nullable=False),
    Column("area", String(64)),
    Column("status", String(20), nullable=False),
    Column("lead", String(64)),
    Column("rule_id", String(64)),
    Column("request", JSON, nullable=False),
    Column("response", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    # When the retention purge removed the request's text (arbitration.retention); the
    # decision itself is never changed.
    Column("text_removed_at", UTCDateTime),
)
Index("ix_decisions_ticket", decisions.c.ticket_id, decisions.c.created_at)
Index("ix_decisions_category", decisions.c.category)
Index("ix_decisions_created", decisions.c.created_at)
# The purge's worklist: decisions that still hold their text, oldest first.
Index("ix_decisions_text_kept", decisions.c.created_at,
      sqlite_where=decisions.c.text_removed_at.is_(None),
      postgresql_where=decisions.c.text_removed_at.is_(None))

# -- statistics rollups (arbitration.rollups): counters kept in the writers' transactions ------

#: The time zone whose local days the statistics rollups count by: one row (``id`` 1), written
#: by migration 0012 and by ``quanze stats rebuild``. Without it nothing is rolled up and every
#: statistic is counted from the history.
rollup_zone = Table(
    "rollup_zone", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("timezone", String(64), nullable=False),
)

#: Routing decisions per lead (主办) and local day, and those decided by an explicit rule:
#: added to by every writer of decisions in the transaction that stores them.
decision_days = Table(
    "decision_days", metadata,
    Column("day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("decisions", Integer, nullable=False),
    Column("routed", Integer, nullable=False),
)
