"""What checking keys costs a request, and how soon another server refuses a revoked key.

    python -m benchmarks.bench_keys [--database-url URL] [--calls N] [--trials N]

1. Cost: ``api.deps.get_caller`` for one cached key, called ``--calls`` times in a loop on
   the event loop with the real clocks, so the epoch read every 0.5 s (in the threadpool)
   and the last-use write once a minute are included; reported as µs per call.
2. Revocation: two servers' services on one fresh database (SQLite file or a PostgreSQL
   schema). Server B has the key cached and keeps calling; server A revokes it (in a
   thread, as ``POST /v1/keys/{id}/revoke`` does); the time from A's commit until B
   refuses the key, over ``--trials`` keys.

Target (issue 9 §3): a revoked key is refused within 1 s on every server. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from types import SimpleNamespace
from typing import Any

from api.auth import create_key, revoke_key
from api.db import make_engine
from api.deps import Services, get_caller, utc_now
from api.settings import AppSettings
from benchmarks._common import fresh_database, machine, percentile, table, verdict
from jurisdiction.errors import Unauthorized
from rules.service import Router

TARGET_SECONDS = 1.0


def services_for(url: str) -> Services:
    db = make_engine(url)
    return Services(db=db, router=Router(db, refresh_interval=0.0),
                    settings=AppSettings(database_url=url))


def request_for(services: Services, key: str) -> Any:
    headers = [(b"content-type", b"application/json"),
               (b"authorization", f"Bearer {key}".encode())]
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(services=services)),
                           scope={"headers": headers})


async def cost(services: Services, key: str, calls: int) -> float:
    request = request_for(services, key)
    await get_caller(request)
    start = time.perf_counter()
    for _ in range(calls):
        await get_caller(request)
    return (time.perf_counter() - start) / calls * 1e6


async def revocation_delay(a: Services, b: Services) -> float:
    with a.db.begin() as conn:
        key = create_key(conn, role="router", name="bench", unit=None, now=utc_now())
    request = request_for(b, key)
    caller = await get_caller(request)
    loop = asyncio.get_running_loop()

    def revoke() -> float:
        with a.db.begin() as conn:
            revoke_key(conn, caller.key_id, actor="bench", now=utc_now())
        return time.perf_counter()

    revoked = loop.run_in_executor(None, revoke)
    committed: float | None = None
    while True:
        try:
            await get_caller(request)
        except Unauthorized:
            refused = time.perf_counter()
            break
        if revoked.done() and committed is None:
            committed = revoked.result()
        await asyncio.sleep(0.001)  # a request every millisecond or so
    committed = committed if committed is not None else await revoked
    return refused - committed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--database-url")
    p.add_argument("--calls", type=int, default=200_000)
    p.add_argument("--trials", type=int, default=10)
    args = p.parse_args(argv)
    with fresh_database(args.database_url) as url:
        a, b = services_for(url), services_for(url)
        try:
            with a.db.begin() as conn:
                key = create_key(conn, role="router", name="bench", unit=None, now=utc_now())
            micros = asyncio.run(cost(b, key, args.calls))
            delays = sorted(asyncio.run(revocation_delay(a, b)) for _ in range(args.trials))
        finally:
            for s in (a, b):
                s.router.close()
                s.db.dispose()
    print(f"machine: {machine()}; database: {url.split(':')[0]}")
    worst = delays[-1]
    print(table([
        ["get_caller, cached key (incl. epoch reads)", f"{micros:.2f} µs per call", ""],
        ["revoked on A → refused by B, median", f"{percentile(delays, 50) * 1000:.0f} ms", ""],
        ["revoked on A → refused by B, worst", f"{worst * 1000:.0f} ms",
         verdict(worst <= TARGET_SECONDS)],
    ], ["figure", "value", f"target (≤ {TARGET_SECONDS:.0f} s)"]))
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
