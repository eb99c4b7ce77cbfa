"""What is published in ``fs:forecast:{model}``: learned + external windows, capped; and the
direct (no-Prometheus) history from the routers' per-second counters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.core.clock import ManualClock
from forescale.core.model import Forecast, ForecastPoint, PolicySpec
from forescale.devstack.ports import free_port
from forescale.prescaler.external import ExternalForecast, ExternalWindow, merged
from forescale.prescaler.history import redis_history
from forescale.prescaler.publisher import Publisher, forecast_key
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.webhook import EXTERNAL_KEY, store

NOW = 1_700_000_040.0  # a whole minute
Q = (0.5, 0.9)


def learned(now: float = NOW, steps: int = 10, p50: float = 10.0, p90: float = 15.0) -> Forecast:
    points = tuple(ForecastPoint(t=now + 60 * k, rps=(p50, p90)) for k in range(steps))
    return Forecast(source="gbq", issued_at=now, step_s=60, quantiles=Q, points=points)


def ext(fid: str, *windows: ExternalWindow, model: str = "m1") -> ExternalForecast:
    return ExternalForecast(id=fid, model=model, source="mkt", windows=windows)


def test_rate_window_becomes_absolute_points_in_its_steps() -> None:
    e = ext("a", ExternalWindow(start=NOW + 120, end=NOW + 300, rps=40))
    out = merged(learned(), [e], NOW, 600, 60, Q, None)
    assert [f.source for f in out] == ["gbq", "external:mkt:a"]
    assert [(p.t, p.rps) for p in out[1].points] == [(NOW + 60 * k, (40.0, 40.0)) for k in (2, 3, 4)]
    assert out[1].issued_at == NOW


def test_multiplier_scales_each_learned_quantile() -> None:
    e = ext("b", ExternalWindow(start=NOW, end=NOW + 120, multiplier=3))
    out = merged(learned(), [e], NOW, 600, 60, Q, None)
    assert [p.rps for p in out[1].points] == [(30.0, 45.0), (30.0, 45.0)]


def test_multiplier_without_learned_forecast_publishes_nothing_for_it() -> None:
    e = ext("c", ExternalWindow(start=NOW, end=NOW + 120, multiplier=3))
    assert merged(None, [e], NOW, 600, 60, Q, None) == []


def test_overlapping_windows_take_the_max_and_outside_horizon_is_dropped() -> None:
    e = ext(
        "d",
        ExternalWindow(start=NOW, end=NOW + 60, rps=5),
        ExternalWindow(start=NOW, end=NOW + 60, multiplier=2),
        ExternalWindow(start=NOW + 3600, end=NOW + 7200, rps=99),
    )
    out = merged(learned(), [e], NOW, 600, 60, Q, None)
    assert [p.rps for p in out[1].points] == [(20.0, 30.0)]
    far = ext("e", ExternalWindow(start=NOW + 3600, end=NOW + 7200, rps=99))
    assert len(merged(learned(), [far], NOW, 600, 60, Q, None)) == 1


def test_values_are_capped_at_the_policy_max() -> None:
    e = ext("f", ExternalWindow(start=NOW, end=NOW + 600, rps=1e5))
    out = merged(learned(), [e], NOW, 600, 60, Q, max_rps=12.0)
    assert all(v <= 12.0 for f in out for p in f.points for v in p.rps)
    assert out[0].points[0].rps == (10.0, 12.0)


async def test_counters_give_the_last_hour_and_persist_it(aredis: aioredis.Redis) -> None:
    end = NOW
    for sec in range(int(end) - 600, int(end)):
        await aredis.set(keys.arrivals("m1", sec), 3 if sec % 2 else 1)  # 2 req/s on average
    series = await redis_history(aredis, "m1", end, 7200, 60)
    assert len(series.values) == 120 and series.end == end
    assert np.isnan(series.values[:60]).all()  # older than the counters' hour: unknown
    assert series.values[-10:] == pytest.approx(np.full(10, 2.0))
    assert series.values[60:110] == pytest.approx(np.zeros(50))  # no counter: no arrivals
    # an hour later the counters are gone, but the steps seen before are kept
    await aredis.delete(*[keys.arrivals("m1", sec) for sec in range(int(end) - 600, int(end))])
    later = await redis_history(aredis, "m1", end + 3600, 7200, 60)
    assert later.values[50:60] == pytest.approx(np.full(10, 2.0))


async def test_cycle_without_prometheus_publishes_externals_even_with_no_learned(
    aredis: aioredis.Redis,
) -> None:
    await aredis.hset("fs:models", "m1", "{}")  # type: ignore[misc]
    await aredis.hset(  # type: ignore[misc]
        "fs:policies",
        "m1",
        PolicySpec(model="m1", max_replicas=4, target_rps_per_replica=5).model_dump_json(),
    )
    await store(aredis, ext("push", ExternalWindow(start=NOW + 60, end=NOW + 180, rps=50)))
    await store(aredis, ext("over", ExternalWindow(start=NOW - 600, end=NOW - 60, rps=50)))
    clock = ManualClock(NOW)
    settings = PrescalerSettings(lead_time_s=300, publish_every_s=60)
    out = await Publisher(settings, aredis, clock).cycle(NOW)
    stored = [Forecast.model_validate(f) for f in json.loads(await aredis.get(forecast_key("m1")))]
    assert stored == out["m1"]
    (only,) = stored  # an hour of counters is too little history for a learned forecast
    assert only.source == "external:mkt:push"
    assert [(p.t, p.rps) for p in only.points] == [(NOW + 60, (20.0, 20.0)), (NOW + 120, (20.0, 20.0))]
    assert await aredis.hkeys(EXTERNAL_KEY) == [b"push"]  # ended forecasts are pruned  # type: ignore[misc]


async def test_prometheus_down_still_publishes_externals(aredis: aioredis.Redis) -> None:
    await store(aredis, ext("push", ExternalWindow(start=NOW, end=NOW + 120, rps=9)))
    settings = PrescalerSettings(
        prometheus_url=f"http://127.0.0.1:{free_port()}", models=("m1",), query_timeout_s=5, lead_time_s=60
    )
    out = await Publisher(settings, aredis, ManualClock(NOW)).cycle(NOW)
    assert [f.source for f in out["m1"]] == ["external:mkt:push"]
