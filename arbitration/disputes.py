"""The life of a dispute (争议) as pure functions: opened, claimed by an arbiter, argued in
statements by the parties, then ruled (裁定) or withdrawn.

Each stage that waits on someone has a deadline counted in working days from when the stage
began (policy ``dispute_deadlines``: ``open`` → claimed within 2, ``under_review`` → ruled
within 5). The functions read no clock and make no ids: the caller passes ``now`` and the id.

>>> from datetime import datetime
>>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
>>> d = open_dispute("DSP-1", parties=("D-CG", "JD-HP"), reason="bounce", opened_at=t,
...                  ticket_id="T1")
>>> d.status.value, d.stage_deadline.isoformat()
('open', '2026-11-25T09:00:00+08:00')
>>> d = claim(d, "arbiter-1", t)
>>> d = add_statement(d, "JD-HP", "属地只负责巡查发现", at=t, basis="街道履职清单第12项")
>>> d.status.value, can_rule(d), len(d.statements)
('under_review', True, 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from arbitration.policy import DEFAULT_POLICY, Policy
from jurisdiction.errors import Conflict, Forbidden, InvalidInput


class DisputeStatus(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    RULED = "ruled"
    WITHDRAWN = "withdrawn"


class DisputeReason(StrEnum):
    BOUNCE = "bounce"            # A → B → A: the ticket came back to a unit that returned it
    BOUNCE_CAP = "bounce_cap"    # too many dispatches without an accepting unit
    AMBIGUOUS = "ambiguous"      # routing tie between rules naming different leads
    RETURN = "return"            # a return (退单) contested
    MANUAL = "manual"            # opened by hand


ACTIVE_STATUSES = frozenset({DisputeStatus.OPEN, DisputeStatus.UNDER_REVIEW})


@dataclass(frozen=True, slots=True)
class Arbiter:
    """Who arbitrates. ``id`` is the identity (an API key's or an account's id: two keys are
    two arbiters even when they share a name), ``name`` is what people read, ``unit`` the
    unit the arbiter belongs to, which must stand aside (回避) from its own disputes.

    >>> Arbiter.of("ann")
    Arbiter(id='ann', name='ann', unit=None)
    """

    id: str
    name: str
    unit: str | None = None

    @classmethod
    def of(cls, arbiter: Arbiter | str) -> Arbiter:
        """An arbiter given by name alone is identified by that name (the shell, old data)."""
        return arbiter if isinstance(arbiter, Arbiter) else cls(id=arbiter, name=arbiter)


@dataclass(frozen=True, slots=True)
class Statement:
    """A party's case (陈述): its argument, basis (依据) and the lead it proposes."""

    unit: str
    text: str
    at: datetime
    basis: str | None = None
    proposed_lead: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "text": self.text, "at": self.at.isoformat(),
                "basis": self.basis, "proposed_lead": self.proposed_lead}


@dataclass(frozen=True, slots=True)
class DisputeState:
    """A dispute between ``parties`` (unit codes), usually about one ticket.

    ``stage_deadline`` is when the current stage must end (claimed while ``open``, ruled while
    ``under_review``); None once ruled or withdrawn. ``stage_deadline_provisional``: it was
    counted over a year the district's calendar does not cover (see :func:`retime`).
    """

    id: str
    status: DisputeStatus
    parties: tuple[str, ...]
    ticket_id: str | None
    category: str | None
    area: str | None
    opened_at: datetime
    reason: DisputeReason
    arbiter: str | None = None
    #: the claiming arbiter's identity (``Arbiter.id``); None before a claim
    arbiter_id: str | None = None
    stage_deadline: datetime | None = None
    statements: tuple[Statement, ...] = ()
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    stage_deadline_provisional: bool = False

    @property
    def holder(self) -> str | None:
        """The identity of the arbiter holding the claim (its name in data from before
        arbiters had ids)."""
        return self.arbiter_id or self.arbiter

    @property
    def is_active(self) -> bool:
        """Open or under review."""
        return self.status in ACTIVE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": str(self.status), "parties": list(self.parties),
                "ticket_id": self.ticket_id, "category": self.category, "area": self.area,
                "opened_at": self.opened_at.isoformat(), "reason": str(self.reason),
                "arbiter": self.arbiter, "arbiter_id": self.arbiter_id,
                "stage_deadline": iso(self.stage_deadline),
                "stage_deadline_provisional": self.stage_deadline_provisional,
                "statements": [s.as_dict() for s in self.statements],
                "claimed_at": iso(self.claimed_at), "closed_at": iso(self.closed_at)}


def deadline_for(stage: str, since: datetime, policy: Policy = DEFAULT_POLICY) -> datetime:
    """When a dispute that entered ``stage`` (``open`` or ``under_review``) at ``since`` must
    leave it; an unknown stage is ``InvalidInput`` (``invalid_stage``).

    >>> since = datetime.fromisoformat("2025-09-30T15:00:00+08:00")
    >>> deadline_for("open", since).isoformat()   # 1–8 October 2025 are holidays
    '2025-10-10T15:00:00+08:00'
    """
    return policy.dispute_deadline(str(stage), since)


def stage_started(state: DisputeState) -> datetime:
    """When the dispute's current stage began: its claim while under review, else its opening."""
    if state.status is DisputeStatus.UNDER_REVIEW and state.claimed_at is not None:
        return state.claimed_at
    return state.opened_at


def retime(state: DisputeState, policy: Policy = DEFAULT_POLICY) -> DisputeState:
    """The dispute with a *provisional* stage deadline counted again under ``policy`` (e.g.
    after the district entered next year's holidays); any other dispute is returned as it is,
    since a firm deadline does not move when the policy changes later.

    >>> t = datetime.fromisoformat("2026-12-30T10:00:00+08:00")
    >>> d = open_dispute("D1", parties=["A"], reason="manual", opened_at=t)
    >>> d.stage_deadline.isoformat(), d.stage_deadline_provisional
    ('2027-01-01T10:00:00+08:00', True)
    >>> known = Policy.from_dict({"calendar": {"years": [2027], "holidays": ["2027-01-01"]}})
    >>> r = retime(d, known)
    >>> r.stage_deadline.isoformat(), r.stage_deadline_provisional
    ('2027-01-04T10:00:00+08:00', False)
    """
    if not state.is_active or not state.stage_deadline_provisional:
        return state
    since = stage_started(state)
    deadline = deadline_for(state.status, since, policy)
    return replace(state, stage_deadline=deadline,
                   stage_deadline_provisional=policy.is_provisional(since, deadline))


def _reason(value: str) -> DisputeReason:
    try:
        return DisputeReason(value)
    except ValueError as exc:
        raise InvalidInput(f"unknown dispute reason {value!r}; expected one of "
                           f"{', '.join(DisputeReason)}", code="invalid_reason", field="reason",
                           reason=value) from exc


def open_dispute(dispute_id: str, *, parties: Iterable[str], reason: str, opened_at: datetime,
                 ticket_id: str | None = None, category: str | None = None,
                 area: str | None = None, policy: Policy = DEFAULT_POLICY) -> DisputeState:
    """A new open dispute, due to be claimed within the policy's ``open`` deadline. Parties
    are de-duplicated in order; at least one is needed (``invalid_parties``).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> open_dispute("D1", parties=["A", "B", "A"], reason="manual", opened_at=t).parties
    ('A', 'B')
    """
    units = tuple(dict.fromkeys(p for p in parties if p))
    if not units:
        raise InvalidInput("a dispute needs at least one party", code="invalid_parties",
                           field="parties")
    deadline = deadline_for(DisputeStatus.OPEN, opened_at, policy)
    return DisputeState(
        id=dispute_id, status=DisputeStatus.OPEN, parties=units, ticket_id=ticket_id,
        category=category, area=area, opened_at=opened_at, reason=_reason(reason),
        stage_deadline=deadline,
        stage_deadline_provisional=policy.is_provisional(opened_at, deadline))


def _closed(state: DisputeState, action: str) -> Conflict:
    return Conflict(f"dispute {state.id} is {state.status}; it cannot be {action}",
                    code="dispute_closed", dispute_id=state.id, status=str(state.status))


def check_impartial(state: DisputeState, arbiter: Arbiter | str) -> None:
    """回避: an arbiter whose unit is a party may neither claim nor rule the dispute
    (``Forbidden`` ``conflict_of_interest``).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = open_dispute("D1", parties=["D-CG", "JD-HP"], reason="manual", opened_at=t)
    >>> check_impartial(d, Arbiter("k1", "ann", unit="D-CG"))
    Traceback (most recent call last):
      ...
    jurisdiction.errors.Forbidden: 仲裁人所属单位 D-CG 是争议 D1 的当事方，应当回避 (dispute_id='D1', unit='D-CG')
    """  # noqa: E501
    unit = Arbiter.of(arbiter).unit
    if unit is not None and unit in state.parties:
        raise Forbidden(f"仲裁人所属单位 {unit} 是争议 {state.id} 的当事方，应当回避",
                        code="conflict_of_interest", dispute_id=state.id, unit=unit)


def claim(state: DisputeState, arbiter: Arbiter | str, now: datetime,
          policy: Policy = DEFAULT_POLICY) -> DisputeState:
    """The dispute taken up by ``arbiter`` for review; its ruling is then due within the
    ``under_review`` deadline. Claiming again by the same arbiter (same id) changes nothing.
    Another arbiter's claim is ``Conflict`` ``dispute_claimed``; a ruled or withdrawn
    dispute is ``Conflict`` ``dispute_closed``; an arbiter of a party unit is ``Forbidden``
    ``conflict_of_interest`` (:func:`check_impartial`).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = claim(open_dispute("D1", parties=["A"], reason="manual", opened_at=t), "ann", t)
    >>> claim(d, "bob", t)
    Traceback (most recent call last):
      ...
    jurisdiction.errors.Conflict: dispute D1 is already claimed by ann (dispute_id='D1', arbiter='ann')
    """  # noqa: E501
    who = Arbiter.of(arbiter)
    if not who.id or not who.id.strip() or not who.name.strip():
        raise InvalidInput("an arbiter is needed to claim a dispute", code="invalid_arbiter",
                           field="arbiter")
    check_impartial(state, who)
    if state.status is DisputeStatus.UNDER_REVIEW:
        if state.holder == who.id:
            return state
        raise Conflict(f"dispute {state.id} is already claimed by {state.arbiter}",
                       code="dispute_claimed", dispute_id=state.id, arbiter=state.arbiter)
    if state.status is not DisputeStatus.OPEN:
        raise _closed(state, "claimed")
    deadline = deadline_for(DisputeStatus.UNDER_REVIEW, now, policy)
    return replace(state, status=DisputeStatus.UNDER_REVIEW, arbiter=who.name,
                   arbiter_id=who.id, claimed_at=now, stage_deadline=deadline,
                   stage_deadline_provisional=policy.is_provisional(now, deadline))


def add_statement(state: DisputeState, unit: str, text: str, *, at: datetime,
                  basis: str | None = None, proposed_lead: str | None = None) -> DisputeState:
    """The dispute with a party's statement added. Only a party may speak
    (``InvalidInput`` ``not_a_party``, field ``unit``), only while the dispute is active.

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = open_dispute("D1", parties=["A", "B"], reason="manual", opened_at=t)
    >>> add_statement(d, "C", "not us either", at=t)
    Traceback (most recent call last):
      ...
    jurisdiction.errors.InvalidInput: C is not a party to dispute D1 (field='unit', dispute_id='D1', unit='C')
    """  # noqa: E501
    if not text or not text.strip():
        raise InvalidInput("a statement needs text", code="invalid_statement", field="text")
    if unit not in state.parties:
        raise InvalidInput(f"{unit} is not a party to dispute {state.id}", code="not_a_party",
                           field="unit", dispute_id=state.id, unit=unit)
    if not state.is_active:
        raise _closed(state, "argued further")
    statement = Statement(unit=unit, text=text, at=at, basis=basis, proposed_lead=proposed_lead)
    return replace(state, statements=(*state.statements, statement))


def can_rule(state: DisputeState, arbiter: Arbiter | str | None = None) -> bool:
    """Whether the dispute can be ruled now: it is under review, and (when ``arbiter`` is
    given) by that arbiter.

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = open_dispute("D1", parties=["A"], reason="manual", opened_at=t)
    >>> can_rule(d), can_rule(claim(d, "ann", t), "bob")
    (False, False)
    """
    if state.status is not DisputeStatus.UNDER_REVIEW:
        return False
    return arbiter is None or Arbiter.of(arbiter).id == state.holder


def check_ruler(state: DisputeState, arbiter: Arbiter | str) -> None:
    """Who may rule: only the arbiter holding the claim (``Conflict``
    ``dispute_not_claimed``), never one whose unit is a party (``Forbidden``
    ``conflict_of_interest``), and not once the dispute is closed (``dispute_closed``).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = claim(open_dispute("D1", parties=["A"], reason="manual", opened_at=t),
    ...           Arbiter("k1", "arbiter"), t)
    >>> check_ruler(d, Arbiter("k2", "arbiter"))
    Traceback (most recent call last):
      ...
    jurisdiction.errors.Conflict: dispute D1 must be claimed by arbiter before it is ruled (dispute_id='D1', arbiter='arbiter')
    """  # noqa: E501
    who = Arbiter.of(arbiter)
    if not state.is_active:
        raise Conflict(f"dispute {state.id} is {state.status}; it cannot be ruled again",
                       code="dispute_closed", dispute_id=state.id, status=str(state.status))
    check_impartial(state, who)
    if not can_rule(state, who):
        raise Conflict(f"dispute {state.id} must be claimed by {who.name} before it is ruled",
                       code="dispute_not_claimed", dispute_id=state.id,
                       arbiter=state.arbiter or "")


def is_overdue(state: DisputeState, now: datetime) -> bool:
    """Whether the current stage's deadline has passed (never for a ruled or withdrawn one).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = open_dispute("D1", parties=["A"], reason="manual", opened_at=t)
    >>> is_overdue(d, datetime.fromisoformat("2026-11-25T09:00:01+08:00"))
    True
    """
    return (state.is_active and state.stage_deadline is not None
            and now > state.stage_deadline)


def record_ruling(state: DisputeState, arbiter: Arbiter | str, now: datetime) -> DisputeState:
    """The dispute marked ruled (裁定) by its arbiter; the ruling itself is stored elsewhere.
    Ruling by anyone else, or before a claim, is ``Conflict`` ``dispute_not_claimed``.

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> d = claim(open_dispute("D1", parties=["A"], reason="manual", opened_at=t), "ann", t)
    >>> record_ruling(d, "ann", t).status
    <DisputeStatus.RULED: 'ruled'>
    """
    if not state.is_active:
        raise _closed(state, "ruled")
    if not can_rule(state, arbiter):
        raise Conflict(f"dispute {state.id} must be claimed by {Arbiter.of(arbiter).name} "
                       "before it is ruled",
                       code="dispute_not_claimed", dispute_id=state.id, arbiter=state.arbiter)
    return replace(state, status=DisputeStatus.RULED, stage_deadline=None,
                   stage_deadline_provisional=False, closed_at=now)


def withdraw(state: DisputeState, now: datetime) -> DisputeState:
    """The dispute withdrawn (e.g. a party accepted the ticket after all).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> withdraw(open_dispute("D1", parties=["A"], reason="manual", opened_at=t), t).status
    <DisputeStatus.WITHDRAWN: 'withdrawn'>
    """
    if not state.is_active:
        raise _closed(state, "withdrawn")
    return replace(state, status=DisputeStatus.WITHDRAWN, stage_deadline=None,
                   stage_deadline_provisional=False, closed_at=now)


def iso(moment: datetime | None) -> str | None:
    """``moment`` in ISO 8601, or None (the JSON form of an optional time)."""
    return moment.isoformat() if moment is not None else None
