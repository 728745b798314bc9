"""The life of a ticket (工单) as a pure state machine: dispatch (派单), sign-in (签收), return
(退单) and its review, reassignment (改派), bounce detection and completion.

A ticket's state is never stored as the truth: it is derived by folding :func:`apply` over the
ticket's event history (:func:`replay`). :func:`apply` reads no clock and makes no ids; it
returns the new state with the *effects* the caller must carry out — today only
:class:`OpenDispute`, which the caller turns into a dispute and then records with a
``dispute_opened`` event naming its id.

Rules (domain.md §5):

- ``dispatched`` (needs ``unit``) and ``reassigned`` (needs ``to_unit``) hand the ticket to a
  unit and count as a dispatch; the first unit is the first receiver (首接单位).
- ``signed`` is acceptance: the owner acknowledges the ticket and can no longer return it.
- ``return_requested`` (owner only; ``reason_code`` and ``basis`` required) must come within the
  return window, counted in working days from the dispatch; afterwards the ticket counts as
  accepted. ``return_rejected`` sends the ticket back to the unit, accepted;
  ``return_upheld`` leaves it with its interim owner until ``reassigned`` names the next unit.
- A dispatch to a unit that already returned the ticket (A → B → A, the signature of 推诿)
  opens a ``bounce`` dispute; the ``bounce_cap``-th dispatch without an accepting unit opens a
  ``bounce_cap`` dispute. While a dispute is open the interim owner (the first receiver, or the
  territorial unit the caller names) holds the ticket: it is always someone's.
- A dispatch while a dispute is open is the hotline's designation (指定): the unit named is
  responsible and cannot return the ticket.
- ``completed`` ends the ticket; no event may follow.
- ``closed_out_of_scope`` (the hotline office only; ``outcome`` and ``basis`` required) ends a
  ticket that is not the government's to handle (domain.md §5a): the citizen was told where to
  go (``informed``, 告知), the request was ended after review (``terminated``, 终止办理, Heze
  条例 §15), or it was passed to another channel (``transferred``, 转其他渠道, e.g. 110). Nobody
  holds the ticket afterwards and no event may follow but a ``dispute_closed`` that settles
  the record of a dispute about it.

>>> from datetime import datetime
>>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
>>> s = replay([Event("dispatched", t, unit="D-CG"),
...             Event("return_requested", t, unit="D-CG", reason_code="territory_mismatch",
...                   basis="属地管理"),
...             Event("return_upheld", t),
...             Event("reassigned", t, to_unit="JD-HP")], ticket_id="T1")
>>> s.owner, s.first_receiver, s.returned_by, s.status.value
('JD-HP', 'D-CG', ('D-CG',), 'dispatched')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from arbitration.policy import DEFAULT_POLICY, Policy
from jurisdiction.errors import Conflict, InvalidInput


class TicketStatus(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    RETURN_PENDING = "return_pending"
    IN_DISPUTE = "in_dispute"
    COMPLETED = "completed"
    CLOSED_OUT_OF_SCOPE = "closed_out_of_scope"


#: Statuses after which a ticket is nobody's any more (办结, or closed as out of scope).
ENDED_STATUSES = frozenset({TicketStatus.COMPLETED, TicketStatus.CLOSED_OUT_OF_SCOPE})


class EventType(StrEnum):
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    RETURN_REQUESTED = "return_requested"
    RETURN_UPHELD = "return_upheld"
    RETURN_REJECTED = "return_rejected"
    REASSIGNED = "reassigned"
    COMPLETED = "completed"
    CLOSED_OUT_OF_SCOPE = "closed_out_of_scope"
    # Recorded by the service, not posted by clients: a dispute about the ticket opened/closed.
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"


#: Event types a client may post (contract.md); the others are recorded by the service.
CLIENT_EVENT_TYPES = frozenset({
    EventType.DISPATCHED, EventType.SIGNED, EventType.RETURN_REQUESTED, EventType.RETURN_UPHELD,
    EventType.RETURN_REJECTED, EventType.REASSIGNED, EventType.COMPLETED,
    EventType.CLOSED_OUT_OF_SCOPE,
})

#: How the hotline ends an out-of-scope ticket (domain.md §5a): 告知, 终止办理, 转其他渠道.
OUT_OF_SCOPE_OUTCOMES = {"informed": "告知", "terminated": "终止办理",
                         "transferred": "转其他渠道"}

_EVENT_FIELDS = ("type", "at", "unit", "to_unit", "reason_code", "basis", "proposed_unit",
                 "note", "tier", "category", "area", "dispute_id", "outcome")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to a ticket. ``at`` must carry a time zone.

    ``tier`` (on a dispatch) picks the return window (``standard``, ``complex`` …);
    ``category`` and ``area`` may ride on the first event; ``dispute_id`` names the dispute of
    a ``dispute_opened`` / ``dispute_closed`` event; ``outcome`` is how a
    ``closed_out_of_scope`` event ended the ticket (:data:`OUT_OF_SCOPE_OUTCOMES`).

    >>> e = Event.from_dict({"type": "dispatched", "unit": "D-CG",
    ...                      "at": "2026-11-23T09:00:00+08:00"})
    >>> e.as_dict()
    {'type': 'dispatched', 'at': '2026-11-23T09:00:00+08:00', 'unit': 'D-CG'}
    """

    type: str
    at: datetime
    unit: str | None = None
    to_unit: str | None = None
    reason_code: str | None = None
    basis: str | None = None
    proposed_unit: str | None = None
    note: str | None = None
    tier: str | None = None
    category: str | None = None
    area: str | None = None
    dispute_id: str | None = None
    outcome: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without empty fields; the form kept in a ticket's history."""
        out: dict[str, Any] = {"type": str(self.type), "at": self.at.isoformat()}
        for name in _EVENT_FIELDS[2:]:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """An event from its dict form (``at`` an ISO 8601 string or a datetime)."""
        for key in data:
            if key not in _EVENT_FIELDS:
                raise InvalidInput(f"unknown event field {key!r}", code="invalid_event",
                                   field=str(key))
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in EventType.__members__.values():
            raise InvalidInput(f"unknown event type {kind!r}", code="invalid_event_type",
                               field="type", type=kind)
        at = data.get("at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError as exc:
                raise InvalidInput(f"event time {at!r} is not ISO 8601", code="invalid_event",
                                   field="at") from exc
        if not isinstance(at, datetime):
            raise InvalidInput("event needs a time 'at'", code="invalid_event", field="at")
        values: dict[str, Any] = {}
        for name in _EVENT_FIELDS[2:]:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"event field {name} must be a string", code="invalid_event",
                                   field=name)
            values[name] = value
        return cls(type=EventType(kind), at=at, **values)


@dataclass(frozen=True, slots=True)
class PendingReturn:
    """A return (退单) awaiting the hotline's review."""

    unit: str
    at: datetime
    reason_code: str
    basis: str
    proposed_unit: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "at": self.at.isoformat(), "reason_code": self.reason_code,
                "basis": self.basis, "proposed_unit": self.proposed_unit, "note": self.note}


@dataclass(frozen=True, slots=True)
class OutOfScopeClosure:
    """How the hotline office ended a ticket that is not the government's to handle."""

    unit: str
    at: datetime
    outcome: str
    basis: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "at": self.at.isoformat(), "outcome": self.outcome,
                "outcome_label": OUT_OF_SCOPE_OUTCOMES.get(self.outcome, self.outcome),
                "basis": self.basis, "note": self.note}


@dataclass(frozen=True, slots=True)
class TicketState:
    """A ticket as derived from its history.

    ``owner`` is the unit formally responsible (None after an upheld return, until the next
    dispatch); ``interim_owner`` holds the ticket meanwhile and during a dispute;
    :attr:`holder` is whoever has it now. ``accepted`` means the owner can no longer return
    it (it signed, its return was rejected, it was designated, or the return window passed
    before a later event). ``path`` lists every unit dispatched to, in order; ``returned_by``
    the units whose returns were upheld. ``dispatched_at`` and ``tier`` fix the current
    owner's return window; ``unaccepted_dispatches`` counts dispatches since a unit last
    accepted (the bounce cap's counter).
    """

    ticket_id: str
    category: str | None = None
    area: str | None = None
    owner: str | None = None
    first_receiver: str | None = None
    interim_owner: str | None = None
    status: TicketStatus = TicketStatus.NEW
    dispatch_count: int = 0
    accepted: bool = False
    returned_by: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    pending_return: PendingReturn | None = None
    dispute_id: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    dispute_open: bool = False
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    tier: str | None = None
    unaccepted_dispatches: int = 0
    updated_at: datetime | None = None
    out_of_scope: OutOfScopeClosure | None = None

    @property
    def holder(self) -> str | None:
        """The unit that has the ticket now: the interim owner if there is one, else the owner.

        >>> TicketState("T1", owner="D-CG").holder
        'D-CG'
        """
        return self.interim_owner or self.owner

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state (unit references as codes)."""
        return {
            "ticket_id": self.ticket_id, "category": self.category, "area": self.area,
            "status": str(self.status), "owner": self.owner,
            "first_receiver": self.first_receiver, "interim_owner": self.interim_owner,
            "holder": self.holder, "dispatch_count": self.dispatch_count, "accepted": self.accepted,
            "returned_by": list(self.returned_by), "path": list(self.path),
            "pending_return": self.pending_return.as_dict() if self.pending_return else None,
            "dispute_id": self.dispute_id,
            "out_of_scope": self.out_of_scope.as_dict() if self.out_of_scope else None,
            "history": list(self.history),
        }


@dataclass(frozen=True, slots=True)
class OpenDispute:
    """Effect: the caller must open a dispute about the ticket (reason ``bounce`` or
    ``bounce_cap``) between ``parties``; ``interim_owner`` holds the ticket meanwhile."""

    reason: str
    parties: tuple[str, ...]
    ticket_id: str
    interim_owner: str | None
    at: datetime
    category: str | None = None
    area: str | None = None


Effect = OpenDispute


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`apply` returns: the new state and the effects to carry out."""

    state: TicketState
    effects: tuple[Effect, ...] = ()


# -- helpers -----------------------------------------------------------------------------------


def return_deadline(state: TicketState, policy: Policy = DEFAULT_POLICY) -> datetime | None:
    """The last moment the current owner may return the ticket; None when nobody owns it.

    >>> t = datetime.fromisoformat("2026-09-30T09:00:00+08:00")
    >>> s = apply(TicketState("T1"), Event("dispatched", t, unit="D-CG")).state
    >>> return_deadline(s).isoformat()
    '2026-10-08T09:00:00+08:00'
    """
    if state.owner is None or state.dispatched_at is None:
        return None
    return policy.return_deadline(state.dispatched_at, state.tier)


def is_return_deadline_provisional(state: TicketState, policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether the return deadline counted a day of a year the policy's calendar does not
    cover (taken as worked Monday–Friday): it may move once that year's holidays are known.

    >>> t = datetime.fromisoformat("2026-12-31T09:00:00+08:00")
    >>> s = apply(TicketState("T1"), Event("dispatched", t, unit="D-CG")).state
    >>> return_deadline(s).isoformat(), is_return_deadline_provisional(s)
    ('2027-01-01T09:00:00+08:00', True)
    """
    deadline = return_deadline(state, policy)
    if deadline is None or state.dispatched_at is None:
        return False
    return policy.is_provisional(state.dispatched_at, deadline)


def is_accepted(state: TicketState, now: datetime, policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether the owner has accepted the ticket at ``now``: it signed (or was made to keep
    it), or its return window passed with no return pending.

    >>> t = datetime.fromisoformat("2026-09-30T09:00:00+08:00")
    >>> s = apply(TicketState("T1"), Event("dispatched", t, unit="D-CG")).state
    >>> is_accepted(s, datetime.fromisoformat("2026-10-08T09:01:00+08:00"))
    True
    """
    if state.accepted:
        return True
    if state.pending_return is not None or state.dispute_open:
        return False
    deadline = return_deadline(state, policy)
    return deadline is not None and now > deadline


def _conflict(message: str, code: str, state: TicketState, **context: Any) -> Conflict:
    return Conflict(message, code=code, ticket_id=state.ticket_id, **context)


def _missing(event: Event, name: str) -> InvalidInput:
    return InvalidInput(f"a {event.type} event needs {name}", code="invalid_event", field=name,
                        type=str(event.type))


def _check_shape(event: Event, policy: Policy) -> None:
    if event.type not in EventType.__members__.values():
        raise InvalidInput(f"unknown event type {event.type!r}", code="invalid_event_type",
                           field="type", type=event.type)
    if not isinstance(event.at, datetime) or event.at.tzinfo is None:
        raise InvalidInput("event time 'at' must carry a time zone", code="invalid_event",
                           field="at")
    kind = EventType(event.type)
    if kind is EventType.DISPATCHED and not event.unit:
        raise _missing(event, "unit")
    if kind is EventType.REASSIGNED and not event.to_unit:
        raise _missing(event, "to_unit")
    if kind in (EventType.DISPATCHED, EventType.REASSIGNED) and event.tier is not None:
        policy.return_window(event.tier)
    if kind is EventType.RETURN_REQUESTED:
        if not event.unit:
            raise _missing(event, "unit")
        policy.reason_label(event.reason_code)
        if not event.basis or not event.basis.strip():
            raise _missing(event, "basis")
    if kind is EventType.DISPUTE_OPENED and not event.dispute_id:
        raise _missing(event, "dispute_id")
    if kind is EventType.CLOSED_OUT_OF_SCOPE:
        _check_out_of_scope_shape(event)


def _check_out_of_scope_shape(event: Event) -> None:
    if not event.unit:
        raise _missing(event, "unit")
    if event.outcome not in OUT_OF_SCOPE_OUTCOMES:
        raise InvalidInput(f"unknown outcome {event.outcome!r}; expected one of "
                           f"{', '.join(OUT_OF_SCOPE_OUTCOMES)}", code="invalid_outcome",
                           field="outcome", outcome=event.outcome)
    if not event.basis or not event.basis.strip():
        raise _missing(event, "basis")


def _interim(state: TicketState, policy: Policy, territorial_unit: str | None) -> str | None:
    sources = {"first_receiver": state.first_receiver, "territorial_unit": territorial_unit}
    for source in policy.interim_order:
        if sources.get(source):
            return sources[source]
    return state.owner


def _settle(state: TicketState, at: datetime, policy: Policy) -> TicketState:
    """Mark the owner as accepted once its return window has passed."""
    if state.owner is not None and not state.accepted and is_accepted(state, at, policy):
        return replace(state, accepted=True)
    return state


def _status_after(kind: EventType, state: TicketState) -> TicketStatus:
    if kind is EventType.COMPLETED:
        return TicketStatus.COMPLETED
    if state.out_of_scope is not None:
        return TicketStatus.CLOSED_OUT_OF_SCOPE
    return _status(state)


def _status(state: TicketState) -> TicketStatus:
    if state.dispute_open:
        return TicketStatus.IN_DISPUTE
    if state.pending_return is not None:
        return TicketStatus.RETURN_PENDING
    if state.signed_at is not None:
        return TicketStatus.SIGNED
    if state.dispatch_count:
        return TicketStatus.DISPATCHED
    return TicketStatus.NEW


# -- transitions ---------------------------------------------------------------------------------

_Result = tuple[TicketState, tuple[Effect, ...]]


def _dispatch(state: TicketState, event: Event, to_unit: str, policy: Policy,
              territorial_unit: str | None) -> _Result:
    if state.pending_return is not None:
        raise _conflict(f"a return by {state.pending_return.unit} is pending review; uphold or "
                        "reject it before dispatching again", "return_pending", state,
                        unit=to_unit)
    common: dict[str, Any] = {
        "owner": to_unit,
        "first_receiver": state.first_receiver or to_unit,
        "dispatch_count": state.dispatch_count + 1,
        "path": (*state.path, to_unit),
        "dispatched_at": event.at,
        "signed_at": None,
        "tier": event.tier or policy.default_tier,
        "interim_owner": None,
    }
    if state.dispute_open:
        # The hotline designates the responsible unit: the dispute's outcome for this ticket.
        return replace(state, **common, accepted=True, dispute_open=False,
                       unaccepted_dispatches=0), ()
    if to_unit == state.owner:
        raise _conflict(f"the ticket is already with {to_unit}", "already_owner", state,
                        unit=to_unit)
    unaccepted = (0 if state.accepted else state.unaccepted_dispatches) + 1
    new = replace(state, **common, accepted=False, unaccepted_dispatches=unaccepted)
    reason: str | None = None
    if to_unit in state.returned_by:
        reason = "bounce"
        parties = tuple(dict.fromkeys((*state.returned_by, to_unit)))
    elif unaccepted >= policy.bounce_cap:
        reason = "bounce_cap"
        parties = tuple(dict.fromkeys(new.path[-unaccepted:]))
    if reason is None:
        return new, ()
    interim = _interim(new, policy, territorial_unit)
    new = replace(new, dispute_open=True, interim_owner=interim)
    effect = OpenDispute(reason=reason, parties=parties, ticket_id=state.ticket_id,
                         interim_owner=interim, at=event.at, category=new.category,
                         area=new.area)
    return new, (effect,)


def _sign(state: TicketState, event: Event) -> _Result:
    if state.owner is None:
        raise _conflict("nobody owns the ticket, so nobody can sign it in", "not_dispatched",
                        state, unit=event.unit)
    if event.unit is not None and event.unit != state.owner:
        raise _conflict(f"only the owner {state.owner} can sign the ticket in", "not_owner",
                        state, unit=event.unit, owner=state.owner)
    if state.signed_at is not None:
        raise _conflict(f"{state.owner} already signed the ticket in", "already_signed", state,
                        unit=state.owner, signed_at=state.signed_at.isoformat())
    if state.pending_return is not None:
        raise _conflict(f"{state.owner} has a return pending review", "return_pending", state,
                        unit=state.owner)
    return replace(state, signed_at=event.at, accepted=True), ()


def _request_return(state: TicketState, event: Event, policy: Policy) -> _Result:
    unit = event.unit or ""
    if state.dispute_open:
        raise _conflict("the ticket is in dispute; make the case in a statement instead",
                        "ticket_in_dispute", state, unit=unit, dispute_id=state.dispute_id)
    if state.pending_return is not None:
        raise _conflict(f"a return by {state.pending_return.unit} is already pending",
                        "return_pending", state, unit=unit)
    if state.owner is None:
        raise _conflict("nobody owns the ticket, so nobody can return it", "not_dispatched",
                        state, unit=unit)
    if unit != state.owner:
        raise _conflict(f"only the owner {state.owner} can return the ticket", "not_owner",
                        state, unit=unit, owner=state.owner)
    if state.signed_at is not None:
        raise _conflict(f"{unit} signed the ticket in, which accepts it; it can no longer be "
                        "returned", "ticket_accepted", state, unit=unit)
    deadline = return_deadline(state, policy)
    if deadline is not None and event.at > deadline:
        raise _conflict(
            f"the return window closed at {deadline.isoformat()}: the ticket counts as "
            f"accepted by {unit}", "return_window_passed", state, unit=unit,
            deadline=deadline.isoformat())
    if state.accepted:
        raise _conflict(f"{unit} must keep the ticket (a return was rejected or the hotline "
                        "designated it)", "ticket_accepted", state, unit=unit)
    pending = PendingReturn(unit=unit, at=event.at, reason_code=event.reason_code or "",
                            basis=event.basis or "", proposed_unit=event.proposed_unit,
                            note=event.note)
    return replace(state, pending_return=pending), ()


def _review_return(state: TicketState, event: Event, policy: Policy,
                   territorial_unit: str | None) -> _Result:
    pending = state.pending_return
    if pending is None:
        raise _conflict(f"{event.type}: there is no pending return", "no_pending_return", state)
    if event.type == EventType.RETURN_REJECTED:
        return replace(state, pending_return=None, accepted=True), ()
    upheld = replace(state, pending_return=None, owner=None, accepted=False, signed_at=None,
                     dispatched_at=None, returned_by=(*state.returned_by, pending.unit))
    return replace(upheld, interim_owner=state.interim_owner
                   or _interim(upheld, policy, territorial_unit)), ()


def _dispute_opened(state: TicketState, event: Event, policy: Policy,
                    territorial_unit: str | None) -> _Result:
    if state.dispute_open and state.dispute_id not in (None, event.dispute_id):
        raise _conflict(f"dispute {state.dispute_id} is already open on this ticket",
                        "dispute_already_open", state, dispute_id=state.dispute_id)
    interim = event.unit or state.interim_owner or _interim(state, policy, territorial_unit)
    if interim is None:
        raise _conflict("a disputed ticket needs an interim owner: name one in 'unit' or pass "
                        "the territorial unit", "no_interim_owner", state)
    return replace(state, dispute_open=True, dispute_id=event.dispute_id,
                   interim_owner=interim), ()


def _dispute_closed(state: TicketState, event: Event) -> _Result:
    if event.dispute_id is not None and state.dispute_id not in (None, event.dispute_id):
        raise _conflict(f"the ticket's dispute is {state.dispute_id}, not {event.dispute_id}",
                        "dispute_mismatch", state, dispute_id=event.dispute_id)
    if not state.dispute_open:
        return state, ()  # already designated; the ruling arrives later
    interim = None if state.owner is not None else state.interim_owner
    return replace(state, dispute_open=False, interim_owner=interim), ()


def _close_out_of_scope(state: TicketState, event: Event) -> _Result:
    """The hotline office ends the ticket as out of scope (domain.md §5a). A pending return
    must be reviewed and an open dispute settled first: closing decides neither."""
    if state.pending_return is not None:
        raise _conflict(f"a return by {state.pending_return.unit} is pending review; uphold or "
                        "reject it before closing the ticket", "return_pending", state,
                        unit=state.pending_return.unit)
    if state.dispute_open:
        raise _conflict("the ticket is in dispute; rule on or withdraw the dispute before "
                        "closing the ticket", "ticket_in_dispute", state,
                        dispute_id=state.dispute_id)
    closure = OutOfScopeClosure(unit=event.unit or "", at=event.at,
                                outcome=event.outcome or "", basis=event.basis or "",
                                note=event.note)
    return replace(state, out_of_scope=closure, owner=None, interim_owner=None), ()


def _refuse_after_end(state: TicketState, event: Event) -> None:
    if state.status is TicketStatus.COMPLETED:
        raise _conflict(f"the ticket is completed; a {event.type} event cannot follow",
                        "ticket_completed", state, type=str(event.type))
    # A closed ticket still records the end of a dispute about it (the dispute is the
    # district's record, and closing it must not fail because the ticket ended).
    if (state.status is TicketStatus.CLOSED_OUT_OF_SCOPE
            and event.type != EventType.DISPUTE_CLOSED):
        outcome = state.out_of_scope.outcome if state.out_of_scope else None
        raise _conflict(f"the ticket was closed as out of scope ({outcome}); a {event.type} "
                        "event cannot follow", "ticket_closed", state, type=str(event.type),
                        outcome=outcome)


# -- public API ----------------------------------------------------------------------------------


def apply(state: TicketState, event: Event, policy: Policy = DEFAULT_POLICY, *,
          territorial_unit: str | None = None) -> Outcome:
    """Apply one event to a ticket: the new state and the effects to carry out.

    ``territorial_unit`` is the territorial unit (属地单位) of the ticket's area, used as the
    interim owner where the policy's ``interim_order`` prefers it or no first receiver exists.
    Raises ``InvalidInput`` for a malformed event (``invalid_event`` naming the field,
    ``invalid_event_type``, ``invalid_reason_code``, ``invalid_tier``, ``invalid_outcome``) and
    ``Conflict`` for one the ticket's state forbids (``ticket_completed``, ``ticket_closed``,
    ``event_out_of_order``, ``not_owner``,
    ``not_dispatched``, ``already_signed``, ``already_owner``, ``return_pending``,
    ``no_pending_return``, ``ticket_accepted``, ``return_window_passed``,
    ``ticket_in_dispute``, ``dispute_already_open``, ``dispute_mismatch``,
    ``no_interim_owner``).

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> s = TicketState("T1")
    >>> for e in [Event("dispatched", t, unit="A"),
    ...           Event("return_requested", t, unit="A", reason_code="other", basis="…"),
    ...           Event("return_upheld", t), Event("reassigned", t, to_unit="B"),
    ...           Event("return_requested", t, unit="B", reason_code="other", basis="…"),
    ...           Event("return_upheld", t)]:
    ...     s = apply(s, e).state
    >>> out = apply(s, Event("reassigned", t, to_unit="A"))
    >>> out.effects[0].reason, out.effects[0].parties, out.state.status.value
    ('bounce', ('A', 'B'), 'in_dispute')
    """
    _check_shape(event, policy)
    _refuse_after_end(state, event)
    if state.updated_at is not None and event.at < state.updated_at:
        raise _conflict(f"a {event.type} event at {event.at.isoformat()} is earlier than the "
                        f"ticket's last event at {state.updated_at.isoformat()}",
                        "event_out_of_order", state, at=event.at.isoformat())
    kind = EventType(event.type)
    if kind is not EventType.RETURN_REQUESTED:
        state = _settle(state, event.at, policy)

    result: _Result
    if kind is EventType.DISPATCHED:
        result = _dispatch(state, event, event.unit or "", policy, territorial_unit)
    elif kind is EventType.REASSIGNED:
        result = _dispatch(state, event, event.to_unit or "", policy, territorial_unit)
    elif kind is EventType.SIGNED:
        result = _sign(state, event)
    elif kind is EventType.RETURN_REQUESTED:
        result = _request_return(state, event, policy)
    elif kind in (EventType.RETURN_UPHELD, EventType.RETURN_REJECTED):
        result = _review_return(state, event, policy, territorial_unit)
    elif kind is EventType.DISPUTE_OPENED:
        result = _dispute_opened(state, event, policy, territorial_unit)
    elif kind is EventType.DISPUTE_CLOSED:
        result = _dispute_closed(state, event)
    elif kind is EventType.CLOSED_OUT_OF_SCOPE:
        result = _close_out_of_scope(state, event)
    else:  # completed
        result = state, ()

    new, effects = result
    status = _status_after(kind, new)
    new = replace(new, status=status, updated_at=event.at,
                  category=new.category or event.category, area=new.area or event.area,
                  history=(*state.history, event.as_dict()))
    return Outcome(new, effects)


def replay(events: Iterable[Event | Mapping[str, Any]], policy: Policy = DEFAULT_POLICY, *,
           ticket_id: str = "", category: str | None = None, area: str | None = None,
           territorial_unit: str | None = None) -> TicketState:
    """The ticket's state after its history (events or their dict form), effects discarded.

    >>> t = "2026-11-23T09:00:00+08:00"
    >>> s = replay([{"type": "dispatched", "unit": "D-CG", "at": t},
    ...             {"type": "signed", "unit": "D-CG", "at": t}], ticket_id="T1")
    >>> s.status.value, s.accepted, len(s.history)
    ('signed', True, 2)
    """
    state = TicketState(ticket_id, category=category, area=area)
    for item in events:
        event = item if isinstance(item, Event) else Event.from_dict(item)
        state = apply(state, event, policy, territorial_unit=territorial_unit).state
    return state


def involves(state: TicketState, unit: str) -> bool:
    """Whether ``unit`` holds the ticket or has held it: it has it now, or an event of its
    history names it (dispatched or reassigned to it, signed, returned, or held it while a
    dispute was open). What a unit's clerk may see.

    >>> t = "2026-11-23T09:00:00+08:00"
    >>> s = replay([{"type": "dispatched", "unit": "D-CG", "at": t},
    ...             {"type": "reassigned", "to_unit": "JD-HP", "at": t}], ticket_id="T1")
    >>> involves(s, "D-CG"), involves(s, "JD-HP"), involves(s, "D-WJ")
    (True, True, False)
    """
    if unit in (state.holder, state.owner, state.interim_owner) or unit in state.path:
        return True
    return any(unit in (event.get("unit"), event.get("to_unit")) for event in state.history)


def permits(state: TicketState, event: Event, policy: Policy = DEFAULT_POLICY, *,
            territorial_unit: str | None = None) -> bool:
    """Whether the ticket's state would take ``event`` now: :func:`apply` asked, nothing
    kept. Pages offer an action only where it would be taken (the return button only inside
    the window), so the rules stay in one place.

    >>> t = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    >>> s = apply(TicketState("T1"), Event("dispatched", t, unit="D-CG")).state
    >>> permits(s, Event("signed", t, unit="D-CG")), permits(s, Event("signed", t, unit="X"))
    (True, False)
    """
    try:
        apply(state, event, policy, territorial_unit=territorial_unit)
    except (InvalidInput, Conflict):
        return False
    return True
