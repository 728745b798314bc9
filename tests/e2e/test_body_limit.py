"""The body limit counts the bytes actually received, not only the declared length."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from api.app import RequestLimits, create_app
from api.auth import create_key
from api.settings import AppSettings

PROBLEM = "application/problem+json"
CHUNK = b"x" * 1024


async def _reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _run(limit: int, chunks: int, headers: list[tuple[bytes, bytes]] | None = None
         ) -> tuple[list[Message], int]:
    """Send ``chunks`` chunks of 1 KiB through RequestLimits; the messages sent back and how many
    chunks the app pulled."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": CHUNK, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/",
                             "headers": headers or []}
    asyncio.run(RequestLimits(_reading_app, limit=limit)(scope, receive, send))
    return sent, pulled


def test_a_chunked_body_over_the_limit_is_cut_off_at_the_limit_not_read_whole() -> None:
    sent, pulled = _run(limit=10 * 1024, chunks=200_000)
    assert sent[0]["status"] == 413
    assert pulled == 11  # the chunk that crossed the limit is the last one read
    body = json.loads(sent[1]["body"])
    assert body["code"] == "body_too_large"
    assert (b"content-type", PROBLEM.encode()) in sent[0]["headers"]


def test_a_chunked_body_within_the_limit_reaches_the_app_whole() -> None:
    sent, pulled = _run(limit=10 * 1024, chunks=10)
    assert pulled == 10
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == str(10 * 1024).encode()


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    sent, pulled = _run(limit=1024, chunks=5, headers=[(b"content-length", b"5120")])
    assert sent[0]["status"] == 413
    assert pulled == 0


def test_a_chunked_bundle_over_the_limit_gets_413_problem_over_http(database_url: str) -> None:
    app = create_app(AppSettings(database_url=database_url, max_body_bytes=64 * 1024))

    def chunks() -> Iterator[bytes]:
        yield b'{"units": ['
        for _ in range(10_000):
            yield b'{"code": "X", "name": "x", "kind": "street"},'
        yield b"]}"

    with TestClient(app) as client:
        with app.state.services.db.begin() as conn:
            key = create_key(conn, role="admin", name="tests", unit=None,
                             now=datetime.now(UTC))
        # A generator body is sent chunked, without Content-Length.
        response = client.put("/v1/bundle", content=chunks(),
                              headers={"content-type": "application/json",
                                       "authorization": f"Bearer {key}"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "body_too_large"
