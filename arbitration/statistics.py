"""Dispatch-quality statistics per unit and period (domain.md §6), and the rows the arbitration
graph views are drawn from.

Counting is done by SQL aggregates; the rates are computed from the counts by the pure
:func:`rates`. A period is half-open, ``[start, end)``. A period of whole local days (in the
zone of the rollups, :mod:`arbitration.rollups`) sums daily counters that every writer keeps
in its own transaction — a few thousand rows for a city's month — and counts only the
rulings by query; any other period, or ``rolled_up=False``, is counted from the event tables
(one pass per figure, grouped by unit): the reference the rollups are tested against.

What each count means, for a unit U and a period:

- ``tickets_received`` — tickets dispatched (派单) or reassigned (改派) to U in the period;
  ``dispatches_received`` — those dispatch events; ``dispatches_of_received`` — all dispatch
  events of those tickets, at any time (for the average per ticket);
- ``first_receipts`` — in-scope tickets whose *first* dispatch went to U in the period (U is
  the first receiver, 首接单位); ``first_dispatch_stood`` — of those, the tickets that were never
  dispatched again and never had a return upheld (一次派准);
- ``returns_requested`` — returns (退单) U asked for in the period; ``returns_reviewed`` /
  ``returns_rejected`` — the hotline's reviews of U's returns made in the period, and how
  many of them sent the ticket back to U (驳回);
- ``disputes`` — disputes opened in the period with U among the parties;
- ``disputes_lost`` — rulings (裁定) made in the period that name U as lead (主办), whether or
  not U was a party; ``disputes_won`` — rulings made in the period on disputes U was party to
  that name another unit as lead;
- ``lead_time_*_h`` — hours from a dispute's opening to its ruling, over the rulings made in
  the period on disputes U was party to;
- ``decisions`` / ``decisions_routed`` — routing decisions made in the period naming U as lead,
  and those decided by an explicit rule (status ``routed``, not a fallback).
- ``out_of_scope`` — tickets received (as above) that the hotline closed as out of scope
  (``closed_out_of_scope``, at any time), also per outcome; ``tickets_in_scope`` — the others;
  ``tickets_returned`` — in-scope tickets received that U asked to return (at any time);
  ``disputed_tickets`` — tickets received that were the subject of a dispute with U among the
  parties (at any time).

Every rate (:data:`RATE_FORMULAS`) is a share whose numerator counts a part of its
denominator, so it lies in [0, 1]; out-of-scope tickets are left out of 一次派准率 and 退单率
and shown as their own figure. docs/statistics.md gives each formula and why 争议率 once
read 1.75.

The district row (unit ``None``) counts each ticket, dispute and ruling once, however many
units it touched; its ``disputes_lost`` is the number of rulings in the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from arbitration import rollups
from arbitration.tables import dispute_parties, disputes, rulings, ticket_events, tickets
from jurisdiction.errors import InvalidInput, NotFound
from rules.tables import decisions
from rules.tables import rules as rule_rows

DISPATCH_TYPES = ("dispatched", "reassigned")
REVIEW_TYPES = ("return_upheld", "return_rejected")
DEFAULT_TOP = 10

# -- the pure part: periods and formulas ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval ``[start, end)`` of aware datetimes."""

    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


#: The default period: the last 30 days (domain.md §6; contract.md, "Statistics").
DEFAULT_DAYS = 30
#: Periods must lie within these years: dates far outside them are typing mistakes, and
#: year 1 or 9999 overflow the database's time types once moved to UTC.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


def _moment(value: str, tz: ZoneInfo, field: str) -> datetime:
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=tz)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} {value!r} is not an ISO 8601 date or time",
                           code="invalid_period", field=field) from exc
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    if not EARLIEST <= moment.date() <= LATEST:
        raise InvalidInput(f"{field} {value!r} is outside {EARLIEST.year}–{LATEST.year}",
                           code="invalid_period", field=field)
    return moment


def parse_period(start: str | None, end: str | None, *, now: datetime,
                 timezone: str = "Asia/Shanghai") -> Period:
    """The period named by ``from`` and ``to`` (a date is local midnight in ``timezone``; a
    time without an offset is local too). Without either: the last 30 days, ending at the
    next local midnight after ``now`` (so today counts whole); with one of them, 30 days
    from ``from`` or up to ``to``. Dates outside 2000–2100 and periods that end before they
    start are ``InvalidInput`` ``invalid_period`` naming the field.

    >>> now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    >>> p = parse_period(None, None, now=now)
    >>> p.start.isoformat(), p.end.isoformat()
    ('2026-10-28T00:00:00+08:00', '2026-11-27T00:00:00+08:00')
    >>> parse_period("2026-11-01", None, now=now).end.isoformat()
    '2026-12-01T00:00:00+08:00'
    >>> parse_period("2026-12-01", "2026-11-01", now=now)
    Traceback (most recent call last):
      ...
    jurisdiction.errors.InvalidInput: the period must end after it starts (field='to')
    >>> parse_period("0001-01-01", None, now=now)
    Traceback (most recent call last):
      ...
    jurisdiction.errors.InvalidInput: from '0001-01-01' is outside 2000–2100 (field='from')
    """
    tz = ZoneInfo(timezone)
    begin = _moment(start, tz, "from") if start else None
    finish = _moment(end, tz, "to") if end else None
    span = timedelta(days=DEFAULT_DAYS)
    if begin is None and finish is None:
        today = now.astimezone(tz).date()
        finish = datetime.combine(today + timedelta(days=1), time(), tzinfo=tz)
    if begin is None:
        assert finish is not None
        begin = finish - span
    if finish is None:
        finish = begin + span
    if finish <= begin:
        raise InvalidInput("the period must end after it starts", code="invalid_period",
                           field="to")
    return Period(begin, finish)


@dataclass(frozen=True, slots=True)
class UnitCounts:
    """The raw counts of one unit (``unit`` None: the whole district) over a period; see the
    module docstring for what each one counts."""

    unit: str | None
    tickets_received: int = 0
    dispatches_received: int = 0
    dispatches_of_received: int = 0
    first_receipts: int = 0
    first_dispatch_stood: int = 0
    returns_requested: int = 0
    returns_reviewed: int = 0
    returns_rejected: int = 0
    disputes: int = 0
    disputes_won: int = 0
    disputes_lost: int = 0
    rulings_timed: int = 0
    lead_time_mean_h: float | None = None
    lead_time_median_h: float | None = None
    decisions: int = 0
    decisions_routed: int = 0
    tickets_in_scope: int = 0
    tickets_returned: int = 0
    disputed_tickets: int = 0
    out_of_scope: int = 0
    out_of_scope_informed: int = 0
    out_of_scope_terminated: int = 0
    out_of_scope_transferred: int = 0


def _ratio(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, 4)


@dataclass(frozen=True, slots=True)
class Formula:
    """A figure's definition: its Chinese name, numerator and denominator (fields of
    :class:`UnitCounts`), and the words staff read."""

    label: str
    numerator: str
    denominator: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"label": self.label, "formula": f"{self.numerator} / {self.denominator}",
                "numerator": self.numerator, "denominator": self.denominator,
                "description": self.text}


#: Every rate: a share of a population of tickets (or of returns and of routing decisions,
#: which are acts on tickets); the numerator always counts a part of the denominator, so each
#: lies in [0, 1]. docs/statistics.md explains each with its source.
RATE_FORMULAS: dict[str, Formula] = {
    "first_dispatch_accuracy": Formula(
        "一次派准率", "first_dispatch_stood", "first_receipts",
        "本期首次派给该单位的工单中（不含非受理范围办结的工单），此后未再派单、也无退单获准的工单所占比例"),
    "return_rate": Formula(
        "退单率", "tickets_returned", "tickets_in_scope",
        "本期派给该单位的工单中（不含非受理范围办结的工单），该单位申请过退单的工单所占比例"),
    "return_rejection_rate": Formula(
        "退单被驳回率", "returns_rejected", "returns_reviewed",
        "本期热线中心审核的该单位退单申请中，被驳回的所占比例"),
    "dispute_rate": Formula(
        "争议率", "disputed_tickets", "tickets_received",
        "本期派给该单位的工单中，该单位作为当事方涉及争议（任何时间立案）的工单所占比例"),
    "rule_coverage": Formula(
        "规则路由率", "decisions_routed", "decisions",
        "本期以该单位为主办的派单决定中，由明确规则（而非兜底）决定的所占比例"),
    "out_of_scope_rate": Formula(
        "非受理范围办结率", "out_of_scope", "tickets_received",
        "本期派给该单位的工单中，经热线中心审核以非受理范围办结（告知、终止办理、转其他渠道）的工单所占比例"),
}
#: Figures that are averages, not shares (a ticket is dispatched at least once).
AVERAGE_FORMULAS: dict[str, Formula] = {
    "dispatches_per_ticket": Formula(
        "平均派单次数", "dispatches_of_received", "tickets_received",
        "本期派给该单位的工单，其全部派单（含改派，任何时间）次数的平均值；不是比率，至少为 1"),
}


def formulas() -> dict[str, dict[str, str]]:
    """Every figure's formula, as statistics responses carry it (``formulas``).

    >>> formulas()["dispute_rate"]["formula"]
    'disputed_tickets / tickets_received'
    """
    return {key: f.as_dict() for key, f in (RATE_FORMULAS | AVERAGE_FORMULAS).items()}


def rates(c: UnitCounts) -> dict[str, float | None]:
    """The rates of domain.md §6 from a unit's counts (:data:`RATE_FORMULAS`), and the
    average number of dispatches per ticket; None where the denominator is zero.

    >>> r = rates(UnitCounts("D-CG", tickets_received=4, tickets_in_scope=3,
    ...                      dispatches_of_received=9, first_receipts=3, first_dispatch_stood=2,
    ...                      tickets_returned=2, returns_reviewed=2, returns_rejected=1,
    ...                      disputed_tickets=1, decisions=4, decisions_routed=3,
    ...                      out_of_scope=1))
    >>> r["first_dispatch_accuracy"], r["return_rate"], r["return_rejection_rate"]
    (0.6667, 0.6667, 0.5)
    >>> r["dispute_rate"], r["dispatches_per_ticket"], r["rule_coverage"], r["out_of_scope_rate"]
    (0.25, 2.25, 0.75, 0.25)
    >>> rates(UnitCounts("JD-HP"))["return_rate"] is None
    True
    """
    out = {key: _ratio(getattr(c, f.numerator), getattr(c, f.denominator))
           for key, f in RATE_FORMULAS.items()}
    out["dispatches_per_ticket"] = _ratio(c.dispatches_of_received, c.tickets_received)
    return out


def out_of_scope_figure(c: UnitCounts) -> dict[str, Any]:
    """Tickets closed as out of scope, apart from the rates they would distort: the count,
    its share of the tickets received, and the same by outcome (告知 / 终止办理 / 转其他渠道).

    >>> out_of_scope_figure(UnitCounts(None, tickets_received=8, out_of_scope=2,
    ...                                out_of_scope_informed=2))["by_outcome"]["informed"]
    {'label': '告知', 'count': 2, 'share': 0.25}
    """
    labels = {"informed": "告知", "terminated": "终止办理", "transferred": "转其他渠道"}
    return {"count": c.out_of_scope, "share": _ratio(c.out_of_scope, c.tickets_received),
            "by_outcome": {key: {"label": label,
                                 "count": getattr(c, f"out_of_scope_{key}"),
                                 "share": _ratio(getattr(c, f"out_of_scope_{key}"),
                                                 c.tickets_received)}
                           for key, label in labels.items()}}


_COUNT_FIELDS = tuple(f.name for f in fields(UnitCounts) if f.name != "unit")
_counts_of = attrgetter(*_COUNT_FIELDS)


def unit_report(c: UnitCounts, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One unit's counts and rates as a JSON-ready row."""
    row: dict[str, Any] = {"unit": c.unit,
                           "name": (names or {}).get(c.unit, c.unit) if c.unit else "全区"}
    # the fields in one call: asdict() deep-copies each value, a third of the time of the
    # units' statistics for a city's 850 units
    row.update(zip(_COUNT_FIELDS, _counts_of(c), strict=True))
    for key in ("lead_time_mean_h", "lead_time_median_h"):
        if row[key] is not None:
            row[key] = round(float(row[key]), 2)
    row.update(rates(c))
    row["out_of_scope_figure"] = out_of_scope_figure(c)
    return row


#: CSV columns for staff: (field of :func:`unit_report`, Chinese header).
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "单位代码"), ("name", "单位名称"),
    ("tickets_received", "接收工单数"), ("dispatches_received", "接收派单次数"),
    ("first_receipts", "首接工单数"), ("first_dispatch_stood", "一次派准工单数"),
    ("first_dispatch_accuracy", "一次派准率"),
    ("returns_requested", "退单数"), ("return_rate", "退单率"),
    ("returns_reviewed", "退单已审核数"), ("returns_rejected", "退单被驳回数"),
    ("return_rejection_rate", "退单被驳回率"),
    ("disputes", "争议数"), ("dispute_rate", "争议率"),
    ("disputes_won", "争议胜"), ("disputes_lost", "争议负（被裁定主办）"),
    ("dispatches_per_ticket", "平均派单次数"),
    ("rulings_timed", "裁定数"), ("lead_time_mean_h", "仲裁平均用时（小时）"),
    ("lead_time_median_h", "仲裁用时中位数（小时）"),
    ("decisions", "派单决定数"), ("decisions_routed", "按规则派单数"),
    ("rule_coverage", "规则路由率"),
    ("tickets_in_scope", "受理范围内工单数"), ("tickets_returned", "退单工单数"),
    ("disputed_tickets", "涉争议工单数"),
    ("out_of_scope", "非受理范围办结数"), ("out_of_scope_rate", "非受理范围办结率"),
    ("out_of_scope_informed", "其中告知"), ("out_of_scope_terminated", "其中终止办理"),
    ("out_of_scope_transferred", "其中转其他渠道"),
)

_PERCENT_KEYS = frozenset(RATE_FORMULAS)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in _PERCENT_KEYS:
        return f"{float(value) * 100:.1f}%"
    return str(value)


def to_csv_rows(rows: Iterable[Mapping[str, Any]],
                columns: Sequence[tuple[str, str]] = CSV_COLUMNS) -> list[list[str]]:
    """Header and rows for the staff CSV (rates as percentages with one decimal).

    >>> to_csv_rows([{"unit": "D-CG", "name": "城管委", "return_rate": 0.4}])[1][:2]
    ['D-CG', '城管委']
    """
    out = [[header for _, header in columns]]
    for row in rows:
        out.append([_cell(key, row.get(key)) for key, _ in columns])
    return out


#: Extra CSV columns of the district summary (after :data:`CSV_COLUMNS`).
SUMMARY_CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    *CSV_COLUMNS, ("rulings", "裁定数（本期）"), ("tickets_total", "工单总数（全部时间）"),
)

#: CSV columns of the hotspots: one row per pair or category.
HOTSPOT_CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "类别"), ("first", "甲方代码"), ("first_name", "甲方名称"),
    ("second", "乙方代码"), ("second_name", "乙方名称"), ("returns", "退单数"),
    ("disputes", "争议数"), ("total", "合计"),
)


#: the Chinese name of every count and figure a formula or a table names
FIGURE_NAMES: dict[str, str] = dict(SUMMARY_CSV_COLUMNS) | {
    "dispatches_of_received": "接收工单的派单总次数", "returns_reviewed": "退单已审核数"}


def formula_text(key: str) -> str | None:
    """A figure's formula in words, for the line under a table's header (None for a count).

    >>> formula_text("first_dispatch_accuracy")
    '一次派准工单数 ÷ 首接工单数'
    >>> formula_text("tickets_received") is None
    True
    """
    f = (RATE_FORMULAS | AVERAGE_FORMULAS).get(key)
    if f is None:
        return None
    return (f"{FIGURE_NAMES.get(f.numerator, f.numerator)} ÷ "
            f"{FIGURE_NAMES.get(f.denominator, f.denominator)}")


def hotspot_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The hotspots answer (:meth:`Hotspots.as_dict`) flattened for the staff CSV."""
    rows: list[dict[str, Any]] = []
    for p in body["dispute_pairs"]:
        rows.append({"kind": "争议单位对", "first": p["units"][0], "first_name": p["names"][0],
                     "second": p["units"][1], "second_name": p["names"][1],
                     "disputes": p["disputes"], "total": p["disputes"]})
    for p in body["return_pairs"]:
        rows.append({"kind": "退单流向", "first": p["from"], "first_name": p["from_name"],
                     "second": p["to"], "second_name": p["to_name"], "returns": p["returns"],
                     "total": p["returns"]})
    for c in body["categories"]:
        rows.append({"kind": "事项分类", "first": c["category"], "first_name": c["name"],
                     "returns": c["returns"], "disputes": c["disputes"], "total": c["total"]})
    return rows


# -- SQL: counts ----------------------------------------------------------------------------

te = ticket_events


def _receiver() -> ColumnElement[Any]:
    """The unit a dispatch event hands the ticket to (``to_unit`` of a reassignment)."""
    return case((te.c.type == "reassigned",
                 func.coalesce(te.c.event["to_unit"].as_string(), te.c.unit)),
                else_=te.c.unit)


def _hours(conn: Connection, later: Any, earlier: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return func.extract("epoch", later - earlier) / 3600.0


def _within(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _one(flag: ColumnElement[bool]) -> ColumnElement[int]:
    return case((flag, 1), else_=0)


def _key(column: Any, by_unit: bool) -> ColumnElement[Any]:
    return (column if by_unit else literal("")).label("k")


def _touched(types: Sequence[str], period: Period) -> Any:
    """The tickets with an event of ``types`` in the period. PostgreSQL needs table
    statistics here: right after a bulk load, before ANALYZE, it plans the queries that use
    this as a quadratic loop (30 s at 20,000 tickets instead of 0.1 s)."""
    return select(te.c.ticket_id).where(te.c.type.in_(types), _within(te.c.at, period))


CLOSED = "closed_out_of_scope"
OUTCOMES = ("informed", "terminated", "transferred")


def _dispatch_rows(period: Period) -> Any:
    """Dispatch, upheld-return, return and out-of-scope events of the tickets dispatched in
    the period, each with its receiver (for a return: the returning unit), its ticket's
    dispatch and upheld-return counts, its rank among the ticket's dispatches, and how the
    ticket was closed as out of scope if it was (window functions: one ordered pass, no
    self-join)."""
    is_dispatch = te.c.type.in_(DISPATCH_TYPES)
    ticket = te.c.ticket_id
    outcome = case((te.c.type == CLOSED, te.c.event["outcome"].as_string()))
    rows = (select(te.c.ticket_id, te.c.type, te.c.at, _receiver().label("receiver"),
                   func.sum(_one(is_dispatch)).over(partition_by=ticket).label("n_dispatch"),
                   func.sum(_one(te.c.type == "return_upheld")).over(partition_by=ticket)
                   .label("n_upheld"),
                   (te.c.seq == func.min(case((is_dispatch, te.c.seq))).over(
                       partition_by=ticket)).label("is_first"),
                   func.max(outcome).over(partition_by=ticket).label("closed"))
            .where(te.c.type.in_((*DISPATCH_TYPES, "return_upheld", "return_requested",
                                  CLOSED)))
            .where(te.c.ticket_id.in_(_touched(DISPATCH_TYPES, period)))
            .subquery("dispatch_rows"))
    return rows


def _rows(conn: Connection, query: Select[Any] | Any) -> dict[str | None, Sequence[Any]]:
    return {(row[0] or None): row[1:] for row in conn.execute(query)}


def _disputed(ticket_id: Any, unit: Any, by_unit: bool) -> ColumnElement[bool]:
    """The ticket was the subject of a dispute (at any time), with ``unit`` among its
    parties when counting by unit."""
    d, dp = disputes, dispute_parties
    if not by_unit:
        return select(d.c.id).where(d.c.ticket_id == ticket_id).exists()
    return (select(d.c.id).join_from(d, dp, dp.c.dispute_id == d.c.id)
            .where(d.c.ticket_id == ticket_id, dp.c.unit == unit).exists())


def _dispatch_counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
    w = _dispatch_rows(period)
    k = _key(w.c.receiver, by_unit)
    received = and_(w.c.type.in_(DISPATCH_TYPES), _within(w.c.at, period))
    # One row per (unit, ticket) it received in the period, then one per unit: a single pass.
    # A return by the unit counts whenever it was asked for (the ticket is the population).
    per_ticket = (select(k, w.c.ticket_id.label("ticket_id"),
                         func.sum(_one(received)).label("d"),
                         func.max(w.c.n_dispatch).label("nd"),
                         func.max(w.c.n_upheld).label("nu"),
                         func.max(_one(and_(received, w.c.is_first))).label("first"),
                         func.max(_one(w.c.type == "return_requested")).label("returned"),
                         func.max(w.c.closed).label("closed"))
                  .where(or_(received, w.c.type == "return_requested"))
                  .group_by(k, w.c.ticket_id)
                  .having(func.sum(_one(received)) > 0).subquery("per_unit_ticket"))
    t = per_ticket.c
    in_scope = t.closed.is_(None)
    stood = and_(t.first == 1, t.nd == 1, t.nu == 0, in_scope)
    columns = [func.sum(t.d), func.count(), func.sum(t.nd),
               func.sum(_one(and_(t.first == 1, in_scope))), func.sum(_one(stood)),
               func.sum(_one(in_scope)), func.sum(_one(and_(t.returned == 1, in_scope))),
               func.sum(_one(_disputed(t.ticket_id, t.k, by_unit))),
               *(func.sum(_one(t.closed == outcome)) for outcome in OUTCOMES)]
    counted = _rows(conn, select(t.k, *columns).group_by(t.k))
    out: dict[str, Any] = {}
    for unit, values in counted.items():
        d, n, nd, first, stood_n, scoped, returned, disputed, *closed = (
            int(v or 0) for v in values)
        out[unit or ""] = {
            "dispatches_received": d, "tickets_received": n, "dispatches_of_received": nd,
            "first_receipts": first, "first_dispatch_stood": stood_n,
            "tickets_in_scope": scoped, "tickets_returned": returned,
            "disputed_tickets": disputed, "out_of_scope": n - scoped,
            **{f"out_of_scope_{o}": c for o, c in zip(OUTCOMES, closed, strict=True)}}
    return out


def _return_counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
    k = _key(te.c.unit, by_unit)
    requested = _rows(conn, select(k, func.count())
                      .where(te.c.type == "return_requested", _within(te.c.at, period))
                      .group_by(k))
    # A return is reviewed before another can be asked for, so in the sequence of return
    # events of a ticket each review directly follows the request it answers.
    seq = (select(te.c.ticket_id, te.c.type, te.c.at,
                  func.lag(te.c.unit).over(partition_by=te.c.ticket_id,
                                           order_by=te.c.seq).label("returner"))
           .where(te.c.type.in_(("return_requested", *REVIEW_TYPES)))
           .where(te.c.ticket_id.in_(_touched(REVIEW_TYPES, period)))
           .subquery("return_seq"))
    rk = _key(seq.c.returner, by_unit)
    reviewed = _rows(conn, select(rk, func.count(),
                                  func.sum(_one(seq.c.type == "return_rejected")))
                     .where(seq.c.type.in_(REVIEW_TYPES), _within(seq.c.at, period))
                     .group_by(rk))
    out: dict[str, Any] = defaultdict(dict)
    for unit, (n,) in requested.items():
        out[unit or ""]["returns_requested"] = n
    for unit, (n, rejected) in reviewed.items():
        out[unit or ""].update(returns_reviewed=n, returns_rejected=int(rejected or 0))
    return out


def _opened_counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
    """Disputes opened in the period, per party or for the district."""
    dp, d = dispute_parties, disputes
    if by_unit:
        opened = _rows(conn, select(dp.c.unit, func.count())
                       .join_from(dp, d, d.c.id == dp.c.dispute_id)
                       .where(_within(d.c.opened_at, period)).group_by(dp.c.unit))
    else:
        opened = _rows(conn, select(literal(""), func.count())
                       .where(_within(d.c.opened_at, period)))
    return {unit or "": {"disputes": n} for unit, (n,) in opened.items()}


def _ruling_counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
    """Disputes won and lost by the rulings of the period, and their lead times."""
    dp, d, r = dispute_parties, disputes, rulings
    out: dict[str, Any] = defaultdict(dict)
    if by_unit:
        won = _rows(conn, select(dp.c.unit, func.count())
                    .join_from(dp, r, r.c.dispute_id == dp.c.dispute_id)
                    .where(_within(r.c.at, period), r.c.lead != dp.c.unit)
                    .group_by(dp.c.unit))
        lost = _rows(conn, select(r.c.lead, func.count()).where(_within(r.c.at, period))
                     .group_by(r.c.lead))
        for unit, (n,) in won.items():
            out[unit or ""]["disputes_won"] = n
    else:
        lost = _rows(conn, select(literal(""), func.count()).where(_within(r.c.at, period)))
    for unit, (n,) in lost.items():
        out[unit or ""]["disputes_lost"] = n

    timed = select(r.c.dispute_id,
                   cast(_hours(conn, r.c.at, d.c.opened_at), Float).label("h")).join_from(
        r, d, d.c.id == r.c.dispute_id).where(_within(r.c.at, period))
    if by_unit:
        base = timed.add_columns(dp.c.unit.label("k")).join(
            dp, dp.c.dispute_id == r.c.dispute_id).subquery("timed")
    else:
        base = timed.add_columns(literal("").label("k")).subquery("timed")
    # One pass for the count, the mean and the median (the middle one or two): two grouped
    # queries, one of them ranking every row, cost a city's month several times more.
    lead_times: dict[str, list[float]] = defaultdict(list)
    for k, h in conn.execute(select(base.c.k, base.c.h)).all():
        lead_times[k or ""].append(h)
    for unit, values in lead_times.items():
        values.sort()
        n = len(values)
        out[unit].update(rulings_timed=n, lead_time_mean_h=sum(values) / n,
                         lead_time_median_h=(values[(n - 1) // 2] + values[n // 2]) / 2)
    return out


def _decision_counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
    k = _key(decisions.c.lead, by_unit)
    counted = _rows(conn, select(k, func.count(),
                                 func.sum(_one(decisions.c.status == "routed")))
                    .where(_within(decisions.c.created_at, period), decisions.c.lead.isnot(None))
                    .group_by(k))
    return {unit or "": {"decisions": n, "decisions_routed": int(routed or 0)}
            for unit, (n, routed) in counted.items()}


def _rolled_up(days: tuple[date, date]) -> Any:
    """The ticket and decision counts summed from the rollups (:mod:`arbitration.rollups`)
    over whole local days, in the shape of the parts counted from the history."""
    def counts(conn: Connection, period: Period, by_unit: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for unit, found in rollups.ticket_counts(conn, days, district=not by_unit).items():
            values = {k: v for k, v in found.items() if k != "tickets"}
            values["out_of_scope"] = found["tickets_received"] - found["tickets_in_scope"]
            out[unit] = values
        for unit, n in rollups.dispute_counts(conn, days, district=not by_unit).items():
            out.setdefault(unit, {})["disputes"] = n
        made = rollups.decision_counts(conn, days)
        if by_unit:
            for unit, (n, routed) in made.items():
                out.setdefault(unit, {}).update(decisions=n, decisions_routed=routed)
        elif made:
            out.setdefault("", {}).update(decisions=sum(n for n, _ in made.values()),
                                          decisions_routed=sum(r for _, r in made.values()))
        return out
    return counts


def _days(conn: Connection, period: Period, rolled_up: bool) -> tuple[date, date] | None:
    return rollups.days_of(conn, period.start, period.end) if rolled_up else None


def count(conn: Connection, period: Period, *, by_unit: bool = True,
          rolled_up: bool = True) -> list[UnitCounts]:
    """The counts of every unit that appears in the period (``by_unit``), in code order, or
    the one district row (unit None).

    A period of whole local days (in the rollups' zone) sums the rollups for everything but
    disputes and rulings; any other period, or ``rolled_up=False``, counts from the history
    (the reference the rollups are tested against)."""
    days = _days(conn, period, rolled_up)
    parts = ((_dispatch_counts, _return_counts, _opened_counts, _ruling_counts,
              _decision_counts)
             if days is None else (_rolled_up(days), _ruling_counts))
    merged: dict[str, dict[str, Any]] = defaultdict(dict)
    for part in parts:
        for unit, values in part(conn, period, by_unit).items():
            merged[unit].update(values)
    if not by_unit:
        return [UnitCounts(None, **merged.get("", {}))]
    merged.pop("", None)
    return [UnitCounts(unit, **merged[unit]) for unit in sorted(merged)]


def unit_statistics(conn: Connection, period: Period, *, unit: str | None = None,
                    names: Mapping[str, str] | None = None,
                    rolled_up: bool = True) -> list[dict[str, Any]]:
    """Counts and rates per unit (only ``unit`` when given; a unit with no activity in the
    period gets a row of zeros)."""
    rows = count(conn, period, rolled_up=rolled_up)
    if unit is not None:
        rows = [c for c in rows if c.unit == unit] or [UnitCounts(unit)]
    return [unit_report(c, names) for c in rows]


def summary(conn: Connection, period: Period, *, rolled_up: bool = True) -> dict[str, Any]:
    """The district-wide figures of the period, with the queue as it stands."""
    days = _days(conn, period, rolled_up)
    (district,) = count(conn, period, by_unit=False, rolled_up=days is not None)
    row = unit_report(district)
    row["rulings"] = row.pop("disputes_lost")
    row.pop("disputes_won")
    by_status: dict[str, int] = dict(conn.execute(select(disputes.c.status, func.count())
                                  .group_by(disputes.c.status)).all())
    row["disputes_by_status"] = {k: int(v) for k, v in sorted(by_status.items())}
    row["tickets_total"] = (
        rollups.tickets_total(conn) if days is not None
        else int(conn.execute(select(func.count()).select_from(tickets)).scalar_one()))
    return row



# -- SQL: trends by week --------------------------------------------------------------------

#: the most weeks a trend covers (two years): a longer period is refused, not drawn
MAX_WEEKS = 106


def iso_weeks(period: Period, *, timezone: str = "Asia/Shanghai") -> list[tuple[str, Period]]:
    """The ISO weeks (Monday 00:00 local time) the period touches, each cut to the period,
    named ``2026-W45``. More than :data:`MAX_WEEKS` is ``InvalidInput`` ``period_too_long``.

    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> p = Period(datetime(2026, 11, 1, tzinfo=tz), datetime(2026, 11, 12, tzinfo=tz))
    >>> [(name, w.start.day, w.end.day) for name, w in iso_weeks(p)]
    [('2026-W44', 1, 2), ('2026-W45', 2, 9), ('2026-W46', 9, 12)]
    """
    tz = ZoneInfo(timezone)
    first = period.start.astimezone(tz).date()
    monday = first - timedelta(days=first.weekday())
    weeks: list[tuple[str, Period]] = []
    while True:
        start = datetime.combine(monday, time(), tzinfo=tz)
        if start >= period.end:
            return weeks
        if len(weeks) == MAX_WEEKS:
            raise InvalidInput(f"a trend covers at most {MAX_WEEKS} weeks",
                               code="period_too_long", field="from", max_weeks=MAX_WEEKS)
        end = start + timedelta(days=7)
        year, week, _ = monday.isocalendar()
        weeks.append((f"{year}-W{week:02d}",
                      Period(max(start, period.start), min(end, period.end))))
        monday += timedelta(days=7)


#: the figures of a week's trend: (key, Chinese name), each a count of :class:`UnitCounts`
#: or a rate of :data:`RATE_FORMULAS`
TREND_COLUMNS: tuple[tuple[str, str], ...] = (
    ("week", "周次"), ("from", "开始"), ("to", "结束（不含）"),
    ("tickets_received", "接收工单数"), ("first_receipts", "首接工单数"),
    ("first_dispatch_stood", "一次派准工单数"), ("first_dispatch_accuracy", "一次派准率"),
    ("tickets_in_scope", "受理范围内工单数"), ("tickets_returned", "退单工单数"),
    ("return_rate", "退单率"), ("disputes", "争议数"), ("dispute_rate", "争议率"),
)


def weekly_trends(conn: Connection, period: Period, *, timezone: str = "Asia/Shanghai",
                  rolled_up: bool = True) -> list[dict[str, Any]]:
    """The district's figures per ISO week of the period (:func:`iso_weeks`), counted
    exactly as :func:`summary` counts a period (each week is a period of its own): tickets
    received, 一次派准率, 退单率 with their counts, and the disputes opened that week.

    When every week is made of whole days of the rollups, the weeks' ticket counts come
    from one pass over their days (:func:`arbitration.rollups.district_counts`) and only the
    disputes are counted per week: the figures a week's :func:`count` gives, without the
    figures a trend does not show."""
    weeks = iso_weeks(period, timezone=timezone)
    spans = [_days(conn, week, rolled_up) for _, week in weeks]
    if weeks and all(span is not None for span in spans):
        counted = [_trend_counts(found) for found in rollups.district_counts(
            conn, [span for span in spans if span is not None])]
    else:
        counted = [count(conn, week, by_unit=False, rolled_up=rolled_up)[0] for _, week in weeks]
    out: list[dict[str, Any]] = []
    for (name, week), c in zip(weeks, counted, strict=True):
        r = rates(c)
        out.append({"week": name, "from": week.start.isoformat(), "to": week.end.isoformat(),
                    **{key: getattr(c, key) for key, _ in TREND_COLUMNS[3:]
                       if key not in r},
                    **{key: r[key] for key, _ in TREND_COLUMNS if key in r}})
    return out

def _trend_counts(found: Mapping[str, int]) -> UnitCounts:
    """A week's district counts from the rollups' sums."""
    values = {k: v for k, v in found.items() if k != "tickets"}
    values["out_of_scope"] = found["tickets_received"] - found["tickets_in_scope"]
    return UnitCounts(None, **values)


# -- SQL: hotspots --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hotspots:
    """Where units fight (每月一题 candidates): unit pairs by disputes (unordered) and by
    returns (the returning unit → the unit proposed or reassigned next), categories by
    returns and disputes. Each list is sorted by count, then by code."""

    dispute_pairs: list[tuple[str, str, int]]
    return_pairs: list[tuple[str, str, int]]
    categories: list[tuple[str, int, int]]  # (category, returns, disputes)

    def as_dict(self, names: Mapping[str, str] | None = None,
                category_names: Mapping[str, str] | None = None) -> dict[str, Any]:
        n, cn = names or {}, category_names or {}
        return {
            "dispute_pairs": [{"units": [a, b], "names": [n.get(a, a), n.get(b, b)],
                               "disputes": c} for a, b, c in self.dispute_pairs],
            "return_pairs": [{"from": a, "to": b, "from_name": n.get(a, a),
                              "to_name": n.get(b, b), "returns": c}
                             for a, b, c in self.return_pairs],
            "categories": [{"category": code, "name": cn.get(code, code), "returns": r,
                            "disputes": d, "total": r + d} for code, r, d in self.categories],
        }


def hotspots(conn: Connection, period: Period, *, top: int = DEFAULT_TOP,
             rolled_up: bool = True) -> Hotspots:
    """The ``top`` unit pairs and categories of the period by disputes and returns (the
    returns summed from the rollups for a period of whole local days, as :func:`count`)."""
    days = _days(conn, period, rolled_up)
    if days is not None:
        return _ranked(rollups.dispute_pairs(conn, days, top),
                       rollups.return_pairs(conn, days, top),
                       rollups.category_returns(conn, days),
                       rollups.dispute_categories(conn, days), top)
    p1, p2 = dispute_parties.alias("p1"), dispute_parties.alias("p2")
    d = disputes
    n = func.count().label("n")
    pairs = conn.execute(
        select(p1.c.unit, p2.c.unit, n)
        .join_from(p1, p2, and_(p1.c.dispute_id == p2.c.dispute_id, p1.c.unit < p2.c.unit))
        .join(d, d.c.id == p1.c.dispute_id).where(_within(d.c.opened_at, period))
        .group_by(p1.c.unit, p2.c.unit).order_by(n.desc(), p1.c.unit, p2.c.unit).limit(top))
    dispute_pairs = [(a, b, int(c)) for a, b, c in pairs]
    by_disputes: dict[str, int] = dict(conn.execute(
        select(d.c.category, func.count())
        .where(_within(d.c.opened_at, period), d.c.category.isnot(None))
        .group_by(d.c.category)).all())

    # Per return: its review and the dispatch after that (the next unit once upheld).
    by, order = te.c.ticket_id, te.c.seq
    receiver = _receiver()
    seq = (select(te.c.type, te.c.at, te.c.unit,
                  te.c.event["proposed_unit"].as_string().label("proposed"),
                  func.lead(te.c.type, 1).over(partition_by=by, order_by=order)
                  .label("review"),
                  func.lead(te.c.type, 2).over(partition_by=by, order_by=order)
                  .label("next_type"),
                  func.lead(receiver, 2).over(partition_by=by, order_by=order)
                  .label("next_unit"))
           .where(te.c.type.in_(("return_requested", *REVIEW_TYPES, *DISPATCH_TYPES)))
           .where(te.c.ticket_id.in_(_touched(("return_requested",), period)))
           .subquery("return_next"))
    target = case((and_(seq.c.review == "return_upheld", seq.c.next_type.in_(DISPATCH_TYPES)),
                   seq.c.next_unit), else_=seq.c.proposed).label("target")
    returns = select(seq.c.unit, target).where(
        seq.c.type == "return_requested", _within(seq.c.at, period)).subquery("returns")
    rn = func.count().label("n")
    rows = conn.execute(select(returns.c.unit, returns.c.target, rn)
                        .where(returns.c.target.isnot(None), returns.c.unit.isnot(None),
                               returns.c.target != returns.c.unit)
                        .group_by(returns.c.unit, returns.c.target)
                        .order_by(rn.desc(), returns.c.unit, returns.c.target).limit(top))
    return_pairs = [(a, b, int(c)) for a, b, c in rows]

    by_returns: dict[str, int] = dict(conn.execute(
        select(tickets.c.category, func.count())
        .join_from(te, tickets, tickets.c.ticket_id == te.c.ticket_id)
        .where(te.c.type == "return_requested", _within(te.c.at, period),
               tickets.c.category.isnot(None))
        .group_by(tickets.c.category)).all())
    return _ranked(dispute_pairs, return_pairs, by_returns, by_disputes, top)


def _ranked(dispute_pairs: list[tuple[str, str, int]], return_pairs: list[tuple[str, str, int]],
            by_returns: Mapping[str, int], by_disputes: Mapping[str, int],
            top: int) -> Hotspots:
    codes = set(by_returns) | set(by_disputes)
    categories = sorted(((c, int(by_returns.get(c, 0)), int(by_disputes.get(c, 0)))
                         for c in codes), key=lambda x: (-(x[1] + x[2]), x[0]))[:top]
    return Hotspots(dispute_pairs, return_pairs, categories)


# -- SQL: rows for the ticket and lineage graphs --------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def ticket_history(conn: Connection, ticket_id: str) -> dict[str, Any]:
    """A ticket's events in order, with its disputes and their rulings, as plain dicts for
    :func:`arbitration.graphs.ticket_view`; ``NotFound`` (``ticket_not_found``) if it has no
    events."""
    events = [{**dict(r.event), "seq": r.seq, "type": r.type, "at": r.at,
               "unit": (r.event or {}).get("unit") or r.unit}
              for r in conn.execute(select(te).where(te.c.ticket_id == ticket_id)
                                    .order_by(te.c.seq))]
    if not events:
        raise NotFound(f"no ticket {ticket_id!r}", code="ticket_not_found", field="focus",
                       ticket_id=ticket_id)
    found = conn.execute(select(disputes.c.id, disputes.c.reason, disputes.c.status,
                                disputes.c.parties, disputes.c.opened_at, disputes.c.closed_at,
                                disputes.c.interim_owner)
                         .where(or_(disputes.c.ticket_id == ticket_id,
                                    disputes.c.id.in_([e.get("dispute_id") for e in events
                                                       if e.get("dispute_id")])))
                         .order_by(disputes.c.opened_at)).mappings().all()
    dispute_list = [dict(d) for d in found]
    ruling_list = [dict(r) for r in conn.execute(
        select(rulings.c.id, rulings.c.dispute_id, rulings.c.lead, rulings.c.co_handlers,
               rulings.c.document_no, rulings.c.rule_id, rulings.c.at)
        .where(rulings.c.dispute_id.in_([d["id"] for d in dispute_list]))
        .order_by(rulings.c.at)).mappings()]
    return {"ticket_id": ticket_id, "events": events, "disputes": dispute_list,
            "rulings": ruling_list}


def _latest_rules(conn: Connection, where: ColumnElement[bool]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(select(rule_rows).where(where).order_by(rule_rows.c.id,
                                                                     rule_rows.c.version)):
        out[row.id] = dict(row._mapping)  # the last revision wins
    return out


def ruling_lineage(conn: Connection, ruling_id: str) -> dict[str, Any]:
    """A ruling, the rulings it supersedes and those that superseded it (transitively), and
    the rules they wrote, retired or outrank, as plain dicts for
    :func:`arbitration.graphs.lineage_view`. ``NotFound`` (``ruling_not_found``)."""
    columns = (rulings.c.id, rulings.c.dispute_id, rulings.c.ticket_id, rulings.c.lead,
               rulings.c.co_handlers, rulings.c.document_no, rulings.c.rule_id,
               rulings.c.retired_rules, rulings.c.supersedes, rulings.c.category,
               rulings.c.area, rulings.c.at, rulings.c.basis)
    first = conn.execute(select(*columns).where(rulings.c.id == ruling_id)).mappings().first()
    if first is None:
        raise NotFound(f"no ruling {ruling_id!r}", code="ruling_not_found", field="focus",
                       ruling_id=ruling_id)
    chain: dict[str, dict[str, Any]] = {ruling_id: dict(first)}
    # earlier rulings it supersedes
    current = dict(first)
    while current.get("supersedes") and current["supersedes"] not in chain:
        row = conn.execute(select(*columns).where(rulings.c.id == current["supersedes"])) \
            .mappings().first()
        if row is None:
            break
        current = dict(row)
        chain[current["id"]] = current
    # later rulings that supersede it, breadth first
    frontier = [ruling_id]
    while frontier:
        later = conn.execute(select(*columns).where(rulings.c.supersedes.in_(frontier))) \
            .mappings().all()
        frontier = [r["id"] for r in later if r["id"] not in chain]
        chain.update({r["id"]: dict(r) for r in later})

    written = {r["rule_id"] for r in chain.values() if r.get("rule_id")}
    retired = {str(x) for r in chain.values() for x in (r.get("retired_rules") or [])}
    rules = _latest_rules(conn, rule_rows.c.id.in_(written | retired)) if written | retired \
        else {}
    # Rules the written rule outranks by authority: same category and area scope (so the
    # same specificity when they have as many conditions), and not written by a ruling.
    peers: dict[str, dict[str, Any]] = {}
    for rule_id in written:
        rule = rules.get(rule_id)
        if rule is None:
            continue
        same_area = rule_rows.c.area.is_(None) if rule["area"] is None \
            else rule_rows.c.area == rule["area"]
        for peer_id, peer in _latest_rules(conn, and_(rule_rows.c.category == rule["category"],
                                                      same_area)).items():
            if peer_id != rule_id and peer_id not in rules:
                peers[peer_id] = peer
    return {"ruling_id": ruling_id, "rulings": list(chain.values()),
            "rules": {**rules, **peers}}


__all__ = [
    "AVERAGE_FORMULAS", "CSV_COLUMNS", "DEFAULT_DAYS", "DEFAULT_TOP", "FIGURE_NAMES",
    "HOTSPOT_CSV_COLUMNS", "MAX_WEEKS", "RATE_FORMULAS", "SUMMARY_CSV_COLUMNS",
    "TREND_COLUMNS", "Formula", "Hotspots", "Period", "UnitCounts", "count", "formula_text",
    "formulas", "hotspot_rows", "hotspots", "iso_weeks", "out_of_scope_figure",
    "parse_period", "rates", "ruling_lineage", "summary", "ticket_history", "to_csv_rows",
    "unit_report", "unit_statistics", "weekly_trends",
]
