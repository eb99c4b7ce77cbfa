"""The prescaler forecasts token throughput beside the request rate and publishes both in one
``Forecast``: from a seeded two-day history in a real Redis, with the same forecaster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.core.clock import ManualClock
from forescale.core.model import Forecast, ForecastPoint, PolicySpec
from forescale.prescaler.external import ExternalWindow, merged
from forescale.prescaler.history import token_query
from forescale.prescaler.publisher import Publisher, forecast_key
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.tokens import with_tokens
from forescale.prescaler.webhook import store
from forescale.queue import registry
from forescale.queue.config import ModelConfig
from tests.prescaler.test_publish import ext

DAY = 86_400
NOW = 1_700_006_400.0  # a whole hour: the forecast grid starts at NOW
STEP = 60.0
Q = (0.5, 0.9)


def tokens_at(t: np.ndarray) -> np.ndarray:
    """A daily token cycle (prompts grow in the afternoon) at a flat request rate."""
    return 20_000 + 15_000 * np.sin(2 * np.pi * t / DAY)


async def seed(aredis: aioredis.Redis, model: str, llm: bool = True) -> None:
    """Two days of kept per-minute history (what earlier cycles stored) for both demands."""
    if llm:
        await registry.add(aredis, ModelConfig(name=model, engine="llm"))
    else:
        await registry.add(aredis, ModelConfig(name=model, engine="echo"))
    starts = NOW - 2 * DAY + STEP * np.arange(int(2 * DAY / STEP))
    await aredis.hset(  # type: ignore[misc]
        keys.prescaler_history(model, STEP), mapping={f"{t:.0f}": "10.0" for t in starts}
    )
    await aredis.hset(  # type: ignore[misc]
        keys.prescaler_token_history(model, STEP),
        mapping={f"{t:.0f}": repr(float(v)) for t, v in zip(starts, tokens_at(starts), strict=True)},
    )
    spec = PolicySpec(
        model=model, max_replicas=4, target_rps_per_replica=5,
        prescale={"service_tokens_per_replica": 6_000.0},
    )  # fmt: skip
    await aredis.hset(keys.POLICIES, model, spec.model_dump_json())  # type: ignore[misc]


def settings(**kw: object) -> PrescalerSettings:
    base: dict[str, object] = {
        "forecaster": "seasonal-naive", "history_s": 2 * DAY, "step_s": STEP, "lead_time_s": 600,
        "publish_every_s": 60, "quantiles": Q,
    }  # fmt: skip
    return PrescalerSettings(**{**base, **kw})


async def test_publishes_token_columns_from_the_token_history(aredis: aioredis.Redis) -> None:
    await seed(aredis, "chat")
    publisher = Publisher(settings(), aredis, ManualClock(NOW))
    out = await publisher.cycle(NOW)
    known = publisher.metrics.registry.get_sample_value(
        "forescale_prescaler_token_history_known_ratio", {"model": "chat"}
    )
    assert known == 1.0
    raw = json.loads(await aredis.get(forecast_key("chat")))
    (learned,) = [Forecast.model_validate(f) for f in raw]
    assert [learned] == out["chat"] and learned.source == "seasonal-naive"
    assert all(p.tokens is not None and len(p.tokens) == len(Q) for p in learned.points)
    # seasonal-naive repeats yesterday: the token columns follow the token cycle, capped at
    # max_replicas x service_tokens_per_replica = 24,000 tokens/s; requests stay flat
    t = np.array([p.t for p in learned.points])
    mid = np.array([p.tokens[0] for p in learned.points])  # type: ignore[index]
    assert mid == pytest.approx(np.minimum(tokens_at(t), 24_000.0), rel=0.02)
    assert all(p.rps[0] == pytest.approx(10.0) for p in learned.points)
    assert "tokens" in raw[0]["points"][0]


async def test_no_token_history_publishes_requests_only(aredis: aioredis.Redis) -> None:
    """An echo model has no token counters: no token columns, and none written as null."""
    await seed(aredis, "echo", llm=False)
    out = await Publisher(settings(), aredis, ManualClock(NOW)).cycle(NOW)
    (learned,) = out["echo"]
    assert all(p.tokens is None for p in learned.points)
    assert "tokens" not in json.loads(await aredis.get(forecast_key("echo")))[0]["points"][0]


async def test_external_windows_carry_tokens(aredis: aioredis.Redis) -> None:
    await seed(aredis, "chat")
    await store(aredis, ext("launch", ExternalWindow(start=NOW, end=NOW + 120, rps=15, tokens_per_s=9_000),
                            model="chat"))  # fmt: skip
    await store(aredis, ext("x2", ExternalWindow(start=NOW, end=NOW + 60, multiplier=2), model="chat"))
    out = await Publisher(settings(), aredis, ManualClock(NOW)).cycle(NOW)
    learned, launch, double = out["chat"]
    assert [p.tokens for p in launch.points] == [(9_000.0, 9_000.0)] * 2
    first = learned.points[0].tokens
    assert first is not None and double.points[0].tokens == pytest.approx([min(2 * v, 24_000) for v in first])


def test_join_keeps_points_the_token_forecast_misses() -> None:
    points = tuple(ForecastPoint(t=NOW + 60 * k, rps=(1.0, 2.0)) for k in range(3))
    rates = Forecast(issued_at=NOW, step_s=60, quantiles=Q, points=points)
    toks = Forecast(issued_at=NOW, step_s=60, quantiles=Q, points=(ForecastPoint(t=NOW, rps=(-5.0, 7.0)),))
    joined = with_tokens(rates, toks)
    assert joined is not None
    assert [p.tokens for p in joined.points] == [(0.0, 7.0), None, None]  # below zero: none
    assert with_tokens(rates, None) is rates
    other = toks.model_copy(update={"quantiles": (0.9, 0.99)})
    assert with_tokens(rates, other) is rates  # other columns: not joined


def test_token_query_reads_the_engine_preset() -> None:
    kv = {"kind": "kv_cache_usage", "target": 0.8, "preset": "vllm"}
    vllm = PolicySpec.model_validate({"model": "m", "target_rps_per_replica": 1, "metrics": [kv]}).metrics
    q = token_query('llama "3"', 60, vllm)
    assert q is not None and "vllm:prompt_tokens_total" in q and "vllm:generation_tokens_total" in q
    assert 'model_name="llama \\"3\\""' in q
    assert token_query("m", 60, ()) is None  # forescale's own: the workers' counters in Redis


def test_merged_caps_tokens_at_the_policy_max() -> None:
    e = ext("big", ExternalWindow(start=NOW, end=NOW + 60, rps=1, tokens_per_s=1e9))
    (only,) = merged(None, [e], NOW, 60, 60, Q, None, max_tokens=5_000.0)
    assert only.points[0].tokens == (5_000.0, 5_000.0)
