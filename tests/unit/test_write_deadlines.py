"""A routed ticket waits for its decision's commit at most the write timeout: one timer for
all waiting requests (``rules.service.WriteDeadlines``)."""

from __future__ import annotations

import asyncio

import pytest

from rules.service import WriteDeadlines
from tests.conftest import run_on_a_fresh_loop


def test_a_write_not_committed_in_time_fails_with_a_timeout_and_one_committed_does_not(
        ) -> None:
    async def scenario() -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        deadlines = WriteDeadlines(0.05)
        late, prompt = loop.create_future(), loop.create_future()
        waits = [asyncio.ensure_future(deadlines.wait(f)) for f in (late, prompt)]
        prompt.set_result(None)
        return await asyncio.gather(*waits, return_exceptions=True)
    timed_out, kept = run_on_a_fresh_loop(scenario())
    assert isinstance(timed_out, TimeoutError)
    assert kept is None


def test_no_timer_stays_armed_once_no_caller_waits() -> None:
    async def scenario() -> bool:
        deadlines = WriteDeadlines(0.05)
        stored = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(deadlines.wait(stored))
        await asyncio.sleep(0)
        stored.set_result(None)
        await waiting
        await asyncio.sleep(0.1)  # the timer fires once, finds nothing pending
        return deadlines._timer is None
    assert run_on_a_fresh_loop(scenario())


def test_each_write_has_its_full_timeout_from_when_it_was_submitted() -> None:
    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        deadlines = WriteDeadlines(0.2)
        first, second = loop.create_future(), loop.create_future()
        waits = [asyncio.ensure_future(deadlines.wait(first))]
        await asyncio.sleep(0.15)
        waits.append(asyncio.ensure_future(deadlines.wait(second)))
        await asyncio.sleep(0.1)  # the first's deadline has passed, not the second's
        seen = [first.done(), second.done()]
        await asyncio.gather(*waits, return_exceptions=True)
        return [*seen, second.done()]
    assert run_on_a_fresh_loop(scenario()) == [True, False, True]


@pytest.mark.parametrize("timeout", [0.05, 0.3])
def test_a_write_committed_in_time_is_never_failed_later(timeout: float) -> None:
    async def scenario() -> BaseException | None:
        loop = asyncio.get_running_loop()
        deadlines = WriteDeadlines(timeout)
        stored = loop.create_future()
        loop.call_later(timeout / 5, stored.set_result, None)
        await deadlines.wait(stored)
        await asyncio.sleep(timeout * 2)
        return stored.exception()
    assert run_on_a_fresh_loop(scenario()) is None


def test_an_app_started_again_on_another_loop_is_watched_on_that_loop() -> None:
    deadlines = WriteDeadlines(0.05)

    async def scenario() -> bool:
        stored = asyncio.get_running_loop().create_future()
        try:
            await deadlines.wait(stored)
        except TimeoutError:
            return True
        return False
    assert run_on_a_fresh_loop(scenario())
    assert run_on_a_fresh_loop(scenario())
