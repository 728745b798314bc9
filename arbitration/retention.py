"""Retention of ticket text: after a while a decision forgets the citizen's words.

Personal data is masked before anything is stored (:mod:`rules.privacy`), but a name, an
address or a disability grade cannot be found by pattern. So a routing decision keeps the
ticket's text only for the retention period (``QUANZE_TEXT_RETENTION_DAYS``, default 180 days;
``quanze privacy purge``). The purge removes the text from the stored request and keeps
everything the decision is: its rule-set version, status, lead, co-handlers, rule, basis and
explanation (the response is not touched).

What replay needs of the text stays too: the purge keeps, in the request, every keyword of
every rule revision the matrix has ever had that the text contained (``kept_keywords``,
words of the matrix, not the citizen's), with the head version at the time
(``keywords_version``). :func:`rules.service.ticket_from_request` gives those keywords to
the replay as the ticket's text, so a replay under any version up to that one tests
keywords exactly as the text did; a later version's new keywords were not kept
(:func:`rules.service.replay_decision` says ``keyword_tests: limited``).

The audit log is never touched: it holds masked text only (:func:`arbitration.audit.record`),
and its hash chain covers exactly what is stored. Ticket histories, dispute statements and
rulings are the office's own record of its handling; they are masked, not purged. A purge
appends one audit entry with its counts.

>>> from datetime import UTC, datetime
>>> retention_cutoff(datetime(2026, 11, 30, tzinfo=UTC), 180).date().isoformat()
'2026-06-03'
>>> retention_cutoff(datetime(2026, 11, 30, tzinfo=UTC), 0) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy import Engine as DbEngine

from arbitration import audit
from rules import admin
from rules.privacy import kept_keywords
from rules.store import current_version
from rules.tables import decisions
from rules.tables import rules as rules_table

#: decisions read and rewritten per transaction
BATCH = 500


def retention_cutoff(now: datetime, days: int) -> datetime | None:
    """The time before which stored ticket text is removed; None when retention is off
    (``days`` ≤ 0)."""
    return now - timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class PurgeReport:
    """What a purge did, or would do (``dry_run``)."""

    before: datetime
    dry_run: bool
    #: decisions made before ``before`` that had not been purged
    decisions: int = 0
    #: of them, those that held text (the others are only marked as done)
    texts_removed: int = 0
    #: keywords kept, summed over the decisions
    keywords_kept: int = 0
    #: the head rule-set version whose keywords were kept
    keywords_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"before": self.before.isoformat(), "dry_run": self.dry_run,
                "decisions": self.decisions, "texts_removed": self.texts_removed,
                "keywords_kept": self.keywords_kept,
                "keywords_version": self.keywords_version}


def _all_keywords(conn: Connection) -> frozenset[str]:
    """Every keyword of every rule revision ever stored."""
    words: set[str] = set()
    for (text_any,) in conn.execute(select(rules_table.c.text_any)):
        words.update(text_any or ())
    return frozenset(words)


def purged_request(request: Mapping[str, Any], keywords: frozenset[str],
                   version: int) -> dict[str, Any]:
    """A stored request without its text: what the purge writes.

    >>> purged_request({"category": "030101", "text": "楼下私搭乱建，电话138****5678"},
    ...                frozenset({"私搭", "违建"}), 7)
    {'category': '030101', 'text': '', 'text_removed': True, 'kept_keywords': ['私搭'], \
'keywords_version': 7}
    """
    return {**request, "text": "", "text_removed": True,
            "kept_keywords": kept_keywords(request.get("text") or "", keywords),
            "keywords_version": version}


_MARK = (update(decisions)
         .where(decisions.c.id == bindparam("b_id"), decisions.c.text_removed_at.is_(None))
         .values(text_removed_at=bindparam("b_at")))
_REMOVE = (update(decisions)
           .where(decisions.c.id == bindparam("b_id"), decisions.c.text_removed_at.is_(None))
           .values(request=bindparam("b_request"), text_removed_at=bindparam("b_at")))


def purge_text(db: DbEngine, *, before: datetime, now: datetime, actor: str,
               dry_run: bool = False, batch: int = BATCH) -> PurgeReport:
    """Remove the ticket text of every decision made before ``before`` (oldest first, in
    transactions of ``batch`` decisions), keeping the decision and its keywords; append one
    audit entry ``privacy_purge`` with the counts. ``dry_run`` counts and writes nothing.
    Running it again changes nothing: purged decisions are marked (``text_removed_at``)."""
    d = decisions.c
    with db.connect() as conn:
        keywords = _all_keywords(conn)
        version = current_version(conn)
    seen = removed = kept = 0
    last: tuple[datetime, str] | None = None
    while True:
        with admin.write_transaction(db) as conn:
            query = select(d.id, d.created_at, d.request).where(
                d.created_at < before, d.text_removed_at.is_(None))
            if last is not None:
                query = query.where(or_(d.created_at > last[0],
                                        and_(d.created_at == last[0], d.id > last[1])))
            rows = conn.execute(query.order_by(d.created_at, d.id).limit(batch)).all()
            if not rows:
                break
            last = (rows[-1].created_at, rows[-1].id)
            marks: list[dict[str, Any]] = []
            removals: list[dict[str, Any]] = []
            for row in rows:
                seen += 1
                if not (row.request or {}).get("text"):
                    marks.append({"b_id": row.id, "b_at": now})
                    continue
                request = purged_request(row.request, keywords, version)
                removed += 1
                kept += len(request["kept_keywords"])
                removals.append({"b_id": row.id, "b_request": request, "b_at": now})
            if not dry_run:
                if marks:
                    conn.execute(_MARK, marks)
                if removals:
                    conn.execute(_REMOVE, removals)
    report = PurgeReport(before=before, dry_run=dry_run, decisions=seen,
                         texts_removed=removed, keywords_kept=kept, keywords_version=version)
    if not dry_run and seen:
        with admin.write_transaction(db) as conn:
            audit.record(conn, actor=actor, action="privacy_purge", subject="decisions",
                         before=None, after=report.as_dict(), at=now)
    return report
