"""Concurrent routing calls share commits, every decision is stored before it is answered,
and the heap the app keeps stays out of the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.app import settle_heap
from tests.e2e.test_api_routing import load


def test_concurrent_routing_calls_are_all_stored_before_they_are_answered(
        app_client: TestClient) -> None:
    load(app_client)
    app = app_client.app
    headers = dict(app_client.headers)

    async def burst() -> list[str]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as client:
            async def one(i: int) -> str:
                r = await client.post("/v1/route", json={
                    "ticket_id": f"T-{i}", "category": "030102", "area": "110199002"})
                assert r.status_code == 200, r.text
                stored = await client.get(f"/v1/decisions/{r.json()['decision_id']}")
                assert stored.status_code == 200
                assert stored.json()["ticket_id"] == f"T-{i}"
                return str(r.json()["decision_id"])

            return list(await asyncio.gather(*(one(i) for i in range(40))))

    ids = asyncio.run(burst())
    assert len(set(ids)) == 40


def test_settling_the_heap_frees_cycles_that_an_earlier_freeze_kept() -> None:
    class Node:
        other: Any = None

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector can free it
    gone = weakref.ref(a)
    gc.freeze()  # as after an earlier matrix was installed
    del a, b
    settle_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # what is still alive stays out of the collector's way
