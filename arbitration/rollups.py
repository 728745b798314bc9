"""Statistics rollups: the counts of :mod:`arbitration.statistics` kept per local day, so a
period of whole days is summed from a few thousand counter rows instead of counted from
millions of events (issue 12; docs/statistics.md, "Rollups").

What a ticket adds to the counters is a pure function of its history, its category and the
parties of the disputes about it (:func:`contribution`). Each write that changes one of
those computes the ticket's contribution before and after and adds the difference
(:func:`record_change`), in the writer's transaction: a later fact — a second dispatch ends
一次派准, a closure as out of scope, a dispute — moves the counters of the day the ticket was
received. :func:`fill` counts everything again from the history (migration 0012,
``quanze stats rebuild``, the benchmarks' bulk loads), with the same function.

The counters (tables in :mod:`arbitration.tables`; days are local days in the zone of
:data:`rules.tables.rollup_zone`):

- ``ticket_days`` per (day, unit), unit ``""`` the district: events counted on their day
  (dispatches received, returns requested, returns reviewed and rejected, by the returning
  unit); per ticket a unit received, +1 on each day it received it (with the ticket's
  dispatches, whether it is in scope, returned by the unit, disputed with the unit, closed
  how); the first receipt and whether it stood (一次派准) on the day of the first dispatch;
  and each ticket once, on the day of its first event.
- ``ticket_day_links`` per (day, next day, unit): a ticket received by a unit on days
  d1 < … < dk adds −1 (and minus the rest of its receipt counts) on each pair of
  consecutive days. A period of whole days then counts it
  Σ(days in the period) − Σ(pairs with both days in it) = 1 when any of its receipts is in
  the period, 0 otherwise: once, however many days it was received on.
- ``return_pair_days`` (returning unit, unit pointed to, day), ``return_pair_months`` (the
  same per calendar month, to find the busiest pairs without summing them all) and
  ``category_return_days`` (day, category): the hotspots' returns.
- ``dispute_days``, ``dispute_pair_days``, ``dispute_category_days``: disputes opened per
  day and party, pair of parties and category, counted once when a dispute is opened (its
  day, parties and category never change).
- ``decision_days`` (:mod:`rules.rollups`): decisions per lead.

Rulings (disputes won and lost, lead times) are few — a city rules some twenty disputes a
day — and stay queries, as does the queue by status. A period that does not begin and end
at the zone's midnights is counted from the history as before; so is everything when the
zone row is missing.

Writers add to the counters after their audit entry: every audited write locks the audit
chain's head first, so no two of them hold counter rows at once, and the counters add no
deadlock. The decisions' writers, which write no audit entry, touch only
``decision_days``, in key order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from operator import add, sub
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
)

from arbitration.tables import (
    EVENT_COUNTS,
    RECEIPT_COUNTS,
    TICKET_DAY_COUNTS,
    category_return_days,
    dispute_category_days,
    dispute_days,
    dispute_pair_days,
    dispute_parties,
    disputes,
    return_pair_days,
    return_pair_months,
    ticket_day_links,
    ticket_days,
    ticket_events,
    tickets,
)
from jurisdiction.bulk import insert_rows
from jurisdiction.errors import InvalidInput
from rules import rollups as base
from rules.admin import write_transaction
from rules.rollups import read_zone, zone
from rules.tables import decision_days, decisions, rollup_zone

DISTRICT = ""
DISPATCH_TYPES = frozenset({"dispatched", "reassigned"})
RETURN_REQUESTED = "return_requested"
REVIEW_TYPES = frozenset({"return_upheld", "return_rejected"})
RETURN_TYPES = frozenset({RETURN_REQUESTED, *REVIEW_TYPES})
CLOSED = "closed_out_of_scope"
OUTCOMES = ("informed", "terminated", "transferred")
#: the event types whose arrival can change a ticket's contribution (with its first event,
#: a change of its category and a dispute about it)
COUNTED_TYPES = frozenset({*DISPATCH_TYPES, *RETURN_TYPES, CLOSED})

# -- the pure part: what a ticket adds --------------------------------------------------------

#: A counter: (table name, key). Its value is a list of counts, one per column of the table.
Key = tuple[str, tuple[Any, ...]]
Counts = dict[Key, list[int]]

#: Columns per table: (key columns, count columns).
TABLES: dict[str, tuple[Table, tuple[str, ...], tuple[str, ...]]] = {
    "ticket_days": (ticket_days, ("day", "unit"), TICKET_DAY_COUNTS),
    "ticket_day_links": (ticket_day_links, ("day", "next_day", "unit"), RECEIPT_COUNTS),
    "return_pair_days": (return_pair_days, ("unit", "target", "day"), ("returns",)),
    "return_pair_months": (return_pair_months, ("month", "unit", "target"), ("returns",)),
    "category_return_days": (category_return_days, ("day", "category"), ("returns",)),
    "dispute_days": (dispute_days, ("day", "unit"), ("disputes",)),
    "dispute_pair_days": (dispute_pair_days, ("day", "unit", "other"), ("disputes",)),
    "dispute_category_days": (dispute_category_days, ("day", "category"), ("disputes",)),
}


class Step(NamedTuple):
    """One event of a ticket as the statistics read it: its type, local day, the stored
    ``unit`` (the event's unit, else its ``to_unit``), the unit a dispatch hands the ticket
    to (a reassignment's ``to_unit``), a closure's outcome and a return's proposed unit."""

    type: str
    day: date
    unit: str | None = None
    receiver: str | None = None
    outcome: str | None = None
    proposed: str | None = None


def step(kind: str, day: date, unit: str | None = None, to_unit: str | None = None,
         outcome: str | None = None, proposed: str | None = None) -> Step:
    """A step from an event's stored fields (``unit`` the stored column)."""
    receiver = to_unit if kind == "reassigned" and to_unit is not None else unit
    return Step(kind, day, unit, receiver, outcome if kind == CLOSED else None, proposed)


def steps_of(history: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> list[Step]:
    """A ticket's history (event dicts, as :class:`arbitration.tickets.TicketState` keeps
    them) as steps in ``tz``."""
    out: list[Step] = []
    for event in history:
        at = event["at"]
        moment = datetime.fromisoformat(at) if isinstance(at, str) else at
        out.append(step(event["type"], moment.astimezone(tz).date(),
                        event.get("unit") or event.get("to_unit"), event.get("to_unit"),
                        event.get("outcome"), event.get("proposed_unit")))
    return out


_DAYS, _LINKS = "ticket_days", "ticket_day_links"
_PAIRS, _MONTHS, _CATEGORIES = "return_pair_days", "return_pair_months", "category_return_days"
_I = {c: i for i, c in enumerate(TICKET_DAY_COUNTS)}
_DISPATCHED, _REQUESTED, _REVIEWED, _REJECTED = (_I[c] for c in EVENT_COUNTS)
_FIRST, _STOOD, _TICKETS = _I["first_receipts"], _I["first_dispatch_stood"], _I["tickets"]
_RECEIPT_FROM = _I[RECEIPT_COUNTS[0]]
assert [_I[c] for c in RECEIPT_COUNTS] == list(range(_RECEIPT_FROM,
                                                     _RECEIPT_FROM + len(RECEIPT_COUNTS)))
_DAY_WIDTH, _LINK_WIDTH = len(TICKET_DAY_COUNTS), len(RECEIPT_COUNTS)
_RECEIPT_SLICE = slice(_RECEIPT_FROM, _RECEIPT_FROM + _LINK_WIDTH)
#: the out-of-scope counts of a ticket closed so (or not: none)
_OUTCOME_VECTORS = {o: tuple(int(o == each) for each in OUTCOMES) for o in OUTCOMES}
_NO_OUTCOME = (0,) * len(OUTCOMES)


def _row(out: Counts, table: str, key: tuple[Any, ...], width: int) -> list[int]:
    counts = out.get((table, key))
    if counts is None:
        counts = out[(table, key)] = [0] * width
    return counts


def contribution(steps: Sequence[Step], *, category: str | None = None,
                 parties: Collection[str] = (), disputed: bool = False,
                 into: Counts | None = None) -> Counts:
    """What a ticket adds to the counters: its history as :func:`steps_of`, its category,
    the units party to a dispute about it and whether there is one (added ``into`` counts
    given). Every count means what :mod:`arbitration.statistics` says it means.

    >>> d1, d2 = date(2026, 11, 2), date(2026, 11, 5)
    >>> c = contribution([step("dispatched", d1, "A"), step("reassigned", d2, None, "B"),
    ...                   step("reassigned", d2, None, "A")])
    >>> c[("ticket_days", (d1, "A"))][4:6], c[("ticket_days", (d2, "A"))][4:6]
    ([1, 3], [1, 3])
    >>> c[("ticket_day_links", (d1, d2, "A"))][:2]   # received on two days, counted once
    [-1, -3]
    >>> c[("ticket_days", (d1, ""))][-3:]             # first receipt; it did not stand; a ticket
    [1, 0, 1]
    """
    out: Counts = {} if into is None else into
    if not steps:
        return out
    _row(out, _DAYS, (steps[0].day, DISTRICT), _DAY_WIDTH)[_TICKETS] += 1
    first: Step | None = None
    dispatched = upheld = 0
    closed: str | None = None
    returners: set[str | None] = set()
    receipts: dict[str, set[date]] = {}
    chain: list[Step] = []  # returns, reviews and dispatches
    previous: Step | None = None  # the last return or review

    # Events counted on their own day; a review counts for the unit of the return before it.
    for s in steps:
        kind = s.type
        if kind in DISPATCH_TYPES:
            dispatched += 1
            first = first or s
            chain.append(s)
            _row(out, _DAYS, (s.day, DISTRICT), _DAY_WIDTH)[_DISPATCHED] += 1
            receipts.setdefault(DISTRICT, set()).add(s.day)
            if s.receiver is not None:
                _row(out, _DAYS, (s.day, s.receiver), _DAY_WIDTH)[_DISPATCHED] += 1
                receipts.setdefault(s.receiver, set()).add(s.day)
        elif kind == RETURN_REQUESTED:
            chain.append(s)
            returners.add(s.unit)
            _row(out, _DAYS, (s.day, DISTRICT), _DAY_WIDTH)[_REQUESTED] += 1
            if s.unit is not None:
                _row(out, _DAYS, (s.day, s.unit), _DAY_WIDTH)[_REQUESTED] += 1
        elif kind in REVIEW_TYPES:
            chain.append(s)
            upheld += kind == "return_upheld"
            rejected = int(kind == "return_rejected")
            returner = previous.unit if previous is not None else None
            for key in (DISTRICT, returner) if returner is not None else (DISTRICT,):
                counts = _row(out, _DAYS, (s.day, key), _DAY_WIDTH)
                counts[_REVIEWED] += 1
                counts[_REJECTED] += rejected
        elif kind == CLOSED and s.outcome is not None:
            closed = s.outcome if closed is None else max(closed, s.outcome)
        if kind in RETURN_TYPES:
            previous = s

    # The ticket as received: by each unit it was dispatched to, and by the district.
    in_scope = closed is None
    how = _NO_OUTCOME if closed is None else _OUTCOME_VECTORS.get(closed, _NO_OUTCOME)
    for key, received in receipts.items():
        is_district = key == DISTRICT
        returned = bool(returners) if is_district else key in returners
        vector = (1, dispatched, in_scope, returned and in_scope,
                  disputed if is_district else key in parties, *how)
        if len(received) == 1:
            for day in received:
                counts = _row(out, _DAYS, (day, key), _DAY_WIDTH)
                counts[_RECEIPT_SLICE] = map(add, counts[_RECEIPT_SLICE], vector)
            continue
        ordered = sorted(received)
        for day in ordered:
            counts = _row(out, _DAYS, (day, key), _DAY_WIDTH)
            counts[_RECEIPT_SLICE] = map(add, counts[_RECEIPT_SLICE], vector)
        for day, later in pairwise(ordered):  # takes back what the later day added
            counts = _row(out, _LINKS, (day, later, key), _LINK_WIDTH)
            counts[:] = map(sub, counts, vector)
    if first is not None:
        stood = int(in_scope and dispatched == 1 and upheld == 0)
        for key in (DISTRICT, first.receiver) if first.receiver is not None else (DISTRICT,):
            counts = _row(out, _DAYS, (first.day, key), _DAY_WIDTH)
            counts[_FIRST] += in_scope
            counts[_STOOD] += stood

    # Returns: the unit each points to (proposed, or the next receiver once upheld) and the
    # ticket's category.
    for i, s in enumerate(chain if returners else ()):
        if s.type != RETURN_REQUESTED:
            continue
        review = chain[i + 1].type if i + 1 < len(chain) else None
        after = chain[i + 2] if i + 2 < len(chain) else None
        target = (after.receiver if review == "return_upheld" and after is not None
                  and after.type in DISPATCH_TYPES else s.proposed)
        if target is not None and s.unit is not None and target != s.unit:
            _row(out, _PAIRS, (s.unit, target, s.day), 1)[0] += 1
            _row(out, _MONTHS, (s.day.replace(day=1), s.unit, target), 1)[0] += 1
        if category is not None:
            _row(out, _CATEGORIES, (s.day, category), 1)[0] += 1
    return out


def dispute_contribution(day: date, parties: Iterable[str], category: str | None, *,
                         into: Counts | None = None) -> Counts:
    """What a dispute opened on ``day`` adds: one for the district and for each party, one
    for each pair of parties (in code order; readers order pairs as the database does) and
    one for its category.

    >>> c = dispute_contribution(date(2026, 11, 2), ["B", "A", "B"], "0301")
    >>> [(table, key[1:]) for (table, key), (n,) in sorted(c.items())]
    [('dispute_category_days', ('0301',)), ('dispute_days', ('',)), ('dispute_days', ('A',)), \
('dispute_days', ('B',)), ('dispute_pair_days', ('A', 'B'))]
    """
    out: Counts = {} if into is None else into
    units = sorted(set(parties))
    for key in (DISTRICT, *units):
        _row(out, "dispute_days", (day, key), 1)[0] += 1
    for i, unit in enumerate(units):
        for other in units[i + 1:]:
            _row(out, "dispute_pair_days", (day, unit, other), 1)[0] += 1
    if category is not None:
        _row(out, "dispute_category_days", (day, category), 1)[0] += 1
    return out


def difference(after: Counts, before: Counts) -> Counts:
    """``after`` − ``before``, without the counters that do not change.

    >>> difference({("t", (1,)): [2, 1]}, {("t", (1,)): [1, 1], ("t", (2,)): [1, 0]})
    {('t', (1,)): [1, 0], ('t', (2,)): [-1, 0]}
    """
    out: Counts = {}
    for key, counts in after.items():
        old = before.get(key)
        delta = counts if old is None else [a - b for a, b in zip(counts, old, strict=True)]
        if any(delta):
            out[key] = delta
    for key, counts in before.items():
        if key not in after and any(counts):
            out[key] = [-n for n in counts]
    return out


def add_to(total: Counts, counts: Counts) -> None:
    """Add ``counts`` into ``total`` in place."""
    for key, values in counts.items():
        current = total.get(key)
        if current is None:
            total[key] = list(values)
        else:
            for i, n in enumerate(values):
                current[i] += n


# -- SQL: adding to the counters ----------------------------------------------------------------


@lru_cache(maxsize=32)
def _upsert(dialect: Dialect, name: str) -> str:
    table, keys, columns = TABLES[name]
    return base.upsert_sql(dialect, table, keys, columns)


def apply(conn: Connection, delta: Counts) -> None:
    """Add ``delta`` to the counters in the caller's transaction: one statement per table,
    rows in key order."""
    by_table: dict[str, list[tuple[tuple[Any, ...], list[int]]]] = defaultdict(list)
    for (name, key), counts in delta.items():
        by_table[name].append((key, counts))
    dialect = conn.dialect
    for name in TABLES:
        rows = by_table.get(name)
        if not rows:
            continue
        rows.sort(key=lambda row: row[0])
        params = [(*(base.day_value(dialect, v) if isinstance(v, date) else v for v in key),
                   *counts) for key, counts in rows]
        conn.exec_driver_sql(_upsert(dialect, name), params)


_Parties = tuple[set[str], bool]
# Built once: building the statement on every event cost more than running it.
_ABOUT = (select(disputes.c.id, dispute_parties.c.unit)
          .select_from(disputes.outerjoin(dispute_parties,
                                          dispute_parties.c.dispute_id == disputes.c.id))
          .where(disputes.c.ticket_id == bindparam("ticket_id")).subquery("about"))
_ZONE_AND_PARTIES = (select(rollup_zone.c.timezone, _ABOUT.c.id, _ABOUT.c.unit)
                     .select_from(rollup_zone.outerjoin(_ABOUT, literal(True)))
                     .where(rollup_zone.c.id == base.ZONE_ROW))


def _zone_and_parties(conn: Connection, ticket_id: str, opened: Collection[str]
                      ) -> tuple[ZoneInfo | None, _Parties, _Parties]:
    """The rollups' zone (None: nothing is rolled up), and the parties of the disputes about
    the ticket and whether there is one — without the disputes ``opened`` in this
    transaction, and with them. One statement: a row per dispute and party, each with the
    zone."""
    rows = conn.execute(_ZONE_AND_PARTIES, {"ticket_id": ticket_id}).all()
    if not rows:
        return None, (set(), False), (set(), False)
    found = [(dispute_id, unit) for _, dispute_id, unit in rows if dispute_id is not None]
    before = {unit for dispute_id, unit in found if dispute_id not in opened and unit}
    after = {unit for _, unit in found if unit}
    return (zone(rows[0][0]),
            (before, any(dispute_id not in opened for dispute_id, _ in found)),
            (after, bool(found)))


@dataclass(frozen=True, slots=True)
class Known:
    """What a writer read with the ticket's row (:func:`known_columns`): the rollups' zone
    and whether any dispute is about the ticket. When there is none, :func:`record_change`
    reads nothing more (one round trip less per event)."""

    timezone: str | None
    disputed: bool

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Known | None:
        """From the row read with :func:`known_columns` (None: no row was read)."""
        if row is None:
            return None
        return cls(row["rollup_timezone"], bool(row["rollup_disputed"]))


def known_columns(ticket_id: Any) -> list[Any]:
    """Columns a writer adds to its read of the ticket's row: :class:`Known`'s."""
    zone_name = (select(rollup_zone.c.timezone).where(rollup_zone.c.id == base.ZONE_ROW)
                 .scalar_subquery().label("rollup_timezone"))
    disputed = (select(disputes.c.id).where(disputes.c.ticket_id == ticket_id).exists()
                .label("rollup_disputed"))
    return [zone_name, disputed]


def record_change(conn: Connection, ticket_id: str, *,
                  before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]],
                  category_before: str | None, category_after: str | None,
                  opened: Collection[str] = (), known: Known | None = None) -> None:
    """Add to the counters what changed for one ticket, in the caller's transaction:
    ``before`` and ``after`` are its history (``after`` extends ``before``), the categories
    its projection had, ``opened`` the ids of disputes about it opened since ``before``
    (their parties are read from the database), and ``known`` what was read with the
    ticket's row before them. Call it after the write's audit entry (see the module's
    docstring)."""
    if not after:
        return
    new = after[len(before):]
    if (before and not opened and category_before == category_after
            and not any(event["type"] in COUNTED_TYPES for event in new)):
        return  # signed, completed, dispute events: no count changes
    if known is not None and not known.disputed and not opened:
        tz = zone(known.timezone) if known.timezone else None
        none: set[str] = set()
        (was, was_disputed), (now, now_disputed) = (none, False), (none, False)
    else:
        tz, (was, was_disputed), (now, now_disputed) = _zone_and_parties(conn, ticket_id,
                                                                          opened)
    if tz is None:
        return
    old = contribution(steps_of(before, tz), category=category_before, parties=was,
                       disputed=was_disputed)
    fresh = contribution(steps_of(after, tz), category=category_after, parties=now,
                         disputed=now_disputed)
    delta = difference(fresh, old)
    if delta:
        apply(conn, delta)


def count_dispute(conn: Connection, *, opened_at: datetime, parties: Iterable[str],
                  category: str | None) -> None:
    """Add a dispute just opened to the counters, in the caller's transaction (after its
    audit entry)."""
    tz = read_zone(conn)
    if tz is not None:
        apply(conn, dispute_contribution(opened_at.astimezone(tz).date(), parties, category))


# -- SQL: counting everything again ---------------------------------------------------------


def _tickets(conn: Connection, tz: ZoneInfo) -> Iterator[tuple[list[Step], str]]:
    """Every ticket's steps, from the history: one ordered pass over the events that count
    (and each ticket's first), reading only the fields each type needs."""
    te = ticket_events
    event = te.c.event
    query = (select(te.c.ticket_id, te.c.type,
                    # the stored value as the driver gives it: SQLAlchemy's conversion of
                    # each of millions of rows cost more than the counting
                    type_coerce(te.c.at, String), te.c.unit,
                    case((te.c.type == "reassigned", event["to_unit"].as_string())),
                    case((te.c.type == CLOSED, event["outcome"].as_string())),
                    case((te.c.type == RETURN_REQUESTED, event["proposed_unit"].as_string())))
             .where(or_(te.c.type.in_(COUNTED_TYPES), te.c.seq == 1))
             .order_by(te.c.ticket_id, te.c.seq))
    current: str | None = None
    steps: list[Step] = []
    day_of = _days_in(tz)
    # yield_per on the statement (on the connection it would stay for later statements)
    result = conn.execute(query.execution_options(yield_per=20_000))
    for ticket_id, kind, at, unit, to_unit, outcome, proposed in result:
        if ticket_id != current:
            if current is not None:
                yield steps, current
            current, steps = ticket_id, []
        steps.append(step(kind, day_of(at), unit, to_unit, outcome, proposed))
    if current is not None:
        yield steps, current


def _days_in(tz: ZoneInfo) -> Callable[[Any], date]:
    """The local day of a stored time as the driver gives it: an aware datetime on
    PostgreSQL, UTC text (``2026-11-01 01:02:03.000000``) on SQLite, where the day is
    remembered per minute when the whole minute falls on one local day."""
    seen: dict[str, date] = {}
    rest_of_minute = timedelta(seconds=59, microseconds=999_999)

    def day_of(at: Any) -> date:
        if not isinstance(at, str):
            return at.astimezone(tz).date()  # type: ignore[no-any-return]
        minute = at[:16]
        day = seen.get(minute)
        if day is None:
            start = datetime.fromisoformat(minute).replace(tzinfo=UTC)
            day = start.astimezone(tz).date()
            if (start + rest_of_minute).astimezone(tz).date() != day:
                return datetime.fromisoformat(at).replace(tzinfo=UTC).astimezone(tz).date()
            if len(seen) < 1_000_000:
                seen[minute] = day
        return day

    return day_of


def _categories(conn: Connection) -> dict[str, str]:
    """The category of each ticket that was returned (the only ones whose category counts)."""
    te = ticket_events
    returned = select(te.c.ticket_id).where(te.c.type == RETURN_REQUESTED)
    return {ticket_id: category for ticket_id, category in conn.execute(
        select(tickets.c.ticket_id, tickets.c.category).where(
            tickets.c.category.is_not(None), tickets.c.ticket_id.in_(returned)))}


def _all_parties(conn: Connection) -> dict[str, set[str]]:
    """The parties of the disputes about each ticket (a ticket with a dispute is a key)."""
    out: dict[str, set[str]] = defaultdict(set)
    rows = conn.execute(select(disputes.c.ticket_id, dispute_parties.c.unit)
                        .select_from(disputes.outerjoin(
                            dispute_parties, dispute_parties.c.dispute_id == disputes.c.id))
                        .where(disputes.c.ticket_id.is_not(None)))
    for ticket_id, unit in rows:
        units = out[ticket_id]
        if unit:
            units.add(unit)
    return out


def _count_disputes(conn: Connection, tz: ZoneInfo, total: Counts) -> None:
    """Every dispute's :func:`dispute_contribution`, into ``total``."""
    d, dp = disputes, dispute_parties
    day_of = _days_in(tz)
    found: dict[str, tuple[date, str | None, list[str]]] = {}
    for dispute_id, opened_at, category, unit in conn.execute(
            select(d.c.id, type_coerce(d.c.opened_at, String), d.c.category, dp.c.unit)
            .select_from(d.outerjoin(dp, dp.c.dispute_id == d.c.id))):
        entry = found.get(dispute_id)
        if entry is None:
            entry = found[dispute_id] = (day_of(opened_at), category, [])
        if unit is not None:
            entry[2].append(unit)
    for day, category, units in found.values():
        dispute_contribution(day, units, category, into=total)


def count_history(conn: Connection, tz: ZoneInfo) -> Counts:
    """Every ticket's :func:`contribution` and every dispute's, summed, from the history."""
    parties = _all_parties(conn)
    categories = _categories(conn)
    total: Counts = {}
    _count_disputes(conn, tz, total)
    for steps, ticket_id in _tickets(conn, tz):
        units = parties.get(ticket_id)
        contribution(steps, category=categories.get(ticket_id), parties=units or (),
                     disputed=units is not None, into=total)
    return total


def _count_decisions(conn: Connection, tz: ZoneInfo) -> dict[tuple[date, str], list[int]]:
    """:func:`rules.rollups.decision_counts` of every decision stored."""
    d = decisions.c
    rows = conn.execute(select(type_coerce(d.created_at, String), d.lead, d.status)
                        .where(d.lead.is_not(None)).execution_options(yield_per=20_000))
    day_of = _days_in(tz)
    out: dict[tuple[date, str], list[int]] = {}
    for at, lead, status in rows:
        counts = out.setdefault((day_of(at), lead), [0, 0])
        counts[0] += 1
        counts[1] += status == "routed"
    return out


#: every counter table, the decisions' too
ALL_TABLES = (ticket_days, ticket_day_links, return_pair_days, return_pair_months,
              category_return_days, dispute_days, dispute_pair_days, dispute_category_days,
              decision_days)


def fill(conn: Connection, timezone: str = base.DEFAULT_TIMEZONE) -> dict[str, int]:
    """Count every rollup again from the history, by local days in ``timezone``, in the
    caller's transaction (migration 0012, ``quanze stats rebuild``, bulk loads). On
    PostgreSQL it first locks the zone's row's table, so writers wait (they read it before
    adding) until the new counts are committed. Returns the rows written per table."""
    tz = zone(timezone)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"LOCK TABLE {rollup_zone.name} IN ACCESS EXCLUSIVE MODE"))
    for table in ALL_TABLES:
        conn.execute(delete(table))
    conn.execute(delete(rollup_zone))
    conn.execute(insert(rollup_zone).values(id=base.ZONE_ROW, timezone=timezone))
    by_table: dict[str, list[tuple[tuple[Any, ...], list[int]]]] = defaultdict(list)
    for (name, key), counts in count_history(conn, tz).items():
        if any(counts):
            by_table[name].append((key, counts))
    written: dict[str, int] = {}
    for name, (table, keys, columns) in TABLES.items():
        rows = [dict(zip((*keys, *columns), (*key, *counts), strict=True))
                for key, counts in sorted(by_table[name])]
        insert_rows(conn, table, rows)
        written[name] = len(rows)
    made = _count_decisions(conn, tz)
    rows = [{"day": day, "unit": unit, "decisions": n, "routed": routed}
            for (day, unit), (n, routed) in sorted(made.items())]
    insert_rows(conn, decision_days, rows)
    written["decision_days"] = len(rows)
    return written


def rebuild(db: Engine, timezone: str) -> dict[str, int]:
    """:func:`fill` in a write transaction of its own (``quanze stats rebuild``): the
    rollups counted again, by the local days of ``timezone`` (``InvalidInput``
    ``invalid_timezone`` if it is not a time zone). Writers wait meanwhile."""
    try:
        zone(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone!r}", code="invalid_timezone",
                           field="timezone", tz=timezone) from exc
    with write_transaction(db) as conn:
        return fill(conn, timezone)


# -- SQL: reading the counters ----------------------------------------------------------------


def days_of(conn: Connection, start: datetime, end: datetime) -> tuple[date, date] | None:
    """The local days ``[first, end)`` that make up the period ``[start, end)``, or None when
    the rollups cannot answer it: a bound is not the first moment of a local day in the
    rollups' zone, or nothing is rolled up."""
    tz = read_zone(conn)
    if tz is None:
        return None
    bounds = []
    for moment in (start, end):
        day = moment.astimezone(tz).date()
        if (moment - timedelta(microseconds=1)).astimezone(tz).date() == day:
            return None
        bounds.append(day)
    return bounds[0], bounds[1]


def _in(column: Any, days: tuple[date, date]) -> Any:
    return (column >= days[0]) & (column < days[1])


def ticket_counts(conn: Connection, days: tuple[date, date], *,
                  district: bool) -> dict[str, dict[str, int]]:
    """The ticket counts of each unit over ``days`` (or of the district, key ``""``): the sums
    of the days and of the links with both days inside (which are negative). Units whose
    counts are all zero are left out."""
    t, link = ticket_days, ticket_day_links
    key_t = t.c.unit == DISTRICT if district else t.c.unit != DISTRICT
    key_l = link.c.unit == DISTRICT if district else link.c.unit != DISTRICT
    sums = {row[0]: [int(n or 0) for n in row[1:]] for row in conn.execute(
        select(t.c.unit, *(func.sum(t.c[c]) for c in TICKET_DAY_COUNTS))
        .where(_in(t.c.day, days), key_t).group_by(t.c.unit))}
    for row in conn.execute(
            select(link.c.unit, *(func.sum(link.c[c]) for c in RECEIPT_COUNTS))
            .where(link.c.day >= days[0], link.c.next_day < days[1], key_l)
            .group_by(link.c.unit)):
        counts = sums.setdefault(row[0], [0] * len(TICKET_DAY_COUNTS))
        for i, n in enumerate(row[1:], _RECEIPT_FROM):
            counts[i] += int(n or 0)
    return {unit: dict(zip(TICKET_DAY_COUNTS, counts, strict=True))
            for unit, counts in sums.items() if any(counts)}


def district_counts(conn: Connection,
                    spans: Sequence[tuple[date, date]]) -> list[dict[str, int]]:
    """The district's ticket counts, and its disputes opened (``disputes``), over each of
    consecutive spans of days (the weeks of a trend), from one pass over their days."""
    if not spans:
        return []
    whole = (spans[0][0], spans[-1][1])
    t, link = ticket_days, ticket_day_links
    out = [[0] * _DAY_WIDTH for _ in spans]
    starts = [first for first, _ in spans]

    def span_of(day: date) -> int:
        return bisect_right(starts, day) - 1

    for row in conn.execute(select(t.c.day, *(t.c[c] for c in TICKET_DAY_COUNTS))
                            .where(_in(t.c.day, whole), t.c.unit == DISTRICT)):
        counts = out[span_of(row[0])]
        counts[:] = map(add, counts, row[1:])
    for row in conn.execute(select(link.c.day, link.c.next_day,
                                   *(link.c[c] for c in RECEIPT_COUNTS))
                            .where(link.c.day >= whole[0], link.c.next_day < whole[1],
                                   link.c.unit == DISTRICT)):
        i = span_of(row[0])
        if row[1] < spans[i][1]:  # both days in the span
            counts = out[i]
            counts[_RECEIPT_SLICE] = map(add, counts[_RECEIPT_SLICE], row[2:])
    opened = [0] * len(spans)
    for day, n in conn.execute(select(dispute_days.c.day, dispute_days.c.disputes)
                               .where(_in(dispute_days.c.day, whole),
                                      dispute_days.c.unit == DISTRICT)):
        opened[span_of(day)] += n
    return [{**dict(zip(TICKET_DAY_COUNTS, counts, strict=True)), "disputes": n}
            for counts, n in zip(out, opened, strict=True)]


def decision_counts(conn: Connection, days: tuple[date, date]) -> dict[str, tuple[int, int]]:
    """Decisions and decisions routed per lead over ``days`` (leads with none left out)."""
    d = decision_days
    return {unit: (int(n), int(routed)) for unit, n, routed in conn.execute(
        select(d.c.unit, func.sum(d.c.decisions), func.sum(d.c.routed))
        .where(_in(d.c.day, days)).group_by(d.c.unit)) if n}


#: how many of each month's busiest pairs start the search for the busiest of a period, and
#: the most pairs the search then reads before it sums every pair of the period instead
SEED_PAIRS = 100
MOST_PAIRS = 2_000


def _months(days: tuple[date, date]) -> list[date]:
    """The first days of the calendar months the days touch."""
    month, last = days[0].replace(day=1), (days[1] - timedelta(days=1)).replace(day=1)
    out = []
    while month <= last:
        out.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return out


def _pair_counts(conn: Connection, days: tuple[date, date],
                 pairs: Collection[tuple[str, str]] | None,
                 top: int | None = None) -> list[tuple[str, str, int]]:
    r = return_pair_days
    n = func.sum(r.c.returns).label("n")
    query = (select(r.c.unit, r.c.target, n).where(_in(r.c.day, days))
             .group_by(r.c.unit, r.c.target).having(func.sum(r.c.returns) > 0))
    if pairs is not None:
        query = query.where(tuple_(r.c.unit, r.c.target).in_(sorted(pairs)))
    if top is not None:
        query = query.order_by(n.desc(), r.c.unit, r.c.target).limit(top)
    return [(a, b, int(c)) for a, b, c in conn.execute(query)]


def _busiest(conn: Connection, month: date, *, limit: int | None = None,
             least: int = 1) -> list[tuple[str, str]]:
    m = return_pair_months
    query = (select(m.c.unit, m.c.target).where(m.c.month == month, m.c.returns >= least)
             .order_by(m.c.returns.desc()))
    return [(a, b) for a, b in conn.execute(query if limit is None else query.limit(limit))]


def return_pairs(conn: Connection, days: tuple[date, date],
                 top: int) -> list[tuple[str, str, int]]:
    """The ``top`` (returning unit, unit pointed to) pairs by returns over ``days``.

    A city's month holds some hundred thousand pairs, most returned once or twice: summing
    them all cost more than the rest of the hotspots. Only pairs that can be among the
    busiest are summed: the ``top``-th largest count L among the months' busiest pairs is a
    floor for the answer, and a pair that reaches L over k months reaches L / k in one of
    them (the months' counts come from ``return_pair_months``). Where that prunes nothing
    (L / k ≤ 1, or too many pairs) every pair of the period is summed."""
    months = _months(days)
    seeds = {pair for month in months
             for pair in _busiest(conn, month, limit=max(SEED_PAIRS, top))}
    if not seeds:
        return []
    counts = sorted((n for *_, n in _pair_counts(conn, days, seeds)), reverse=True)
    floor = counts[top - 1] if len(counts) >= top else 0
    least = -(-floor // len(months))  # ceil(floor / k)
    if least >= 2:
        candidates: set[tuple[str, str]] = set()
        for month in months:
            candidates.update(_busiest(conn, month, least=least))
            if len(candidates) > MOST_PAIRS:
                break
        else:
            return _pair_counts(conn, days, candidates, top)
    return _pair_counts(conn, days, None, top)


def category_returns(conn: Connection, days: tuple[date, date]) -> dict[str, int]:
    """Returns per category of the ticket over ``days``."""
    c = category_return_days
    return {code: int(n) for code, n in conn.execute(
        select(c.c.category, func.sum(c.c.returns)).where(_in(c.c.day, days))
        .group_by(c.c.category)) if n}


def dispute_counts(conn: Connection, days: tuple[date, date], *,
                   district: bool) -> dict[str, int]:
    """Disputes opened over ``days`` per party (or the district's, key ``""``)."""
    c = dispute_days
    key = c.c.unit == DISTRICT if district else c.c.unit != DISTRICT
    return {unit: int(n) for unit, n in conn.execute(
        select(c.c.unit, func.sum(c.c.disputes)).where(_in(c.c.day, days), key)
        .group_by(c.c.unit)) if n}


def dispute_pairs(conn: Connection, days: tuple[date, date],
                  top: int) -> list[tuple[str, str, int]]:
    """The ``top`` pairs of parties by disputes opened over ``days``, each pair in the
    database's order (as the hotspots query orders it)."""
    c = dispute_pair_days
    first = case((c.c.unit < c.c.other, c.c.unit), else_=c.c.other).label("first")
    second = case((c.c.unit < c.c.other, c.c.other), else_=c.c.unit).label("second")
    n = func.sum(c.c.disputes).label("n")
    rows = conn.execute(select(first, second, n).where(_in(c.c.day, days))
                        .group_by(first, second).having(func.sum(c.c.disputes) > 0)
                        .order_by(n.desc(), first, second).limit(top))
    return [(a, b, int(k)) for a, b, k in rows]


def dispute_categories(conn: Connection, days: tuple[date, date]) -> dict[str, int]:
    """Disputes opened over ``days`` per category."""
    c = dispute_category_days
    return {code: int(n) for code, n in conn.execute(
        select(c.c.category, func.sum(c.c.disputes)).where(_in(c.c.day, days))
        .group_by(c.c.category)) if n}


def tickets_total(conn: Connection) -> int:
    """The number of tickets ever (each counted on the day of its first event)."""
    return int(conn.execute(select(func.coalesce(func.sum(ticket_days.c.tickets), 0))
                            .where(ticket_days.c.unit == DISTRICT)).scalar_one())


__all__ = [
    "ALL_TABLES",
    "COUNTED_TYPES",
    "DISTRICT",
    "TABLES",
    "Counts",
    "Known",
    "Step",
    "add_to",
    "apply",
    "category_returns",
    "contribution",
    "count_dispute",
    "count_history",
    "days_of",
    "decision_counts",
    "difference",
    "dispute_categories",
    "dispute_contribution",
    "dispute_counts",
    "dispute_pairs",
    "district_counts",
    "fill",
    "known_columns",
    "rebuild",
    "record_change",
    "return_pairs",
    "step",
    "steps_of",
    "ticket_counts",
    "tickets_total",
]
