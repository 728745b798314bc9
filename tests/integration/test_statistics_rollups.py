"""The statistics rollups (arbitration.rollups, issue 12) give exactly the figures counted from
the history, for any period of whole days, whatever happened: random histories are made
through the service functions that write in production — ticket events (with the disputes
their bounces open), disputes opened by hand about a ticket (before or after its first
event) or about none, disputes withdrawn, routing decisions — and every statistic is
compared, rolled up and counted from the history. The counters kept event by event are also
the ones the migration's fill counts from the history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, insert, select

from api.db import alembic_config, make_engine, upgrade
from arbitration import rollups, service, statistics
from arbitration.policy import DEFAULT_POLICY
from arbitration.tickets import Event, TicketState
from jurisdiction.errors import QuanzeError
from jurisdiction.tables import settings as settings_table
from rules.rollups import read_zone
from rules.service import DecisionWriter, record_decisions
from rules.tables import decision_days, decisions
from tests.integration.test_statistics import insert_rows

CST = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 10, 1, tzinfo=CST)
UNITS = ("D-CG", "JD-HP", "D-ZJ")
HOTLINE = "O-RX"
CATEGORIES = ("030101", "0302", None)

unit = st.sampled_from(UNITS)
step = st.one_of(
    st.tuples(st.just("dispatched"), unit, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("reassigned"), unit, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("signed"), st.none(), st.none()),
    st.tuples(st.just("return_requested"), st.sampled_from((*UNITS, None)), st.none()),
    st.tuples(st.just("return_upheld"), st.none(), st.none()),
    st.tuples(st.just("return_rejected"), st.none(), st.none()),
    st.tuples(st.just("completed"), st.none(), st.none()),
    st.tuples(st.just("closed_out_of_scope"),
              st.sampled_from(("informed", "terminated", "transferred")), st.none()),
    st.tuples(st.just("dispute"), unit, st.none()),  # opened by hand, with this unit
    st.tuples(st.just("withdraw"), st.none(), st.none()),
)
#: (start day, [(step, minutes after the previous step)]): gaps up to three days, so a unit
#: receives a ticket on several days
ticket_script = st.tuples(st.integers(0, 60),
                          st.lists(st.tuples(step, st.integers(1, 3 * 24 * 60)), max_size=9))
decision = st.tuples(st.integers(0, 70 * 24), st.sampled_from((*UNITS, None)),
                     st.sampled_from(("routed", "fallback", "ambiguous", "unrouted")))
stray = st.tuples(st.integers(0, 70 * 24), st.lists(unit, min_size=1, max_size=2, unique=True))
period = st.tuples(st.integers(0, 75), st.integers(1, 45))


def _event(kind: str, arg: str | None, category: str | None, at: datetime,
           state: TicketState | None) -> Event:
    owner = state.owner if state is not None else None
    if kind == "dispatched":
        return Event(kind, at, unit=arg, category=category)
    if kind == "reassigned":
        return Event(kind, at, to_unit=arg, category=category)
    if kind == "signed":
        return Event(kind, at, unit=owner)
    if kind == "return_requested":
        return Event(kind, at, unit=owner, reason_code="territory_mismatch", basis="属地管理",
                     proposed_unit=arg)
    if kind == "closed_out_of_scope":
        return Event(kind, at, unit=HOTLINE, outcome=arg, basis="依据")
    return Event(kind, at)


def _try(conn: Connection, write: Any, *args: Any, **kwargs: Any) -> Any:
    """One write in a savepoint; a write the service refuses leaves nothing behind."""
    try:
        with conn.begin_nested():
            return write(*args, **kwargs)
    except QuanzeError:
        return None


def play(conn: Connection, scripts: list[Any], made: list[Any], strays: list[Any]) -> None:
    """The scripts' steps in time order, through the service functions."""
    timeline: list[tuple[datetime, int, int, Any]] = []
    for i, (day, steps) in enumerate(scripts):
        at = START + timedelta(days=day, hours=8)
        for j, (what, minutes) in enumerate(steps):
            at += timedelta(minutes=minutes)
            timeline.append((at, i, j, what))
    for i, (hours, parties) in enumerate(strays):
        timeline.append((START + timedelta(hours=hours), -1, i, ("stray", parties, None)))
    timeline.sort(key=lambda item: item[:3])
    states: dict[str, TicketState] = {}

    def dispute(ticket_id: str | None, parties: list[str], at: datetime) -> None:
        state = states.get(ticket_id) if ticket_id else None
        dispute_id = service.open_dispute_record(
            conn, reason="manual", parties=parties, ticket_id=ticket_id, category=None,
            area=None, interim_owner=parties[0], decision_id=None, actor="test", now=at,
            policy=DEFAULT_POLICY)
        if ticket_id is not None and state is not None:
            states[ticket_id] = service.record_ticket_event(
                conn, ticket_id=ticket_id, event=Event(
                    "dispute_opened", max(at, state.updated_at or at), unit=parties[0],
                    dispute_id=dispute_id), actor="test", now=at, policy=DEFAULT_POLICY)

    for at, i, _, (kind, arg, category) in timeline:
        ticket_id = f"T{i}"
        state = states.get(ticket_id)
        if kind == "stray":
            _try(conn, dispute, None, arg, at)
        elif kind == "dispute":
            _try(conn, dispute, ticket_id, [arg, *UNITS[:1]], at)
        elif kind == "withdraw":
            if state is not None and state.dispute_open and state.dispute_id:
                _try(conn, service.close_dispute, conn, state.dispute_id, status="withdrawn",
                     ruling_id=None, actor="test", now=at)
                states[ticket_id] = service.load_ticket(conn, ticket_id) or state
        else:
            found = _try(conn, service.record_ticket_event, conn, ticket_id=ticket_id,
                         event=_event(kind, arg, category, at, state), actor="test", now=at,
                         policy=DEFAULT_POLICY, hotline_office=HOTLINE)
            if found is not None:
                states[ticket_id] = found
    rows = [{"id": f"DEC-{i}", "ticket_id": None, "ruleset_version": 1,
             "ruleset_digest": None, "created_at": START + timedelta(hours=hours),
             "as_of": START, "category": "030101", "area": None, "status": status,
             "lead": lead, "rule_id": None, "request": {}, "response": {}, "actor": "test"}
            for i, (hours, lead, status) in enumerate(made)]
    record_decisions(conn, rows)


def counters(conn: Connection) -> set[tuple[Any, ...]]:
    """Every non-zero counter row."""
    out: set[tuple[Any, ...]] = set()
    for table in rollups.ALL_TABLES:
        for row in conn.execute(select(table)):
            if any(isinstance(v, int) and v for v in row[len(table.primary_key.columns):]):
                out.add((table.name, *row))
    return out


def assert_same_statistics(conn: Connection, p: statistics.Period) -> None:
    def both(fn: Any, *args: Any, **kwargs: Any) -> None:
        rolled = fn(conn, p, *args, rolled_up=True, **kwargs)
        raw = fn(conn, p, *args, rolled_up=False, **kwargs)
        assert rolled == raw, (fn.__name__, p)

    both(statistics.count)
    both(statistics.count, by_unit=False)
    both(statistics.summary)
    both(statistics.hotspots, top=3)
    both(statistics.hotspots, top=100)
    both(statistics.weekly_trends)


@pytest.fixture
def connection(db: Engine) -> Iterator[Connection]:
    with db.connect() as conn:
        yield conn


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scripts=st.lists(ticket_script, max_size=10), made=st.lists(decision, max_size=6),
       strays=st.lists(stray, max_size=3), periods=st.lists(period, min_size=1, max_size=4))
def test_rolled_up_statistics_are_those_counted_from_the_history_for_whole_days(
        connection: Connection, scripts: list[Any], made: list[Any], strays: list[Any],
        periods: list[tuple[int, int]]) -> None:
    transaction = connection.begin()
    try:
        play(connection, scripts, made, strays)
        for first, length in periods:
            begin = START + timedelta(days=first)
            p = statistics.Period(begin, begin + timedelta(days=length))
            assert rollups.days_of(connection, p.start, p.end) is not None
            assert_same_statistics(connection, p)
        kept = counters(connection)
        rollups.fill(connection)  # migration 0012's count, from the history
        assert counters(connection) == kept
    finally:
        transaction.rollback()


def test_a_period_not_made_of_whole_local_days_is_counted_from_the_history(
        connection: Connection) -> None:
    with connection.begin():
        day = START + timedelta(days=3)
        assert rollups.days_of(connection, day, day + timedelta(days=2)) == (
            date(2026, 10, 4), date(2026, 10, 6))
        for start, end in ((day + timedelta(hours=1), day + timedelta(days=2)),
                           (day, day + timedelta(days=1, minutes=30)),
                           (day.astimezone(UTC).replace(hour=0), day + timedelta(days=1))):
            assert rollups.days_of(connection, start, end) is None
        connection.rollback()


def test_without_the_zone_row_nothing_is_rolled_up_and_statistics_come_from_the_history(
        connection: Connection) -> None:
    with connection.begin():
        connection.execute(rollups.rollup_zone.delete())
        play(connection, [(0, [(("dispatched", "D-CG", "030101"), 5)])],
             [(1, "D-CG", "routed")], [])
        assert counters(connection) == set()
        p = statistics.Period(START, START + timedelta(days=10))
        assert statistics.summary(connection, p)["tickets_received"] == 1
        connection.rollback()


def test_the_rollups_count_the_days_of_the_zone_they_were_filled_in(
        connection: Connection) -> None:
    """``quanze stats rebuild --timezone`` counts by another zone: periods of its days are
    then rolled up, and those of the old zone's days are counted from the history."""
    with connection.begin():
        play(connection, [(2, [(("dispatched", "D-CG", "030101"), 60 * 17)])], [], [])
        rollups.fill(connection, "UTC")
        assert read_zone(connection) == ZoneInfo("UTC")
        utc_day = datetime(2026, 10, 3, tzinfo=UTC)
        assert rollups.days_of(connection, utc_day, utc_day + timedelta(days=1)) is not None
        assert rollups.days_of(connection, START, START + timedelta(days=1)) is None
        p = statistics.Period(utc_day, utc_day + timedelta(days=1))
        assert_same_statistics(connection, p)
        assert statistics.summary(connection, p)["tickets_received"] == 1
        connection.rollback()


def test_the_decision_writer_counts_its_decisions_in_the_same_transaction(db: Engine) -> None:
    """The group commit's writer (the DB-API directly) adds each batch's decisions per lead
    and day with the batch; a batch that fails writes each row alone, counts included."""
    def row(i: int, lead: str | None, status: str, hours: int) -> dict[str, Any]:
        return {"id": f"W-{i}", "ticket_id": None, "ruleset_version": 1,
                "ruleset_digest": None, "created_at": START + timedelta(hours=hours),
                "as_of": START, "category": "030101", "area": None, "status": status,
                "lead": lead, "rule_id": None, "request": {}, "response": {},
                "actor": "test"}

    writer = DecisionWriter(db)
    try:
        assert writer.write([row(1, "D-CG", "routed", 1), row(2, "D-CG", "fallback", 25),
                             row(3, None, "unrouted", 2)]) == [None] * 3
        errors = writer.write([row(4, "JD-HP", "routed", 3), row(1, "D-CG", "routed", 4)])
        assert errors[0] is None and errors[1] is not None  # a duplicate id
    finally:
        writer.close()
    with db.connect() as conn:
        kept = {(r.day, r.unit, r.decisions, r.routed)
                for r in conn.execute(select(decision_days))}
        assert kept == {(date(2026, 10, 1), "D-CG", 1, 1), (date(2026, 10, 2), "D-CG", 1, 0),
                        (date(2026, 10, 1), "JD-HP", 1, 1)}
        p = statistics.Period(START, START + timedelta(days=2))
        assert statistics.count(conn, p) == statistics.count(conn, p, rolled_up=False)
        assert conn.execute(select(decisions.c.id)).all()


def test_migration_0012_fills_the_rollups_from_the_history_already_stored(
        database_url: str) -> None:
    """In the zone of the newest matrix's settings."""
    engine = make_engine(database_url)
    try:
        cfg = alembic_config(database_url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0011")
            insert_rows(conn)  # November 2026, Beijing time
            conn.execute(insert(settings_table).values(
                code="timezone", version=1, value="Asia/Urumqi", retired=False))
        upgrade(engine)
        urumqi = ZoneInfo("Asia/Urumqi")
        november = statistics.Period(datetime(2026, 11, 1, tzinfo=urumqi),
                                     datetime(2026, 12, 1, tzinfo=urumqi))
        with engine.connect() as conn:
            assert read_zone(conn) == urumqi
            assert rollups.days_of(conn, november.start, november.end) is not None
            assert_same_statistics(conn, november)
            assert statistics.summary(conn, november)["tickets_received"] == 4
    finally:
        engine.dispose()


#: returns per (unit, target, day from 1 October): a few pairs over three months, so the
#: busiest pairs of a period straddling a month's end owe their counts to both months
pair_rows = st.dictionaries(
    st.tuples(st.sampled_from(UNITS), st.sampled_from((*UNITS, "JD-DH")), st.integers(0, 80)),
    st.integers(0, 9), max_size=150)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=pair_rows, first=st.integers(0, 60), length=st.integers(1, 60),
       top=st.integers(1, 5), seeds=st.integers(1, 4), most=st.integers(1, 40))
def test_the_busiest_return_pairs_are_found_without_summing_every_pair(
        connection: Connection, monkeypatch: pytest.MonkeyPatch,
        rows: dict[tuple[str, str, int], int], first: int, length: int, top: int, seeds: int,
        most: int) -> None:
    """The pruned search (a floor from the months' busiest pairs) answers what summing every
    pair of the period answers, whatever the counts and however few pairs it starts from."""
    monkeypatch.setattr(rollups, "SEED_PAIRS", seeds)
    monkeypatch.setattr(rollups, "MOST_PAIRS", most)
    transaction = connection.begin()
    try:
        delta: rollups.Counts = {}
        for (unit, target, day), n in rows.items():
            when = date(2026, 10, 1) + timedelta(days=day)
            delta[("return_pair_days", (unit, target, when))] = [n]
            month = delta.setdefault(("return_pair_months", (when.replace(day=1), unit, target)),
                                     [0])
            month[0] += n
        rollups.apply(connection, delta)
        days = (date(2026, 10, 1) + timedelta(days=first),
                date(2026, 10, 1) + timedelta(days=first + length))
        assert (rollups.return_pairs(connection, days, top)
                == rollups._pair_counts(connection, days, None, top))
    finally:
        transaction.rollback()
