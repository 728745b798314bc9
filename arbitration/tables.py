"""SQLAlchemy tables of the arbitration layer: tickets and their events, disputes, rulings,
idempotency keys and the audit log (append-only, hash-chained), and the statistics' daily
counters (arbitration.rollups)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Index, Integer, String, Table, Text

from jurisdiction.tables import UTCDateTime, metadata

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: One row: the chain's head, locked by each writer so entries are numbered without gaps.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

# -- tickets: the event history is the truth; ``tickets`` is its projection for queries ------

tickets = Table(
    "tickets", metadata,
    Column("ticket_id", String(100), primary_key=True),
    Column("category", String(64)),
    Column("area", String(64)),
    Column("status", String(20), nullable=False),
    Column("owner", String(64)),
    Column("first_receiver", String(64)),
    Column("interim_owner", String(64)),
    Column("dispatch_count", Integer, nullable=False, default=0),
    Column("dispute_id", String(40)),
    Column("state", JSON, nullable=False),  # the full TicketState (arbitration.tickets)
    Column("event_count", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_tickets_owner", tickets.c.owner)

ticket_events = Table(
    "ticket_events", metadata,
    Column("ticket_id", String(100), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(30), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("unit", String(64)),
    Column("event", JSON, nullable=False),  # the event as posted (arbitration.tickets.Event)
)
Index("ix_ticket_events_type_at", ticket_events.c.type, ticket_events.c.at)
Index("ix_ticket_events_unit", ticket_events.c.unit)

#: Retried writes with the same Idempotency-Key header return the first answer.
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("key", String(200), primary_key=True),
    Column("scope", String(200), nullable=False),  # method + path the key was used on
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# -- disputes ---------------------------------------------------------------------------------

disputes = Table(
    "disputes", metadata,
    Column("id", String(40), primary_key=True),
    Column("ticket_id", String(100)),
    Column("decision_id", String(40)),
    Column("category", String(64)),
    Column("area", String(64)),
    # bounce | bounce_cap | ambiguous | return | manual
    Column("reason", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # open | under_review | ruled | withdrawn
    Column("parties", JSON, nullable=False),
    Column("interim_owner", String(64)),
    Column("arbiter", String(200)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("stage_deadline", UTCDateTime),
    Column("escalated", Integer, nullable=False, default=0),  # times flagged overdue
    Column("ruling_id", String(40)),
    Column("state", JSON, nullable=False),  # the full DisputeState (arbitration.disputes)
)
Index("ix_disputes_queue", disputes.c.status, disputes.c.stage_deadline)
Index("ix_disputes_opened_at", disputes.c.opened_at)  # the statistics' periods
Index("ix_disputes_category", disputes.c.category)
Index("ix_disputes_ticket", disputes.c.ticket_id)

dispute_parties = Table(
    "dispute_parties", metadata,
    Column("dispute_id", String(40), primary_key=True),
    Column("unit", String(64), primary_key=True),
)
Index("ix_dispute_parties_unit", dispute_parties.c.unit)

#: Append-only history of each dispute: opened, statement, claimed, ruled, withdrawn, escalated.
dispute_events = Table(
    "dispute_events", metadata,
    Column("dispute_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(30), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("unit", String(64)),
    Column("payload", JSON, nullable=False),
)

# -- rulings: never edited; a later ruling supersedes an earlier one -------------------------

rulings = Table(
    "rulings", metadata,
    Column("id", String(40), primary_key=True),
    # unique: two arbiters ruling at the same moment leave exactly one ruling
    Column("dispute_id", String(40), nullable=False, unique=True),
    Column("ticket_id", String(100)),
    Column("lead", String(64), nullable=False),
    Column("co_handlers", JSON, nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("basis", Text, nullable=False),
    Column("document_no", String(100), nullable=False),
    Column("generalize", JSON),
    Column("rule_id", String(64)),
    Column("retired_rules", JSON, nullable=False),
    Column("supersedes", String(40)),
    Column("category", String(64)),
    Column("area", String(64)),
    Column("ruleset_version", Integer),
    Column("arbiter", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_rulings_category", rulings.c.category)
Index("ix_rulings_at", rulings.c.at)  # the statistics' periods

#: The process rules of each district (arbitration.policy.Policy as JSON), append-only: one
#: row per revision; the newest revision is in force.
policies = Table(
    "policies", metadata,
    Column("district", String(64), primary_key=True),  # an area code, or "*" for the default
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("policy", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# -- change sets: catalogue changes reviewed by a second person before they are published ------

#: A change set's proposal and its current status (a projection of its events: the status,
#: who decided and the version it published are set once, when it leaves ``draft``).
change_sets = Table(
    "change_sets", metadata,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # draft | published | rejected | superseded
    Column("rules", JSON, nullable=False),  # rule objects to add or replace (bundle format)
    Column("retire", JSON, nullable=False),  # rule ids to retire
    Column("rule_ids", JSON, nullable=False),  # every rule id it touches (rules and retire)
    Column("base_version", Integer, nullable=False),
    Column("base_revisions", JSON, nullable=False),  # rule id -> live revision, or null
    Column("findings", JSON, nullable=False),
    Column("impact", JSON, nullable=False),
    Column("diff", JSON, nullable=False),
    Column("source", String(200), nullable=False, default="api"),  # api | a file's name
    Column("author", String(200), nullable=False),
    Column("author_id", String(100), nullable=False),  # a key id, or user:<id>
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(200)),
    Column("decided_by_id", String(100)),
    Column("reason", Text),
    Column("published_version", Integer),
    Column("superseded_by", String(40)),
)
Index("ix_change_sets_status", change_sets.c.status, change_sets.c.created_at)

#: Append-only history of each change set: drafted, published, rejected, superseded.
change_set_events = Table(
    "change_set_events", metadata,
    Column("change_set_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
)

# -- statistics rollups: counters per local day (arbitration.rollups, docs/statistics.md) -------

#: Counts of a ticket's events (kept per event) …
EVENT_COUNTS = ("dispatches_received", "returns_requested", "returns_reviewed",
                "returns_rejected")
#: … of the tickets a unit received (each receipt day +1, each link between two of them −1) …
RECEIPT_COUNTS = ("tickets_received", "dispatches_of_received", "tickets_in_scope",
                  "tickets_returned", "disputed_tickets", "out_of_scope_informed",
                  "out_of_scope_terminated", "out_of_scope_transferred")
#: … of the tickets first dispatched (to the unit) that day, and of every ticket on the day of
#: its first event (the district's row only: the number of tickets ever)
FIRST_COUNTS = ("first_receipts", "first_dispatch_stood")
TICKET_DAY_COUNTS = (*EVENT_COUNTS, *RECEIPT_COUNTS, *FIRST_COUNTS, "tickets")


def _counts(names: tuple[str, ...]) -> list[Column[int]]:
    return [Column(name, Integer, nullable=False) for name in names]


#: Per unit and local day; unit "" is the district, which counts each ticket once.
ticket_days = Table(
    "ticket_days", metadata,
    Column("day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    *_counts(TICKET_DAY_COUNTS),
)

#: A ticket received by a unit on two days counts once in a period holding both: the link
#: between consecutive receipt days takes back what the later day added.
ticket_day_links = Table(
    "ticket_day_links", metadata,
    Column("day", Date, primary_key=True),
    Column("next_day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    *_counts(RECEIPT_COUNTS),
)

#: Returns (退单) per returning unit, the unit they point to (proposed, or dispatched next
#: once upheld) and the day of the return: the hotspots' return pairs. Keyed by the pair
#: first: the hotspots read the days of a few pairs (arbitration.rollups.return_pairs).
return_pair_days = Table(
    "return_pair_days", metadata,
    Column("unit", String(64), primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("returns", Integer, nullable=False),
)
Index("ix_return_pair_days_day", return_pair_days.c.day)

#: The same per calendar month (its first day): which pairs can be among the busiest.
return_pair_months = Table(
    "return_pair_months", metadata,
    Column("month", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("returns", Integer, nullable=False),
)
Index("ix_return_pair_months_returns", return_pair_months.c.month, return_pair_months.c.returns)

#: Returns per category of the ticket and day: the hotspots' categories.
category_return_days = Table(
    "category_return_days", metadata,
    Column("day", Date, primary_key=True),
    Column("category", String(64), primary_key=True),
    Column("returns", Integer, nullable=False),
)

#: Disputes opened per day and party (unit "" the district: each dispute once), per pair of
#: parties (the pair in either order: readers order it) and per category. A dispute's day,
#: parties and category never change, so each is counted once, when it is opened.
dispute_days = Table(
    "dispute_days", metadata,
    Column("day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("disputes", Integer, nullable=False),
)
dispute_pair_days = Table(
    "dispute_pair_days", metadata,
    Column("day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("other", String(64), primary_key=True),
    Column("disputes", Integer, nullable=False),
)
dispute_category_days = Table(
    "dispute_category_days", metadata,
    Column("day", Date, primary_key=True),
    Column("category", String(64), primary_key=True),
    Column("disputes", Integer, nullable=False),
)
