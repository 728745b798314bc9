"""The arbitration service against a real database: the history is the truth, concurrent
writers cannot both win, disputes close onto their tickets, policies are per revision."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from arbitration import service
from arbitration.audit import verify_log
from arbitration.policy import DEFAULT_POLICY, Policy
from arbitration.tables import disputes, tickets
from arbitration.tickets import Event
from jurisdiction.errors import Conflict, InvalidInput, NotFound, QuanzeError

T0 = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
NOW = datetime.fromisoformat("2026-11-26T10:00:00+08:00")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(db: Engine, ticket_id: str, kind: str, minutes: int, policy: Policy = DEFAULT_POLICY,
           **fields: Any) -> Any:
    with db.begin() as conn:
        return service.record_ticket_event(conn, ticket_id=ticket_id,
                                           event=Event(kind, at(minutes), **fields),
                                           actor="router:test", now=NOW, policy=policy)


def give_back(db: Engine, ticket_id: str, unit: str, minutes: int) -> None:
    record(db, ticket_id, "return_requested", minutes, unit=unit, reason_code="other",
           basis="not ours")
    record(db, ticket_id, "return_upheld", minutes + 1)


def assert_audit_intact(db: Engine) -> None:
    with db.connect() as conn:
        _, problems = verify_log(conn)
    assert problems == []


def test_the_projection_follows_the_history(db: Engine) -> None:
    record(db, "T1", "dispatched", 0, unit="A", category="0301", area="101")
    give_back(db, "T1", "A", 10)
    state = record(db, "T1", "reassigned", 20, to_unit="B")
    with db.connect() as conn:
        row = conn.execute(select(tickets).where(tickets.c.ticket_id == "T1")).mappings().one()
        assert service.load_ticket(conn, "T1") == state
        assert service.get_ticket(conn, "T1")["owner"] == "B"
    assert (row["owner"], row["first_receiver"], row["dispatch_count"]) == ("B", "A", 2)
    assert row["event_count"] == 4 and row["status"] == "dispatched"
    assert row["category"] == "0301"
    assert_audit_intact(db)


def test_a_stale_writer_cannot_append_an_event_number_already_taken(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    record(db, "T2", "dispatched", 0, unit="A")
    with db.connect() as conn:
        stale = service._replay(conn, "T2")  # what a writer read before the other committed
    record(db, "T2", "signed", 1, unit="A")
    monkeypatch.setattr(service, "_replay", lambda conn, ticket_id: stale)
    with pytest.raises(Conflict) as caught, db.begin() as conn:
        service.record_ticket_event(conn, ticket_id="T2", event=Event("completed", at(3)),
                                    actor="router:test", now=NOW, policy=DEFAULT_POLICY)
    assert caught.value.code == "ticket_conflict"
    monkeypatch.undo()
    with db.connect() as conn:
        assert [e["type"] for e in service.get_ticket(conn, "T2")["history"]] == [
            "dispatched", "signed"]


def _race(db: Engine, work: Callable[[Any], Any]) -> list[Any]:
    """Run ``work(conn)`` in two transactions at once; each result or the error raised."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        try:
            with db.begin() as conn:
                results[i] = work(conn)
        except QuanzeError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_concurrent_sign_ins_leave_exactly_one(db: Engine) -> None:
    if db.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time (the app queues them)")
    record(db, "T3", "dispatched", 0, unit="A")
    results = _race(db, lambda conn: service.record_ticket_event(
        conn, ticket_id="T3", event=Event("signed", at(5), unit="A"), actor="unit:a",
        now=NOW, policy=DEFAULT_POLICY))
    errors = [r for r in results if isinstance(r, QuanzeError)]
    assert len(errors) == 1
    assert errors[0].code in ("already_signed", "ticket_conflict")
    with db.connect() as conn:
        assert [e["type"] for e in service.get_ticket(conn, "T3")["history"]] == [
            "dispatched", "signed"]
    assert_audit_intact(db)


def _open(db: Engine, **kwargs: Any) -> str:
    values: dict[str, Any] = {"reason": "manual", "parties": ["A", "B"], "ticket_id": None,
                              "category": "0301", "area": "101", "interim_owner": "A",
                              "decision_id": None, "actor": "router:test", "now": NOW,
                              "policy": DEFAULT_POLICY}
    values.update(kwargs)
    with db.begin() as conn:
        return service.open_dispute_record(conn, **values)


def test_two_arbiters_claiming_at_once_leave_one_holder(db: Engine) -> None:
    dispute_id = _open(db)
    assert dispute_id.startswith("DSP-20261126-")
    names = iter(["ann", "bob"])
    lock = threading.Lock()

    def claim(conn: Any) -> Any:
        with lock:
            name = next(names)
        return service.claim_dispute(conn, dispute_id, name, NOW, DEFAULT_POLICY)

    if db.dialect.name == "sqlite":  # one writer at a time: the second claim comes after
        results: list[Any] = []
        for _ in range(2):
            try:
                with db.begin() as conn:
                    results.append(claim(conn))
            except QuanzeError as exc:
                results.append(exc)
    else:
        results = _race(db, claim)
    errors = [r for r in results if isinstance(r, QuanzeError)]
    assert [e.code for e in errors] == ["dispute_claimed"]
    with db.connect() as conn:
        holder = service.get_dispute(conn, dispute_id)
    assert holder["arbiter"] in ("ann", "bob") and holder["status"] == "under_review"
    assert [e["type"] for e in holder["events"]] == ["opened", "claimed"]


def test_closing_a_dispute_records_dispute_closed_on_its_ticket(db: Engine) -> None:
    record(db, "T4", "dispatched", 0, unit="A")
    give_back(db, "T4", "A", 1)
    record(db, "T4", "reassigned", 3, to_unit="B")
    give_back(db, "T4", "B", 4)
    state = record(db, "T4", "reassigned", 6, to_unit="A")
    assert state.dispute_open and state.interim_owner == "A"
    with db.begin() as conn:
        with pytest.raises(Conflict) as caught:
            service.close_dispute(conn, state.dispute_id, status="ruled", ruling_id="RUL-1",
                                  actor="arbiter:ann", now=NOW)
        assert caught.value.code == "dispute_not_claimed"
    with db.begin() as conn:
        service.claim_dispute(conn, state.dispute_id, "ann", NOW, DEFAULT_POLICY)
        closed = service.close_dispute(conn, state.dispute_id, status="ruled",
                                       ruling_id="RUL-1", actor="arbiter:ann", now=NOW)
    assert closed["status"] == "ruled" and closed["ruling_id"] == "RUL-1"
    assert closed["stage_deadline"] is None
    with db.connect() as conn:
        ticket = service.get_ticket(conn, "T4")
    assert ticket["history"][-1]["type"] == "dispute_closed"
    assert ticket["status"] != "in_dispute"
    with db.begin() as conn, pytest.raises(Conflict):
        service.close_dispute(conn, state.dispute_id, status="withdrawn", ruling_id=None,
                              actor="arbiter:ann", now=NOW)
    with db.begin() as conn, pytest.raises(InvalidInput):
        service.close_dispute(conn, _open(db), status="lost", ruling_id=None,
                              actor="arbiter:ann", now=NOW)
    assert_audit_intact(db)


def test_a_history_replays_under_the_policy_it_was_recorded_with(db: Engine) -> None:
    generous = Policy.from_dict({"return_windows": {"standard": 5, "complex": 6}})
    record(db, "T5", "dispatched", 0, generous, unit="A")
    record(db, "T5", "return_requested", 3 * 24 * 60, generous, unit="A",
           reason_code="other", basis="not ours")
    # The district goes back to one working day: the old return stays valid on replay.
    state = record(db, "T5", "return_rejected", 3 * 24 * 60 + 5)
    assert state.accepted and len(state.history) == 3
    with db.connect() as conn:
        assert service.ticket_policy(conn, "T5") == DEFAULT_POLICY


def test_policies_are_stored_as_revisions(db: Engine) -> None:
    with db.begin() as conn:
        assert service.get_policy(conn, "110199")["source"] == "builtin"
        service.put_policy(conn, None, {"bounce_cap": 4}, actor="admin:x", now=NOW)
        service.put_policy(conn, "110199", {"bounce_cap": 5}, actor="admin:x", now=NOW)
        second = service.put_policy(conn, "110199", {"bounce_cap": 6}, actor="admin:x",
                                    now=NOW)
        assert second["revision"] == 2
        assert service.load_policy(conn, "110199").bounce_cap == 6
        assert service.load_policy(conn, "120000").bounce_cap == 4  # the default's
        with pytest.raises(InvalidInput):
            service.put_policy(conn, None, {"bounce_cap": 1}, actor="admin:x", now=NOW)
    assert_audit_intact(db)


def test_escalation_counts_each_missed_deadline_once(db: Engine) -> None:
    first = _open(db)
    _open(db, now=NOW + timedelta(days=30))
    with db.begin() as conn:
        assert service.flag_overdue(conn, NOW, DEFAULT_POLICY) == 0
        assert service.flag_overdue(conn, NOW + timedelta(days=7), DEFAULT_POLICY) == 1
        assert service.flag_overdue(conn, NOW + timedelta(days=8), DEFAULT_POLICY) == 0
        escalated = conn.execute(select(disputes.c.escalated)
                                 .where(disputes.c.id == first)).scalar_one()
    assert escalated == 1
    with db.connect() as conn:
        assert service.list_disputes(conn, overdue=True, now=NOW + timedelta(days=8))[
            "disputes"][0]["id"] == first
    with db.connect() as conn, pytest.raises(NotFound):
        service.get_dispute(conn, "DSP-nope")
    assert_audit_intact(db)
