"""The forecast floor's fixes, row by row: the quantile of the window mean, the floor over
the service rate, and the coverage gate on the short scale-down window."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.core import coverage, forecast
from forescale.core.clockfault import restamp
from forescale.core.model import Forecast, ForecastPoint, PolicyState
from forescale.core.policy import decide
from tests.core.helpers import NOW, behavior, flat_forecast, obs, pool, spec

POOLS = (pool("od"),)
FAST = {"scale_up": behavior(0, ("percent", 1000, 15)), "scale_down": behavior(0, ("percent", 100, 15))}


def _two_columns(mid: list[float], high: list[float], quantiles: tuple[float, ...] = (0.5, 0.9)) -> Forecast:
    points = tuple(
        ForecastPoint(t=NOW + 60 * i, rps=(m, h) if quantiles[0] == 0.5 else (h, m))
        for i, (m, h) in enumerate(zip(mid, high, strict=True))
    )
    return Forecast(issued_at=NOW, step_s=60, quantiles=quantiles, points=points)


@pytest.mark.parametrize(
    ("mid", "high", "smooth", "pooled", "expected"),
    [
        ([10] * 4, [20] * 4, 240.0, False, 20.0),  # mean of p90 columns: every point's margin
        ([10] * 4, [20] * 4, 240.0, True, 15.0),  # p90 of a 4-point mean: 10 + 10 / sqrt(4)
        ([10] * 9, [40] * 9, 540.0, True, 20.0),  # 9 points: 10 + 30 / 3
        ([10] * 4, [20] * 4, 60.0, True, 20.0),  # one-point windows: the column itself
        ([10] * 4, [20] * 4, 0.0, True, 20.0),  # no smoothing: the raw peak
        ([10, 10], [20, 20], 240.0, True, 10 + 10 / 2**0.5),  # horizon holds 2 points: sqrt(2)
        ([0, 0, 40, 40], [0, 0, 80, 80], 120.0, True, 40 + 40 / 2**0.5),  # the peak window
    ],
)
def test_quantile_of_the_window_mean(
    mid: list[float], high: list[float], smooth: float, pooled: bool, expected: float
) -> None:
    horizon = 60.0 * (len(mid) - 1)
    got, used = forecast_peak(_two_columns(mid, high), horizon, 0.9, smooth, pooled)
    assert used == 1 and got == pytest.approx(expected)


def forecast_peak(
    f: Forecast, horizon: float, q: float, smooth: float, pooled: bool
) -> tuple[float | None, int]:
    return forecast.peak((f,), NOW, horizon, q, 900.0, smooth, pooled)


def test_pooling_needs_a_median_column() -> None:
    """Without a 0.5 column the columns are averaged (the conservative side)."""
    f = Forecast(
        issued_at=NOW,
        step_s=60,
        quantiles=(0.9,),
        points=tuple(ForecastPoint(t=NOW + 60 * i, rps=(20.0,)) for i in range(4)),
    )
    assert forecast_peak(f, 180.0, 0.9, 240.0, True) == (20.0, 1)


def test_pooling_the_median_itself_changes_nothing() -> None:
    assert forecast_peak(_two_columns([10] * 4, [20] * 4), 180.0, 0.5, 240.0, True) == (10.0, 1)


@pytest.mark.parametrize(
    ("prescale", "replicas"),
    [
        ({}, 22),  # p90 200 x 1.1 / target 10
        ({"service_rps_per_replica": 20.0}, 11),  # / service rate 20: no second margin
        ({"service_rps_per_replica": 20.0, "headroom": 0.0}, 10),
        ({"service_rps_per_replica": 20.0, "quantile": 0.5}, 6),  # p50 100 x 1.1 / 20
    ],
)
def test_floor_divides_by_the_service_rate(prescale: dict[str, Any], replicas: int) -> None:
    d, _ = decide(
        obs(forecasts=(flat_forecast(100.0),)), spec(**FAST, prescale=prescale), POOLS, PolicyState()
    )
    assert (d.desired_replicas, d.winner) == (replicas, "forecast")


C0 = coverage.Coverage()


@pytest.mark.parametrize(
    ("before", "now", "realised", "planned", "after"),
    [
        # the first floor: pending, due a lead (300 s) later; tracking starts
        (C0, NOW, 5.0, 10.0, coverage.Coverage(((NOW + 300, 10.0),), 0.0, NOW, None)),
        # nothing due yet: only the new floor is added
        (
            coverage.Coverage(((NOW + 300, 10.0),), 0.0, NOW, None),
            NOW + 60,
            50.0,
            12.0,
            coverage.Coverage(((NOW + 300, 10.0), (NOW + 360, 12.0)), 0.0, NOW, None),
        ),
        # due and covered: coverage rises by 1 - exp(-300 / 1800)
        (
            coverage.Coverage(((NOW + 300, 10.0),), 0.0, NOW, None),
            NOW + 300,
            9.0,
            None,
            coverage.Coverage((), 0.15351827510938587, NOW + 300, None),
        ),
        # due and missed: coverage decays, the miss is recorded
        (
            coverage.Coverage(((NOW + 300, 10.0),), 1.0, NOW, None),
            NOW + 300,
            11.0,
            None,
            coverage.Coverage((), 0.8464817248906141, NOW + 300, NOW + 300),
        ),
        # no realised rate: nothing is checked, due floors are dropped
        (
            coverage.Coverage(((NOW + 300, 10.0),), 0.5, NOW, None),
            NOW + 300,
            None,
            None,
            coverage.Coverage((), 0.5, NOW, None),
        ),
    ],
)
def test_coverage_update(
    before: coverage.Coverage,
    now: float,
    realised: float | None,
    planned: float | None,
    after: coverage.Coverage,
) -> None:
    got = coverage.update(before, now, realised, planned, 300.0, 1800.0)
    assert got.pending == after.pending and got.checked_at == after.checked_at
    assert got.missed_at == after.missed_at and got.coverage == pytest.approx(after.coverage)


@pytest.mark.parametrize(
    ("cov", "missed_at", "min_coverage", "holds"),
    [
        (0.95, None, 0.9, True),
        (0.85, None, 0.9, False),  # not earned (coverage starts at 0)
        (0.95, NOW - 100, 0.9, False),  # a miss within the 300 s HPA window
        (0.95, NOW - 300, 0.9, True),  # the miss is a window old
        (0.0, NOW, 0.0, True),  # min_coverage 0: the ungated rule
    ],
)
def test_coverage_holds(cov: float, missed_at: float | None, min_coverage: float, holds: bool) -> None:
    c = coverage.Coverage((), cov, NOW - 60, missed_at)
    assert coverage.holds(c, NOW, min_coverage, 300.0) is holds


@pytest.mark.parametrize(
    ("state", "replicas", "winner"),
    [
        # coverage earned: the 60 s prescale window, the 20-replica peak 120 s ago is past it
        (PolicyState(floor_coverage=0.95), 5, "reactive"),
        # not earned: HPA's 300 s window holds the peak
        (PolicyState(floor_coverage=0.5), 20, "stabilization"),
        # earned, but a recent miss: HPA's window again
        (PolicyState(floor_coverage=0.95, floor_missed_at=NOW - 60), 20, "stabilization"),
    ],
)
def test_short_scale_down_window_only_while_the_floor_covers(
    state: PolicyState, replicas: int, winner: str
) -> None:
    s = spec(
        scale_down=behavior(300, ("percent", 100, 15)),
        prescale={"scale_down_window_s": 60.0, "min_coverage": 0.9},
    )
    state = PolicyState(
        down_history=((NOW - 120, 20),),
        floor_coverage=state.floor_coverage,
        floor_missed_at=state.floor_missed_at,
        floor_checked_at=NOW - 60,
    )
    o = obs(
        rps_stable=50.0,
        rps_short=50.0,
        current_replicas=20,
        ready_replicas=20,
        forecasts=(flat_forecast(0.0),),
    )
    d, after = decide(o, s, POOLS, state)
    assert (d.desired_replicas, d.winner) == (replicas, winner)
    assert after.floor_pending[-1][1] == 0.0  # this tick's floor (zero replicas) awaits its check


def test_coverage_is_not_tracked_without_a_short_window() -> None:
    _, after = decide(obs(forecasts=(flat_forecast(100.0),)), spec(**FAST), POOLS, PolicyState())
    assert after.floor_pending == () and after.floor_checked_at is None


def test_realised_rate_is_averaged_over_the_slo_before_the_check() -> None:
    """A burst to 20 req/s in the last sample, after 5 req/s: the mean over a 300 s SLO of
    the samples (5, 5, 5, 5, 20) is 8, under the 10 req/s plan, so no miss; unaveraged it
    would be one. Samples older than the SLO are dropped."""
    rates = tuple((NOW + 60 * k, 5.0) for k in range(5))  # NOW .. NOW + 240
    before = coverage.Coverage(((NOW + 300, 10.0),), 1.0, NOW, None, rates)
    got = coverage.update(before, NOW + 300, 20.0, None, 300.0, 1800.0, 300.0)
    assert got.rates == (*rates[1:], (NOW + 300, 20.0))
    assert got.missed_at is None and got.coverage == pytest.approx(1.0)
    raw = coverage.update(before, NOW + 300, 20.0, None, 300.0, 1800.0)
    assert raw.missed_at == NOW + 300 and raw.rates == ((NOW + 300, 20.0),)


@pytest.mark.parametrize(
    ("realised", "tolerance", "missed"), [(10.9, 0.1, False), (11.1, 0.1, True), (10.1, 0.0, True)]
)
def test_a_miss_within_tolerance_is_none(realised: float, tolerance: float, missed: bool) -> None:
    before = coverage.Coverage(((NOW + 300, 10.0),), 1.0, NOW, None)
    got = coverage.update(before, NOW + 300, realised, None, 300.0, 1800.0, 0.0, tolerance)
    assert (got.missed_at == NOW + 300) is missed


def test_clock_fault_restamps_the_coverage_stamps() -> None:
    """A clock step re-stamps the floor's checks with everything else (clockfault.py)."""
    state = PolicyState(
        floor_pending=((NOW + 300, 10.0),),
        floor_coverage=0.95,
        floor_checked_at=NOW,
        floor_missed_at=NOW - 60,
    )
    got = restamp(state, -86400.0)
    assert got.floor_pending == ((NOW + 300 - 86400, 10.0),)
    assert (got.floor_checked_at, got.floor_missed_at) == (NOW - 86400, NOW - 60 - 86400)
    assert got.floor_coverage == 0.95
