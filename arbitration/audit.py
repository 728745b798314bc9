"""The audit log: every write (rule change, event, statement, claim, ruling) appends one entry
with actor, time and before/after, chained by SHA-256 so that an altered or removed entry is
detected by :func:`verify_chain` (``quanze audit verify``).

A writer of the database could still delete the newest entries and move the head back, or
recompute the whole chain. Checkpoints close that gap: :func:`make_checkpoint` signs the
head's sequence number and hash with a key kept outside the database
(``QUANZE_AUDIT_KEY_FILE``), and :func:`check_checkpoint` finds a log that no longer extends
a checkpoint (``quanze audit checkpoint`` / ``quanze audit verify --checkpoint``).
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
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select, update

from arbitration.tables import audit_head, audit_log
from jurisdiction.bulk import insert_rows
from jurisdiction.errors import Conflict, InvalidInput, NotFound
from rules.privacy import mask_value

GENESIS = "0" * 64


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               before: Any, after: Any) -> str:
    """The hash of one entry, over the previous hash and the entry's canonical JSON."""
    body = json.dumps([prev_hash, seq, at, actor, action, subject, before, after],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def plain_entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str,
                     subject: str, before: Any, after: Any) -> str:
    """:func:`entry_hash` for values of JSON's own types only (str keys; str, int, bool,
    None, lists, dicts): orjson writes the same bytes as the standard library's encoder with
    those options, five times as fast (tests/unit/test_audit_hash.py holds it to that);
    anything orjson refuses goes the standard way."""
    try:
        body = orjson.dumps([prev_hash, seq, at, actor, action, subject, before, after],
                            option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return entry_hash(prev_hash, seq, at, actor, action, subject, before, after)
    return hashlib.sha256(body).hexdigest()


def _iso(at: datetime) -> str:
    """UTC, to the microsecond: what both SQLite and PostgreSQL give back."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def record(conn: Connection, *, actor: str, action: str, subject: str, before: Any,
           after: Any, at: datetime) -> int:
    """Append one entry in the caller's transaction; returns its sequence number."""
    return record_many(conn, [Entry(actor, action, subject, before, after)], at=at)


@dataclass(frozen=True)
class Entry:
    """One entry to append (:func:`record_many`)."""

    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    #: before and after hold only JSON's own types (str keys; str, int, bool, None, lists,
    #: dicts: no floats, tuples, datetimes or enums), so the JSON round trip that makes them
    #: so can be skipped and orjson can hash them
    plain: bool = False


def record_many(conn: Connection, entries: Iterable[Entry], *, at: datetime) -> int:
    """Append ``entries`` in order, in the caller's transaction; returns the last sequence
    number (the head's, when there are none).

    The chain is the same as from one :func:`record` per entry: the head row is locked and
    read once, the hashes are chained here, the rows inserted in bulk and the head moved
    once. (An import of the 55,050 rules of the synthetic city wrote one entry per rule with
    three statements each: most of its two minutes on PostgreSQL.)"""
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)
                        .with_for_update()).mappings().first()
    if head is None:
        conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS, note=""))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head["seq"], head["hash"]
    start = seq
    stamp = _iso(at)
    rows: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        # Masked before hashing: the chain verifies what is stored, and what is stored is
        # masked.
        before, after = mask_value(e.before), mask_value(e.after)
        if e.plain:
            digest = plain_entry_hash(prev, seq, stamp, e.actor, e.action, e.subject,
                                      before, after)
        else:
            before, after = _plain(before), _plain(after)
            digest = entry_hash(prev, seq, stamp, e.actor, e.action, e.subject, before, after)
        rows.append({"seq": seq, "at": at, "actor": e.actor, "action": e.action,
                     "subject": e.subject[:200], "before": before, "after": after,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    insert_rows(conn, audit_log, rows)
    if seq != start:
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
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


def verify_chain(rows: Iterable[Mapping[Any, Any]], head: Mapping[str, Any] | None, *,
                 after_seq: int = 0, after_hash: str = GENESIS
                 ) -> tuple[int, list[ChainProblem]]:
    """Check entries in sequence order; returns (entries checked, problems). ``after_seq``
    and ``after_hash``: the rows continue a chain already verified up to that entry."""
    problems: list[ChainProblem] = []
    expected_seq, prev = after_seq + 1, after_hash
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


def _head_row(conn: Connection) -> dict[str, Any] | None:
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().first()
    return dict(head) if head is not None else None


def _rows_to_head(conn: Connection, after_seq: int, head: Mapping[str, Any] | None) -> Any:
    """The entries after ``after_seq`` up to the head read before them: an entry appended
    meanwhile is left for the next check, not taken for a head moved back."""
    query = select(audit_log).where(audit_log.c.seq > after_seq)
    if head is not None:
        query = query.where(audit_log.c.seq <= head["seq"])
    return conn.execute(query.order_by(audit_log.c.seq)).mappings()


def verify_log(conn: Connection) -> tuple[int, list[ChainProblem]]:
    """The whole chain from its first entry (rows streamed, not held), and no entry past
    its head: every writer moves the head in the transaction that appends, so an entry the
    head does not reach, once the head is read again, was put there behind the log's back."""
    head = _head_row(conn)
    count, problems = verify_chain(_rows_to_head(conn, 0, head), head)
    last = conn.execute(select(func.max(audit_log.c.seq))).scalar() or 0
    if last > (head["seq"] if head else 0):
        now_head = _head_row(conn)  # a writer may have appended since the first read
        reached = now_head["seq"] if now_head else 0
        if last > reached:
            problems.append(ChainProblem(reached + 1, f"entries {reached + 1}…{last} lie past "
                                         "the head (added outside the audit log's writer)"))
    return count, problems


@dataclass(frozen=True)
class Verified:
    """What a verification found: entries ``1…seq`` checked (``count`` of them), the hash
    of entry ``seq``, the problems, and when the chain was last checked from its start."""

    seq: int
    hash: str
    count: int
    problems: tuple[ChainProblem, ...]
    full_at: datetime
    #: entries this call checked (all of them for a full check; the new ones otherwise)
    checked: int


def verify_since(conn: Connection, last: Verified | None, *, now: datetime) -> Verified:
    """The chain's state, checking only the entries after ``last`` where it can.

    The whole chain is checked when there is no ``last``, when it found problems, or when
    entry ``last.seq`` no longer has the hash it had (rewritten, or removed with the head
    moved back); else only the entries after ``last.seq``, continuing from its hash. An
    alteration of an entry older than ``last.seq`` is found by the next whole check
    (:class:`ChainCache` makes one at least hourly; ``quanze audit verify`` always does)."""
    if last is not None and not last.problems:
        at_last = GENESIS if last.seq == 0 else conn.execute(
            select(audit_log.c.hash).where(audit_log.c.seq == last.seq)).scalar()
        if at_last == last.hash:
            head = _head_row(conn)
            checked, problems = verify_chain(_rows_to_head(conn, last.seq, head), head,
                                             after_seq=last.seq, after_hash=last.hash)
            seq, digest = (int(head["seq"]), str(head["hash"])) if head else (0, GENESIS)
            return Verified(seq, digest, last.count + checked, tuple(problems), last.full_at,
                            checked)
    head = _head_row(conn)
    count, problems = verify_chain(_rows_to_head(conn, 0, head), head)
    seq, digest = (int(head["seq"]), str(head["hash"])) if head else (0, GENESIS)
    return Verified(seq, digest, count, tuple(problems), now, count)


class ChainCache:
    """The chain's state for the audit page, one per app, shared by the threads that serve
    pages: each view checks only the entries added since the last (milliseconds), and the
    whole chain is checked again when ``full_every`` has passed or when asked.

    A whole check of a log longer than ``inline`` entries runs in a thread of its own (on a
    loaded machine 100,000 entries took 6.5-9 s): meanwhile :meth:`state` answers with the
    last state (None before the first check ends) and :attr:`checking` is true."""

    def __init__(self, *, full_every: timedelta = timedelta(hours=1),
                 inline: int = 20_000) -> None:
        self.full_every = full_every
        self.inline = inline
        self._last: Verified | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    @property
    def checking(self) -> bool:
        """A whole check runs in the background."""
        return self._worker is not None and self._worker.is_alive()

    def state(self, engine: Engine, *, now: datetime, full: bool = False) -> Verified | None:
        """The chain's state now; ``full`` starts a whole check whatever was cached."""
        with self._lock:
            last = self._last
            stale = last is None or bool(last.problems) or now - last.full_at >= self.full_every
            if full or stale:
                with engine.connect() as conn:
                    seq, _ = head_of(conn)
                    if seq <= self.inline:
                        self._last = verify_since(conn, None, now=now)
                        return self._last
                self._start(engine, now)
                if last is None or last.problems:
                    return last
            assert last is not None
            with engine.connect() as conn:
                self._last = verify_since(conn, last, now=now)
            return self._last

    def _start(self, engine: Engine, now: datetime) -> None:
        if self.checking:
            return

        def check() -> None:
            with engine.connect() as conn:
                found = verify_since(conn, None, now=now)
            with self._lock:
                self._last = found

        self._worker = threading.Thread(target=check, name="audit-chain-check", daemon=True)
        self._worker.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background check (tests, shutdown)."""
        if self._worker is not None:
            self._worker.join(timeout)


#: the most entries one page of the log shows
MAX_PAGE = 200


def list_entries(conn: Connection, *, actor: str | None = None, subject: str | None = None,
                 action: str | None = None, start: datetime | None = None,
                 end: datetime | None = None, before: int | None = None,
                 limit: int = 50) -> dict[str, Any]:
    """A page of the log, newest first: entries by ``actor`` (exact), about subjects that
    start with ``subject`` (``dispute:``, ``rule:R-0301``), of one ``action``, at or after
    ``start`` and before ``end``, older than entry ``before`` (the previous page's
    ``next``). Returns ``{"entries": [...], "next": seq or None}``."""
    limit = max(1, min(limit, MAX_PAGE))
    log = audit_log
    query = select(log.c.seq, log.c.at, log.c.actor, log.c.action, log.c.subject,
                   log.c.before, log.c.after)
    if actor:
        query = query.where(log.c.actor == actor)
    if subject:
        escaped = subject.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(log.c.subject.like(escaped + "%", escape="\\"))
    if action:
        query = query.where(log.c.action == action)
    if start is not None:
        query = query.where(log.c.at >= start)
    if end is not None:
        query = query.where(log.c.at < end)
    if before is not None:
        query = query.where(log.c.seq < before)
    rows = [dict(r) for r in conn.execute(query.order_by(log.c.seq.desc()).limit(limit + 1))
            .mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"entries": rows, "next": rows[-1]["seq"] if more and rows else None}


def log_facets(conn: Connection, *, after: int = 0) -> dict[str, list[str]]:
    """The actors and actions that occur in the log (in entries after ``after`` only: what
    to add to facets already known), for filters."""
    def distinct(column: Any) -> list[str]:
        query = select(column).distinct().order_by(column)
        if after:
            query = query.where(audit_log.c.seq > after)
        return [r[0] for r in conn.execute(query)]

    return {"actors": distinct(audit_log.c.actor), "actions": distinct(audit_log.c.action)}


def matrix_change_entry(conn: Connection, report: Any, matrix: Any, *, actor: str,
                        at: datetime, before_rules: Mapping[str, Any]) -> None:
    """One entry per changed rule (before/after) and one for the version, appended in bulk
    (:func:`record_many`)."""
    def entries() -> Iterator[Entry]:
        for kind_ids in (report.added["rules"], report.changed["rules"],
                         report.retired["rules"]):
            for rule_id in kind_ids:
                old = before_rules.get(rule_id)
                new = matrix.rules.get(rule_id)
                # Rule.content() is JSON's own types: a bundle entry
                yield Entry(actor, "rule_change", f"rule:{rule_id}",
                            old.content() if old else None, new.content() if new else None,
                            plain=True)
        yield Entry(actor, "ruleset_version", f"ruleset:{report.version}",
                    {"version": report.previous_version},
                    {k: v for k, v in report.as_dict().items() if k != "ids"})

    record_many(conn, entries(), at=at)


# -- checkpoints: the head, signed with a key the database does not hold ---------------------

CHECKPOINT_FORMAT = "quanze-audit-checkpoint/1"
#: where the signing key lives (a file outside the database, created on first use)
KEY_FILE_ENV = "QUANZE_AUDIT_KEY_FILE"


def default_key_file() -> Path:
    """``$QUANZE_AUDIT_KEY_FILE``, else ``~/.config/quanze/audit.key``."""
    named = os.environ.get(KEY_FILE_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "quanze" / "audit.key"


def load_signing_key(path: Path, *, create: bool) -> bytes:
    """The signing key in ``path`` (64 hex digits). With ``create``, a missing file is made
    with a new random key, readable by its owner only (0600)."""
    if not path.exists():
        if not create:
            raise NotFound(f"no audit signing key at {path}", code="audit_key_not_found",
                           path=str(path))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidInput(f"{path} does not hold an audit signing key",
                           code="invalid_audit_key", path=str(path)) from exc
    if len(key) < 32:
        raise InvalidInput(f"{path} holds a key shorter than 32 bytes",
                           code="invalid_audit_key", path=str(path))
    return key


def key_id(key: bytes) -> str:
    """A short name for a signing key (not the key): which key signed a checkpoint."""
    return hashlib.sha256(b"quanze-audit-key:" + key).hexdigest()[:16]


def _signed_body(checkpoint: Mapping[str, Any]) -> bytes:
    fields = {k: v for k, v in checkpoint.items() if k != "signature"}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def sign_checkpoint(seq: int, digest: str, *, key: bytes, made_at: datetime) -> dict[str, Any]:
    """A checkpoint of the chain's head: entry ``seq`` has hash ``digest``, signed with
    HMAC-SHA256 under ``key``.

    >>> cp = sign_checkpoint(3, "ab" * 32, key=b"k" * 32,
    ...                      made_at=datetime(2026, 11, 30, tzinfo=UTC))
    >>> cp["seq"], cp["alg"], checkpoint_signature_ok(cp, b"k" * 32)
    (3, 'HMAC-SHA256', True)
    >>> checkpoint_signature_ok({**cp, "seq": 2}, b"k" * 32)
    False
    """
    checkpoint: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT, "seq": seq, "hash": digest,
        "made_at": made_at.astimezone(UTC).isoformat(), "alg": "HMAC-SHA256",
        "key_id": key_id(key)}
    checkpoint["signature"] = hmac.new(key, _signed_body(checkpoint), "sha256").hexdigest()
    return checkpoint


def checkpoint_signature_ok(checkpoint: Mapping[str, Any], key: bytes) -> bool:
    expected = hmac.new(key, _signed_body(checkpoint), "sha256").hexdigest()
    return hmac.compare_digest(expected, str(checkpoint.get("signature", "")))


def head_of(conn: Connection) -> tuple[int, str]:
    """The chain's head: the newest entry's sequence number and hash (0 and the genesis
    hash for an empty log)."""
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                        .where(audit_head.c.id == 1)).first()
    return (0, GENESIS) if head is None else (int(head.seq), str(head.hash))


def make_checkpoint(conn: Connection, *, key: bytes, now: datetime) -> dict[str, Any]:
    """A signed checkpoint of the head; a broken chain is not signed (``Conflict``
    ``audit_chain_broken``)."""
    count, problems = verify_log(conn)
    if problems:
        raise Conflict(f"the audit chain is broken ({len(problems)} problem(s) in {count} "
                       "entries); it cannot be checkpointed", code="audit_chain_broken",
                       problems=len(problems))
    seq, digest = head_of(conn)
    return sign_checkpoint(seq, digest, key=key, made_at=now)


def check_checkpoint(conn: Connection, checkpoint: Mapping[str, Any],
                     key: bytes) -> list[ChainProblem]:
    """Why the log no longer extends ``checkpoint`` (empty when it does): a wrong signature,
    entries removed back past it, or the chain rewritten up to it."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        return [ChainProblem(0, "检查点文件格式不对")]
    seq = checkpoint.get("seq")
    if checkpoint.get("key_id") != key_id(key):
        return [ChainProblem(0, "检查点不是用这把密钥签的（密钥编号不符）")]
    if not checkpoint_signature_ok(checkpoint, key) or not isinstance(seq, int):
        return [ChainProblem(0, "检查点签名不符：文件被改过，或不是本机构的检查点")]
    if seq == 0:
        return []
    row = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq)).first()
    if row is None:
        last, _ = head_of(conn)
        newest = conn.execute(select(func.max(audit_log.c.seq))).scalar() or 0
        return [ChainProblem(seq, f"检查点记录到第 {seq} 条，日志现在只到第 {newest} 条"
                             f"（链头为第 {last} 条）：检查点之后确认过的条目被删除")]
    if row.hash != checkpoint.get("hash"):
        return [ChainProblem(seq, f"第 {seq} 条的哈希与检查点不同：检查点之前的日志被改写")]
    return []
