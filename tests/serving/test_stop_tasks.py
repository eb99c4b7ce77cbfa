"""Shutdown never waits on a loop that missed its cancel (queue.client.stop_tasks)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from forescale.queue.client import stop_tasks


async def test_a_loop_that_swallows_its_cancel_is_left_behind_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:  # what a retrying loop does when a cancel looks like a timeout
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    async def polite() -> None:
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(stubborn()), asyncio.create_task(polite())]
    await asyncio.sleep(0.02)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(stop_tasks(tasks, 0.2, "test shutdown"), 5)
    assert tasks[1].cancelled() and not tasks[0].done()
    assert "test shutdown: 1 background task(s) still running" in caplog.text
    release.set()
    await tasks[0]


async def test_loops_that_honour_the_cancel_end_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(3)]
    with caplog.at_level(logging.WARNING):
        await stop_tasks(tasks, 5.0, "test shutdown")
    assert all(t.cancelled() for t in tasks) and caplog.text == ""
