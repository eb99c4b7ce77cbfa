"""The training path against a real Prometheus, backfilled with promtool from a synthetic
OpenMetrics file: history with a scrape gap -> fit -> ``fs:forecast:{model}`` published."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from forescale.core.clock import ManualClock
from forescale.core.model import Forecast, PolicySpec, PoolSpec
from forescale.devstack.prometheus_server import PrometheusServer, backfill
from forescale.prescaler.history import PrometheusHistory
from forescale.prescaler.publisher import Publisher, forecast_key
from forescale.prescaler.settings import PrescalerSettings

DAY = 86_400
DAYS = 4
SCRAPE_S = 15
GAP = (2 * DAY, 2 * DAY + 7200)  # two hours without scrapes on day 2 (from the start)


def true_rate(t: np.ndarray | float) -> np.ndarray | float:
    return 5 + 3 * np.sin(2 * np.pi * np.asarray(t) / DAY)


def counter(t: np.ndarray) -> np.ndarray:
    """Integral of true_rate: the counter a router would expose (no resets)."""
    return 5 * t - 3 * DAY / (2 * np.pi) * (np.cos(2 * np.pi * t / DAY) - 1)


@pytest.fixture(scope="module")
def history_end() -> float:
    # Backfilled blocks must lie inside retention and clear of the head block: end 3 h ago.
    return math.floor(time.time() / 3600) * 3600 - 3 * 3600


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, history_end: float) -> Iterator[PrometheusServer]:
    work = tmp_path_factory.mktemp("prom")
    start = history_end - DAYS * DAY
    t = np.arange(start, history_end + 1, SCRAPE_S, dtype=float)
    offset = t - start
    keep = (offset < GAP[0]) | (offset >= GAP[1])
    lines = ["# HELP forescale_router_requests Requests.", "# TYPE forescale_router_requests counter"]
    lines += [
        f'forescale_router_requests_total{{model="m1",code="200"}} {c:.6f} {ts:.0f}'
        for ts, c in zip(t[keep], counter(offset[keep]), strict=True)
    ]
    with PrometheusServer(
        storage_dir=backfill("\n".join(lines) + "\n# EOF\n", work), retention="30d"
    ) as server:
        yield server


def test_query_range_history_matches_the_counter_and_keeps_the_gap(
    prometheus: PrometheusServer, history_end: float
) -> None:
    series = PrometheusHistory(prometheus.url, timeout_s=30).fetch("m1", history_end, DAYS * DAY, 60)
    assert len(series.values) == DAYS * 1440  # > 10,000 points: fetched in chunks
    assert series.end == history_end
    offset = series.start + np.arange(len(series.values)) * 60 - (history_end - DAYS * DAY)
    in_gap = (offset >= GAP[0] + 60) & (offset < GAP[1] - 60)
    assert np.isnan(series.values[in_gap]).all()  # no scrapes: unknown, not zero
    ok = np.isfinite(series.values)
    assert ok.mean() > 0.95
    mid = offset + 30  # each step's mean rate is close to the rate at its middle
    assert np.max(np.abs(series.values[ok] - true_rate(mid[ok]))) < 0.05


def test_unknown_model_is_all_gap(prometheus: PrometheusServer, history_end: float) -> None:
    series = PrometheusHistory(prometheus.url, timeout_s=30).fetch("nobody", history_end, 3600, 60)
    assert len(series.values) == 60 and np.isnan(series.values).all()


async def test_cycle_trains_and_publishes_forecasts(
    prometheus: PrometheusServer, history_end: float, aredis: aioredis.Redis
) -> None:
    await aredis.hset(  # type: ignore[misc]
        "fs:pools",
        "slow",
        PoolSpec(
            name="slow", capacity_type="spot", price_per_node_hour=1, max_nodes=4, lead_time_s=900
        ).model_dump_json(),
    )
    await aredis.hset(  # type: ignore[misc]
        "fs:policies",
        "m1",
        PolicySpec(model="m1", max_replicas=2, target_rps_per_replica=3).model_dump_json(),
    )
    settings = PrescalerSettings(
        prometheus_url=prometheus.url,
        models=("m1",),
        history_s=DAYS * DAY,
        lead_time_s=600,
        publish_every_s=60,
    )
    clock = ManualClock(history_end)
    published = await Publisher(settings, aredis, clock).cycle(clock.now())
    stored = [Forecast.model_validate(f) for f in json.loads(await aredis.get(forecast_key("m1")))]
    assert stored == published["m1"]
    (learned,) = stored
    assert learned.source == "gbq" and learned.issued_at == history_end
    assert learned.quantiles == (0.5, 0.9)
    # horizon = longest pool lead time (900 s beats the 600 s setting) + one publishing period
    assert [p.t for p in learned.points] == [history_end + 60 * k for k in range(16)]
    for p in learned.points:
        p50, p90 = p.rps
        assert p50 <= p90 <= 6.0  # capped at max_replicas * target_rps_per_replica
        assert p50 == pytest.approx(min(6.0, float(true_rate(p.t - history_end + 30))), rel=0.25)
