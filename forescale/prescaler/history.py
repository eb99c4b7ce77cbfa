"""Demand history for training: Prometheus ``query_range``, or the direct Redis counters.

Both return a ``RateSeries`` whose step ``i`` covers ``[start + i*step, start + (i+1)*step)``,
with NaN where nothing is known (a scrape gap, counters expired), never a made-up zero.

Two demands, the same way: the request rate, and token throughput (prompt + generated
tokens/s, ``what="tokens"``): from the policy's token metric (an engine preset's
``token_throughput`` query, e.g. vLLM's prompt + generation token counters) when it lists
one, else from forescale's own ``llm`` workers' token counters (``queue/arrivals.py``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from pydantic import ValidationError
from urllib3.util.retry import Retry

from forescale import keys
from forescale.core import metrics_spec
from forescale.core.metrics_spec import MetricSpec
from forescale.core.model import PolicySpec
from forescale.prescaler.base import RateSeries
from forescale.queue import arrivals

# Prometheus refuses more than 11,000 points per series per query; stay under it.
MAX_POINTS_PER_QUERY = 10_000
COUNTER_TTL_S = arrivals.TTL_S  # routers let the arrival counters expire after an hour


def rate_query(model: str, step_s: float, metrics: tuple[MetricSpec, ...] = ()) -> str:
    """Requests per second of ``model`` over each step (a 1-minute rate at least), read
    from the policy's configured request-rate metric: the one the controller scales on
    (forescale's router counter when the policy lists none)."""
    return metrics_spec.query(metrics_spec.rate_source(metrics), model, max(60, int(step_s)))


def token_query(model: str, step_s: float, metrics: tuple[MetricSpec, ...]) -> str | None:
    """Tokens per second of ``model`` over each step from the policy's token metric (its own
    ``token_throughput`` entry, or a listed preset that has one); None when it has none."""
    source = metrics_spec.source_of(metrics, "token_throughput")
    return None if source is None else metrics_spec.query(source, model, max(60, int(step_s)))


async def configured_metrics(client: aioredis.Redis, model: str) -> tuple[MetricSpec, ...]:
    """The ``metrics`` of ``model``'s stored policy; none when it has no valid policy."""
    raw = await client.hget(keys.POLICIES, model)  # type: ignore[misc]
    if raw is None:
        return ()
    try:
        return PolicySpec.model_validate_json(raw).metrics
    except ValidationError:
        return ()  # the controller reports bad policies; the history falls back to the router's


def aligned_start(end: float, history_s: float, step_s: float) -> tuple[float, int]:
    """(start, steps): whole steps ending at or before ``end``."""
    last = math.floor(end / step_s) * step_s
    n = max(0, int(history_s // step_s))
    return last - n * step_s, n


class HistoryUnavailable(Exception):
    """Prometheus answered with an error (bad query, overloaded): no history this time."""


class PrometheusHistory:
    """Synchronous (prometheus-api-client uses requests): the loop runs it in a thread."""

    def __init__(self, url: str, timeout_s: float) -> None:
        # The client's default retries back off for ~6 s on a refused connection; the loop
        # retries every period anyway, so two quick retries are enough.
        retry = Retry(total=2, backoff_factor=0.1, status_forcelist=(502, 503, 504))
        self.client = PrometheusConnect(
            url=url, disable_ssl=True, retry=retry, timeout=max(1, int(timeout_s))
        )

    def fetch(
        self, model: str, end: float, history_s: float, step_s: float, metrics: tuple[MetricSpec, ...] = (),
        query: str | None = None,
    ) -> RateSeries:  # fmt: skip
        """The request rate (or ``query``'s values: the token throughput) over each step."""
        promql = query or rate_query(model, step_s, metrics)
        start, n = aligned_start(end, history_s, step_s)
        values = np.full(n, np.nan)
        # The sample at t is the rate over the step ending at t, i.e. step (t - start)/step - 1.
        chunk = MAX_POINTS_PER_QUERY
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            try:
                result = self.client.custom_query_range(
                    promql,
                    start_time=_dt(start + (lo + 1) * step_s),
                    end_time=_dt(start + hi * step_s),
                    step=f"{step_s:g}s",
                )
            except PrometheusApiClientException as exc:
                raise HistoryUnavailable(str(exc)) from exc
            _fill(values, result, start, step_s)
        return RateSeries(start, step_s, values)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _fill(values: np.ndarray, result: list[dict[str, Any]], start: float, step_s: float) -> None:
    for series in result:
        for ts, text in series.get("values", []):
            i = round((float(ts) - start) / step_s) - 1
            v = float(text)
            if 0 <= i < len(values) and math.isfinite(v):
                values[i] = v


history_key = keys.prescaler_history
_KEPT = {"requests": keys.prescaler_history, "tokens": keys.prescaler_token_history}


async def redis_history(
    client: aioredis.Redis, model: str, end: float, history_s: float, step_s: float,
    what: arrivals.Kind = "requests",
) -> RateSeries:  # fmt: skip
    """The last hour from the counters, older steps from what earlier calls kept.

    Counters live an hour, so each call also stores the steps it computed in a hash
    (step start -> rate) and reads older ones back: without Prometheus the prescaler
    builds its own history while it runs. Steps nobody saw stay NaN. ``what``: requests
    (the routers' arrival counters) or tokens (the ``llm`` workers' token counters)."""
    recent = await counter_history(client, model, end, history_s, step_s, what)
    key = _KEPT[what](model, step_s)
    known = np.isfinite(recent.values)
    fresh = {f"{recent.start + i * step_s:.0f}": repr(float(recent.values[i])) for i in np.flatnonzero(known)}
    if fresh:
        await client.hset(key, mapping=fresh)  # type: ignore[misc,arg-type]
    stored = await client.hgetall(key)  # type: ignore[misc]
    values = recent.values.copy()
    old = []
    for field, text in stored.items():
        i = round((float(field) - recent.start) / step_s)
        if i < 0:
            old.append(field)
        elif i < len(values) and not known[i]:
            values[i] = float(text)
    if old:
        await client.hdel(key, *old)  # type: ignore[misc]
    return RateSeries(recent.start, step_s, values)


async def kept_history(
    client: aioredis.Redis, model: str, start: float, end: float, step_s: float
) -> RateSeries | None:
    """Read-only: the steps ``redis_history`` kept for ``model`` at ``step_s`` that overlap
    ``[start, end)``, on the step grid, NaN where none was kept; None when none was.

    For readers outside the prescaler (the admin API's what-if replays a day from it,
    where the routers' counters reach back only an hour). Nothing is written or pruned."""
    stored = await client.hgetall(history_key(model, step_s))  # type: ignore[misc]
    first = math.floor(start / step_s) * step_s
    n = max(0, math.ceil((end - first) / step_s))
    values = np.full(n, np.nan)
    for field, text in stored.items():
        i = round((float(field) - first) / step_s)
        if 0 <= i < n:
            values[i] = float(text)
    if not np.isfinite(values).any():
        return None
    return RateSeries(first, step_s, values)


async def counter_history(
    client: aioredis.Redis, model: str, end: float, history_s: float, step_s: float,
    what: arrivals.Kind = "requests",
) -> RateSeries:  # fmt: skip
    """From ``fs:arr:{model}:{sec}``: only the last hour exists (TTL); older steps are NaN.
    A missing second inside that hour is zero arrivals (routers write only when some came)."""
    start, n = aligned_start(end, history_s, step_s)
    values = np.full(n, np.nan)
    known_from = max(start, math.ceil((end - COUNTER_TTL_S) / step_s) * step_s)
    first = int((known_from - start) // step_s)
    if first >= n:
        return RateSeries(start, step_s, values)
    seconds = np.arange(int(known_from), int(start + n * step_s))
    counted = await arrivals.read(client, model, int(seconds[0]), int(seconds[-1]), what)
    counts = np.array(counted.per_second(), dtype=float)
    per_step = max(1, int(step_s))
    sums = counts[: (len(counts) // per_step) * per_step].reshape(-1, per_step).sum(axis=1)
    values[first : first + len(sums)] = sums / step_s
    return RateSeries(start, step_s, values)
