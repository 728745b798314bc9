"""Stored ticket histories keep replaying the same when the calendar changes under them: a
district's override travels with each event's policy, and each event remembers the last year
the holiday library knew, so a newer library does not re-judge an old return."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, select

from arbitration import service
from arbitration.policy import DEFAULT_POLICY
from arbitration.tables import disputes, ticket_events
from arbitration.tickets import Event, replay
from jurisdiction.errors import Conflict


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T") + "+08:00")


def test_a_history_recorded_with_an_older_library_replays_the_same_with_a_newer_one(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # An older library that knew up to 2025 counted 2026 Monday–Friday: dispatched Friday
    # 9 October 2026, the return window ran to Monday the 12th. The real 2026 calendar works
    # Saturday the 10th (调休), which would have closed the window a day earlier.
    old_library = DEFAULT_POLICY.with_library_until(2025)
    monkeypatch.setattr(service, "library_years", lambda: (2004, 2025))
    events = [Event("dispatched", at("2026-10-09 09:00"), unit="D-CG"),
              Event("return_requested", at("2026-10-11 12:00"), unit="D-CG",
                    reason_code="other", basis="职责清单")]
    now = at("2026-10-11 12:01")
    for event in events:
        with db.begin() as conn:
            service.record_ticket_event(conn, ticket_id="T1", event=event, actor="t", now=now,
                                        policy=old_library)
    monkeypatch.undo()  # the library is upgraded
    with pytest.raises(Conflict):
        replay(events, DEFAULT_POLICY)  # judged by the new library, the return was too late
    with db.connect() as conn:
        stored = conn.execute(select(ticket_events.c.event)
                              .where(ticket_events.c.ticket_id == "T1")).scalars().all()
        state = service.load_ticket(conn, "T1")
    assert [e["applied"]["library_until"] for e in stored] == [2025, 2025]
    assert state is not None and state.status.value == "return_pending"


def test_saving_a_policy_without_a_matrix_settles_provisional_deadlines_under_the_default(
        db: Engine) -> None:
    with db.begin() as conn:
        dispute_id = service.open_dispute_record(
            conn, reason="manual", parties=["A", "B"], ticket_id=None, category=None,
            area=None, interim_owner=None, decision_id=None, actor="t",
            now=at("2026-12-30 10:00"), policy=DEFAULT_POLICY)
        assert service.get_dispute(conn, dispute_id)["stage_deadline_provisional"] is True
        saved = service.put_policy(conn, None, {"calendar": {"years": [2027],
                                                             "holidays": ["2027-01-01"]}},
                                   actor="t", now=at("2026-12-30 11:00"))
        assert saved["revised_deadlines"] == 1
        doc = service.get_dispute(conn, dispute_id)
    assert doc["stage_deadline"] == "2027-01-04T10:00:00+08:00"
    assert doc["stage_deadline_provisional"] is False


def test_a_dispute_stored_before_deadlines_said_so_is_shown_provisional_when_it_is(
        db: Engine) -> None:
    with db.begin() as conn:
        dispute_id = service.open_dispute_record(
            conn, reason="manual", parties=["A"], ticket_id=None, category=None, area=None,
            interim_owner=None, decision_id=None, actor="t", now=at("2026-12-30 10:00"),
            policy=DEFAULT_POLICY)
        row = conn.execute(select(disputes.c.state)
                           .where(disputes.c.id == dispute_id)).scalar_one()
        old = {k: v for k, v in row.items() if k != "stage_deadline_provisional"}
        conn.execute(disputes.update().where(disputes.c.id == dispute_id).values(state=old))
        assert service.get_dispute(conn, dispute_id)["stage_deadline_provisional"] is True
