"""The forecast floor covers token throughput too: a flat request rate whose tokens rise
gets a higher floor ahead of the rise; without ``service_tokens_per_replica`` nothing changes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from forescale.core import token_floor
from forescale.core.model import Forecast, ForecastPoint, PolicyState
from forescale.core.policy import decide
from forescale.core.tokens import ReplicaTokens
from tests.core.helpers import NOW, behavior, obs, pool, spec

POOLS = (pool("od", lead_time_s=300),)
FAST = {"scale_up": behavior(0, ("percent", 1000, 15)), "scale_down": behavior(0, ("percent", 100, 15))}


def rising_tokens(rps: float = 50.0, before: float = 50_000.0, after: float = 200_000.0) -> Forecast:
    """Flat ``rps`` for 20 minutes; tokens/s ``before`` for 4 minutes, then ``after``
    (prompts four times longer at the same request rate)."""
    points = tuple(
        ForecastPoint(t=NOW + 60 * i, rps=(rps, rps), tokens=((before, before) if i < 4 else (after, after)))
        for i in range(20)
    )
    return Forecast(issued_at=NOW, step_s=60, quantiles=(0.5, 0.9), points=points)


def _decide(service_tokens: float | None, **pre: Any) -> Any:
    prescale = {"headroom": 0.0, "service_tokens_per_replica": service_tokens, **pre}
    s = spec(prescale=prescale, latency_slo_s=1.0, **FAST)
    o = obs(forecasts=(rising_tokens(),), rps_stable=50.0, rps_short=50.0, current_replicas=5)
    decision, _ = decide(o, s, POOLS, PolicyState())
    return decision


def test_rising_tokens_raise_the_floor_ahead_of_the_rise() -> None:
    """Requests need 5 replicas (50 req/s at 10); tokens rise to 200k/s within the 300 s
    lead time, 10k/s per replica: 20 replicas now, before the longer prompts arrive."""
    d = _decide(10_000.0)
    assert d.desired_replicas == 20 and d.winner == "forecast-tokens"
    terms = {r.term: r.replicas for r in d.reasons}
    assert terms["forecast"] == 5 and terms["forecast-tokens"] == 20


def test_no_token_rate_leaves_the_decision_unchanged() -> None:
    without = _decide(None)
    plain = decide(
        obs(forecasts=(rising_tokens(),)), spec(prescale={"headroom": 0.0}, latency_slo_s=1.0, **FAST),
        POOLS, PolicyState(),
    )[0]  # fmt: skip
    assert without.desired_replicas == plain.desired_replicas == 5
    assert "forecast-tokens" not in {r.term for r in without.reasons}


def test_rise_beyond_the_lead_time_is_not_bought_yet() -> None:
    """The same rise 15 minutes out is past the 300 s lead time: requests decide."""
    f = rising_tokens()
    late = tuple(p.model_copy(update={"tokens": (50_000.0, 50_000.0) if i < 15 else (200_000.0,) * 2})
                 for i, p in enumerate(f.points))  # fmt: skip
    s = spec(prescale={"headroom": 0.0, "service_tokens_per_replica": 10_000.0}, latency_slo_s=1.0, **FAST)
    d, _ = decide(obs(forecasts=(f.model_copy(update={"points": late}),)), s, POOLS, PolicyState())
    assert d.desired_replicas == 5 and d.winner != "forecast-tokens"


def test_forecast_only_records_the_token_floor_without_acting() -> None:
    d = _decide(10_000.0, mode="forecast-only")
    assert d.desired_replicas == 5
    recorded = [r for r in d.reasons if r.term == "forecast-tokens"]
    assert recorded and recorded[0].replicas == 20 and "not acted on" in recorded[0].detail


def test_mode_off_ignores_tokens_too() -> None:
    assert _decide(10_000.0, mode="off").desired_replicas == 5


def test_token_view_reads_the_token_columns() -> None:
    f = rising_tokens()
    view = token_floor.token_view(f)
    assert view is not None and view.points[5].rps == (200_000.0, 200_000.0)
    assert token_floor.token_view(f.model_copy(update={"points": tuple(
        p.model_copy(update={"tokens": None}) for p in f.points)})) is None  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "fragment"),
    [
        ((math.inf, 1.0), "finite number"),
        ((math.nan, 1.0), "finite number"),
        ((-1.0, 1.0), "greater than or equal to 0"),
        ((1.0,), "one value per quantile"),  # misaligned with the two quantiles
    ],
)
def test_bad_token_columns_are_refused(tokens: tuple[float, ...], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Forecast(issued_at=NOW, step_s=60, quantiles=(0.5, 0.9),
                 points=(ForecastPoint(t=NOW, rps=(1.0, 2.0), tokens=tokens),))  # fmt: skip


def test_service_tokens_per_replica_from_the_replica_model() -> None:
    r = ReplicaTokens(prefill_tokens_per_s=8000, step_base_s=0.02, step_per_seq_s=0.0005,
                      kv_capacity_tokens=200_000, max_batch=64)  # fmt: skip
    got = token_floor.service_tokens_per_replica(r, 1000, 200)
    assert got > 0 and math.isfinite(got)
    # a tighter TPOT bound holds a smaller batch: fewer tokens per second
    assert token_floor.service_tokens_per_replica(r, 1000, 200, tpot_bound_s=0.025) < got
