"""Signals from Prometheus through prometheus-api-client.

The client is synchronous (requests), so each query runs in a worker thread with both a
request timeout and an ``asyncio`` timeout (DESIGN.md's known traps); urllib3 retries are
off, because a tick is itself the retry. A query that fails, times out, returns nothing
or returns NaN marks its signal stale: the core then holds capacity.

Which metrics: the policy's ``metrics`` list (presets per engine or custom PromQL,
``core/metrics_spec.py``); forescale's own router metrics when it lists none.

Queries are evaluated at Prometheus' own "now": the controller's clock may be a manual
one in tests, and a scrape-based signal is only as fresh as the last scrape anyway
(Prometheus drops series whose target disappeared, which shows up here as "nothing").
"""

from __future__ import annotations

import asyncio
import logging
import math

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests import RequestException
from urllib3.util.retry import Retry

from forescale.core import metrics_spec
from forescale.core.model import PolicySpec
from forescale.core.ports import Signals

log = logging.getLogger(__name__)


class PrometheusSource:
    def __init__(self, url: str, timeout_s: float = 5.0, min_range_s: float = 30.0) -> None:
        """``min_range_s``: shortest rate() range; a range must span at least two scrapes."""
        self.client = PrometheusConnect(url, disable_ssl=True, retry=Retry(total=0), timeout=timeout_s)
        self.timeout_s = timeout_s
        self.min_range_s = min_range_s

    def queries(self, spec: PolicySpec) -> dict[str, str]:
        """Signal name -> PromQL: the request rate over both windows, the queue depth, and
        ``metric:{kind}`` for each other listed metric (``core/metrics_spec.py``)."""
        short = max(spec.panic_window_s, self.min_range_s)
        stable = max(spec.stable_window_s, self.min_range_s)
        rate = metrics_spec.rate_source(spec.metrics)
        out = {
            "rps_short": metrics_spec.query(rate, spec.model, short),
            "rps_stable": metrics_spec.query(rate, spec.model, stable),
        }
        queue = metrics_spec.queue_source(spec.metrics)
        if queue is not None:
            out["queue_depth"] = metrics_spec.query(queue, spec.model, stable)
        for m in metrics_spec.extra_metrics(spec.metrics):
            out[f"metric:{m.kind}"] = metrics_spec.query(m, spec.model, stable)
        return out

    async def _scalar(self, query: str) -> float | None:
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(self.client.custom_query, query), timeout=self.timeout_s + 1
            )
        except (RequestException, PrometheusApiClientException, TimeoutError, ValueError) as exc:
            log.warning("prometheus query failed: %s: %s", query, exc)
            return None
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) or math.isinf(value) else value

    async def read(self, spec: PolicySpec, now: float) -> Signals:
        queries = self.queries(spec)
        values = await asyncio.gather(*(self._scalar(q) for q in queries.values()))
        got = dict(zip(queries, values, strict=True))
        depth = got.get("queue_depth")
        return Signals(
            at=now,
            rps_short=got["rps_short"],
            rps_stable=got["rps_stable"],
            queue_depth=None if depth is None else round(depth),
            stale=tuple(n for n, v in got.items() if v is None),
            metrics={n[7:]: v for n, v in got.items() if n.startswith("metric:") and v is not None},
        )

    async def close(self) -> None:
        return None
