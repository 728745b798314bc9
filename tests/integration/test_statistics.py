"""Dispatch-quality statistics over a small hand-made history, with exact expected figures.

The history (November 2026, Beijing time; A = D-CG, B = JD-HP, C = D-ZJ):

- T1: dispatched to A, signed.                                   (A's first dispatch stood)
- T2: dispatched to A; A returns it proposing B; upheld; reassigned to B; B signs.
- T3: dispatched to B; B returns it proposing A; rejected; B signs. (B's first dispatch stood)
- T4: dispatched to A; A returns (→ B); upheld; reassigned to B; B returns (→ A); upheld;
  reassigned to A — the A → B → A bounce opens dispute D1 (A, B).
- T5: dispatched to C in October (outside the period).
- Disputes: D1 (A, B; 030101) ruled A leads after 24 h; D2 (B, C; 0302) ruled C leads after
  6 h; D3 (A, C) still open; D5 (A, C; 030101) ruled C leads after 2 h; D4 (A, B) opened in
  October.
- Decisions in November: three naming A (two routed, one fallback), one naming B
  (ambiguous); one naming C in October.

The rows are inserted directly, as a bulk load would, then the rollups filled from them
(``rollups.fill``, migration 0012's); each test of the counts runs once on the rollups and
once counted from the history (the zone's row removed: nothing rolled up).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, delete, insert

from arbitration import rollups, statistics
from arbitration.tables import dispute_parties, disputes, rulings, ticket_events, tickets
from rules.tables import decisions, rollup_zone
from tests.e2e.test_api_routing import load

CST = ZoneInfo("Asia/Shanghai")
A, B, C = "D-CG", "JD-HP", "D-ZJ"
NOVEMBER = statistics.Period(datetime(2026, 11, 1, tzinfo=CST), datetime(2026, 12, 1, tzinfo=CST))


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CST)


def _return(unit: str, proposed: str) -> dict[str, Any]:
    return {"type": "return_requested", "unit": unit, "proposed_unit": proposed,
            "reason_code": "territory_mismatch", "basis": "属地管理"}


HISTORY: dict[str, tuple[str | None, datetime, list[dict[str, Any]]]] = {
    "T1": ("030101", at(2), [{"type": "dispatched", "unit": A}, {"type": "signed", "unit": A}]),
    "T2": ("030101", at(3), [{"type": "dispatched", "unit": A}, _return(A, B),
                             {"type": "return_upheld"}, {"type": "reassigned", "to_unit": B},
                             {"type": "signed", "unit": B}]),
    "T3": ("0302", at(4), [{"type": "dispatched", "unit": B}, _return(B, A),
                           {"type": "return_rejected"}, {"type": "signed", "unit": B}]),
    "T4": ("030101", at(5), [{"type": "dispatched", "unit": A}, _return(A, B),
                             {"type": "return_upheld"}, {"type": "reassigned", "to_unit": B},
                             _return(B, A), {"type": "return_upheld"},
                             {"type": "reassigned", "to_unit": A},
                             {"type": "dispute_opened", "unit": A, "dispute_id": "D1"}]),
    "T5": ("0302", at(30, month=10), [{"type": "dispatched", "unit": C},
                                      {"type": "signed", "unit": C}]),
}

DISPUTES = [  # id, ticket, category, parties, opened, ruled (lead, at) or None
    ("D1", "T4", "030101", [A, B], at(5, 12), (A, at(6, 12))),
    ("D2", None, "0302", [B, C], at(10, 9), (C, at(10, 15))),
    ("D3", None, None, [A, C], at(20, 9), None),
    ("D4", None, None, [A, B], at(20, month=10), None),
    ("D5", None, "030101", [A, C], at(25, 10), (C, at(25, 12))),
]

DECISIONS = [(A, "routed", at(2)), (A, "routed", at(3)), (A, "fallback", at(5)),
             (B, "ambiguous", at(4)), (C, "routed", at(15, month=10))]


def insert_history(conn: Connection, *, rolled_up: bool = True) -> None:
    insert_rows(conn)
    if rolled_up:
        rollups.fill(conn)
    else:
        conn.execute(delete(rollup_zone))


def insert_rows(conn: Connection) -> None:
    """The history's rows, and nothing else."""
    for ticket_id, (category, start, events) in HISTORY.items():
        rows = []
        for seq, event in enumerate(events, start=1):
            when = start + timedelta(minutes=10 * seq)
            unit = event.get("unit") or event.get("to_unit")
            rows.append({"ticket_id": ticket_id, "seq": seq, "type": event["type"], "at": when,
                         "recorded_at": when, "actor": "test", "unit": unit,
                         "event": {**event, "at": when.isoformat()}})
        conn.execute(insert(ticket_events), rows)
        conn.execute(insert(tickets).values(
            ticket_id=ticket_id, category=category, area=None, status="signed", owner=None,
            first_receiver=None, interim_owner=None, dispatch_count=0, dispute_id=None,
            state={}, event_count=len(rows), created_at=start, updated_at=start))
    for dispute_id, ticket_id, category, parties, opened, ruled in DISPUTES:
        conn.execute(insert(disputes).values(
            id=dispute_id, ticket_id=ticket_id, category=category, reason="manual",
            status="ruled" if ruled else "open", parties=parties, opened_at=opened,
            closed_at=ruled[1] if ruled else None, escalated=0, state={},
            ruling_id=f"R-{dispute_id}" if ruled else None))
        conn.execute(insert(dispute_parties), [{"dispute_id": dispute_id, "unit": u}
                                               for u in parties])
        if ruled:
            conn.execute(insert(rulings).values(
                id=f"R-{dispute_id}", dispute_id=dispute_id, ticket_id=ticket_id, lead=ruled[0],
                co_handlers=[], reasoning="…", basis="…",
                document_no=f"示政办裁〔2026〕{dispute_id}", retired_rules=[],
                category=category, arbiter="arbiter", at=ruled[1]))
    for i, (lead, status, when) in enumerate(DECISIONS):
        conn.execute(insert(decisions).values(
            id=f"DEC-{i}", ticket_id=None, ruleset_version=1, created_at=when, as_of=when,
            category="030101", status=status, lead=lead, request={}, response={},
            actor="test"))


@pytest.fixture(params=["rolled up", "from the history"])
def history(db: Engine, request: pytest.FixtureRequest) -> Iterator[Connection]:
    with db.connect() as conn:
        transaction = conn.begin()
        insert_history(conn, rolled_up=request.param == "rolled up")
        yield conn
        transaction.rollback()


def by_unit(conn: Connection) -> dict[str | None, dict[str, Any]]:
    return {row["unit"]: row for row in statistics.unit_statistics(conn, NOVEMBER)}


def test_first_dispatch_accuracy_counts_tickets_whose_first_dispatch_stood(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["first_receipts"], rows[A]["first_dispatch_stood"]) == (3, 1)
    assert rows[A]["first_dispatch_accuracy"] == pytest.approx(0.3333)
    assert (rows[B]["first_receipts"], rows[B]["first_dispatch_accuracy"]) == (1, 1.0)


def test_return_rate_is_the_share_of_tickets_received_that_the_unit_returned(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["returns_requested"], rows[A]["dispatches_received"]) == (2, 4)
    assert (rows[A]["tickets_returned"], rows[A]["tickets_in_scope"]) == (2, 3)  # T2, T4
    assert rows[A]["return_rate"] == pytest.approx(0.6667)
    assert (rows[B]["tickets_returned"], rows[B]["tickets_in_scope"]) == (2, 3)  # T3, T4
    assert rows[B]["return_rate"] == pytest.approx(0.6667)


def test_a_rejected_return_counts_against_the_unit_that_asked_for_it(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["returns_reviewed"], rows[A]["returns_rejected"]) == (2, 0)
    assert rows[A]["return_rejection_rate"] == 0.0
    assert (rows[B]["returns_reviewed"], rows[B]["returns_rejected"]) == (2, 1)
    assert rows[B]["return_rejection_rate"] == 0.5


def test_dispute_rate_is_the_share_of_tickets_received_that_the_unit_disputed(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["disputes"], rows[A]["tickets_received"]) == (3, 3)  # D4 is October's
    # Only D1 is about a ticket (T4, between A and B); D2, D3 and D5 have none.
    assert (rows[A]["disputed_tickets"], rows[A]["dispute_rate"]) == (1, pytest.approx(0.3333))
    assert (rows[B]["disputes"], rows[B]["dispute_rate"]) == (2, pytest.approx(0.3333))
    assert (rows[C]["disputes"], rows[C]["dispute_rate"]) == (2 + 1, None)  # received nothing


def test_a_ruling_naming_a_unit_lead_is_a_loss_for_it_and_a_win_for_the_other_parties(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["disputes_won"], rows[A]["disputes_lost"]) == (1, 1)
    assert (rows[B]["disputes_won"], rows[B]["disputes_lost"]) == (2, 0)
    assert (rows[C]["disputes_won"], rows[C]["disputes_lost"]) == (0, 2)


def test_average_dispatches_count_every_dispatch_of_the_tickets_a_unit_received(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["dispatches_of_received"], rows[A]["dispatches_per_ticket"]) == (6, 2.0)
    assert (rows[B]["dispatches_of_received"], rows[B]["dispatches_per_ticket"]) == (6, 2.0)


def test_arbitration_lead_time_runs_from_opening_to_ruling_in_hours(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["rulings_timed"], rows[A]["lead_time_mean_h"],
            rows[A]["lead_time_median_h"]) == (2, 13.0, 13.0)
    assert (rows[B]["lead_time_mean_h"], rows[B]["lead_time_median_h"]) == (15.0, 15.0)
    assert (rows[C]["lead_time_mean_h"], rows[C]["lead_time_median_h"]) == (4.0, 4.0)


def test_rule_coverage_is_the_share_of_a_units_decisions_routed_by_a_rule(
        history: Connection) -> None:
    rows = by_unit(history)
    assert (rows[A]["decisions"], rows[A]["decisions_routed"]) == (3, 2)
    assert rows[A]["rule_coverage"] == pytest.approx(0.6667)
    assert rows[B]["rule_coverage"] == 0.0
    assert rows[C]["decisions"] == 0  # October's decision is outside the period


def test_a_unit_asked_for_by_code_with_nothing_in_the_period_gets_zeros(
        history: Connection) -> None:
    (row,) = statistics.unit_statistics(history, NOVEMBER, unit="D-GZ")
    assert row["tickets_received"] == 0 and row["return_rate"] is None


def test_the_district_summary_counts_each_ticket_dispute_and_ruling_once(
        history: Connection) -> None:
    s = statistics.summary(history, NOVEMBER)
    assert (s["tickets_received"], s["dispatches_received"], s["first_receipts"]) == (4, 7, 4)
    assert s["first_dispatch_accuracy"] == 0.5
    assert (s["tickets_returned"], s["return_rate"]) == (3, 0.75)  # T2, T3, T4
    assert s["return_rejection_rate"] == 0.25
    assert (s["disputes"], s["disputed_tickets"], s["dispute_rate"], s["rulings"]) == (
        4, 1, 0.25, 3)
    assert s["dispatches_per_ticket"] == 1.75
    assert s["lead_time_mean_h"] == pytest.approx(10.67, abs=0.01)
    assert s["lead_time_median_h"] == 6.0
    assert s["rule_coverage"] == 0.5
    assert s["disputes_by_status"] == {"open": 2, "ruled": 3}
    assert s["tickets_total"] == 5


def test_hotspots_rank_unit_pairs_by_disputes_and_returns(history: Connection) -> None:
    spots = statistics.hotspots(history, NOVEMBER)
    assert spots.dispute_pairs == [(A, C, 2), (A, B, 1), (C, B, 1)]
    # T2 and T4 went A → B after A's returns; T3 (rejected, proposed A) and T4 went B → A.
    assert spots.return_pairs == [(A, B, 2), (B, A, 2)]
    assert spots.categories == [("030101", 3, 2), ("0302", 1, 1)]


def test_hotspots_keep_only_the_top_n(history: Connection) -> None:
    spots = statistics.hotspots(history, NOVEMBER, top=1)
    assert spots.dispute_pairs == [(A, C, 2)] and len(spots.categories) == 1


def test_a_ticket_history_carries_its_events_dispute_and_ruling(history: Connection) -> None:
    h = statistics.ticket_history(history, "T4")
    assert [e["type"] for e in h["events"]][:3] == ["dispatched", "return_requested",
                                                     "return_upheld"]
    assert [d["id"] for d in h["disputes"]] == ["D1"]
    assert [(r["id"], r["lead"]) for r in h["rulings"]] == [("R-D1", A)]


# -- over HTTP ------------------------------------------------------------------------------


@pytest.fixture
def client_with_history(app_client: TestClient) -> TestClient:
    load(app_client)
    engine = app_client.app.state.services.db  # type: ignore[attr-defined]
    with engine.begin() as conn:
        insert_history(conn)
    return app_client


def test_unit_statistics_come_as_json_for_a_period(client_with_history: TestClient) -> None:
    body = client_with_history.get(
        "/v1/stats/units?from=2026-11-01&to=2026-12-01&unit=D-CG").json()
    assert body["period"]["from"] == "2026-11-01T00:00:00+08:00"
    (row,) = body["units"]
    assert (row["unit"], row["name"], row["return_rate"]) == (A, "区城市管理委员会", 0.6667)


def test_unit_statistics_come_as_csv_with_chinese_headers(
        client_with_history: TestClient) -> None:
    response = client_with_history.get("/v1/stats/units?from=2026-11-01&to=2026-12-01"
                                       "&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["单位代码", "单位名称", "接收工单数"]
    line = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert line[A]["退单率"] == "66.7%" and line[A]["一次派准率"] == "33.3%"


def test_the_summary_and_hotspots_answer_over_http(client_with_history: TestClient) -> None:
    summary = client_with_history.get("/v1/stats/summary?from=2026-11-01&to=2026-12-01").json()
    assert summary["tickets_received"] == 4
    spots = client_with_history.get("/v1/stats/hotspots?from=2026-11-01&to=2026-12-01&top=2")
    body = spots.json()
    assert body["dispute_pairs"][0] == {"units": [A, C], "names": ["区城市管理委员会",
                                                                   "区住房和城乡建设委员会"],
                                        "disputes": 2}
    assert body["categories"][0]["name"] == "小区内私搭乱建"


def test_a_bad_period_or_unit_is_422_naming_the_parameter(
        client_with_history: TestClient) -> None:
    for query, field in (("from=2026-12-01&to=2026-11-01", "to"), ("from=tomorrow", "from"),
                         ("unit=NOPE", "unit"), ("format=xls", "format")):
        response = client_with_history.get(f"/v1/stats/units?{query}")
        assert response.status_code == 422, query
        assert response.json()["field"] == field


def test_the_arbitration_graph_views_render_from_the_records(
        client_with_history: TestClient) -> None:
    get = client_with_history.get
    hot = get("/v1/graph?view=hotspots&from=2026-11-01&to=2026-12-01&format=json").json()
    hot_edges = {(e["source"], e["target"], e["relation"]) for e in hot["edges"] if e["hot"]}
    assert ("unit:D-CG", "unit:JD-HP", "returns") in hot_edges
    ticket = get("/v1/graph?view=ticket&focus=T4&format=json").json()
    assert [n["kind"] for n in ticket["nodes"]][-2:] == ["dispute", "ruling"]
    assert get("/v1/graph?view=ticket&focus=T4&format=svg").status_code == 200
    lineage = get("/v1/graph?view=lineage&focus=R-D1&format=json").json()
    assert lineage["nodes"][0]["id"] == "ruling:R-D1"
    missing = get("/v1/graph?view=ticket&focus=NOPE&format=json")
    assert missing.status_code == 404 and missing.json()["field"] == "focus"
