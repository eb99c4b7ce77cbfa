"""Bounded retries for Kubernetes API calls, on the injected clock (through tenacity).

- 409 Conflict: the operation re-reads and retries at once the first time (someone wrote
  in between; a fresh read is all it needs), then backs off like the others.
- 429 Too Many Requests: wait ``Retry-After`` (capped), else back off.
- 5xx, timeouts, dropped connections: exponential backoff.
- anything else (400, 403, 404, 422): not retried.
After ``attempts`` tries, ``ActuatorError`` with the kind of the last failure; the next
tick tries again. No path loops without sleeping more than once, so a server answering
errors in bursts never sees a tight retry loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from tenacity import RetryCallState, RetryError, retry_if_exception_type, stop_after_attempt

from forescale.controller.errors import ActuatorError
from forescale.core.clock import Clock
from forescale.retrying import failure, on_clock

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 0.5
    max_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * 2**attempt)


def retry_after(exc: ApiException) -> float | None:
    headers: Any = exc.headers or {}
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare from the apiserver; fall back to backoff
        return None


RETRYABLE = (TimeoutError, ApiException, aiohttp.ClientError)  # ApiException: 409, 429, 5xx only


def _kind(exc: BaseException | None) -> str:
    if isinstance(exc, ApiException):
        return f"kube-{exc.status}"
    return "kube-connection"


def _wait(exc: BaseException | None, policy: RetryPolicy, attempt: int, conflicts: int) -> float:
    """Seconds to wait after the failed ``attempt`` (0-based) before the next one."""
    if isinstance(exc, ApiException) and exc.status == 409 and conflicts == 1:
        return 0.0
    if isinstance(exc, ApiException) and exc.status == 429:
        after = retry_after(exc)
        if after is not None:
            return min(policy.max_s, after)
    return policy.backoff(attempt)


async def with_retry(what: str, op: Callable[[], Awaitable[T]], clock: Clock, policy: RetryPolicy) -> T:
    """Run ``op`` (which must re-read what it writes) until it succeeds or attempts run out.

    tenacity runs the attempts; every wait is ``clock.sleep`` (the controller's injected
    clock, so tests step through backoffs without sleeping) and none follows the last try."""
    conflicts = 0

    async def attempt() -> T:
        nonlocal conflicts
        try:
            return await op()
        except ApiException as exc:
            conflicts += exc.status == 409
            if exc.status in (409, 429) or (exc.status or 0) >= 500:
                raise
            raise ActuatorError(_kind(exc), str(exc.reason)) from exc  # 400, 403, 404, 422: final

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return _wait(exc, policy, state.attempt_number - 1, conflicts)

    def before_sleep(state: RetryCallState) -> None:
        exc, pause = failure(state)
        log.info("%s: %s, retry %d in %.1fs", what, _kind(exc), state.attempt_number, pause)

    retrying = on_clock(
        clock,
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(RETRYABLE),
        before_sleep=before_sleep,
    )
    try:
        return await retrying(attempt)
    except RetryError as err:
        kind = _kind(err.last_attempt.exception())
        raise ActuatorError(kind, f"{what}: gave up after {policy.attempts} attempts") from None
