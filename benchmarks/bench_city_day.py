"""A day of a 16-district city, replayed over HTTP against two replicas on one PostgreSQL.

    python -m benchmarks.bench_city_day --database-url URL [--speed 10] [--hours 24]
        [--start-hour 0] [--scale 1] [--profile diurnal|flat]

The day (issue 12): 60,000 tickets routed, 150,000 ticket events, 1,000 disputes, 100
catalogue changes and 20 rulings, mixed and concurrent. :func:`plan_day` draws it from the
synthetic city (``benchmarks.synthetic_city``, 16 districts: 55,050 rules), exactly those
counts, the same for the same seed:

- each ticket arrives at a time drawn from an hourly profile (``diurnal``: quiet nights, a
  morning and an afternoon peak about twice the day's mean; an assumed shape, not data of a
  real hotline; ``flat``: the same rate all day) and follows one life, each step a few
  minutes to hours after the one before (squeezed to end before midnight): routed, then
  dispatched (派单) to the decision's lead A; signed (签收) and completed (办结) by A; or
  returned (退单) by A, the return rejected, or upheld and the ticket reassigned (改派) to
  another unit B; or returned by B too and reassigned back to A — the bounce that opens a
  dispute by itself; or a dispute opened by hand (``POST /v1/disputes``) after its dispatch.
  Most tickets are still open at midnight, as on a real day (the event count fixes how many
  finish);
- both parties of every dispute file a statement (陈述); twenty disputes are claimed by the
  district's arbiter, read, previewed and ruled (裁定) with the preview's ``plan_digest``:
  each ruling writes a standing rule, a new rule-set version;
- a hundred catalogue changes (``PATCH /v1/rules/{id}``: a rule's basis or co-handlers) fall
  in office hours (08:30–18:00), each a new rule-set version.

Every request uses a key of the role a real caller has: the hotline's ``router`` key routes,
dispatches, reviews returns, reassigns and opens disputes; each unit's own ``unit`` key signs,
returns, completes and files its statements; an ``arbiter`` key bound to the district's
government office (never a party, so recusal, 回避, holds) claims, previews and rules; an
``editor`` key changes the catalogue.

The script imports the city into a new schema of the PostgreSQL database (dropped at the end),
creates the keys, starts two replicas (``python -m api.cli serve --workers W`` on two ports:
two separate servers on one database, which learn of each other's changes by LISTEN/NOTIFY),
waits until both serve the city, warms them up, and sends the day open-loop: each request at
its scheduled time, ``--speed`` day-seconds per second (10: a day in 2.4 hours), round-robin
over the replicas, whatever the answers before it took — only a ticket's next step waits for
its previous answer (it needs its unit, its dispute). ``--start-hour`` and ``--hours`` replay
a slice of the day; the steps of its tickets that fall before the slice are sent first,
untimed. ``--scale`` multiplies every count (``--scale 0.01``: 600 tickets, 1,500 events …).

Reported: per operation the count and latency (p50 / p99 / max) measured from the
*scheduled* send time (so a server that falls behind shows it), the service time from the
actual send, and the sending lag (actual − scheduled); errors (every answer that is not 2xx,
except the one 4xx the flow expects: a ruling whose plan moved since its preview, 409
``ruling_plan_changed``, which is previewed again and retried, five previews at most; and
any answer that breaks the flow, e.g. a bounce that opened no dispute), grouped by operation
and answer; RSS of each replica (its processes, children included) when the timed part
begins, every 30 s and at the end; CPU seconds of each replica and of the client; and for
every catalogue change and ruling, the time from the write's answer until both replicas
serve its version (``GET /v1/health``, which answers ``serving_version`` from memory,
polled every 10 ms on connections of its own).

Targets: 0 errors; each change and ruling on both replicas ≤ 1 s after its answer (issue 12's
replica goal); RSS growth ≤ 50 MB per replica over the day (issue 12 allows 20 MB over 1,000
versions; the rest is room for a day's pools and buffers). Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.synthetic_city import LEVEL1, make_tickets

DAY = 86_400.0

#: Tickets an hour in a 12345 hotline's day, relative (an assumed shape: quiet nights, peaks
#: at 10:00 and 15:00 about twice the day's mean). ``--profile flat`` uses 1 for every hour.
DIURNAL: tuple[int, ...] = (2, 1, 1, 1, 1, 2, 4, 7, 10, 11, 11, 9,
                            7, 8, 10, 10, 9, 7, 6, 6, 5, 4, 3, 3)

#: The ticket events of each kind of ticket life; ``@b`` is the other unit B, ``@a`` the
#: first (the decision's lead). Statements, claims, previews and rulings are not events.
LIVES: dict[str, tuple[str, ...]] = {
    "dispatched": ("dispatched",),
    "signed": ("dispatched", "signed"),
    "completed": ("dispatched", "signed", "completed"),
    "rejected": ("dispatched", "return_requested", "return_rejected", "completed"),
    "returned": ("dispatched", "return_requested", "return_upheld", "reassigned",
                 "signed@b", "completed@b"),
    "bounce": ("dispatched", "return_requested", "return_upheld", "reassigned",
               "return_requested@b", "return_upheld", "reassigned@a", "statement@a",
               "statement@b"),
    "manual": ("dispatched", "dispute", "statement@a", "statement@b"),
}
LIVES["ruled"] = (*LIVES["bounce"], "claim", "dispute_read", "preview", "ruling")

#: Steps that are not ticket events.
NOT_EVENTS = frozenset({"route", "dispute", "statement@a", "statement@b", "claim",
                        "dispute_read", "preview", "ruling"})

#: Seconds of the real day from the previous step to this one (drawn uniformly).
GAPS: dict[str, tuple[float, float]] = {
    "dispatched": (60, 600),
    "signed": (300, 3600),
    "completed": (3600, 6 * 3600),
    "return_requested": (600, 2 * 3600),
    "return_rejected": (300, 3600),
    "return_upheld": (300, 3600),
    "reassigned": (60, 900),
    "dispute": (600, 3600),
    "statement": (600, 5400),
    "claim": (600, 3600),
    "dispute_read": (30, 300),
    "preview": (60, 600),
    "ruling": (60, 600),
}

#: Shares of the day's tickets whose return is rejected / upheld, and of the disputes that a
#: bounce opens (the rest are opened by hand), and of the remaining tickets dispatched only.
REJECTED_SHARE = 0.02
RETURNED_SHARE = 0.05
BOUNCE_SHARE = 0.8
DISPATCHED_ONLY_SHARE = 0.03
#: Catalogue editors work office hours.
OFFICE_HOURS = (8.5 * 3600, 18 * 3600)

PROPAGATION_TARGET_S = 1.0
GROWTH_TARGET_MB = 50.0
POLL_S = 0.010
#: previews an arbiter makes before giving up on a ruling whose plan keeps moving
RULING_ATTEMPTS = 5
#: seconds a keep-alive connection may have been idle to be reused (uvicorn closes at 5)
IDLE_S = 4.0


@dataclass(frozen=True)
class DayCounts:
    """What a day holds (issue 12's city day by default)."""

    tickets: int = 60_000
    events: int = 150_000
    disputes: int = 1_000
    changes: int = 100
    rulings: int = 20

    def scaled(self, factor: float) -> DayCounts:
        return DayCounts(*(round(getattr(self, f) * factor) for f in
                           ("tickets", "events", "disputes", "changes", "rulings")))


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds after the day's midnight
    op: str


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """One ticket's life: its route request and its steps (``steps[0]`` is the route).
    ``others`` are the two candidates for the other unit B (the area's territorial unit and
    the district's department for the category): B is the first that is not the lead A."""

    ticket_id: str
    kind: str
    request: dict[str, Any]
    steps: tuple[Step, ...]
    district: int
    township: str
    others: tuple[str, str]


@dataclass(frozen=True, slots=True)
class ChangePlan:
    at: float
    rule_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class DayPlan:
    tickets: tuple[TicketPlan, ...]
    changes: tuple[ChangePlan, ...]

    def counts(self, start: float = 0.0, end: float = DAY) -> dict[str, int]:
        """What the day sends between ``start`` and ``end`` (seconds after midnight).

        ``disputes`` counts the steps that open one (the bounce's reassignment back to A, a
        dispute opened by hand)."""
        ops: Counter[str] = Counter()
        for ticket in self.tickets:
            ops.update(s.op for s in ticket.steps if start <= s.at < end)
        return {
            "tickets": ops["route"],
            "events": sum(n for op, n in ops.items() if op not in NOT_EVENTS),
            "disputes": ops["reassigned@a"] + ops["dispute"],
            "changes": sum(1 for c in self.changes if start <= c.at < end),
            "rulings": ops["ruling"],
            "statements": ops["statement@a"] + ops["statement@b"],
        }


def _lives(counts: DayCounts) -> dict[str, int]:
    """How many tickets live each life so that the events add up to ``counts.events``."""
    if counts.rulings > counts.disputes:
        raise ValueError(f"{counts.rulings} rulings need as many disputes, "
                         f"not {counts.disputes}")
    bounces = max(round(counts.disputes * BOUNCE_SHARE), counts.rulings)
    lives = {"ruled": counts.rulings, "bounce": bounces - counts.rulings,
             "manual": counts.disputes - bounces,
             "rejected": round(counts.tickets * REJECTED_SHARE),
             "returned": round(counts.tickets * RETURNED_SHARE)}
    rest = counts.tickets - sum(lives.values())
    events = counts.events - sum(n * _events_of(kind) for kind, n in lives.items())
    # The rest complete (3 events), are signed (2) or only dispatched (1):
    # c + s + d = rest and 3c + 2s + d = events, with d a small share.
    dispatched = round(rest * DISPATCHED_ONLY_SHARE)
    completed = events - 2 * rest + dispatched
    if rest < 0 or not 0 <= completed <= rest - dispatched:
        raise ValueError(f"{counts.events} events do not fit {counts.tickets} tickets with "
                         f"{counts.disputes} disputes (between about 2 and 3 per ticket)")
    lives.update(dispatched=dispatched, completed=completed,
                 signed=rest - dispatched - completed)
    return lives


def _events_of(kind: str) -> int:
    return sum(1 for op in LIVES[kind] if op not in NOT_EVENTS)


def _arrival(rng: random.Random, weights: Sequence[float]) -> float:
    hour = rng.choices(range(24), weights=weights)[0]
    return hour * 3600 + rng.random() * 3600


def _gap(rng: random.Random, op: str) -> float:
    low, high = GAPS[op.split("@")[0]]
    return rng.uniform(low, high)


def _steps(rng: random.Random, arrival: float, kind: str) -> tuple[Step, ...]:
    """The route at ``arrival`` and the life's steps after it, squeezed to end before
    midnight (a ticket arriving late lives faster)."""
    gaps = [_gap(rng, op) for op in LIVES[kind]]
    room = (DAY - arrival) * 0.98
    squeeze = min(1.0, room / sum(gaps)) if gaps else 1.0
    steps = [Step(arrival, "route")]
    at = arrival
    for op, gap in zip(LIVES[kind], gaps, strict=True):
        at += gap * squeeze
        steps.append(Step(at, op))
    return tuple(steps)


def _territorial(city: dict[str, Any]) -> dict[str, str]:
    """Area code → its territorial unit (its own unit, else its nearest ancestor's)."""
    areas = {a["code"]: a for a in city["areas"]}
    out: dict[str, str] = {}
    for code in areas:
        area: dict[str, Any] | None = areas[code]
        while area is not None and not area["unit"]:
            area = areas.get(area["parent"]) if area["parent"] else None
        if area is not None:
            out[code] = area["unit"]
    return out


def _change_body(rule: dict[str, Any], n: int) -> dict[str, Any]:
    """A catalogue edit of a district rule: its basis amended, or a co-handler added or
    dropped (the district's city-management or housing department)."""
    if n % 2 == 0:
        return {"basis": f"{rule['basis']}（{n // 2 + 1}号修订）"}
    district = int(rule["area"][4:6])
    extra = f"D{district:02d}-CG" if rule["lead"] != f"D{district:02d}-CG" else \
        f"D{district:02d}-ZJ"
    co = list(rule["co_handlers"])
    return {"co_handlers": [c for c in co if c != extra] if extra in co else [*co, extra]}


def plan_day(city: dict[str, Any], counts: DayCounts = DayCounts(), *, seed: int = 7,
             profile: str = "diurnal") -> DayPlan:
    """The day's tickets and changes, exactly ``counts`` of each, the same for the same seed.

        >>> from benchmarks.synthetic_city import make_city
        >>> plan = plan_day(make_city(districts=1), DayCounts(200, 500, 10, 3, 2))
        >>> plan.counts()
        {'tickets': 200, 'events': 500, 'disputes': 10, 'changes': 3, 'rulings': 2, \
'statements': 20}
    """
    if profile not in ("diurnal", "flat"):
        raise ValueError(f"unknown profile {profile!r}")
    rng = random.Random(seed)
    weights = DIURNAL if profile == "diurnal" else (1,) * 24
    lives = _lives(counts)
    kinds = [kind for kind, n in sorted(lives.items()) if kind != "ruled" for _ in range(n)]
    rng.shuffle(kinds)
    arrivals = sorted(_arrival(rng, weights) for _ in range(counts.tickets))
    # The ruled disputes come from tickets arriving early, so that their ruling falls in the
    # day's office hours (a ticket arriving later would be squeezed).
    morning = [i for i, t in enumerate(arrivals) if 6 * 3600 <= t < 10 * 3600]
    if len(morning) < lives["ruled"]:
        morning = list(range(counts.tickets))
    ruled = set(rng.sample(morning, lives["ruled"]))
    kinds_iter = iter(kinds)
    requests = make_tickets(city, counts.tickets, seed=seed + 1)
    territorial = _territorial(city)
    tickets = []
    for i, (arrival, request) in enumerate(zip(arrivals, requests, strict=True)):
        kind = "ruled" if i in ruled else next(kinds_iter)
        area = request["area"]
        district = int(area[4:6])
        primary = LEVEL1[int(request["category"][:2]) - 1][1]
        request = {k: v for k, v in request.items() if k != "as_of"}  # routed as of now
        tickets.append(TicketPlan(
            ticket_id=f"T{i + 1:06d}", kind=kind, request=request,
            steps=_steps(rng, arrival, kind), district=district, township=area[:9],
            others=(territorial[area], f"D{district:02d}-{primary}")))
    editable = [r for r in city["rules"] if r["area"] is not None and r["source"] == "catalog"]
    chosen = rng.sample(editable, counts.changes)
    times = sorted(rng.uniform(*OFFICE_HOURS) for _ in range(counts.changes))
    changes = tuple(ChangePlan(at, rule["id"], _change_body(rule, n))
                    for n, (at, rule) in enumerate(zip(times, chosen, strict=True)))
    return DayPlan(tuple(tickets), changes)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Sample:
    op: str
    scheduled: float
    sent: float
    done: float


@dataclass
class Keys:
    router: str
    editor: str
    arbiters: dict[int, str]
    units: dict[str, str]


@dataclass
class Ticket:
    """What a ticket's later steps need from its earlier answers."""

    a: str | None = None
    b: str | None = None
    dispute_id: str | None = None
    plan_digest: str | None = None
    preview_version: int | None = None  # the rule-set version the preview planned on
    stopped: str | None = None  # why its life ended early (an ambiguous routing, an error)


class FlowError(Exception):
    """An answer that does not fit the day's flow; ``kind`` groups it in the report."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind or message


class Connections:
    """Keep-alive HTTP/1.1 connections to one replica, at most ``size`` in use.

    The load generator shares the two cores with both replicas and PostgreSQL, so it must be
    cheap: httpx's AsyncClient took 3.8 ms of CPU a request (measured against a bare ASGI
    app, load average 5), and its pool rescans every queued request on each release, so a
    backlog made the client itself the bottleneck; this takes 0.2 ms. It speaks only what
    uvicorn answers (Content-Length or chunked bodies). uvicorn closes a connection idle for
    5 s (``timeout_keep_alive``), so one idle for :data:`IDLE_S` is not reused; a reused one
    that the server closed anyway before answering a byte is opened again once, and counted
    (``reconnects``): the server had read nothing of that request."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.reconnects = 0

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: Sequence[str] = (), *,
                      on_send: Callable[[], None] | None = None,
                      timeout: float = 120.0) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        async with self.slots:
            if on_send is not None:
                on_send()
            for attempt in (0, 1):
                reused = None
                while self.idle and reused is None:
                    reader, writer, since = self.idle.pop()
                    if loop.time() - since < IDLE_S and not reader.at_eof():
                        reused = reader, writer
                    else:
                        writer.close()
                conn = reused or await asyncio.open_connection(self.host, self.port)
                try:
                    status, data, close = await asyncio.wait_for(
                        self._exchange(conn, method, path, body, headers), timeout)
                except asyncio.IncompleteReadError as exc:
                    conn[1].close()
                    if reused is None or exc.partial or attempt:
                        raise
                    self.reconnects += 1
                    continue
                except BaseException:
                    conn[1].close()
                    raise
                if close:
                    conn[1].close()
                else:
                    self.idle.append((*conn, loop.time()))
                return status, data
        raise AssertionError("unreachable")

    async def _exchange(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        method: str, path: str, body: bytes,
                        headers: Sequence[str]) -> tuple[int, bytes, bool]:
        reader, writer = conn
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}", *headers, "", ""]
        writer.write("\r\n".join(head).encode() + body)
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
        if not chunked:
            return status, await reader.readexactly(length), close
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return status, b"".join(parts), close

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle = []


@dataclass
class Run:
    """The client side of the day: two replicas round-robin, samples, errors, propagation."""

    ports: list[int]
    keys: Keys
    connections: int = 256
    pids: list[int] = field(default_factory=list)
    #: (seconds into the timed part, RSS MiB of each replica), every 30 s and at both ends
    rss: list[tuple[float, list[float]]] = field(default_factory=list)
    #: CPU seconds of each replica and of this client when the timed part began
    cpu: list[float] = field(default_factory=list)
    replicas: list[Connections] = field(default_factory=list)
    probes: list[Connections] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    propagation: dict[str, list[tuple[float, ...]]] = field(
        default_factory=lambda: defaultdict(list))
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    #: seconds into the timed part when a signal stopped it (None: it ran to its end)
    interrupted: float | None = None
    recording: bool = True
    turn: int = 0

    def fail(self, message: str, kind: str) -> None:
        self.errors.append(message)
        self.error_kinds[kind] += 1

    def open(self) -> None:
        self.replicas = [Connections("127.0.0.1", port, self.connections)
                         for port in self.ports]
        # Connections of their own: a backlog of the day's requests must not delay a poll.
        self.probes = [Connections("127.0.0.1", port, 4) for port in self.ports]

    def close(self) -> None:
        for replica in [*self.replicas, *self.probes]:
            replica.close()

    async def call(self, op: str, scheduled: float, method: str, path: str, key: str,
                   body: dict[str, Any] | None = None,
                   expect: tuple[int, ...] = (200, 201)) -> tuple[int, dict[str, Any]]:
        """One request to the next replica in turn; ``sent`` is when it got a connection."""
        import orjson

        loop = asyncio.get_running_loop()
        self.turn += 1
        replica = self.replicas[self.turn % len(self.replicas)]
        sent = 0.0

        def on_send() -> None:
            nonlocal sent
            sent = loop.time()

        status, raw = await replica.request(
            method, path, b"" if body is None else orjson.dumps(body),
            (f"Authorization: Bearer {key}", "Content-Type: application/json"),
            on_send=on_send)
        done = loop.time()
        data = orjson.loads(raw) if raw else {}
        if status not in expect:
            raise FlowError(f"{op}: {status} {data.get('code', '')} "
                            f"{str(data.get('detail', data))[:200]}",
                            kind=f"{op}: {status} {data.get('code', '')}")
        if self.recording:
            self.samples.append(Sample(op, scheduled, sent, done))
        return status, data

    async def propagate(self, what: str, version: int, answered: float) -> None:
        """Until both replicas serve ``version``: the seconds from ``answered`` for each."""
        import orjson

        loop = asyncio.get_running_loop()
        seen: list[float | None] = [None] * len(self.probes)
        deadline = answered + 30
        while None in seen and loop.time() < deadline:
            for i, replica in enumerate(self.probes):
                if seen[i] is None:
                    _, raw = await replica.request("GET", "/v1/health")
                    if orjson.loads(raw)["serving_version"] >= version:
                        seen[i] = loop.time() - answered
            if None in seen:
                await asyncio.sleep(POLL_S)
        if None in seen:
            self.fail(f"{what}: version {version} not served by every replica in 30 s",
                      f"{what} not served by both replicas in 30 s")
            return
        self.propagation[what].append(tuple(s for s in seen if s is not None))

    def watch(self, what: str, version: int, answered: float) -> None:
        task = asyncio.create_task(self.propagate(what, version, answered))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)


def _other(plan: TicketPlan, a: str) -> str:
    return plan.others[0] if plan.others[0] != a else plan.others[1]


async def _step(run: Run, plan: TicketPlan, ticket: Ticket, step: Step,
                scheduled: float) -> None:
    """Send one step of a ticket's life."""
    keys, tid = run.keys, plan.ticket_id
    op = step.op
    if op == "route":
        _, decision = await run.call("route", scheduled, "POST", "/v1/route", keys.router,
                                     {**plan.request, "ticket_id": tid})
        if decision.get("dispute_id"):
            ticket.stopped = "ambiguous"  # the routing opened a dispute: a designation's work
            return
        lead = decision.get("lead") or {}
        ticket.a = lead.get("code") or plan.others[0]
        ticket.b = _other(plan, ticket.a)
        return
    a, b = ticket.a or "", ticket.b or ""
    event_path = f"/v1/tickets/{tid}/events"
    if op not in NOT_EVENTS:
        kind, _, who = op.partition("@")
        unit = b if who == "b" else a
        other = a if who == "b" else b
        body: dict[str, Any] = {"type": kind}
        key = keys.router
        if kind == "dispatched":
            body["unit"] = a
        elif kind == "reassigned":
            body["to_unit"] = a if who == "a" else b
        elif kind in ("signed", "completed"):
            body["unit"] = unit
            key = keys.units[unit]
        elif kind == "return_requested":
            body.update(unit=unit, reason_code="territory_mismatch",
                        basis="该事项不属于本单位职责，应由属地或主管部门办理",
                        proposed_unit=other)
            key = keys.units[unit]
        _, state = await run.call(f"event {kind}", scheduled, "POST", event_path, key, body)
        if op == "reassigned@a":
            if state.get("status") != "in_dispute" or not state.get("dispute_id"):
                raise FlowError(f"{tid}: the bounce back to {a} opened no dispute "
                                f"(status {state.get('status')})", kind="a bounce opened no "
                                "dispute")
            ticket.dispute_id = state["dispute_id"]
        return
    arbiter = keys.arbiters[plan.district]
    disputes = f"/v1/disputes/{ticket.dispute_id}"
    if op == "dispute":
        _, dispute = await run.call("dispute opened by hand", scheduled, "POST",
                                    "/v1/disputes", keys.router, {
                                        "parties": [a, b], "reason": "manual",
                                        "ticket_id": tid,
                                        "note": "两单位对主办单位有分歧，热线申请协调"})
        ticket.dispute_id = dispute["id"]
    elif op.startswith("statement@"):
        unit, other = (a, b) if op.endswith("a") else (b, a)
        await run.call("dispute statement", scheduled, "POST", f"{disputes}/statements",
                       keys.units[unit], {"unit": unit, "text": "本单位认为该事项应由对方主办",
                                          "basis": "三定方案及权责清单", "proposed_lead": other})
    elif op == "claim":
        await run.call("dispute claim", scheduled, "POST", f"{disputes}/claim", arbiter, {})
    elif op == "dispute_read":
        await run.call("dispute read", scheduled, "GET", disputes, arbiter)
    elif op == "preview":
        _, preview = await run.call("ruling preview", scheduled, "POST",
                                    f"{disputes}/ruling/preview", arbiter, _ruling(plan, b))
        ticket.plan_digest = preview["plan_digest"]
        ticket.preview_version = preview["ruleset_version"]
    elif op == "ruling":
        await _rule(run, plan, ticket, scheduled)


def _ruling(plan: TicketPlan, lead: str) -> dict[str, Any]:
    return {"lead": lead, "co_handlers": [], "reasoning": "经协调，由该单位主办",
            "basis": "区政府协调会议纪要", "document_no": f"区政办裁〔2026〕{plan.ticket_id}号",
            "generalize": {"category": plan.request["category"], "area": plan.township,
                           "when": {}, "text_any": []}, "retire_rules": []}


async def _rule(run: Run, plan: TicketPlan, ticket: Ticket, scheduled: float) -> None:
    """The ruling with its preview's digest; a plan that moved (409 ruling_plan_changed, the
    one refusal the flow expects) is previewed again and retried."""
    loop = asyncio.get_running_loop()
    arbiter = run.keys.arbiters[plan.district]
    disputes = f"/v1/disputes/{ticket.dispute_id}"
    body = _ruling(plan, ticket.b or "")
    for _ in range(RULING_ATTEMPTS):
        status, ruled = await run.call("ruling", scheduled, "POST", f"{disputes}/ruling",
                                       arbiter, {**body, "plan_digest": ticket.plan_digest},
                                       expect=(201, 409))
        if status == 201:
            run.watch("ruling", int(ruled["ruleset_version"]), loop.time())
            return
        if ruled.get("code") != "ruling_plan_changed":
            raise FlowError(f"ruling: 409 {ruled.get('code')}")
        _, preview = await run.call("ruling preview", loop.time(), "POST",
                                    f"{disputes}/ruling/preview", arbiter, body)
        moved = preview["ruleset_version"] != ticket.preview_version
        run.expected["409 ruling_plan_changed, previewed again: " + (
            "the rule-set version had moved" if moved else "on the same version")] += 1
        ticket.plan_digest = preview["plan_digest"]
        ticket.preview_version = preview["ruleset_version"]
    raise FlowError(f"ruling: the plan kept moving ({RULING_ATTEMPTS} previews)")


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _live(run: Run, plan: TicketPlan, ticket: Ticket, steps: Sequence[Step],
                wall: Callable[[float], float]) -> None:
    for step in steps:
        if ticket.stopped:
            return
        scheduled = wall(step.at)
        await _sleep_until(scheduled)
        try:
            await _step(run, plan, ticket, step, scheduled)
        except Exception as exc:  # every failure is counted, and the ticket's life ends
            run.fail(f"{plan.ticket_id} {step.op}: {type(exc).__name__}: {exc}",
                     exc.kind if isinstance(exc, FlowError) else
                     f"{step.op}: {type(exc).__name__}")
            ticket.stopped = "error"


async def _change(run: Run, change: ChangePlan, scheduled: float) -> None:
    await _sleep_until(scheduled)
    try:
        _, report = await run.call("rule change (PATCH)", scheduled, "PATCH",
                                   f"/v1/rules/{change.rule_id}", run.keys.editor, change.body)
    except Exception as exc:
        run.fail(f"change {change.rule_id}: {type(exc).__name__}: {exc}",
                 exc.kind if isinstance(exc, FlowError) else
                 f"rule change: {type(exc).__name__}")
        return
    run.watch("rule change", int(report["ruleset_version"]),
              asyncio.get_running_loop().time())


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[None]) -> None:
    async with limit:
        await work


async def replay(run: Run, plan: DayPlan, *, start: float, end: float, speed: float,
                 progress: Callable[[str], None]) -> float:
    """Send the slice [start, end) of the day; returns its wall duration."""
    run.open()
    loop = asyncio.get_running_loop()
    tickets = {t.ticket_id: Ticket() for t in plan.tickets}
    try:
        # The slice's tickets that began before it: their earlier steps, untimed.
        run.recording = False
        before = [(t, [s for s in t.steps if s.at < start]) for t in plan.tickets
                  if t.steps[0].at < start and any(start <= s.at < end for s in t.steps)]
        if before:
            progress(f"sending the earlier steps of {len(before):,} tickets the slice "
                     f"continues ({sum(len(s) for _, s in before):,} requests, untimed)")
            limit = asyncio.Semaphore(run.connections)
            await asyncio.gather(*(_bounded(limit, _live(run, t, tickets[t.ticket_id], s,
                                                         lambda _: 0.0)) for t, s in before))
        run.recording = True
        usage = [_usage(pid) for pid in run.pids]
        run.rss.append((0.0, [u[0] for u in usage]))
        run.cpu = [u[1] for u in usage] + [time.process_time()]
        progress(f"timed part begins; RSS {', '.join(f'{u[0]:,.0f}' for u in usage)} MB")
        origin = loop.time() + 1.0

        def wall(at: float) -> float:
            return origin + (at - start) / speed

        starts = sorted((min(s.at for s in steps), t.ticket_id, t, steps) for t, steps in (
            (t, [s for s in t.steps if start <= s.at < end]) for t in plan.tickets) if steps)
        changes = [c for c in plan.changes if start <= c.at < end]

        async def send() -> None:
            tasks: list[asyncio.Task[None]] = [
                asyncio.create_task(_change(run, c, wall(c.at))) for c in changes]
            for first, tid, t, steps in starts:
                await _sleep_until(wall(first) - 0.05)
                tasks.append(asyncio.create_task(_live(run, t, tickets[tid], steps, wall)))
            try:
                await asyncio.gather(*tasks)
                while run.pending:
                    await asyncio.gather(*list(run.pending))
            finally:  # stopped: what is still waiting is dropped
                for task in [*tasks, *run.pending]:
                    task.cancel()

        reporter = asyncio.create_task(_report_progress(run, origin, (end - start) / speed,
                                                        progress))
        # SIGTERM or SIGINT ends the day early: what was answered is still reported.
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        sending, stopping = asyncio.create_task(send()), asyncio.create_task(stop.wait())
        await asyncio.wait({sending, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            run.interrupted = loop.time() - origin
            progress(f"stopped by a signal after {run.interrupted:,.0f} s")
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        stopping.cancel()
        reporter.cancel()
        run.rss.append((loop.time() - origin, [_usage(pid)[0] for pid in run.pids]))
        stopped = Counter(t.stopped for t in tickets.values() if t.stopped)
        if stopped["ambiguous"]:
            run.expected["routings that opened a dispute (ambiguous)"] += stopped["ambiguous"]
        return loop.time() - origin
    finally:
        run.close()


async def _report_progress(run: Run, origin: float, length: float,
                           progress: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(30)
        rss = [_usage(pid)[0] for pid in run.pids]
        run.rss.append((loop.time() - origin, rss))
        recent = [s.sent - s.scheduled for s in run.samples[-500:]]
        progress(f"{loop.time() - origin:6.0f} / {length:.0f} s: {len(run.samples):,} answers, "
                 f"lag now {max(recent, default=0) * 1e3:,.0f} ms, {len(run.errors)} errors, "
                 f"RSS {', '.join(f'{r:,.0f}' for r in rss)} MB, "
                 f"load {os.getloadavg()[0]:.1f}")


# -- servers and report ------------------------------------------------------------------------


def _usage(pid: int) -> tuple[float, float]:
    """RSS (MiB) and CPU seconds so far (user and system) of a process and its children."""
    import psutil

    rss, cpu = 0.0, 0.0
    process = psutil.Process(pid)
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess), member.oneshot():
            rss += member.memory_info().rss / 2**20
            times = member.cpu_times()
            cpu += times.user + times.system
    return rss, cpu


def _make_keys(url: str, city: dict[str, Any], districts: int) -> Keys:
    from api.auth import create_key
    from api.db import make_engine
    from benchmarks._common import utc_now

    db = make_engine(url)
    now = utc_now()
    try:
        with db.begin() as conn:
            def key(role: str, name: str, unit: str | None = None) -> str:
                return create_key(conn, role=role, name=name, unit=unit, now=now)

            return Keys(
                router=key("router", "12345热线派单系统"),
                editor=key("editor", "目录管理员"),
                arbiters={d: key("arbiter", f"区政府办协调员{d:02d}", f"O-D{d:02d}")
                          for d in range(1, districts + 1)},
                units={u["code"]: key("unit", u["name"], u["code"]) for u in city["units"]})
    finally:
        db.dispose()


def _build(url: str, districts: int, seed: int) -> float:
    """Runs in a child process: generate the city and import it (seconds)."""
    from benchmarks._common import load_bundle
    from benchmarks.synthetic_city import make_city

    started = time.perf_counter()
    load_bundle(url, make_city(districts=districts, seed=seed))
    return time.perf_counter() - started


def _latency_rows(samples: list[Sample]) -> list[list[str]]:
    from benchmarks._common import percentile

    by_op: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_op[s.op].append(s)
    rows = []

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1e3:,.1f}"

    for op in sorted(by_op, key=lambda o: -len(by_op[o])):
        group = by_op[op]
        total = sorted(s.done - s.scheduled for s in group)
        service = sorted(s.done - s.sent for s in group)
        rows.append([op, f"{len(group):,}", ms(total, 50), ms(total, 99),
                     f"{total[-1] * 1e3:,.1f}", ms(service, 50), ms(service, 99)])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL; a new schema is "
                        "made for the run and dropped afterwards")
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=10.0,
                        help="day-seconds per second (10: the day in 2.4 hours)")
    parser.add_argument("--start-hour", type=float, default=0.0)
    parser.add_argument("--hours", type=float, default=24.0, help="the slice of the day")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    for name, default in vars(DayCounts()).items():
        parser.add_argument(f"--{name}", type=int, help=f"default {default:,} × scale")
    parser.add_argument("--profile", choices=("diurnal", "flat"), default="diurnal")
    parser.add_argument("--workers", type=int, default=1, help="workers per replica")
    parser.add_argument("--connections", type=int, default=256,
                        help="the client's connections per replica (open-loop: enough that "
                        "the answers, not the connections, set the pace)")
    parser.add_argument("--extras", help="a directory added to the servers' PYTHONPATH")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the day runs on PostgreSQL (replicas on one database)")
    start, end = args.start_hour * 3600, (args.start_hour + args.hours) * 3600
    if not (0 <= start < end <= DAY and args.speed > 0):
        parser.error("the slice must lie within the day, and the speed be positive")

    import multiprocessing

    from benchmarks._common import fresh_database, machine, percentile, table, verdict
    from benchmarks.bench_http import free_port
    from benchmarks.bench_workers import start as start_server
    from benchmarks.bench_workers import stop, wait_workers
    from benchmarks.synthetic_city import make_city

    counts = DayCounts().scaled(args.scale)
    counts = DayCounts(*(getattr(args, f) if getattr(args, f) is not None else getattr(counts, f)
                         for f in vars(counts)))
    city = make_city(districts=args.districts, seed=args.seed)
    plan = plan_day(city, counts, seed=args.seed, profile=args.profile)
    planned = plan.counts(start, end)
    load = [os.getloadavg()]
    print(f"machine: {machine()}; load average {load[0][0]:.1f} / {load[0][1]:.1f} / "
          f"{load[0][2]:.1f}", flush=True)
    print(f"day: {counts}; profile {args.profile}; slice {args.start_hour:g} h + "
          f"{args.hours:g} h at {args.speed:g}× → {(end - start) / args.speed:,.0f} s; "
          f"in the slice: {planned}", flush=True)

    def progress(message: str) -> None:
        print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)

    # A SIGTERM (a timeout, a kill) stops the replicas and drops the schema on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    servers: list[Any] = []
    with fresh_database(args.database_url) as url:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            import_s = pool.apply(_build, (url, args.districts, args.seed))
        progress(f"city imported in {import_s:.1f} s")
        keys = _make_keys(url, city, args.districts)
        del city
        gc.collect()
        ports = [free_port(), free_port()]
        try:
            started = time.perf_counter()
            for port in ports:
                servers.append(start_server("quanze", args.workers, url, port, args.extras))
            for port, server in zip(ports, servers, strict=True):
                wait_workers(f"http://127.0.0.1:{port}", server, args.workers, timeout=600)
            progress(f"both replicas answer after {time.perf_counter() - started:.1f} s")
            asyncio.run(_warm_up(Run(ports, keys), plan))
            gc.collect()
            gc.freeze()
            run = Run(ports, keys, args.connections, pids=[s.pid for s in servers])
            duration = asyncio.run(replay(run, plan, start=start, end=end, speed=args.speed,
                                          progress=progress))
            cpu_end = [_usage(s.pid)[1] for s in servers] + [time.process_time()]
            cpu = [b - a for a, b in zip(run.cpu, cpu_end, strict=True)]
            load.append(os.getloadavg())
        finally:
            for server in servers:
                stop(server)

    print()
    print(f"sent over {duration:,.1f} s (scheduled {(end - start) / args.speed:,.1f} s); load "
          f"average at the end {load[1][0]:.1f} / {load[1][1]:.1f} / {load[1][2]:.1f}")
    if run.interrupted is not None:
        print(f"STOPPED by a signal {run.interrupted:,.0f} s into the timed part: the figures "
              "are those of the part sent")
    print(table(_latency_rows(run.samples), ["operation", "count", "p50 ms", "p99 ms",
                                             "max ms", "service p50", "service p99"]))
    print("(latency from the scheduled send time; service: from the actual send)")
    lags = sorted(s.sent - s.scheduled for s in run.samples)
    print()
    rows: list[list[str]] = [[
        "sending lag (actual − scheduled): p50 / p99 / max",
        f"{percentile(lags, 50) * 1e3:,.1f} / {percentile(lags, 99) * 1e3:,.1f} / "
        f"{(lags[-1] if lags else 0) * 1e3:,.1f} ms", "reported"]]
    ok = {"errors": not run.errors}
    rows.append(["errors", str(len(run.errors)), f"0: {verdict(ok['errors'])}"])
    for what, n in sorted(run.expected.items()):
        rows.append([f"expected: {what}", str(n), ""])
    for what in ("rule change", "ruling"):
        seen = run.propagation.get(what, [])
        both = sorted(max(s) for s in seen)
        if not both:
            continue
        good = both[-1] <= PROPAGATION_TARGET_S
        ok[what] = good
        rows.append([f"{what} → served by both replicas ({len(both)}): p50 / max",
                     f"{percentile(both, 50) * 1e3:,.0f} / {both[-1] * 1e3:,.0f} ms",
                     f"≤ {PROPAGATION_TARGET_S:g} s: {verdict(good)}"])
    half = min(run.rss, key=lambda point: abs(point[0] - duration / 2))
    for i, (before, middle, after) in enumerate(zip(run.rss[0][1], half[1], run.rss[-1][1],
                                                    strict=True)):
        growth = after - before
        ok[f"rss{i}"] = growth <= GROWTH_TARGET_MB
        rows.append([f"replica {i + 1} RSS (processes of `quanze serve --workers "
                     f"{args.workers}`): start → at {half[0]:.0f} s → end",
                     f"{before:,.0f} → {middle:,.0f} → {after:,.0f} MB ({growth:+.1f})",
                     f"≤ +{GROWTH_TARGET_MB:g} MB: {verdict(ok[f'rss{i}'])}"])
    rows.append(["connections the server closed before a request, opened again",
                 str(sum(r.reconnects for r in run.replicas)), ""])
    rows.append(["CPU seconds over the day: replica 1 / replica 2 / this client",
                 " / ".join(f"{c:,.0f}" for c in cpu), f"of {2 * duration:,.0f} (2 cores)"])
    print(table(rows, ["figure", "value", "target"]))
    for kind, n in run.error_kinds.most_common():
        print(f"errors: {n:,} × {kind}")
    for error in run.errors[:10]:
        print(f"error: {error}")
    print(json.dumps({"planned": planned, "sent": len(run.samples),
                      "duration_s": round(duration, 1)}))
    return 0 if all(ok.values()) and run.interrupted is None else 1


async def _warm_up(run: Run, plan: DayPlan) -> None:
    """Each replica routes a few hundred tickets (no ticket id: nothing of the day is
    touched), so the measured day starts on warm servers."""
    run.open()
    run.recording = False
    try:
        for ticket in plan.tickets[:400]:
            await run.call("warm-up", 0.0, "POST", "/v1/route", run.keys.router,
                           ticket.request)
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
