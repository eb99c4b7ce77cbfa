"""Which window the forecast floor plans for (``PrescaleSpec.horizon``): the whole lead
time (``lead``) or the demand when the capacity ordered now arrives (``arrival``)."""

from __future__ import annotations

import math

import pytest

from forescale.core import coverage, forecast
from forescale.core.model import Forecast, ForecastPoint, PolicyState
from forescale.core.policy import decide
from tests.core.helpers import NOW, behavior, obs, pool, spec

LEAD = 300.0
POOLS = (pool("od", lead_time_s=LEAD),)


@pytest.mark.parametrize(
    ("lead", "held", "smooth", "rule", "expected"),
    [
        (300.0, 60.0, 0.0, "lead", (0.0, 300.0)),  # the peak over the whole lead time
        (300.0, 60.0, 0.0, "arrival", (240.0, 300.0)),  # from what a 60 s window stops holding
        (300.0, 60.0, 120.0, "arrival", (240.0, 420.0)),  # to the end of the SLO window at the lead
        (300.0, 300.0, 120.0, "arrival", (0.0, 420.0)),  # a window as long as the lead holds all
        (300.0, 600.0, 0.0, "arrival", (0.0, 300.0)),
    ],
)
def test_window(lead: float, held: float, smooth: float, rule: str, expected: tuple[float, float]) -> None:
    assert forecast.window(lead, held, smooth, rule) == expected


def _spiky() -> Forecast:
    """50 req/s, but 200 in minute 1 (before capacity ordered now could arrive) and 150 in
    minute 6 (just past the lead time: what capacity ordered now is for)."""
    rps = [50.0] * 12
    rps[1], rps[6] = 200.0, 150.0
    points = tuple(ForecastPoint(t=NOW + 60 * i, rps=(v,)) for i, v in enumerate(rps))
    return Forecast(issued_at=NOW, step_s=60, quantiles=(0.5,), points=points)


def _decide(horizon: str, down_window_s: float) -> tuple[int, str]:
    s = spec(
        latency_slo_s=60.0,  # one-point SLO windows: the raw points
        scale_up=behavior(0, ("percent", 1000, 15)),
        scale_down=behavior(down_window_s, ("percent", 100, 15)),
        prescale={"quantile": 0.5, "headroom": 0.0, "service_rps_per_replica": 10.0, "horizon": horizon},
    )
    d, _ = decide(obs(forecasts=(_spiky(),)), s, POOLS, PolicyState())
    floor = next(r for r in d.reasons if r.term == "forecast")
    assert floor.replicas is not None
    return floor.replicas, floor.detail


@pytest.mark.parametrize(
    ("horizon", "down_window_s", "replicas", "window"),
    [
        # the whole lead: buys for minute 1's 200 req/s, which capacity ordered now cannot reach
        ("lead", 60.0, 20, "0-300 s ahead"),
        # at the arrival: minute 6's 150 req/s (the lead rule only sees it a minute later)
        ("arrival", 60.0, 15, "240-360 s ahead"),
        # a scale-down window as long as the lead time holds nothing the earlier ticks ordered:
        # what they ordered for minute 1 must still be held, so the window starts at now
        ("arrival", 300.0, 20, "0-360 s ahead"),
    ],
)
def test_arrival_plans_for_the_demand_at_the_lead_time(
    horizon: str, down_window_s: float, replicas: int, window: str
) -> None:
    got, detail = _decide(horizon, down_window_s)
    assert got == replicas
    assert window in detail


def test_arrival_sees_the_rise_past_the_lead_time() -> None:
    """Demand rising from minute 6 on (just past the lead time, within the SLO window of a
    request arriving then) is in the arrival floor now; the lead rule orders for it only
    once the rise is inside ``[now, now + lead]``, when it can no longer arrive in time."""
    rps = [50.0] * 6 + [300.0] * 6
    f = Forecast(
        issued_at=NOW, step_s=60, quantiles=(0.5,),
        points=tuple(ForecastPoint(t=NOW + 60 * i, rps=(v,)) for i, v in enumerate(rps)),
    )  # fmt: skip

    def planned(rule: str) -> float | None:
        start, end = forecast.window(LEAD, 60.0, 60.0, rule)
        return forecast.peak((f,), NOW, end, 0.5, 900.0, 0.0, False, start)[0]

    assert planned("lead") == 50.0
    assert planned("arrival") == 300.0


@pytest.mark.parametrize(
    ("scale", "covered", "q", "step", "expected"),
    [
        (1.0, True, 0.5, 0.0, 1.0),  # off
        (1.0, True, 0.5, 0.1, math.exp(-0.05)),  # covered: a little lower
        (1.0, False, 0.5, 0.1, math.exp(0.05)),  # missed: a little higher
        (1.0, True, 0.9, 0.1, math.exp(-0.01)),  # p90: nine covers balance one miss
        (1.0, False, 0.9, 0.1, math.exp(0.09)),
        (0.1, True, 0.5, 1.0, 0.1),  # bounded below
        (10.0, False, 0.5, 1.0, 10.0),  # and above
    ],
)
def test_calibrate(scale: float, covered: bool, q: float, step: float, expected: float) -> None:
    assert coverage.calibrate(scale, covered, q, step) == pytest.approx(expected)


def test_a_floor_that_always_covers_is_lowered_until_it_earns() -> None:
    """A forecaster biased high (realised 15 req/s, floors planned at 20 req/s, 2 replicas
    of 10) covers every check: with ``calibration_step`` the floor's scale falls check by
    check until the floor is one replica (10 req/s, a miss) about half the time."""
    s = spec(
        latency_slo_s=60.0,
        prescale={"quantile": 0.5, "headroom": 0.0, "service_rps_per_replica": 10.0, "calibration_step": 0.1},
    )
    state = PolicyState()
    scales: list[float] = []
    for k in range(40):
        now = NOW + 60 * k
        f = Forecast(
            issued_at=now, step_s=60, quantiles=(0.5,),
            points=tuple(ForecastPoint(t=now + 60 * i, rps=(20.0,)) for i in range(12)),
        )  # fmt: skip
        _, state = decide(obs(now=now, rps_stable=15.0, rps_short=15.0, forecasts=(f,)), s, POOLS, state)
        scales.append(state.floor_scale)
    assert scales[0] == 1.0 and min(scales) < 0.5 < max(scales[-15:])  # it found the balance
    # checks come a lead time (5 ticks) after their floors, so it swings a few steps about it
    assert all(0.35 < x < 0.7 for x in scales[-20:])
    d, _ = decide(obs(now=NOW + 2400, rps_stable=15.0, forecasts=(f,)), s, POOLS, state)
    floor = next(r for r in d.reasons if r.term == "forecast")
    assert "recalibrated" in floor.detail
