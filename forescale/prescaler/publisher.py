"""The training/publishing loop: per model, fetch history, refit now and then, publish.

``fs:forecast:{model}`` gets a JSON list of ``core.model.Forecast``: the learned quantiles
first, then one per active external forecast in absolute rates, all issued at ``now`` and
covering at least the longest pool lead time plus one publishing period (so the
controller never plans past the end of a forecast while waiting for the next one).
Where a token throughput history exists (``prescaler/tokens.py``), the same forecaster
(a second instance) forecasts it and its quantiles ride in each point's ``tokens``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis
from pydantic import ValidationError

from forescale import keys
from forescale.core.clock import Clock
from forescale.core.model import Forecast, PolicySpec, PoolSpec
from forescale.prescaler import webhook
from forescale.prescaler.base import Forecaster, RateSeries, get_forecaster
from forescale.prescaler.external import merged
from forescale.prescaler.history import (
    HistoryUnavailable,
    PrometheusHistory,
    configured_metrics,
    redis_history,
    token_query,
)
from forescale.prescaler.metrics import PrescalerMetrics, outcome
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.tokens import generates, with_tokens

log = logging.getLogger(__name__)


forecast_key = keys.forecast  # where the controller reads what is published


@dataclass
class ModelState:
    forecaster: Forecaster
    trained_at: float | None = None
    last: list[Forecast] = field(default_factory=list)
    tokens: ModelState | None = None  # the same forecaster, fitted on token throughput


class Publisher:
    def __init__(
        self,
        settings: PrescalerSettings,
        client: aioredis.Redis,
        clock: Clock,
        metrics: PrescalerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or PrescalerMetrics()
        self.redis = client
        self.clock = clock
        self.prometheus = (
            PrometheusHistory(settings.prometheus_url, settings.query_timeout_s)
            if settings.prometheus_url
            else None
        )
        self.models: dict[str, ModelState] = {}

    async def run(self) -> None:
        """Publish every ``publish_every_s`` until cancelled; a failing cycle is logged."""
        while True:
            try:
                await self.cycle(self.clock.now())
            except Exception:  # outermost loop: log and keep going (STYLE.md #5)
                log.exception("prescaler cycle failed")
                self.metrics.cycle_errors.inc()
            await self.clock.sleep(self.settings.publish_every_s)

    async def cycle(self, now: float) -> dict[str, list[Forecast]]:
        """One pass over every model; returns what was published."""
        horizon = await self.horizon_s()
        externals = await webhook.prune(self.redis, now)
        out = {}
        for model in await self.model_names():
            mine = [e for e in externals if e.model == model]
            history: RateSeries | None
            try:
                history = await self.history(model, now)
            except (TimeoutError, OSError, HistoryUnavailable) as exc:
                # No history this time: keep publishing externals, the learned part is skipped.
                log.warning("history for %s unavailable: %s", model, exc)
                history = None
            else:
                known = float(np.isfinite(history.values).mean()) if len(history.values) else 0.0
                self.metrics.history_known.labels(model).set(known)
            learned = await self.learned(model, history, now, horizon) if history is not None else None
            if learned is not None:  # token columns ride on the request forecast's points
                learned = with_tokens(learned, await self.learned_tokens(model, now, horizon))
            s = self.settings
            max_rps, max_tokens = await self.max_rates(model)
            published = merged(learned, mine, now, horizon, s.step_s, s.quantiles, max_rps, max_tokens)
            await self.redis.set(forecast_key(model), _dump(published))
            self.metrics.publish.labels(model, outcome(history is not None, learned is not None)).inc()
            self.metrics.last_publish.labels(model).set(now)
            out[model] = published
        return out

    async def learned(
        self, model: str, history: RateSeries, now: float, horizon: float, tokens: bool = False
    ) -> Forecast | None:
        state = self.models.get(model)
        if state is None:
            state = self.models[model] = ModelState(get_forecaster(self.settings.forecaster))
        if tokens:
            if state.tokens is None:
                state.tokens = ModelState(get_forecaster(self.settings.forecaster))
            state = state.tokens
        if state.trained_at is None or now - state.trained_at >= self.settings.train_every_s:
            t0 = time.perf_counter()  # a duration for the metric, not a point in time
            await asyncio.to_thread(state.forecaster.fit, history)  # seconds of CPU: off the loop
            self.metrics.training.labels(model).observe(time.perf_counter() - t0)
            state.trained_at = now
        # In a thread too: a quantile the model was not fitted for is trained on first use.
        return await asyncio.to_thread(
            state.forecaster.forecast, history, now, horizon, self.settings.quantiles
        )

    async def history(self, model: str, now: float) -> RateSeries:
        s = self.settings
        if self.prometheus is None:
            return await redis_history(self.redis, model, now, s.history_s, s.step_s)
        metrics = await configured_metrics(self.redis, model)  # the request rate the policy scales on
        fetch = asyncio.to_thread(self.prometheus.fetch, model, now, s.history_s, s.step_s, metrics)
        return await asyncio.wait_for(fetch, s.query_timeout_s)

    async def learned_tokens(self, model: str, now: float, horizon: float) -> Forecast | None:
        """The token throughput forecast, or None without a token history (or when it fails:
        the request forecast is published without token columns then)."""
        try:
            history = await self.token_history(model, now)
        except (TimeoutError, OSError, HistoryUnavailable) as exc:
            log.warning("token history for %s unavailable: %s", model, exc)
            return None
        if history is None or not len(history.values):
            return None
        known = float(np.isfinite(history.values).mean())
        self.metrics.token_history_known.labels(model).set(known)
        if not known:
            return None
        return await self.learned(model, history, now, horizon, tokens=True)

    async def token_history(self, model: str, now: float) -> RateSeries | None:
        """From the policy's token metric in Prometheus, else forescale's own llm workers'
        counters, else None (prescaler/tokens.py)."""
        s = self.settings
        if self.prometheus is not None:
            metrics = await configured_metrics(self.redis, model)
            query = token_query(model, s.step_s, metrics)
            if query is not None:
                fetch = asyncio.to_thread(
                    self.prometheus.fetch, model, now, s.history_s, s.step_s, metrics, query
                )
                return await asyncio.wait_for(fetch, s.query_timeout_s)
        if not await generates(self.redis, model):
            return None
        return await redis_history(self.redis, model, now, s.history_s, s.step_s, "tokens")

    async def model_names(self) -> list[str]:
        if self.settings.models:
            return list(self.settings.models)
        names = await self.redis.hkeys(keys.MODELS)  # type: ignore[misc]
        return sorted(n.decode() if isinstance(n, bytes) else n for n in names)

    async def horizon_s(self) -> float:
        """Longest lead time (setting or any pool in ``fs:pools``) plus one publishing period."""
        lead = self.settings.lead_time_s
        for raw in (await self.redis.hgetall(keys.POOLS)).values():  # type: ignore[misc]
            try:
                lead = max(lead, PoolSpec.model_validate_json(raw).lead_time_s)
            except ValidationError:
                continue  # not ours to judge; the controller reports bad pools
        return lead + self.settings.publish_every_s

    async def max_rates(self, model: str) -> tuple[float | None, float | None]:
        """What the policy's max replicas can serve, in req/s and (when it says what one
        replica sustains) tokens/s; nothing above it is worth publishing."""
        raw = await self.redis.hget(keys.POLICIES, model)  # type: ignore[misc]
        if raw is None:
            return None, None
        try:
            spec = PolicySpec.model_validate_json(raw)
        except ValidationError:
            return None, None
        per_tokens = spec.prescale.service_tokens_per_replica
        return (
            spec.max_replicas * spec.target_rps_per_replica,
            None if per_tokens is None else spec.max_replicas * per_tokens,
        )


def _dump(forecasts: list[Forecast]) -> str:
    return json.dumps([f.model_dump(mode="json", exclude_none=True) for f in forecasts])  # no "tokens": null
