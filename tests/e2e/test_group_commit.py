"""Concurrent routing calls share commits, and every decision is stored before it is answered."""

from __future__ import annotations

import asyncio

import httpx
from fastapi.testclient import TestClient

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
