"""The hotline ends an out-of-scope ticket (domain.md §5a): closed_out_of_scope in the pure fold."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from arbitration.tickets import (
    OUT_OF_SCOPE_OUTCOMES,
    Event,
    TicketState,
    TicketStatus,
    apply,
    replay,
)
from jurisdiction.errors import Conflict, InvalidInput

T0 = datetime.fromisoformat("2026-11-23T09:00:00+08:00")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def returned_not_duty() -> list[Event]:
    """Dispatched to D-CG, which returns it as 非政府职责; the hotline upholds the return."""
    return [Event("dispatched", at(0), unit="D-CG"),
            Event("return_requested", at(10), unit="D-CG", reason_code="not_government_duty",
                  basis="物业合同纠纷，属民事关系"),
            Event("return_upheld", at(20))]


def close(outcome: str = "informed", minutes: int = 30, **extra: Any) -> Event:
    return Event("closed_out_of_scope", at(minutes), unit="O-RX", outcome=outcome,
                 basis="《北京市接诉即办工作条例》：不属于政府职责的，告知诉求人", **extra)


@pytest.mark.parametrize("outcome", sorted(OUT_OF_SCOPE_OUTCOMES))
def test_an_upheld_out_of_scope_return_ends_with_the_hotlines_closure(outcome: str) -> None:
    state = replay([*returned_not_duty(), close(outcome)], ticket_id="T1")
    assert state.status is TicketStatus.CLOSED_OUT_OF_SCOPE
    assert state.out_of_scope is not None and state.out_of_scope.outcome == outcome
    assert state.holder is None  # nobody is left holding it
    doc = state.as_dict()
    assert doc["status"] == "closed_out_of_scope"
    assert doc["out_of_scope"]["outcome_label"] == OUT_OF_SCOPE_OUTCOMES[outcome]
    assert doc["history"][-1]["outcome"] == outcome


@pytest.mark.parametrize("later", [
    Event("reassigned", at(40), to_unit="JD-HP"),
    Event("dispatched", at(40), unit="JD-HP"),
    Event("completed", at(40)),
    Event("closed_out_of_scope", at(40), unit="O-RX", outcome="terminated", basis="…"),
])
def test_no_event_may_follow_the_closure_but_the_end_of_a_dispute(later: Event) -> None:
    state = replay([*returned_not_duty(), close()], ticket_id="T1")
    with pytest.raises(Conflict) as caught:
        apply(state, later)
    assert caught.value.code == "ticket_closed"
    after = apply(state, Event("dispute_closed", at(50), dispute_id="D1")).state
    assert after.status is TicketStatus.CLOSED_OUT_OF_SCOPE


def test_a_closure_needs_a_known_outcome_a_basis_and_the_hotline_unit() -> None:
    base = replay(returned_not_duty(), ticket_id="T1")
    for event, code, field in (
            (Event("closed_out_of_scope", at(30), unit="O-RX", outcome="ignored", basis="b"),
             "invalid_outcome", "outcome"),
            (Event("closed_out_of_scope", at(30), unit="O-RX", basis="b"),
             "invalid_outcome", "outcome"),
            (Event("closed_out_of_scope", at(30), unit="O-RX", outcome="informed", basis=" "),
             "invalid_event", "basis"),
            (Event("closed_out_of_scope", at(30), outcome="informed", basis="b"),
             "invalid_event", "unit")):
        with pytest.raises(InvalidInput) as caught:
            apply(base, event)
        assert (caught.value.code, caught.value.context["field"]) == (code, field)


def test_a_pending_return_or_an_open_dispute_must_be_settled_before_closing() -> None:
    pending = replay(returned_not_duty()[:2], ticket_id="T1")
    with pytest.raises(Conflict) as caught:
        apply(pending, close())
    assert caught.value.code == "return_pending"
    disputed = apply(replay(returned_not_duty(), ticket_id="T1"),
                     Event("dispute_opened", at(25), unit="JD-HP", dispute_id="D1")).state
    with pytest.raises(Conflict) as caught:
        apply(disputed, close())
    assert caught.value.code == "ticket_in_dispute"


def test_the_hotline_may_close_a_request_it_never_dispatched() -> None:
    state = apply(TicketState("T9"), close("transferred", category="0601")).state
    assert (state.status, state.dispatch_count, state.category) == (
        TicketStatus.CLOSED_OUT_OF_SCOPE, 0, "0601")


def test_the_closure_survives_its_dict_form() -> None:
    event = close("terminated", note="重复恶意诉求")
    assert Event.from_dict(event.as_dict()) == event
