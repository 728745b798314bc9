"""A key check is a quick read of the key table; it must not wait behind the writes that
queue on the app's write lock. Found by benchmarks/bench_city_day.py: with every worker
thread of a replica holding a ticket event that waited for the write lock, the first request
of a unit's key (or the one that fell due to read the key epoch) waited for a thread past the
write timeout and was refused with 503 ``database_unavailable`` — while the database
answered in milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import anyio.to_thread
import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_key
from api.settings import AppSettings
from tests.conftest import contract_bundle

THREADS = 3


def test_a_new_key_is_checked_while_every_worker_thread_waits_for_the_write_lock(
        database_url: str) -> None:
    app = create_app(AppSettings(database_url=database_url, write_timeout=0.5))
    with TestClient(app) as client:
        services = app.state.services
        with services.db.begin() as conn:
            admin = create_key(conn, role="admin", name="t", unit=None, now=datetime.now(UTC))
            fresh = create_key(conn, role="router", name="new", unit=None,
                               now=datetime.now(UTC))
        client.headers["Authorization"] = f"Bearer {admin}"
        assert client.put("/v1/bundle", json=contract_bundle()).status_code == 200

        async def scenario() -> tuple[httpx.Response, list[httpx.Response]]:
            # Few worker threads, so that a few waiting writes hold them all.
            anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                # The admin's key is checked now, before the threads are taken.
                assert (await c.get("/v1/ruleset", headers=client.headers)).status_code == 200
                services.write_lock.acquire()
                try:
                    waiting = [asyncio.ensure_future(c.post(
                        f"/v1/tickets/T{n}/events", headers=client.headers,
                        json={"type": "dispatched", "unit": "JD-HP", "category": "030101",
                              "area": "110199001"})) for n in range(THREADS)]
                    await asyncio.sleep(0.3)  # each holds a worker thread, waiting
                    assert not any(w.done() for w in waiting)
                    routed = await c.post("/v1/route", json={"category": "030102"},
                                          headers={"Authorization": f"Bearer {fresh}"})
                finally:
                    services.write_lock.release()
                return routed, await asyncio.gather(*waiting)

        routed, events = asyncio.run(scenario())
    assert routed.status_code == 200, routed.text
    assert [e.status_code for e in events] == [200] * THREADS
