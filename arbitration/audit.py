"""The audit log: every write (rule change, event, statement, claim, ruling) appends one entry
with actor, time and before/after, chained by SHA-256 so that an altered or removed entry is
detected by :func:`verify_chain` (``quanze audit verify``).

An entry holds no personal data: :func:`record` masks every string of ``before`` and
``after`` (:func:`rules.privacy.mask_value`) before hashing, so the chain covers exactly what
is stored, and nothing ever has to be removed from the log (the retention purge of
:mod:`arbitration.retention` leaves it alone).

>>> e = entry_hash("0" * 64, 1, "2026-01-01T00:00:00+00:00", "a", "x", "s", None, {"k": 1})
>>> len(e)
64
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from arbitration.tables import audit_head, audit_log
from rules.privacy import mask_value

GENESIS = "0" * 64


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               before: Any, after: Any) -> str:
    """The hash of one entry, over the previous hash and the entry's canonical JSON."""
    body = json.dumps([prev_hash, seq, at, actor, action, subject, before, after],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _iso(at: datetime) -> str:
    """UTC, to the microsecond: what both SQLite and PostgreSQL give back."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def record(conn: Connection, *, actor: str, action: str, subject: str, before: Any,
           after: Any, at: datetime) -> int:
    """Append one entry in the caller's transaction; returns its sequence number."""
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)
                        .with_for_update()).mappings().first()
    if head is None:
        conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS, note=""))
        seq, prev = 1, GENESIS
    else:
        seq, prev = head["seq"] + 1, head["hash"]
    # Masked before hashing: the chain verifies what is stored, and what is stored is masked.
    before, after = _plain(mask_value(before)), _plain(mask_value(after))
    digest = entry_hash(prev, seq, _iso(at), actor, action, subject, before, after)
    conn.execute(insert(audit_log).values(seq=seq, at=at, actor=actor, action=action,
                                          subject=subject[:200], before=before, after=after,
                                          prev_hash=prev, hash=digest))
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
    return seq


def _plain(value: Any) -> Any:
    """JSON-safe, so the stored value hashes the same when read back."""
    return None if value is None else json.loads(json.dumps(value, ensure_ascii=False,
                                                            default=str))


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "problem": self.problem}


def verify_chain(rows: Iterable[Mapping[str, Any]], head: Mapping[str, Any] | None
                 ) -> tuple[int, list[ChainProblem]]:
    """Check entries in sequence order; returns (entries checked, problems)."""
    problems: list[ChainProblem] = []
    expected_seq, prev = 1, GENESIS
    count = 0
    for row in rows:
        count += 1
        if row["seq"] != expected_seq:
            problems.append(ChainProblem(expected_seq, f"entries {expected_seq}…{row['seq'] - 1}"
                                         " are missing"))
        if row["prev_hash"] != prev:
            problems.append(ChainProblem(row["seq"], "does not follow the entry before it"))
        digest = entry_hash(row["prev_hash"], row["seq"], _iso(row["at"]), row["actor"],
                            row["action"], row["subject"], row["before"], row["after"])
        if digest != row["hash"]:
            problems.append(ChainProblem(row["seq"], "was altered (hash mismatch)"))
        expected_seq, prev = row["seq"] + 1, row["hash"]
    if head is not None and (head["seq"] != expected_seq - 1 or head["hash"] != prev):
        problems.append(ChainProblem(head["seq"], "the newest entries were removed "
                                     f"(head says {head['seq']}, log ends at "
                                     f"{expected_seq - 1})"))
    return count, problems


def verify_log(conn: Connection) -> tuple[int, list[ChainProblem]]:
    rows = [dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))
            .mappings()]
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().first()
    return verify_chain(rows, dict(head) if head is not None else None)


def matrix_change_entry(conn: Connection, report: Any, matrix: Any, *, actor: str,
                        at: datetime, before_rules: Mapping[str, Any]) -> None:
    """One entry per changed rule (before/after) and one for the version."""
    for kind_ids in (report.added["rules"], report.changed["rules"], report.retired["rules"]):
        for rule_id in kind_ids:
            old = before_rules.get(rule_id)
            new = matrix.rules.get(rule_id)
            record(conn, actor=actor, action="rule_change", subject=f"rule:{rule_id}",
                   before=old.content() if old else None,
                   after=new.content() if new else None, at=at)
    record(conn, actor=actor, action="ruleset_version", subject=f"ruleset:{report.version}",
           before={"version": report.previous_version},
           after={k: v for k, v in report.as_dict().items() if k != "ids"}, at=at)
