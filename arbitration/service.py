"""The arbitration service: tickets, disputes and the district policy in the database.

Each function takes the caller's SQLAlchemy ``Connection`` (its transaction: the caller commits
or rolls back) and plain values; the pure rules live in :mod:`arbitration.tickets` and
:mod:`arbitration.disputes`. Every write appends an audit entry in the same transaction.

Storage, in short:

- A ticket's **history** (``ticket_events``, ordered by ``seq``) is the truth; the ``tickets``
  row is a projection for queries. Each stored event remembers the policy and territorial
  unit it was applied under, so replaying an old history gives the same state after the
  district changes its policy.
- Two writers on one ticket serialise on the ``tickets`` row (``SELECT … FOR UPDATE`` on
  PostgreSQL); should they still race, the ``(ticket_id, seq)`` key lets only one append
  event N and the other gets ``Conflict`` ``ticket_conflict``.
- A dispute's row carries its whole :class:`~arbitration.disputes.DisputeState` as JSON;
  ``dispute_events`` is its append-only history. A claim is a conditional ``UPDATE``, so two
  arbiters can never both hold one dispute.
- The policy of a district is stored append-only in ``policies`` (one row per revision);
  ``*`` is the default for districts without their own. It carries the district's calendar
  override; each stored event also remembers the last year the holiday library knew when it
  was applied (``applied.library_until``), so its replay does not change when the library
  later learns a year that was counted Monday–Friday.
- A dispute's stage deadline counted over a year the calendar did not cover is provisional;
  when a policy is saved, such deadlines are counted again under the policy now in force
  (a ``deadline_revised`` dispute event records each change).
- Free text (an event's ``note`` and ``basis``, a statement's ``text`` and ``basis``) is
  stored with personal data masked (:func:`rules.privacy.mask_text`): the event and the
  statement are masked as they arrive, so the history, the projection, the answer and the
  audit entry all hold the same masked text.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from arbitration import audit, rollups
from arbitration import disputes as dispute_rules
from arbitration.calendar import is_provisional, library_years, missing_years, to_local
from arbitration.disputes import (
    ACTIVE_STATUSES,
    Arbiter,
    DisputeState,
    DisputeStatus,
    Statement,
    iso,
)
from arbitration.policy import DEFAULT_POLICY, Policy
from arbitration.tables import (
    dispute_events,
    dispute_parties,
    policies,
    rulings,
    ticket_events,
    tickets,
)
from arbitration.tables import disputes as disputes_table
from arbitration.tickets import (
    CLIENT_EVENT_TYPES,
    ENDED_STATUSES,
    Event,
    EventType,
    OpenDispute,
    TicketState,
    TicketStatus,
    apply,
    involves,
    is_return_deadline_provisional,
    permits,
    return_deadline,
)
from jurisdiction.errors import Conflict, InvalidInput, NotFound
from jurisdiction.model import Unit, unit_ref
from rules.model import Decision, Status, Ticket
from rules.privacy import mask_text
from rules.resolution import context_for, resolve_role
from rules.service import Router
from rules.store import Matrix
from rules.tables import decisions
from rules.verification import Finding, Report, verify

#: The policy of each district, append-only: a change inserts the next revision.
DEFAULT_DISTRICT = "*"
#: How far ahead of the clock an event's ``at`` may be (clock skew between systems).
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_PAGE = 200

__all__ = [
    "DEFAULT_DISTRICT", "Arbiter", "add_statement", "calendar_findings",
    "check_out_of_scope_closer", "check_ruler", "claim_dispute", "close_dispute", "flag_overdue",
    "get_dispute", "get_policy", "get_ticket", "list_disputes", "list_tickets", "load_dispute",
    "load_policy", "load_ticket", "new_dispute_id", "open_ambiguous_dispute",
    "open_dispute_record", "put_policy", "record_ticket_event", "routing_context",
    "similar_rulings", "ticket_view",
]


# -- policy ----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _policy_from_json(text: str) -> Policy:
    return Policy.from_dict(json.loads(text))


def _policy_of(data: Mapping[str, Any] | None) -> Policy:
    if data is None:
        return DEFAULT_POLICY
    return _policy_from_json(json.dumps(data, sort_keys=True, ensure_ascii=False))


def get_policy(conn: Connection, district: str | None = None) -> dict[str, Any]:
    """The policy in force for ``district`` (an area code; None for the default): the
    district's newest revision, else the default's, else the built-in one.

    Answers ``{"district", "revision", "source": district|default|builtin, "policy"}``.
    """
    keys = [k for k in (district, DEFAULT_DISTRICT) if k is not None]
    rows = conn.execute(select(policies).where(policies.c.district.in_(keys))).mappings().all()
    newest: dict[str, dict[str, Any]] = {}
    for found in rows:  # one query for both; a district's revisions are few
        if (found["district"] not in newest
                or found["revision"] > newest[found["district"]]["revision"]):
            newest[found["district"]] = dict(found)
    for key, source in ((district, "district"), (DEFAULT_DISTRICT, "default")):
        row = newest.get(key) if key is not None else None
        if row is not None:
            return {"district": district or DEFAULT_DISTRICT, "revision": row["revision"],
                    "source": source, "policy": _policy_of(row["policy"]).as_dict(),
                    "set_by": row["actor"], "set_at": row["at"].isoformat()}
    return {"district": district or DEFAULT_DISTRICT, "revision": 0, "source": "builtin",
            "policy": DEFAULT_POLICY.as_dict(), "set_by": None, "set_at": None}


def load_policy(conn: Connection, district: str | None = None) -> Policy:
    """The :class:`Policy` in force for ``district`` (see :func:`get_policy`)."""
    return _policy_of(get_policy(conn, district)["policy"])


def put_policy(conn: Connection, district: str | None, data: Mapping[str, Any], *,
               actor: str, now: datetime, matrix: Matrix | None = None) -> dict[str, Any]:
    """Validate ``data`` (fields left out keep the built-in defaults) and store it as the
    district's next revision. Raises ``InvalidInput`` ``invalid_policy`` naming the field.

    Active disputes whose stage deadline is provisional are then counted again under the
    policy now in force for their district (found through ``matrix``; without one, the
    default policy): :func:`retime_provisional_deadlines`. Answers :func:`get_policy`'s
    document with ``revised_deadlines``, how many of those deadlines changed."""
    policy = Policy.from_dict(data)
    key = district or DEFAULT_DISTRICT
    before = get_policy(conn, district)
    last = conn.execute(select(func.max(policies.c.revision))
                        .where(policies.c.district == key)).scalar()
    revision = (last or 0) + 1
    try:
        conn.execute(insert(policies).values(district=key, revision=revision,
                                             policy=policy.as_dict(), actor=actor, at=now))
    except IntegrityError as exc:
        raise Conflict(f"the policy of {key} was changed concurrently; retry",
                       code="policy_conflict", district=key) from exc
    audit.record(conn, actor=actor, action="policy_change", subject=f"policy:{key}",
                 before=before, after={"revision": revision, "policy": policy.as_dict()},
                 at=now)
    revised = retime_provisional_deadlines(
        conn, lambda area: district_of(matrix, area) if matrix is not None else None,
        actor=actor, now=now)
    return {**get_policy(conn, district), "revised_deadlines": revised}


def retime_provisional_deadlines(conn: Connection,
                                 district_for: Callable[[str | None], str | None], *,
                                 actor: str, now: datetime) -> int:
    """Count every active dispute's *provisional* stage deadline again under the policy in
    force for its district (``district_for(area)``), e.g. once the district has entered next
    year's holidays. A changed deadline is written with a ``deadline_revised`` event and an
    audit entry. Returns how many changed."""
    d = disputes_table.c
    # Locked like add_statement's read, so a statement or claim is not overwritten meanwhile.
    rows = conn.execute(select(d.id, d.area, d.state)
                        .where(d.status.in_([str(s) for s in ACTIVE_STATUSES]),
                               d.stage_deadline.is_not(None))
                        .order_by(d.id).with_for_update()).mappings().all()
    policies_by_district: dict[str | None, Policy] = {}
    changed = 0
    for row in rows:
        if not row["state"].get("stage_deadline_provisional"):
            continue
        before = _dispute_from_json(row["state"])
        key = district_for(row["area"])
        if key not in policies_by_district:
            policies_by_district[key] = load_policy(conn, key)
        after = dispute_rules.retime(before, policies_by_district[key])
        if after == before:
            continue
        result = conn.execute(update(disputes_table).where(
            d.id == row["id"], d.status == str(before.status),
            d.stage_deadline == before.stage_deadline).values(**_dispute_values(after)))
        if result.rowcount != 1:
            continue  # claimed or closed concurrently: its new stage has its own deadline
        payload = {"stage": str(after.status),
                   "before": iso(before.stage_deadline), "after": iso(after.stage_deadline),
                   "provisional": after.stage_deadline_provisional}
        _dispute_event(conn, row["id"], "deadline_revised", actor=actor, at=now,
                       payload=payload)
        audit.record(conn, actor=actor, action="dispute_deadline_revised",
                     subject=f"dispute:{row['id']}",
                     before={"stage_deadline": payload["before"], "provisional": True},
                     after={"stage_deadline": payload["after"],
                            "provisional": payload["provisional"]}, at=now)
        changed += 1
    return changed


def calendar_findings(conn: Connection, matrix: Matrix, at: datetime) -> list[Finding]:
    """``calendar_unknown`` warnings for ``verify``: for each district (and the default policy
    when the matrix has none), a year whose holidays should be known by ``at`` — this year,
    and from 1 November next year too — that neither the holiday library nor the district's
    calendar override covers. Deadlines counted over such a year are provisional."""
    districts: list[str | None] = [code for code, area in
                                   sorted(matrix.jurisdiction.areas.items())
                                   if area.parent is None]
    last_known = library_years()[1]
    findings: list[Finding] = []
    for district in districts or [None]:
        found = get_policy(conn, district)
        policy = _policy_of(found["policy"])
        today = to_local(at, policy.tz).date()
        for year in missing_years(today, policy.calendar):
            area = matrix.jurisdiction.areas.get(district) if district else None
            who = f"{area.name}（{district}）" if area is not None else "默认策略"
            flag = f" --district {district}" if found["source"] == "district" else ""
            findings.append(Finding(
                "calendar_unknown", "warning",
                f"{who}的工作日历缺少{year}年：节假日库只收录到{last_known}年，"
                f"{year}年的期限暂按周一至周五计算，并标为临时期限。请在国务院办公厅公布"
                f"{year}年节假日安排后录入：quanze policy calendar{flag} --year {year} "
                "--holidays-file 放假日期.txt --working-days-file 调休上班日期.txt"
                "（或 PUT /v1/policy 的 calendar 字段）",
                areas=(district,) if district else ()))
    return findings


def verify_in_service(db: Engine, router: Router, at: datetime) -> Report:
    """``verify`` of the matrix in use, with what only the running service knows: whether
    the newest rule-set version could be served, and each district's calendar coverage."""
    matrix = router.current()
    report = verify(matrix, at)
    report.findings[:0] = router.findings()
    with db.connect() as conn:
        report.findings += calendar_findings(conn, matrix, at)
    return report


# -- tickets ---------------------------------------------------------------------------------


def _stored_event(data: Mapping[str, Any]) -> tuple[Event, Policy, str | None]:
    """An event row's JSON: the event, and the policy and territorial unit it was applied
    under."""
    body = {k: v for k, v in data.items() if k != "applied"}
    applied = data.get("applied") or {}
    policy = _policy_of(applied.get("policy")).with_library_until(applied.get("library_until"))
    return Event.from_dict(body), policy, applied.get("territorial_unit")


def _replay(conn: Connection, ticket_id: str) -> tuple[TicketState, int, Mapping[str, Any]]:
    """The ticket's state from its history; the number of events; the last event's context."""
    rows = conn.execute(select(ticket_events.c.seq, ticket_events.c.event)
                        .where(ticket_events.c.ticket_id == ticket_id)
                        .order_by(ticket_events.c.seq)).all()
    return _fold(ticket_id, rows)


def _fold(ticket_id: str,
          rows: Sequence[Any]) -> tuple[TicketState, int, Mapping[str, Any]]:
    """:func:`_replay` over event rows already read (each with ``.event``), in order."""
    state = TicketState(ticket_id)
    applied: Mapping[str, Any] = {}
    for row in rows:
        event, policy, territorial = _stored_event(row.event)
        state = apply(state, event, policy, territorial_unit=territorial).state
        applied = row.event.get("applied") or {}
    return state, len(rows), applied


def _lock_ticket(conn: Connection, ticket_id: str) -> dict[str, Any] | None:
    """The ticket's row, locked, with what its statistics need to know
    (:class:`arbitration.rollups.Known`): read in the same statement, it costs no round
    trip of its own."""
    row = conn.execute(select(tickets.c.ticket_id, tickets.c.event_count,
                              *rollups.known_columns(tickets.c.ticket_id))
                       .where(tickets.c.ticket_id == ticket_id)
                       .with_for_update()).mappings().first()
    return dict(row) if row is not None else None


_REPLAYED = "quanze_replayed_tickets"


def load_ticket(conn: Connection, ticket_id: str, *,
                for_update: bool = False) -> TicketState | None:
    """The ticket's state replayed from its history; None for an unknown ticket.

    ``for_update`` locks the ticket first (the caller is about to record an event in this
    transaction) and keeps the replay on the connection, so :func:`record_ticket_event`
    does not read and replay the history a second time.
    """
    if for_update:
        _lock_ticket(conn, ticket_id)
    replayed = _replay(conn, ticket_id)
    if for_update:
        conn.info.setdefault(_REPLAYED, {})[ticket_id] = replayed
    state, count, _ = replayed
    return state if count else None


def _projection(state: TicketState) -> dict[str, Any]:
    return {"category": state.category, "area": state.area, "status": str(state.status),
            "owner": state.owner, "first_receiver": state.first_receiver,
            "interim_owner": state.interim_owner, "dispatch_count": state.dispatch_count,
            "dispute_id": state.dispute_id, "state": state.as_dict()}


def _summary(state: TicketState) -> dict[str, Any]:
    """The state without its history, for audit entries."""
    return {k: v for k, v in state.as_dict().items() if k != "history"}


def _append_event(conn: Connection, state: TicketState, seq: int, event: Event, *,
                  actor: str, now: datetime, policy: Policy,
                  territorial_unit: str | None) -> None:
    applied: dict[str, Any] = {"territorial_unit": territorial_unit,
                               "library_until": library_years()[1]}
    if policy != DEFAULT_POLICY:
        applied["policy"] = policy.as_dict()
    try:
        conn.execute(insert(ticket_events).values(
            ticket_id=state.ticket_id, seq=seq, type=str(event.type), at=event.at,
            recorded_at=now, actor=actor, unit=event.unit or event.to_unit,
            event={**event.as_dict(), "applied": applied}))
    except IntegrityError as exc:
        raise Conflict(f"ticket {state.ticket_id} was changed concurrently (event {seq}); "
                       "reload and retry", code="ticket_conflict",
                       ticket_id=state.ticket_id, seq=seq) from exc


def check_out_of_scope_closer(event: Event, hotline_office: str | None) -> None:
    """Only the hotline office (``settings.hotline_office``) closes a ticket as out of scope
    (domain.md §5a: the hotline reviews and ends it). ``InvalidInput`` ``not_hotline_office``
    naming ``unit`` otherwise; ``Conflict`` ``no_hotline_office`` when the matrix names none.
    """
    if event.type != EventType.CLOSED_OUT_OF_SCOPE:
        return
    if hotline_office is None:
        raise Conflict("the matrix names no hotline office (settings.hotline_office), so no "
                       "one may close a ticket as out of scope", code="no_hotline_office")
    if event.unit != hotline_office:
        raise InvalidInput(f"only the hotline office {hotline_office} closes a ticket as out "
                           f"of scope, not {event.unit}", code="not_hotline_office",
                           field="unit", unit=event.unit, hotline_office=hotline_office)


#: Client events that may start a ticket's history: a dispatch, or the hotline closing a
#: request it never dispatched (an intake-flagged category, domain.md §5a).
_FIRST_EVENTS = frozenset({EventType.DISPATCHED, EventType.CLOSED_OUT_OF_SCOPE})


def _masked_event(event: Event) -> Event:
    """The event with personal data masked in its free text (``note``, ``basis``)."""
    note = mask_text(event.note) if event.note else event.note
    basis = mask_text(event.basis) if event.basis else event.basis
    if note is event.note and basis is event.basis:
        return event
    return replace(event, note=note, basis=basis)


def record_ticket_event(conn: Connection, *, ticket_id: str, event: Event, actor: str,
                        now: datetime, policy: Policy,
                        territorial_unit: str | None = None,
                        hotline_office: str | None = None) -> TicketState:
    """Apply ``event`` to the ticket and store it; returns the new state.

    The event's free text is masked first (:func:`_masked_event`): nothing stored, and not
    the state returned, holds a phone, ID or bank-card number. ``closed_out_of_scope`` is
    checked against ``hotline_office`` (:func:`check_out_of_scope_closer`). An ``OpenDispute``
    effect opens a dispute (:func:`open_dispute_record`) and records a ``dispute_opened`` event
    naming it. A client event other than ``dispatched`` or ``closed_out_of_scope`` on an
    unknown ticket is ``NotFound`` ``ticket_not_found``; an event dated more than a few minutes
    after ``now`` is ``InvalidInput`` ``event_in_future``; the state machine's own refusals
    (``InvalidInput`` / ``Conflict``) pass through, and nothing is written.
    """
    if event.at.tzinfo is not None and event.at > now + MAX_CLOCK_SKEW:
        raise InvalidInput(f"event time {event.at.isoformat()} is in the future",
                           code="event_in_future", field="at", ticket_id=ticket_id)
    event = _masked_event(event)
    check_out_of_scope_closer(event, hotline_office)
    row = _lock_ticket(conn, ticket_id)
    if row is None and event.type in CLIENT_EVENT_TYPES and event.type not in _FIRST_EVENTS:
        raise NotFound(f"unknown ticket {ticket_id!r}: its first event must be a dispatch",
                       code="ticket_not_found", ticket_id=ticket_id)
    kept = conn.info.get(_REPLAYED, {}).pop(ticket_id, None)
    # The kept replay is used only if it is as long as the locked projection says.
    if kept is not None and kept[1] == (row["event_count"] if row is not None else 0):
        before, count, _ = kept
    else:
        before, count, _ = _replay(conn, ticket_id)
    outcome = apply(before, event, policy, territorial_unit=territorial_unit)
    state = outcome.state
    _append_event(conn, state, count + 1, event, actor=actor, now=now, policy=policy,
                  territorial_unit=territorial_unit)
    count += 1
    new_disputes: list[str] = []
    for effect in outcome.effects:
        if isinstance(effect, OpenDispute):
            dispute_id = _insert_dispute(
                conn, reason=effect.reason, parties=effect.parties, ticket_id=ticket_id,
                category=effect.category, area=effect.area, interim_owner=effect.interim_owner,
                decision_id=None, actor=actor, now=effect.at, policy=policy)
            new_disputes.append(dispute_id)
            opened = Event(EventType.DISPUTE_OPENED, effect.at, unit=effect.interim_owner,
                           dispute_id=dispute_id)
            state = apply(state, opened, policy, territorial_unit=territorial_unit).state
            _append_event(conn, state, count + 1, opened, actor=actor, now=now,
                          policy=policy, territorial_unit=territorial_unit)
            count += 1
    values = {**_projection(state), "event_count": count, "updated_at": now}
    if row is None:
        try:
            conn.execute(insert(tickets).values(ticket_id=ticket_id, created_at=now, **values))
        except IntegrityError as exc:
            raise Conflict(f"ticket {ticket_id} was created concurrently; retry",
                           code="ticket_conflict", ticket_id=ticket_id) from exc
    else:
        result = conn.execute(update(tickets).where(
            tickets.c.ticket_id == ticket_id,
            tickets.c.event_count == row["event_count"]).values(**values))
        if result.rowcount != 1:
            raise Conflict(f"ticket {ticket_id} was changed concurrently; reload and retry",
                           code="ticket_conflict", ticket_id=ticket_id)
    audit.record(conn, actor=actor, action="ticket_event", subject=f"ticket:{ticket_id}",
                 before=_summary(before) if row is not None else None,
                 after={"event": event.as_dict(), "state": _summary(state)}, at=now)
    # after the audit entry, which locks the chain's head (see arbitration.rollups)
    rollups.record_change(conn, ticket_id, before=before.history, after=state.history,
                          category_before=before.category, category_after=state.category,
                          opened=new_disputes, known=rollups.Known.of(row))
    return state


def _ref(units: Mapping[str, Unit] | None, code: str | None) -> Any:
    return code if units is None else unit_ref(units, code)


def ticket_document(state: TicketState, units: Mapping[str, Unit] | None = None,
                    policy: Policy | None = None) -> dict[str, Any]:
    """The contract's ticket state; unit references as ``{code, name, kind}`` when ``units``
    is given. With ``policy``, also the current owner's return deadline and whether it is
    provisional (``return_deadline_provisional``: counted over a year the calendar does not
    cover)."""
    doc = state.as_dict()
    for key in ("owner", "first_receiver", "interim_owner", "holder"):
        doc[key] = _ref(units, doc[key])
    doc["path"] = [_ref(units, u) for u in state.path]
    doc["returned_by"] = [_ref(units, u) for u in state.returned_by]
    if doc["pending_return"] is not None:
        pending = doc["pending_return"]
        doc["pending_return"] = {**pending, "unit": _ref(units, pending["unit"]),
                                 "proposed_unit": _ref(units, pending["proposed_unit"])}
    if policy is not None:
        deadline = return_deadline(state, policy) if not state.accepted else None
        doc["return_deadline"] = iso(deadline)
        doc["return_deadline_provisional"] = (deadline is not None
                                              and is_return_deadline_provisional(state, policy))
    return doc


def get_ticket(conn: Connection, ticket_id: str, units: Mapping[str, Unit] | None = None,
               matrix: Matrix | None = None) -> dict[str, Any]:
    """The ticket's state (owner, first_receiver, interim_owner, dispatch_count, dispute_id,
    status, history …), replayed from its history. Unknown is ``ticket_not_found``.

    The return deadline shown is the one the ticket's next event is held to: under the policy
    now in force for its district when ``matrix`` is given (so entering next year's holidays
    settles a provisional deadline), else under the policy of its last event."""
    state, count, applied = _replay(conn, ticket_id)
    if not count:
        raise NotFound(f"unknown ticket {ticket_id!r}", code="ticket_not_found",
                       ticket_id=ticket_id)
    policy = (load_policy(conn, district_of(matrix, state.area)) if matrix is not None
              else _policy_of(applied.get("policy")))
    return ticket_document(state, units, policy)


def ticket_policy(conn: Connection, ticket_id: str) -> Policy:
    """The policy the ticket's last event was applied under (the default for a new one)."""
    _, _, applied = _replay(conn, ticket_id)
    return _policy_of(applied.get("policy"))


def routing_context(conn: Connection, ticket_id: str) -> dict[str, Any] | None:
    """The category, area and decision id of the ticket's newest routing decision, if any."""
    row = conn.execute(select(decisions.c.id, decisions.c.category, decisions.c.area,
                              decisions.c.status, decisions.c.lead)
                       .where(decisions.c.ticket_id == ticket_id)
                       .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
                       .limit(1)).mappings().first()
    if row is None:
        return None
    return {"decision_id": row["id"], "category": row["category"], "area": row["area"],
            "status": row["status"], "lead": row["lead"]}


def _ticket_cursor(updated_at: datetime, ticket_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), ticket_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _ticket_after(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, ticket_id = json.loads(raw)
        return datetime.fromisoformat(updated_at), str(ticket_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("invalid page cursor 'after'", code="invalid_cursor",
                           field="after") from exc


def return_open(state: TicketState, now: datetime, policy: Policy) -> bool:
    """Whether the ticket's owner may still return it at ``now`` (inside its return window,
    not signed, nothing pending): the state machine asked with a return of the owner's."""
    if state.owner is None or not policy.reason_codes:
        return False
    probe = Event(EventType.RETURN_REQUESTED, now, unit=state.owner,
                  reason_code=next(iter(policy.reason_codes)), basis="—")
    return permits(state, probe, policy)


def list_tickets(conn: Connection, *, unit: str | None = None, status: str | None = None,
                 matrix: Matrix | None = None, now: datetime, limit: int = 50,
                 after: str | None = None, oldest_first: bool = False) -> dict[str, Any]:
    """Tickets, newest activity first (``oldest_first``: the longest waiting first), by the
    ``tickets`` projection; paged by keyset (pass the answer's ``next`` as ``after``).

    ``unit``: the tickets that unit holds or has held (:func:`arbitration.tickets.involves`:
    it owns or holds one now, or an event names it). ``status``: a :class:`TicketStatus`.
    Each item carries its return deadline under the policy now in force for its district
    (found through ``matrix``), whether it is provisional, and whether the return window is
    still open at ``now``. Answers ``{"tickets": [...], "next": cursor | None}``.
    """
    if status is not None and status not in TicketStatus.__members__.values():
        raise InvalidInput(f"unknown ticket status {status!r}; expected one of "
                           f"{', '.join(TicketStatus)}", code="invalid_status", field="status")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit",
                           field="limit")
    t = tickets.c
    query = select(t.ticket_id, t.updated_at)
    if status is not None:
        query = query.where(t.status == status)
    if unit is not None:
        query = query.where(or_(t.owner == unit, t.interim_owner == unit, t.ticket_id.in_(
            select(ticket_events.c.ticket_id).where(ticket_events.c.unit == unit))))
    if after is not None:
        moment, last_id = _ticket_after(after)
        if oldest_first:
            query = query.where(or_(t.updated_at > moment,
                                    and_(t.updated_at == moment, t.ticket_id > last_id)))
        else:
            query = query.where(or_(t.updated_at < moment,
                                    and_(t.updated_at == moment, t.ticket_id < last_id)))
    order = ((t.updated_at, t.ticket_id) if oldest_first
             else (t.updated_at.desc(), t.ticket_id.desc()))
    rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    page = rows[:limit]
    ids = [row.ticket_id for row in page]
    events: dict[str, list[Any]] = {i: [] for i in ids}
    if ids:  # every page's histories in one query
        for row in conn.execute(select(ticket_events.c.ticket_id, ticket_events.c.event)
                                .where(ticket_events.c.ticket_id.in_(ids))
                                .order_by(ticket_events.c.ticket_id, ticket_events.c.seq)):
            events[row.ticket_id].append(row)
    policies_by_district: dict[str | None, Policy] = {}
    items = []
    for row in page:
        state, _, _ = _fold(row.ticket_id, events[row.ticket_id])
        key = district_of(matrix, state.area) if matrix is not None else None
        if key not in policies_by_district:
            policies_by_district[key] = load_policy(conn, key)
        policy = policies_by_district[key]
        deadline = return_deadline(state, policy) if not state.accepted else None
        items.append({
            "ticket_id": state.ticket_id, "category": state.category, "area": state.area,
            "status": str(state.status), "owner": state.owner, "holder": state.holder,
            "interim_owner": state.interim_owner, "dispatch_count": state.dispatch_count,
            "dispute_id": state.dispute_id, "updated_at": iso(row.updated_at),
            "pending_return": (state.pending_return.as_dict()
                               if state.pending_return is not None else None),
            "return_deadline": iso(deadline),
            "return_deadline_provisional": (deadline is not None and
                                            is_return_deadline_provisional(state, policy)),
            "return_open": return_open(state, now, policy)})
    next_cursor = (_ticket_cursor(page[-1].updated_at, page[-1].ticket_id)
                   if len(rows) > limit else None)
    return {"tickets": items, "next": next_cursor}


@dataclass(frozen=True)
class TicketView:
    """Everything a page shows of one ticket: its state (to ask which events it would take),
    the policy now in force for it, its contract document (unit references as codes), each
    stored event with who recorded it, and the routing decision that placed it."""

    state: TicketState
    policy: Policy
    territorial_unit: str | None
    document: dict[str, Any]
    events: list[dict[str, Any]]
    decision: dict[str, Any] | None


def ticket_view(conn: Connection, ticket_id: str, matrix: Matrix, *,
                unit: str | None = None) -> TicketView:
    """One ticket for a page. With ``unit`` (a unit's clerk), a ticket that unit neither holds
    nor has held is ``NotFound`` ``ticket_not_found``, exactly like an unknown one: a clerk
    cannot learn that another unit's ticket exists."""
    rows = conn.execute(select(ticket_events.c.seq, ticket_events.c.type, ticket_events.c.at,
                               ticket_events.c.actor, ticket_events.c.event)
                        .where(ticket_events.c.ticket_id == ticket_id)
                        .order_by(ticket_events.c.seq)).all()
    state, count, _ = _fold(ticket_id, rows)
    if not count or (unit is not None and not involves(state, unit)):
        raise NotFound(f"unknown ticket {ticket_id!r}", code="ticket_not_found",
                       ticket_id=ticket_id)
    policy = load_policy(conn, district_of(matrix, state.area))
    events = [{**{k: v for k, v in row.event.items() if k != "applied"}, "seq": row.seq,
               "actor": row.actor} for row in rows]
    found = conn.execute(select(decisions.c.id, decisions.c.created_at, decisions.c.status,
                                decisions.c.request, decisions.c.response)
                         .where(decisions.c.ticket_id == ticket_id)
                         .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
                         .limit(1)).first()
    decision = None
    if found is not None:
        response, request = found.response, found.request
        decision = {"id": found.id, "created_at": iso(found.created_at),
                    "status": found.status, "lead": response.get("lead"),
                    "co_handlers": response.get("co_handlers") or [],
                    "rule": response.get("rule"), "explanation": response.get("explanation"),
                    "text": request.get("text"), "text_removed": bool(
                        request.get("text_removed")),
                    "attributes": request.get("attributes") or {}}
    return TicketView(state=state, policy=policy,
                      territorial_unit=territorial_unit_of(matrix, state.area),
                      document=ticket_document(state, None, policy), events=events,
                      decision=decision)


# -- disputes --------------------------------------------------------------------------------


def new_dispute_id(now: datetime, tz: str = DEFAULT_POLICY.tz) -> str:
    """``DSP-YYYYMMDD-xxxxxxxx``, dated in the district's time zone."""
    return f"DSP-{now.astimezone(ZoneInfo(tz)):%Y%m%d}-{uuid.uuid4().hex[:8]}"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dispute_from_json(data: Mapping[str, Any]) -> DisputeState:
    opened = _dt(data["opened_at"])
    assert opened is not None
    return DisputeState(
        id=data["id"], status=DisputeStatus(data["status"]), parties=tuple(data["parties"]),
        ticket_id=data.get("ticket_id"), category=data.get("category"),
        area=data.get("area"), opened_at=opened,
        reason=dispute_rules.DisputeReason(data["reason"]), arbiter=data.get("arbiter"),
        arbiter_id=data.get("arbiter_id"),
        stage_deadline=_dt(data.get("stage_deadline")),
        statements=tuple(Statement(unit=s["unit"], text=s["text"], at=datetime.fromisoformat(
            s["at"]), basis=s.get("basis"), proposed_lead=s.get("proposed_lead"))
            for s in data.get("statements") or ()),
        claimed_at=_dt(data.get("claimed_at")), closed_at=_dt(data.get("closed_at")),
        stage_deadline_provisional=bool(data.get("stage_deadline_provisional", False)))


def _dispute_row(conn: Connection, dispute_id: str, *,
                 for_update: bool = False) -> dict[str, Any]:
    query = select(disputes_table).where(disputes_table.c.id == dispute_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"unknown dispute {dispute_id!r}", code="dispute_not_found",
                       dispute_id=dispute_id)
    return dict(row)


def load_dispute(conn: Connection, dispute_id: str, *,
                 for_update: bool = False) -> DisputeState:
    """The dispute's state; ``dispute_not_found`` if unknown. ``for_update`` locks the row on
    PostgreSQL until the caller's transaction ends."""
    return _dispute_from_json(_dispute_row(conn, dispute_id, for_update=for_update)["state"])


def _dispute_values(state: DisputeState) -> dict[str, Any]:
    return {"status": str(state.status), "arbiter": state.arbiter,
            "claimed_at": state.claimed_at, "closed_at": state.closed_at,
            "stage_deadline": state.stage_deadline, "state": state.as_dict()}


def _dispute_event(conn: Connection, dispute_id: str, kind: str, *, actor: str,
                   at: datetime, unit: str | None = None,
                   payload: Mapping[str, Any] | None = None) -> None:
    last = conn.execute(select(func.max(dispute_events.c.seq))
                        .where(dispute_events.c.dispute_id == dispute_id)).scalar()
    try:
        conn.execute(insert(dispute_events).values(
            dispute_id=dispute_id, seq=(last or 0) + 1, type=kind, at=at, actor=actor,
            unit=unit, payload=dict(payload or {})))
    except IntegrityError as exc:
        raise Conflict(f"dispute {dispute_id} was changed concurrently; reload and retry",
                       code="dispute_conflict", dispute_id=dispute_id) from exc


def open_dispute_record(conn: Connection, *, reason: str, parties: Sequence[str],
                        ticket_id: str | None, category: str | None, area: str | None,
                        interim_owner: str | None, decision_id: str | None, actor: str,
                        now: datetime, policy: Policy) -> str:
    """Open a dispute (due to be claimed within the policy's ``open`` deadline) and return
    its new id. Does not touch the ticket: the caller records ``dispute_opened`` on it. The
    ticket's statistics count it disputed from now on (:mod:`arbitration.rollups`)."""
    dispute_id = _insert_dispute(
        conn, reason=reason, parties=parties, ticket_id=ticket_id, category=category, area=area,
        interim_owner=interim_owner, decision_id=decision_id, actor=actor, now=now,
        policy=policy)
    if ticket_id is not None:
        _lock_ticket(conn, ticket_id)  # its history stays as read until the counts are added
        state, _, _ = _replay(conn, ticket_id)
        rollups.record_change(conn, ticket_id, before=state.history, after=state.history,
                              category_before=state.category, category_after=state.category,
                              opened=(dispute_id,))
    return dispute_id


def _insert_dispute(conn: Connection, *, reason: str, parties: Sequence[str],
                    ticket_id: str | None, category: str | None, area: str | None,
                    interim_owner: str | None, decision_id: str | None, actor: str,
                    now: datetime, policy: Policy) -> str:
    """:func:`open_dispute_record` without the statistics (its caller counts them)."""
    dispute_id = new_dispute_id(now, policy.tz)
    state = dispute_rules.open_dispute(dispute_id, parties=parties, reason=reason,
                                       opened_at=now, ticket_id=ticket_id, category=category,
                                       area=area, policy=policy)
    conn.execute(insert(disputes_table).values(
        id=dispute_id, ticket_id=ticket_id, decision_id=decision_id, category=category,
        area=area, reason=str(state.reason), parties=list(state.parties),
        interim_owner=interim_owner, opened_at=now, escalated=0, ruling_id=None,
        **_dispute_values(state)))
    conn.execute(insert(dispute_parties), [{"dispute_id": dispute_id, "unit": unit}
                                           for unit in state.parties])
    payload = {"reason": str(state.reason), "parties": list(state.parties),
               "ticket_id": ticket_id, "decision_id": decision_id,
               "interim_owner": interim_owner,
               "stage_deadline": state.stage_deadline.isoformat()
               if state.stage_deadline else None}
    _dispute_event(conn, dispute_id, "opened", actor=actor, at=now, payload=payload)
    audit.record(conn, actor=actor, action="dispute_opened", subject=f"dispute:{dispute_id}",
                 before=None, after=state.as_dict() | {"interim_owner": interim_owner,
                                                        "decision_id": decision_id}, at=now)
    rollups.count_dispute(conn, opened_at=now, parties=state.parties, category=category)
    return dispute_id


def _dispute_document(row: Mapping[str, Any]) -> dict[str, Any]:
    state = dict(row["state"])
    if "stage_deadline_provisional" not in state:
        # Stored before deadlines said so; they were counted on the library alone.
        loaded = _dispute_from_json(state)
        deadline = loaded.stage_deadline
        state["stage_deadline_provisional"] = deadline is not None and is_provisional(
            dispute_rules.stage_started(loaded), deadline)
    return {**state, "reason": row["reason"], "decision_id": row["decision_id"],
            "interim_owner": row["interim_owner"], "escalated": row["escalated"],
            "ruling_id": row["ruling_id"]}


def get_dispute(conn: Connection, dispute_id: str) -> dict[str, Any]:
    """The dispute: its state (parties, statements, arbiter, stage deadline …), the decision
    and ruling it is linked to, how often it was escalated, and its event history."""
    doc = _dispute_document(_dispute_row(conn, dispute_id))
    doc["events"] = [
        {"seq": r.seq, "type": r.type, "at": r.at.isoformat(), "actor": r.actor,
         "unit": r.unit, "payload": r.payload}
        for r in conn.execute(select(dispute_events)
                              .where(dispute_events.c.dispute_id == dispute_id)
                              .order_by(dispute_events.c.seq))]
    return doc


def _encode_cursor(deadline: datetime | None, dispute_id: str) -> str:
    raw = json.dumps([deadline.isoformat() if deadline else None, dispute_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime | None, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        deadline, dispute_id = json.loads(raw)
        return (datetime.fromisoformat(deadline) if deadline else None), str(dispute_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("invalid page cursor 'after'", code="invalid_cursor",
                           field="after") from exc


def list_disputes(conn: Connection, *, status: str | None = None, party: str | None = None,
                  category: str | None = None, overdue: bool | None = None, now: datetime,
                  limit: int = 50, after: str | None = None) -> dict[str, Any]:
    """The arbitration queue: soonest stage deadline first (ruled and withdrawn disputes,
    which have none, last), then by id.

    Filters: ``status``; ``party`` (a unit code); ``category`` (that category and its
    subtree, by code prefix); ``overdue`` (an active dispute past its deadline). Pages by
    keyset: pass the answer's ``next`` as ``after``.
    """
    if status is not None and status not in DisputeStatus.__members__.values():
        raise InvalidInput(f"unknown dispute status {status!r}; expected one of "
                           f"{', '.join(DisputeStatus)}", code="invalid_status",
                           field="status")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit",
                           field="limit")
    d = disputes_table.c
    query = select(disputes_table)
    if status is not None:
        query = query.where(d.status == status)
    if party is not None:
        query = query.where(d.id.in_(select(dispute_parties.c.dispute_id)
                                     .where(dispute_parties.c.unit == party)))
    if category is not None:
        escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(d.category.like(f"{escaped}%", escape="\\"))
    is_overdue = and_(d.status.in_([str(s) for s in ACTIVE_STATUSES]),
                      d.stage_deadline.is_not(None), d.stage_deadline < now)
    if overdue is True:
        query = query.where(is_overdue)
    elif overdue is False:
        query = query.where(~is_overdue)
    if after is not None:
        deadline, last_id = _decode_cursor(after)
        if deadline is None:
            query = query.where(d.stage_deadline.is_(None), d.id > last_id)
        else:
            query = query.where(or_(d.stage_deadline > deadline,
                                    and_(d.stage_deadline == deadline, d.id > last_id),
                                    d.stage_deadline.is_(None)))
    query = query.order_by(d.stage_deadline.is_(None), d.stage_deadline, d.id).limit(limit + 1)
    rows = conn.execute(query).mappings().all()
    page = rows[:limit]
    items = []
    for row in page:
        doc = _dispute_document(dict(row))
        deadline = row["stage_deadline"]
        doc["overdue"] = (row["status"] in ACTIVE_STATUSES and deadline is not None
                          and now > deadline)
        items.append(doc)
    next_cursor = (_encode_cursor(page[-1]["stage_deadline"], page[-1]["id"])
                   if len(rows) > limit else None)
    return {"disputes": items, "next": next_cursor}


def add_statement(conn: Connection, dispute_id: str, *, unit: str, text: str,
                  basis: str | None = None, proposed_lead: str | None = None, actor: str,
                  now: datetime) -> dict[str, Any]:
    """A party's statement (陈述) added to an active dispute. A unit that is not a party is
    ``InvalidInput`` ``not_a_party``; a closed dispute is ``Conflict`` ``dispute_closed``.
    The text and basis are stored with personal data masked."""
    text = mask_text(text)
    basis = mask_text(basis) if basis else basis
    before = load_dispute(conn, dispute_id, for_update=True)
    state = dispute_rules.add_statement(before, unit, text, at=now, basis=basis,
                                        proposed_lead=proposed_lead)
    conn.execute(update(disputes_table).where(disputes_table.c.id == dispute_id)
                 .values(**_dispute_values(state)))
    statement = state.statements[-1].as_dict()
    _dispute_event(conn, dispute_id, "statement", actor=actor, at=now, unit=unit,
                   payload=statement)
    audit.record(conn, actor=actor, action="dispute_statement", subject=f"dispute:{dispute_id}",
                 before={"statements": len(before.statements)}, after=statement, at=now)
    return get_dispute(conn, dispute_id)


def claim_dispute(conn: Connection, dispute_id: str, arbiter: Arbiter | str, now: datetime,
                  policy: Policy) -> dict[str, Any]:
    """The dispute taken up by ``arbiter`` (its ruling now due within the policy's
    ``under_review`` deadline). Only one arbiter can hold it: the claim is a conditional
    update, and a dispute someone else holds (another id, whatever its name) is ``Conflict``
    ``dispute_claimed``. An arbiter of a party unit is ``Forbidden``
    ``conflict_of_interest`` (回避). Claiming again by the same arbiter changes nothing."""
    who = Arbiter.of(arbiter)
    before = load_dispute(conn, dispute_id)
    state = dispute_rules.claim(before, who, now, policy)
    if state == before:
        return get_dispute(conn, dispute_id)
    d = disputes_table.c
    result = conn.execute(update(disputes_table).where(
        d.id == dispute_id, d.status == str(DisputeStatus.OPEN)).values(**_dispute_values(state)))
    if result.rowcount != 1:
        current = load_dispute(conn, dispute_id)
        if current.status is DisputeStatus.UNDER_REVIEW and current.holder == who.id:
            return get_dispute(conn, dispute_id)
        raise Conflict(f"dispute {dispute_id} is already claimed by {current.arbiter}",
                       code="dispute_claimed", dispute_id=dispute_id, arbiter=current.arbiter,
                       status=str(current.status))
    deadline = state.stage_deadline.isoformat() if state.stage_deadline else None
    _dispute_event(conn, dispute_id, "claimed", actor=who.name, at=now,
                   payload={"arbiter": who.name, "arbiter_id": who.id,
                            "stage_deadline": deadline})
    audit.record(conn, actor=who.name, action="dispute_claimed", subject=f"dispute:{dispute_id}",
                 before={"status": str(before.status), "arbiter": before.arbiter},
                 after={"status": str(state.status), "arbiter": who.name,
                        "arbiter_id": who.id, "stage_deadline": deadline}, at=now)
    return get_dispute(conn, dispute_id)


def check_ruler(dispute: Mapping[str, Any], arbiter: Arbiter | str) -> None:
    """Whether ``arbiter`` may rule the dispute (a :func:`get_dispute` document): it holds
    the claim (``dispute_not_claimed``), its unit is not a party (``conflict_of_interest``,
    回避), the dispute is not closed (``dispute_closed``). See
    :func:`arbitration.disputes.check_ruler`."""
    dispute_rules.check_ruler(_dispute_from_json(dispute), arbiter)


def close_dispute(conn: Connection, dispute_id: str, *, status: str, ruling_id: str | None,
                  actor: str, now: datetime, policy: Policy | None = None) -> dict[str, Any]:
    """Mark the dispute ``ruled`` (it must be under review: claimed; who may rule is the
    caller's check) or ``withdrawn``, and record ``dispute_closed`` on its ticket. The
    ticket event is applied under ``policy``, by default the one its last event used."""
    before = load_dispute(conn, dispute_id, for_update=True)
    if status == DisputeStatus.RULED:
        state = dispute_rules.record_ruling(before, before.holder or "", now)
    elif status == DisputeStatus.WITHDRAWN:
        state = dispute_rules.withdraw(before, now)
    else:
        raise InvalidInput(f"a dispute closes as ruled or withdrawn, not {status!r}",
                           code="invalid_status", field="status", status=status)
    d = disputes_table.c
    result = conn.execute(update(disputes_table).where(
        d.id == dispute_id, d.status.in_([str(s) for s in ACTIVE_STATUSES]))
        .values(ruling_id=ruling_id, **_dispute_values(state)))
    if result.rowcount != 1:
        raise Conflict(f"dispute {dispute_id} was closed concurrently",
                       code="dispute_closed", dispute_id=dispute_id)
    _dispute_event(conn, dispute_id, str(state.status), actor=actor, at=now,
                   payload={"ruling_id": ruling_id})
    audit.record(conn, actor=actor, action=f"dispute_{state.status}",
                 subject=f"dispute:{dispute_id}",
                 before={"status": str(before.status), "arbiter": before.arbiter},
                 after={"status": str(state.status), "ruling_id": ruling_id}, at=now)
    if before.ticket_id is not None:
        ticket = load_ticket(conn, before.ticket_id)
        if ticket is not None and ticket.dispute_id == dispute_id and ticket.dispute_open:
            _, _, applied = _replay(conn, before.ticket_id)
            record_ticket_event(
                conn, ticket_id=before.ticket_id,
                event=Event(EventType.DISPUTE_CLOSED, max(now, ticket.updated_at or now),
                            dispute_id=dispute_id, note=ruling_id),
                actor=actor, now=now,
                policy=policy or _policy_of(applied.get("policy")),
                territorial_unit=applied.get("territorial_unit"))
    return get_dispute(conn, dispute_id)


def flag_overdue(conn: Connection, now: datetime, policy: Policy) -> int:
    """Escalate every active dispute past its stage deadline: ``escalated`` goes up by one,
    an ``escalated`` event and an audit entry are appended. A dispute is escalated once per
    stage deadline, so running this again changes nothing until another deadline passes.
    Returns how many were escalated."""
    d = disputes_table.c
    rows = conn.execute(select(d.id, d.stage_deadline, d.escalated, d.status, d.arbiter)
                        .where(d.status.in_([str(s) for s in ACTIVE_STATUSES]),
                               d.stage_deadline.is_not(None), d.stage_deadline < now)
                        .order_by(d.stage_deadline, d.id)).mappings().all()
    count = 0
    for row in rows:
        deadline = row["stage_deadline"].isoformat()
        last = conn.execute(select(dispute_events.c.payload)
                            .where(dispute_events.c.dispute_id == row["id"],
                                   dispute_events.c.type == "escalated")
                            .order_by(dispute_events.c.seq.desc()).limit(1)).scalar()
        if last is not None and last.get("stage_deadline") == deadline:
            continue
        result = conn.execute(update(disputes_table).where(
            d.id == row["id"], d.escalated == row["escalated"])
            .values(escalated=row["escalated"] + 1))
        if result.rowcount != 1:
            continue  # escalated by a concurrent run
        payload = {"stage": row["status"], "stage_deadline": deadline,
                   "level": row["escalated"] + 1, "arbiter": row["arbiter"]}
        _dispute_event(conn, row["id"], "escalated", actor="quanze", at=now, payload=payload)
        audit.record(conn, actor="quanze", action="dispute_escalated",
                     subject=f"dispute:{row['id']}", before={"escalated": row["escalated"]},
                     after=payload, at=now)
        count += 1
    return count


def similar_rulings(conn: Connection, *, categories: Collection[str],
                    areas: Collection[str] | None = None, exclude_dispute: str | None = None,
                    limit: int = 10) -> list[dict[str, Any]]:
    """Past rulings on any of ``categories`` (the caller passes a category's ancestry and
    subtree) in any of ``areas`` (its ancestry and subtree) or district-wide, newest first."""
    if not categories:
        return []
    r = rulings.c
    query = select(rulings).where(r.category.in_(list(categories)))
    if areas is not None:
        query = query.where(or_(r.area.is_(None), r.area.in_(list(areas))))
    if exclude_dispute is not None:
        query = query.where(r.dispute_id != exclude_dispute)
    rows = conn.execute(query.order_by(r.at.desc(), r.id).limit(limit)).mappings().all()
    return [{"ruling_id": row["id"], "dispute_id": row["dispute_id"],
             "ticket_id": row["ticket_id"], "lead": row["lead"],
             "co_handlers": row["co_handlers"], "category": row["category"],
             "area": row["area"], "basis": row["basis"], "document_no": row["document_no"],
             "reasoning": row["reasoning"], "rule_id": row["rule_id"],
             "at": row["at"].isoformat()} for row in rows]


# -- routing ---------------------------------------------------------------------------------


def district_of(matrix: Matrix, area: str | None) -> str | None:
    """The district (top of the area path) whose policy applies to a ticket in ``area``."""
    if area is None or area not in matrix.jurisdiction.areas:
        return None
    return matrix.jurisdiction.district_of(area)


def territorial_unit_of(matrix: Matrix, area: str | None) -> str | None:
    """The territorial unit (属地单位) of ``area``, if the matrix knows one."""
    if area is None or area not in matrix.jurisdiction.areas:
        return None
    return matrix.jurisdiction.territorial_unit(area)


def open_ambiguous_dispute(conn: Connection, document: Mapping[str, Any], decision: Decision,
                           ticket: Ticket, matrix: Matrix, *, actor: str,
                           now: datetime) -> dict[str, Any]:
    """For an ``ambiguous`` routing decision, open a dispute (reason ``ambiguous``) between
    the leads of the tied rules, the decision's lead holding the ticket meanwhile, and record
    ``dispute_opened`` on the ticket when the decision names one. Returns the document with
    ``dispute_id`` set; other decisions are returned unchanged.

    A ticket already in dispute keeps that dispute (the document names it); an ended one
    (completed or closed as out of scope) gets the dispute without a ticket event."""
    out = dict(document)
    if decision.status is not Status.AMBIGUOUS:
        return out
    ctx = context_for(ticket, matrix.jurisdiction)
    leads = [resolve_role(matrix.rules[rule_id].lead, ctx, matrix.jurisdiction)
             for rule_id in decision.tied_rules if rule_id in matrix.rules]
    # The parties are the units the tied rules name; the interim owner holds, it need not be one.
    parties = [u for u in dict.fromkeys(leads) if u] or [u for u in (decision.lead,) if u]
    policy = load_policy(conn, district_of(matrix, ticket.area))
    territorial = territorial_unit_of(matrix, ticket.area)
    state = load_ticket(conn, ticket.ticket_id) if ticket.ticket_id else None
    if state is not None and state.dispute_open and state.dispute_id:
        out["dispute_id"] = state.dispute_id
        return out
    dispute_id = open_dispute_record(
        conn, reason="ambiguous", parties=parties, ticket_id=ticket.ticket_id,
        category=ticket.category, area=ticket.area, interim_owner=decision.lead,
        decision_id=document["decision_id"], actor=actor, now=now, policy=policy)
    out["dispute_id"] = dispute_id
    if ticket.ticket_id and (state is None or state.status not in ENDED_STATUSES):
        at = max(now, state.updated_at) if state and state.updated_at else now
        event = Event(EventType.DISPUTE_OPENED, at, unit=decision.lead, dispute_id=dispute_id,
                      category=ticket.category, area=ticket.area,
                      note=f"ambiguous routing {document['decision_id']}")
        record_ticket_event(conn, ticket_id=ticket.ticket_id, event=event, actor=actor,
                            now=now, policy=policy, territorial_unit=territorial)
    return out
