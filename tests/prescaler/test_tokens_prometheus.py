"""Token throughput history for an external stack: a real Prometheus holding vLLM's token
counters (backfilled with promtool), read through the vLLM preset's token query; the
prescaler publishes the token forecast beside the request forecast."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.core.clock import ManualClock
from forescale.core.model import Forecast, PolicySpec
from forescale.devstack.prometheus_server import PrometheusServer, backfill
from forescale.prescaler.publisher import Publisher, forecast_key
from forescale.prescaler.settings import PrescalerSettings

DAY = 86_400
DAYS = 2
SCRAPE_S = 60
MODEL = "llama-3"


def prompt_rate(t: np.ndarray | float) -> np.ndarray | float:
    return 1000 + 500 * np.sin(2 * np.pi * np.asarray(t) / DAY)


def prompt_counter(t: np.ndarray) -> np.ndarray:
    return 1000 * t - 500 * DAY / (2 * np.pi) * (np.cos(2 * np.pi * t / DAY) - 1)


@pytest.fixture(scope="module")
def history_end() -> float:
    return math.floor(time.time() / 3600) * 3600 - 3 * 3600  # clear of the head block


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, history_end: float) -> Iterator[PrometheusServer]:
    work = tmp_path_factory.mktemp("prom-tokens")
    start = history_end - DAYS * DAY
    t = np.arange(start, history_end + 1, SCRAPE_S, dtype=float)
    off = t - start
    series = {
        "vllm:request_success": 2.0 * off,  # a flat 2 req/s
        "vllm:prompt_tokens": prompt_counter(off),  # a daily cycle of prompt tokens
        "vllm:generation_tokens": 200.0 * off,  # 200 generated tokens/s
    }
    lines = []
    for name, values in series.items():
        lines += [f"# HELP {name} x.", f"# TYPE {name} counter"]
        lines += [
            f'{name}_total{{model_name="{MODEL}"}} {v:.3f} {ts:.0f}' for ts, v in zip(t, values, strict=True)
        ]
    with PrometheusServer(
        storage_dir=backfill("\n".join(lines) + "\n# EOF\n", work), retention="30d"
    ) as server:
        yield server


async def test_vllm_token_counters_become_the_token_forecast(
    prometheus: PrometheusServer, history_end: float, aredis: aioredis.Redis
) -> None:
    spec = PolicySpec.model_validate({
        "model": MODEL, "max_replicas": 10, "target_rps_per_replica": 1,
        "metrics": [{"kind": "kv_cache_usage", "target": 0.8, "preset": "vllm"}],
        "prescale": {"service_tokens_per_replica": 1000},
    })  # fmt: skip
    await aredis.hset(keys.POLICIES, MODEL, spec.model_dump_json())  # type: ignore[misc]
    settings = PrescalerSettings(
        prometheus_url=prometheus.url, models=(MODEL,), forecaster="seasonal-naive",
        history_s=DAYS * DAY, lead_time_s=600, publish_every_s=60,
    )  # fmt: skip
    out = await Publisher(settings, aredis, ManualClock(history_end)).cycle(history_end)
    (learned,) = [Forecast.model_validate(f) for f in json.loads(await aredis.get(forecast_key(MODEL)))]
    assert [learned] == out[MODEL]
    for p in learned.points:
        assert p.rps[0] == pytest.approx(2.0, rel=0.05)  # the request rate: vLLM's success counter
        assert p.tokens is not None
        expected = float(prompt_rate(p.t - (history_end - DAYS * DAY) + 30)) + 200
        assert p.tokens[0] == pytest.approx(expected, rel=0.05)
