"""The rolling-origin backtest: no look-ahead, same points for both, and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forescale.cli import main
from forescale.core.model import Forecast, ForecastPoint
from forescale.prescaler.backtest import backtest, mape, pinball
from forescale.prescaler.base import FORECASTERS, RateSeries, register
from forescale.traces.synthetic import Workload, synthetic_trace

START = 1_700_006_400.0
DAY = 86_400.0


class Spy:
    """Forecasts the last value seen; records what it was shown, to prove no look-ahead."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[float, float]] = []  # (history end, now)

    def fit(self, history: RateSeries) -> None:
        self.seen.append((history.end, history.end))

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        self.seen.append((history.end, now))
        last = float(history.values[-1])
        points = tuple(
            ForecastPoint(t=now + k * history.step_s, rps=(last,) * len(quantiles))
            for k in range(int(horizon_s // history.step_s))
        )
        return Forecast(
            source="spy", issued_at=now, step_s=history.step_s, quantiles=quantiles, points=points
        )


SPIES: list[Spy] = []
if "test-spy" not in FORECASTERS:

    @register("test-spy")
    def _spy() -> Spy:
        SPIES.append(Spy())
        return SPIES[-1]


def daily(days: float, step: float = 300.0) -> RateSeries:
    t = np.arange(int(days * DAY / step)) * step
    values = 10 + 5 * np.sin(2 * np.pi * t / DAY) + np.random.default_rng(1).normal(0, 1, len(t))
    return RateSeries(START, step, np.maximum(values, 0))


def test_no_look_ahead_and_same_points() -> None:
    series = daily(3)
    result = backtest(series, "test-spy", horizon_s=1800, quantile=0.9, refit_s=DAY / 2)
    spy = SPIES[-1]
    assert all(end <= now for end, now in spy.seen)
    assert sum(1 for _ in spy.seen) > 10
    # origins every horizon from day 1 to the end; at exactly one day seasonal-naive does
    # not answer yet (it needs a day plus the horizon), so that origin scores nothing
    origins = int((2 * DAY - 1800) // 1800) + 1
    assert result.points == (origins - 1) * 6
    assert result.forecaster == "test-spy" and np.isfinite(result.ratio)


def test_a_gap_removes_points_and_stays_finite() -> None:
    series = daily(3)
    values = series.values.copy()
    values[400:500] = np.nan
    gappy = RateSeries(series.start, series.step_s, values)
    full = backtest(series, "seasonal-naive", horizon_s=1800)
    holed = backtest(gappy, "seasonal-naive", horizon_s=1800)
    assert holed.points < full.points
    assert np.isfinite(holed.pinball_loss) and holed.ratio == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("y", "f", "q", "loss"),
    [([10.0], [8.0], 0.9, 1.8), ([10.0], [12.0], 0.9, 0.2), ([1.0, 3.0], [2.0, 2.0], 0.5, 0.5)],
)
def test_pinball(y: list[float], f: list[float], q: float, loss: float) -> None:
    assert pinball(np.array(y), np.array(f), q) == pytest.approx(loss)


def test_mape_skips_zero_actuals() -> None:
    assert mape(np.array([0.0, 10.0, 20.0]), np.array([5.0, 11.0, 18.0])) == pytest.approx(0.1)


def write_trace(path: Path, days: float) -> Path:
    trace = synthetic_trace(days * DAY, Workload(mean_rps=0.5), start=START, kind="requests")
    assert trace.arrivals is not None
    path.write_text("timestamp\n" + "\n".join(f"{t:.3f}" for t in trace.arrivals) + "\n")
    return path


def test_cli_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path / "trace.csv", 4)
    argv = ["backtest", "--trace", str(trace), "--time-unit", "s", "--horizon", "10m"]
    code = main([*argv, "--quantile", "0.9", "--step", "5m", "--every", "2h", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(lines[-1])
    assert set(summary) == {"pinball_loss", "seasonal_naive_pinball_loss", "ratio", "coverage", "points"}
    assert summary["points"] > 0 and 0 <= summary["coverage"] <= 1
    assert summary["ratio"] == pytest.approx(summary["pinball_loss"] / summary["seasonal_naive_pinball_loss"])


def test_cli_too_short_trace_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path / "short.csv", 0.5)
    assert main(["backtest", "--trace", str(trace), "--time-unit", "s"]) == 2
    err = capsys.readouterr().err
    assert "short.csv" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad", [["--horizon", "soon"], ["--quantile", "1.5"]])
def test_cli_bad_flags_exit_2(tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--trace", str(tmp_path / "x.csv"), *bad])
    assert exc.value.code == 2
