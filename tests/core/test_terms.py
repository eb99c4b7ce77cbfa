"""The smaller terms, row by row: backlog, panic, forecast merge, schedules, lead time."""

from __future__ import annotations

import pytest

from forescale.core import forecast, leadtime, schedule
from forescale.core.backlog import backlog
from forescale.core.model import Forecast, ForecastPoint, ScheduleSpec
from forescale.core.panic import panic_step
from tests.core.helpers import NOW, flat_forecast


@pytest.mark.parametrize(
    ("depth", "target", "slo", "expected"),
    [
        (0, 10.0, 1.5, 0),
        (15, 10.0, 1.5, 1),  # exactly one replica-SLO of work
        (16, 10.0, 1.5, 2),
        (150, 10.0, 1.5, 10),
        (3000, 10.0, 30.0, 10),  # a long SLO tolerates a deep queue
    ],
)
def test_backlog(depth: int, target: float, slo: float, expected: int) -> None:
    n, detail = backlog(depth, target, slo)
    assert n == expected
    assert detail.startswith(f"backlog: {expected} replicas")


# panic_step(rps_short, target, ready, threshold, stable_window, now, panic_at, panic_max)
@pytest.mark.parametrize(
    ("args", "panicking", "replicas", "panic_at"),
    [
        ((50.0, 10.0, 5, 2.0, 60.0, 100.0, None, 0), False, 0, None),  # 1x: calm
        ((100.0, 10.0, 5, 2.0, 60.0, 100.0, None, 0), True, 10, 100.0),  # 2x: enter
        ((15.0, 10.0, 0, 2.0, 60.0, 100.0, None, 0), False, 0, None),  # no ready: counts as 1, 1.5x
        ((25.0, 10.0, 0, 2.0, 60.0, 100.0, None, 0), True, 3, 100.0),  # no ready, 2.5x
        ((150.0, 10.0, 5, 2.0, 60.0, 130.0, 100.0, 10), True, 15, 130.0),  # still over: extend, grow
        ((20.0, 10.0, 15, 2.0, 60.0, 130.0, 100.0, 15), True, 15, 100.0),  # calm but within window: hold max
        ((20.0, 10.0, 15, 2.0, 60.0, 160.0, 100.0, 15), False, 0, None),  # a calm stable window: leave
        ((None, 10.0, 5, 2.0, 60.0, 130.0, 100.0, 12), True, 12, 100.0),  # no data: neither enter nor grow
        ((100.0, 10.0, 5, 2.0, 60.0, 100.0, None, 0, False), False, 0, None),  # 2x, shallow queue: stay off
        ((150.0, 10.0, 5, 2.0, 60.0, 130.0, 100.0, 10, False), True, 15, 100.0),  # shallow: no extension
        ((20.0, 10.0, 15, 2.0, 60.0, 160.0, 100.0, 15, False), False, 0, None),  # ends as before
    ],
)
def test_panic_step(args: tuple, panicking: bool, replicas: int, panic_at: float | None) -> None:  # type: ignore[type-arg]
    step = panic_step(*args)
    assert (step.panicking, step.replicas, step.panic_at) == (panicking, replicas, panic_at)
    assert step.detail.startswith("panic: ")


@pytest.mark.parametrize(
    ("quantiles", "wanted", "expected"),
    [
        ((0.5, 0.9), 0.9, 1),
        ((0.5, 0.9), 0.8, 1),  # nearest at or above
        ((0.5, 0.9), 0.5, 0),
        ((0.5, 0.9), 0.95, 1),  # none that high: the highest there is
        ((0.9, 0.5, 0.99), 0.6, 0),  # order of columns does not matter
        ((0.5,), 0.9, 0),
    ],
)
def test_forecast_column(quantiles: tuple[float, ...], wanted: float, expected: int) -> None:
    assert forecast.column(quantiles, wanted) == expected


def _series(
    values: list[float],
    start: float = NOW,
    step: float = 60.0,
    issued_at: float = NOW,
    source: str = "learned",
) -> Forecast:
    return Forecast(
        source=source,
        issued_at=issued_at,
        step_s=step,
        quantiles=(0.9,),
        points=tuple(ForecastPoint(t=start + i * step, rps=(v,)) for i, v in enumerate(values)),
    )


@pytest.mark.parametrize(
    ("forecasts", "horizon", "expected", "used"),
    [
        ((_series([10, 20, 30, 40, 50]),), 120.0, 30.0, 1),  # points at now, +60, +120
        ((_series([10, 20, 30, 40, 50]),), 0.0, 10.0, 1),  # only the current interval
        ((_series([10, 99, 30], start=NOW - 120),), 60.0, 30.0, 1),  # past intervals skipped
        ((_series([10, 99, 30], start=NOW - 90),), 0.0, 99.0, 1),  # [now-30, now+30) covers now
        ((_series([10, 20]), _series([15, 5], source="ext")), 60.0, 20.0, 2),  # max across sources
        ((_series([50], issued_at=NOW - 901),), 60.0, None, 0),  # too old
        ((_series([50], start=NOW + 600),), 300.0, None, 0),  # beyond the lead time
        ((_series([]),), 60.0, None, 0),
        ((_series([10, 20, 80], start=NOW - 1000, step=500),), 0.0, 80.0, 1),  # coarse steps
    ],
)
def test_forecast_peak(
    forecasts: tuple[Forecast, ...], horizon: float, expected: float | None, used: int
) -> None:
    assert forecast.peak(forecasts, NOW, horizon, 0.9, 900.0) == (expected, used)


@pytest.mark.parametrize(
    ("values", "horizon", "smooth", "expected"),
    [
        ([10, 90, 10, 10, 10, 10], 300.0, 0.0, 90.0),  # raw peak
        ([10, 90, 10, 10, 10, 10], 300.0, 60.0, 90.0),  # a one-step window is the raw peak
        ([10, 90, 10, 10, 10, 10], 300.0, 120.0, 50.0),  # mean of (10, 90) / (90, 10)
        ([10, 90, 10, 10, 10, 10], 300.0, 300.0, 26.0),  # 5-step windows: (10+90+10+10+10)/5
        ([10, 90, 10], 120.0, 600.0, 110 / 3),  # horizon shorter than the window: mean of all
        ([40, 40, 40, 40], 180.0, 180.0, 40.0),  # flat demand stays flat
        ([0, 0, 60, 60, 60, 0], 300.0, 180.0, 60.0),  # a sustained rise keeps its level
    ],
)
def test_forecast_peak_smoothed_over_slo(
    values: list[float], horizon: float, smooth: float, expected: float
) -> None:
    peak, used = forecast.peak((_series(values),), NOW, horizon, 0.9, 900.0, smooth)
    assert used == 1 and peak == pytest.approx(expected)


def test_forecast_peak_handles_uneven_points() -> None:
    f = Forecast(
        issued_at=NOW,
        step_s=60,
        quantiles=(0.5,),
        points=(
            ForecastPoint(t=NOW - 600, rps=(1.0,)),
            ForecastPoint(t=NOW - 10, rps=(7.0,)),
            ForecastPoint(t=NOW + 500, rps=(9.0,)),
        ),
    )
    assert forecast.peak((f,), NOW, 100.0, 0.5, 900.0) == (7.0, 1)


def test_forecast_peak_takes_the_planned_quantile() -> None:
    assert forecast.peak((flat_forecast(10.0),), NOW, 60.0, 0.9, 900.0) == (20.0, 1)
    assert forecast.peak((flat_forecast(10.0),), NOW, 60.0, 0.5, 900.0) == (10.0, 1)


def _at(hhmm: str) -> float:
    """Epoch seconds of 2023-11-14 HH:MM UTC (NOW is 2023-11-14 22:13:20 UTC)."""
    h, m = hhmm.split(":")
    return 1_699_920_000.0 + int(h) * 3600 + int(m) * 60


@pytest.mark.parametrize(
    ("cron", "now", "duration", "lead", "active"),
    [
        ("0 9 * * *", _at("09:30"), 3600, 0, True),  # inside today's window
        ("0 9 * * *", _at("10:00"), 3600, 0, False),  # just ended
        ("0 9 * * *", _at("08:56"), 3600, 300, True),  # starts within the lead time
        ("0 9 * * *", _at("08:50"), 3600, 300, False),  # too early to act
        ("0 9 * * *", _at("09:00"), 60, 0, True),  # at the exact start
        ("30 * * * *", _at("09:31"), 120, 0, True),  # hourly
        ("30 * * * *", _at("09:33"), 120, 0, False),
        ("0 0 * * 1", _at("12:00"), 86400, 0, False),  # 2023-11-14 is a Tuesday
        ("0 0 * * 2", _at("12:00"), 86400, 0, True),
    ],
)
def test_cron_schedule(cron: str, now: float, duration: float, lead: float, active: bool) -> None:
    s = ScheduleSpec(name="s", cron=cron, duration_s=duration, min_replicas=7)
    assert schedule.active(s, now, lead) is active
    assert schedule.floor((s,), now, lead) == ((7, ["s"]) if active else (0, []))


@pytest.mark.parametrize(
    ("start", "active"),
    [(NOW - 100, True), (NOW - 600, False), (NOW + 200, True), (NOW + 400, False)],
)
def test_one_off_schedule(start: float, active: bool) -> None:
    s = ScheduleSpec(name="launch", start=start, duration_s=600, min_replicas=3)
    assert schedule.active(s, NOW, 300) is active


def test_schedule_floor_is_the_highest_active() -> None:
    a = ScheduleSpec(name="a", start=NOW, duration_s=60, min_replicas=3)
    b = ScheduleSpec(name="b", start=NOW - 10, duration_s=60, min_replicas=8)
    c = ScheduleSpec(name="c", start=NOW + 10_000, duration_s=60, min_replicas=50)
    assert schedule.floor((a, b, c), NOW, 60) == (8, ["a", "b"])


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ((300.0,), 300.0),
        ((100.0, 200.0, 300.0), 300.0),
        (tuple(float(x) for x in range(1, 11)), 9.0),  # nearest-rank p90 of 1..10
        (tuple(float(x) for x in range(1, 21)), 18.0),
    ],
)
def test_lead_time_estimate(samples: tuple[float, ...], expected: float) -> None:
    assert leadtime.estimate(samples) == expected


def test_lead_time_learning_keeps_recent_valid_samples() -> None:
    samples, est = leadtime.learn({}, {}, {"a": (float("nan"), -1.0, 0.0)})
    assert (samples, est) == ({}, {})
    samples, est = leadtime.learn({}, {}, {"a": tuple(float(x) for x in range(100))})
    assert len(samples["a"]) == leadtime.MAX_SAMPLES and samples["a"][-1] == 99.0
    assert est["a"] == leadtime.estimate(samples["a"])
    samples2, est2 = leadtime.learn(samples, est, {"b": (240.0,)})
    assert samples2["a"] == samples["a"] and est2 == {"a": est["a"], "b": 240.0}


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "0 9 * * * *", "every day"])
def test_bad_cron_is_rejected_at_the_edge(cron: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        ScheduleSpec(name="s", cron=cron, duration_s=60, min_replicas=1)


def test_forecast_points_are_put_in_time_order_at_the_edge() -> None:
    f = Forecast.model_validate({
        "issued_at": NOW, "step_s": 60, "quantiles": (0.9,),
        "points": ({"t": NOW + 60, "rps": (1.0,)}, {"t": NOW, "rps": (2.0,)}),
    })  # fmt: skip
    assert [p.t for p in f.points] == [NOW, NOW + 60]
    assert forecast.peak((f,), NOW, 0.0, 0.9, 900.0) == (2.0, 1)
