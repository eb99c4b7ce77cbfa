"""Token throughput beside the request rate: where its history comes from, and how its
forecast joins the request forecast in one published ``Forecast``.

The prescaler forecasts token throughput (prompt + generated tokens/s) with the same
forecaster as the request rate (a second instance, fitted on the token history) and
publishes both in one ``Forecast``: each point's ``tokens`` column beside its ``rps``
column, aligned with the same quantiles. The core's token floor (``core/token_floor.py``)
reads it when the policy says what one replica sustains in tokens/s.

History, first that applies:
1. the policy lists a token metric (its own ``token_throughput`` entry, or an engine
   preset that has one: vLLM, SGLang, TGI, Dynamo) and Prometheus is configured: that
   query over the history (what the replicas of an external stack report);
2. the model is one of forescale's own ``llm`` models: the workers' token counters
   (``queue/arrivals.py``), kept beyond their hour as the request counters are;
3. otherwise none: no token columns are published (a Triton model, an echo model, a
   policy for an external stack without Prometheus).
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from forescale.core.model import Forecast, ForecastPoint
from forescale.queue import registry


async def generates(client: aioredis.Redis, model: str) -> bool:
    """Whether ``model`` is a registered ``llm`` model (its workers count tokens)."""
    try:
        cfg = await registry.get(client, model)
    except registry.InvalidModel:
        return False
    return cfg is not None and cfg.engine == "llm"


def with_tokens(rates: Forecast | None, tokens: Forecast | None) -> Forecast | None:
    """``rates`` with each point's ``tokens`` taken from the token forecast's point at the
    same time; unchanged when there is no token forecast or its columns differ. A point
    the token forecast does not reach keeps no token value (the core reads what is there)."""
    if rates is None or tokens is None or tokens.quantiles != rates.quantiles:
        return rates
    by_t = {round(p.t, 3): p.rps for p in tokens.points}
    points = []
    for p in rates.points:
        values = by_t.get(round(p.t, 3))
        if values is not None and all(math.isfinite(v) for v in values):
            values = tuple(max(0.0, v) for v in values)  # a forecaster may dip below zero
        else:
            values = None
        points.append(ForecastPoint(t=p.t, rps=p.rps, tokens=values))
    return rates.model_copy(update={"points": tuple(points)})
