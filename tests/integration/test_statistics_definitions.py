"""Statistics that can be read (issue 8 §5–§6): every rate is a share of tickets and lies in
[0, 1], whatever the history; out-of-scope tickets are counted apart; the period defaults to
the last 30 days and is always echoed; every statistics endpoint speaks CSV; odd dates are
4xx, never 500."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, insert

from arbitration import rollups, statistics
from arbitration.tables import dispute_parties, disputes, ticket_events, tickets
from arbitration.tickets import Event, OpenDispute, TicketState, apply
from jurisdiction.errors import QuanzeError
from rules.tables import decisions
from tests.conftest import Clock
from tests.e2e.test_api_tickets import load, post

CST = ZoneInfo("Asia/Shanghai")
UNITS = ("D-CG", "JD-HP", "D-ZJ", "O-RX")
START = datetime(2026, 9, 1, tzinfo=CST)

# -- random histories ---------------------------------------------------------------------

unit = st.sampled_from(UNITS[:3])
action = st.one_of(
    st.tuples(st.just("dispatched"), unit), st.tuples(st.just("signed"), st.none()),
    st.tuples(st.just("return_requested"), st.sampled_from(
        ("territory_mismatch", "not_government_duty", "not_acceptable"))),
    st.tuples(st.just("return_upheld"), st.none()),
    st.tuples(st.just("return_rejected"), st.none()),
    st.tuples(st.just("reassigned"), unit), st.tuples(st.just("completed"), st.none()),
    st.tuples(st.just("closed_out_of_scope"),
              st.sampled_from(("informed", "terminated", "transferred"))),
    st.tuples(st.just("dispute_closed"), st.none()),
)
ticket_history = st.tuples(st.integers(0, 80),  # start day
                           st.lists(st.tuples(action, st.integers(1, 60 * 48)), max_size=9))
stray_dispute = st.tuples(st.integers(0, 90), st.lists(unit, min_size=1, max_size=3, unique=True))
decision = st.tuples(st.integers(0, 90), st.sampled_from((*UNITS, None)),
                     st.sampled_from(("routed", "fallback", "ambiguous", "unrouted",
                                      "out_of_scope")))


def _event(kind: str, arg: str | None, at: datetime, state: TicketState) -> Event:
    if kind == "dispatched":
        return Event(kind, at, unit=arg, category="030101")
    if kind == "reassigned":
        return Event(kind, at, to_unit=arg)
    if kind == "signed":
        return Event(kind, at, unit=state.owner)
    if kind == "return_requested":
        return Event(kind, at, unit=state.owner, reason_code=arg, basis="依据")
    if kind == "closed_out_of_scope":
        return Event(kind, at, unit="O-RX", outcome=arg, basis="依据")
    if kind == "dispute_closed":
        return Event(kind, at, dispute_id=state.dispute_id)
    return Event(kind, at)


def insert_random_history(conn: Connection, histories: list[Any], strays: list[Any],
                          made: list[Any]) -> None:
    """Ticket histories made by the real fold (events it refuses are skipped), the disputes
    its effects open, disputes without a ticket, and routing decisions; then the rollups
    filled from them."""
    n_disputes = 0

    def open_dispute(ticket_id: str | None, parties: list[str], at: datetime) -> str:
        nonlocal n_disputes
        n_disputes += 1
        dispute_id = f"D{n_disputes}"
        conn.execute(insert(disputes).values(
            id=dispute_id, ticket_id=ticket_id, reason="manual", status="open",
            parties=parties, opened_at=at, escalated=0, state={}))
        conn.execute(insert(dispute_parties), [{"dispute_id": dispute_id, "unit": u}
                                               for u in dict.fromkeys(parties)])
        return dispute_id

    for i, (day, steps) in enumerate(histories):
        ticket_id, state = f"T{i}", TicketState(f"T{i}")
        at = START + timedelta(days=day)
        rows: list[dict[str, Any]] = []
        for (kind, arg), minutes in steps:
            at += timedelta(minutes=minutes)
            try:
                outcome = apply(state, _event(kind, arg, at, state))
            except QuanzeError:
                continue
            state = outcome.state
            applied = [state.history[-1]]
            for effect in outcome.effects:
                assert isinstance(effect, OpenDispute)
                dispute_id = open_dispute(ticket_id, list(effect.parties), at)
                state = apply(state, Event("dispute_opened", at, unit=effect.interim_owner,
                                           dispute_id=dispute_id)).state
                applied.append(state.history[-1])
            for event in applied:
                rows.append({"ticket_id": ticket_id, "seq": len(rows) + 1,
                             "type": event["type"], "at": at, "recorded_at": at,
                             "actor": "test", "unit": event.get("unit") or event.get("to_unit"),
                             "event": event})
        if not rows:
            continue
        conn.execute(insert(ticket_events), rows)
        conn.execute(insert(tickets).values(
            ticket_id=ticket_id, category="030101", area=None, status=str(state.status),
            owner=state.owner, first_receiver=state.first_receiver, interim_owner=None,
            dispatch_count=state.dispatch_count, dispute_id=state.dispute_id, state={},
            event_count=len(rows), created_at=START, updated_at=at))
    for day, parties in strays:  # manual disputes, and ambiguous routings of no ticket
        open_dispute(None, parties, START + timedelta(days=day))
    for i, (day, lead, status) in enumerate(made):
        when = START + timedelta(days=day)
        conn.execute(insert(decisions).values(
            id=f"DEC-{i}", ticket_id=None, ruleset_version=1, created_at=when, as_of=when,
            category="030101", status=status, lead=None if status == "out_of_scope" else lead,
            request={}, response={}, actor="test"))
    rollups.fill(conn)  # as a bulk load would


def assert_readable(row: dict[str, Any]) -> None:
    for key in statistics.RATE_FORMULAS:
        value = row[key]
        assert value is None or 0.0 <= value <= 1.0, (row["unit"], key, value)
    per_ticket = row["dispatches_per_ticket"]
    assert per_ticket is None or per_ticket >= 1.0
    figure = row["out_of_scope_figure"]
    assert figure["share"] is None or 0.0 <= figure["share"] <= 1.0
    assert figure["count"] == sum(o["count"] for o in figure["by_outcome"].values())


@pytest.fixture
def connection(db: Engine) -> Iterator[Connection]:
    with db.connect() as conn:
        yield conn


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(histories=st.lists(ticket_history, max_size=12), strays=st.lists(stray_dispute,
                                                                         max_size=6),
       made=st.lists(decision, max_size=6), first=st.integers(0, 100),
       length=st.integers(1, 60))
def test_every_rate_lies_between_zero_and_one_whatever_the_history(
        connection: Connection, histories: list[Any], strays: list[Any], made: list[Any],
        first: int, length: int) -> None:
    transaction = connection.begin()
    try:
        insert_random_history(connection, histories, strays, made)
        begin = START + timedelta(days=first)
        period = statistics.Period(begin, begin + timedelta(days=length))
        for rolled_up in (True, False):
            for row in statistics.unit_statistics(connection, period, rolled_up=rolled_up):
                assert_readable(row)
            assert_readable(statistics.summary(connection, period, rolled_up=rolled_up)
                            | {"unit": None})
    finally:
        transaction.rollback()


def test_a_ticket_cannot_be_in_dispute_more_often_than_it_was_received(
        connection: Connection) -> None:
    """How 争议率 reached 1.75: disputes (ticket-less, or about tickets received before the
    period) were divided by the tickets received in the period."""
    with connection.begin():
        steps = [(("dispatched", "D-CG"), 10), (("signed", None), 10)]
        insert_random_history(connection, [(1, steps)],
                              [(1, ["D-CG", "JD-HP"])] * 7, [])
        period = statistics.Period(START, START + timedelta(days=30))
        (row,) = [r for r in statistics.unit_statistics(connection, period)
                  if r["unit"] == "D-CG"]
        assert (row["disputes"], row["tickets_received"]) == (7, 1)
        assert (row["disputed_tickets"], row["dispute_rate"]) == (0, 0.0)
        summary = statistics.summary(connection, period)
        assert summary["dispute_rate"] == 0.0
        connection.rollback()


# -- out of scope, over HTTP ----------------------------------------------------------------

MON = "2026-11-23T09:00:00+08:00"


def close_out_of_scope(client: TestClient, ticket_id: str, outcome: str) -> None:
    post(client, ticket_id, type="dispatched", unit="D-CG", at=MON)
    post(client, ticket_id, type="return_requested", unit="D-CG", at=MON,
         reason_code="not_government_duty", basis="民事纠纷")
    post(client, ticket_id, type="return_upheld", at=MON)
    post(client, ticket_id, type="closed_out_of_scope", unit="O-RX", at=MON,
         outcome=outcome, basis="告知诉求人通过诉讼途径解决")


def test_out_of_scope_tickets_are_not_misdispatches_and_are_counted_apart(
        app_client: TestClient) -> None:
    load(app_client)
    post(app_client, "T-OK", type="dispatched", unit="D-CG", at=MON, category="030101")
    post(app_client, "T-OK", type="signed", unit="D-CG", at=MON)
    close_out_of_scope(app_client, "T-OOS1", "informed")
    close_out_of_scope(app_client, "T-OOS2", "terminated")
    query = "?from=2026-11-01&to=2026-12-01"
    (row,) = app_client.get(f"/v1/stats/units{query}&unit=D-CG").json()["units"]
    assert (row["tickets_received"], row["first_receipts"], row["tickets_in_scope"]) == (3, 1, 1)
    assert (row["first_dispatch_accuracy"], row["return_rate"]) == (1.0, 0.0)
    assert row["returns_requested"] == 2  # the returns happened; they are not misdispatches
    summary = app_client.get(f"/v1/stats/summary{query}").json()
    figure = summary["out_of_scope_figure"]
    assert (figure["count"], figure["share"]) == (2, pytest.approx(0.6667))
    assert figure["by_outcome"]["informed"] == {"label": "告知", "count": 1,
                                                "share": pytest.approx(0.3333)}
    assert figure["by_outcome"]["transferred"]["count"] == 0
    assert (summary["first_dispatch_accuracy"], summary["return_rate"]) == (1.0, 0.0)


# -- the period, formulas and CSV ----------------------------------------------------------


def test_the_default_period_is_the_last_30_days_and_is_echoed(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    for path in ("/v1/stats/units", "/v1/stats/summary", "/v1/stats/hotspots"):
        body = app_client.get(path).json()
        assert body["period"] == {"from": "2026-10-28T00:00:00+08:00",
                                  "to": "2026-11-27T00:00:00+08:00"}, path


def test_every_rate_comes_with_its_formula(app_client: TestClient) -> None:
    load(app_client)
    for path in ("/v1/stats/units", "/v1/stats/summary"):
        formulas = app_client.get(path).json()["formulas"]
        assert set(statistics.RATE_FORMULAS) <= set(formulas), path
        for key, formula in formulas.items():
            numerator, denominator = formula["formula"].split(" / ")
            assert {numerator, denominator} <= set(statistics.UnitCounts.__dataclass_fields__)
            assert formula["label"] and formula["description"], key
    assert app_client.get("/v1/stats/units").json()["formulas"]["dispute_rate"]["label"] \
        == "争议率"


@pytest.mark.parametrize(("path", "header"), [
    ("/v1/stats/units", "单位代码"), ("/v1/stats/summary", "单位代码"),
    ("/v1/stats/hotspots", "类别"),
])
def test_every_statistics_endpoint_answers_csv_with_chinese_headers(
        app_client: TestClient, path: str, header: str) -> None:
    load(app_client)
    close_out_of_scope(app_client, "T-OOS", "informed")
    response = app_client.get(f"{path}?from=2026-11-01&to=2026-12-01&format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == header
    assert all(len(r) == len(rows[0]) for r in rows)
    if path != "/v1/stats/hotspots":
        line = dict(zip(rows[0], rows[1], strict=True))
        assert line["非受理范围办结数"] == "1" and line["其中告知"] == "1"


ODD = ("from=0001-01-01", "to=0001-01-01", "from=9999-12-31", "to=9999-12-31",
       "from=2026-12-01&to=2026-11-01", "from=2026-11-01T00:00:00&to=2026-11-01T00:00:00",
       "from=1999-12-31&to=2026-01-01", "from=2026-02-30")


@pytest.mark.parametrize("path", ["/v1/stats/units", "/v1/stats/summary",
                                  "/v1/stats/hotspots", "/v1/graph?view=hotspots&format=json"])
def test_odd_dates_are_a_4xx_naming_the_parameter_never_a_500(
        app_client: TestClient, path: str) -> None:
    load(app_client)
    queries = ODD if path.startswith("/v1/graph") else (*ODD, "format=xls")
    for query in queries:
        response = app_client.get(f"{path}{'&' if '?' in path else '?'}{query}")
        assert 400 <= response.status_code < 500, (path, query, response.text)
        assert response.json()["field"] in ("from", "to", "format")
