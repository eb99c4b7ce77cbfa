"""Retries on the injected clock, through tenacity.

Loops take a ``Clock`` (STYLE.md #3) so that tests step through backoffs without sleeping.
tenacity sleeps with ``asyncio.sleep`` and measures ``stop_after_delay`` with
``time.monotonic`` unless told otherwise: ``on_clock`` gives it the clock's ``sleep``, and
``stop_after_clock`` measures the time spent on that same clock. Build one ``AsyncRetrying``
per retried call (the stop remembers when the call began).

Not every loop that tries again is a retry: a listener that reads until cancelled (the
router's reply listener, the worker's upkeep) keeps its own loop, where a cancel seen as a
socket timeout must end it (``queue.client.raise_if_cancelling``).
"""

from __future__ import annotations

from typing import Any

from tenacity import AsyncRetrying, RetryCallState
from tenacity.stop import stop_base

from forescale.core.clock import Clock


class stop_after_clock(stop_base):  # lower case, like tenacity's own stop conditions
    """Stop once a failure comes more than ``seconds`` after the first try, on ``clock``."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.began = clock.now()

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.now() - self.began > self.seconds


def on_clock(clock: Clock, **kwargs: Any) -> AsyncRetrying:
    """An ``AsyncRetrying`` whose waits are ``clock.sleep`` (the other arguments: tenacity's)."""
    return AsyncRetrying(sleep=clock.sleep, **kwargs)


def failure(state: RetryCallState) -> tuple[BaseException | None, float]:
    """(the failed attempt's exception, the wait before the next) for a ``before_sleep`` log."""
    exc = state.outcome.exception() if state.outcome else None
    return exc, state.next_action.sleep if state.next_action else 0.0
