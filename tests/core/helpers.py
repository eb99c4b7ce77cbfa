"""Small builders shared by the core tests: a spec, pools and observations with defaults."""

from __future__ import annotations

from typing import Any

from forescale.core.model import (
    Forecast,
    ForecastPoint,
    Observation,
    PolicySpec,
    PoolObservation,
    PoolSpec,
    ScalingBehavior,
    ScalingRule,
)

NOW = 1_700_000_000.0


def spec(**kw: Any) -> PolicySpec:
    base: dict[str, Any] = {"model": "m", "target_rps_per_replica": 10.0, "max_replicas": 100}
    base.update(kw)
    return PolicySpec(**base)


def obs(**kw: Any) -> Observation:
    base: dict[str, Any] = {
        "now": NOW,
        "model": "m",
        "rps_short": 50.0,
        "rps_stable": 50.0,
        "queue_depth": 0,
        "current_replicas": 5,
        "ready_replicas": 5,
    }
    base.update(kw)
    return Observation(**base)


def pool(name: str, kind: str = "on-demand", price: float = 4.0, **kw: Any) -> PoolSpec:
    base: dict[str, Any] = {
        "name": name,
        "capacity_type": kind,
        "price_per_node_hour": price,
        "max_nodes": 50,
    }
    base.update(kw)
    return PoolSpec(**base)


def pobs(name: str, **kw: Any) -> PoolObservation:
    return PoolObservation(name=name, **kw)


def flat_forecast(
    rps: float,
    *,
    issued_at: float = NOW,
    start: float = NOW,
    n: int = 20,
    step: float = 60.0,
    quantiles: tuple[float, ...] = (0.5, 0.9),
    source: str = "learned",
) -> Forecast:
    """A forecast of ``rps`` at every quantile's column scaled by the quantile index + 1."""
    return Forecast(
        source=source,
        issued_at=issued_at,
        step_s=step,
        quantiles=quantiles,
        points=tuple(
            ForecastPoint(t=start + i * step, rps=tuple(rps * (j + 1) for j in range(len(quantiles))))
            for i in range(n)
        ),
    )


def behavior(window: float, *rules: tuple[str, int, float], select: str = "max") -> ScalingBehavior:
    return ScalingBehavior(
        stabilization_window_s=window,
        rules=tuple(ScalingRule(type=t, value=v, period_s=p) for t, v, p in rules),  # type: ignore[arg-type]
        select=select,  # type: ignore[arg-type]
    )
