"""Bounded retries for Kubernetes API calls, on the injected clock.

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

from forescale.controller.errors import ActuatorError
from forescale.core.clock import Clock

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


def _classify(exc: Exception, policy: RetryPolicy, attempt: int, conflicts: int) -> tuple[str, float]:
    """(error kind, seconds to wait) for a retryable error; raises for the others."""
    if isinstance(exc, ApiException):
        if exc.status == 409:
            return "kube-409", 0.0 if conflicts == 1 else policy.backoff(attempt)
        if exc.status == 429:
            after = retry_after(exc)
            return "kube-429", min(policy.max_s, after) if after is not None else policy.backoff(attempt)
        if exc.status and exc.status >= 500:
            return f"kube-{exc.status}", policy.backoff(attempt)
        raise ActuatorError(f"kube-{exc.status}", str(exc.reason)) from exc
    return "kube-connection", policy.backoff(attempt)


async def with_retry(what: str, op: Callable[[], Awaitable[T]], clock: Clock, policy: RetryPolicy) -> T:
    """Run ``op`` (which must re-read what it writes) until it succeeds or attempts run out."""
    conflicts = 0
    kind = "kube"
    for attempt in range(policy.attempts):
        try:
            return await op()
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            conflicts += isinstance(exc, ApiException) and exc.status == 409
            kind, wait = _classify(exc, policy, attempt, conflicts)
            log.info("%s: %s, retry %d in %.1fs", what, kind, attempt + 1, wait)
        if attempt + 1 < policy.attempts:
            await clock.sleep(wait)
    raise ActuatorError(kind, f"{what}: gave up after {policy.attempts} attempts")
