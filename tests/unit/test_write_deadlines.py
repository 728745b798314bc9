"""A routed ticket waits for its decision's commit at most the write timeout: one timer for
all waiting requests (``api.routes.routing.Deadlines``)."""

from __future__ import annotations

import asyncio

import pytest

from api.routes.routing import Deadlines
from tests.conftest import run_on_a_fresh_loop


def test_a_write_not_committed_in_time_fails_with_a_timeout_and_one_committed_does_not(
        ) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop, 0.05)
        late, prompt = loop.create_future(), loop.create_future()
        deadlines.add(late)
        deadlines.add(prompt)
        prompt.set_result(None)
        await asyncio.sleep(0.1)
        return late.done() and isinstance(late.exception(), TimeoutError), \
            prompt.exception() is None, deadlines._timer is None
    timed_out, kept, idle = run_on_a_fresh_loop(scenario())
    assert timed_out and kept
    assert idle  # nothing left to watch: no timer stays armed


def test_each_write_has_its_full_timeout_from_when_it_was_submitted() -> None:
    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop, 0.2)
        first = loop.create_future()
        deadlines.add(first)
        await asyncio.sleep(0.15)
        second = loop.create_future()
        deadlines.add(second)
        await asyncio.sleep(0.1)  # the first's deadline has passed, not the second's
        seen = [first.done(), second.done()]
        await asyncio.sleep(0.15)
        return [*seen, second.done()]
    assert run_on_a_fresh_loop(scenario()) == [True, False, True]


@pytest.mark.parametrize("timeout", [0.05, 0.3])
def test_a_write_committed_in_time_is_never_failed_later(timeout: float) -> None:
    async def scenario() -> BaseException | None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop, timeout)
        stored = loop.create_future()
        deadlines.add(stored)
        loop.call_later(timeout / 5, stored.set_result, None)
        await asyncio.sleep(timeout * 2)
        return stored.exception()
    assert run_on_a_fresh_loop(scenario()) is None
