"""``clairvoyant``: forescale's own decision core fed the true future demand as its forecast.

Everything else is forescale's: the same ``decide()``, lead times, spot preemptions,
insufficient capacity and bounds. Only the forecaster is replaced by one that reads the
trace ahead of ``now``: every quantile column is the true mean rate over each step (the
oracle's SLO window, so the floor sees the same bursts the oracle's need does; with a
token trace, the token throughput too, so its token floor is perfect as well). Its cost
against ``forescale`` is what a perfect forecast would still buy; against ``oracle`` it is
what lead times, preemptions and the reactive terms cost any policy.
"""

from __future__ import annotations

import math

import numpy as np

from forescale.core.model import Forecast, ForecastPoint
from forescale.sim.engine import Simulation
from forescale.sim.oracle import slo_window_s
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import Scenario
from forescale.traces.trace import RateSeries


class TrueFuture:
    """A forecaster that knows the demand per second from ``start`` (for simulation only)."""

    name = "true-future"

    def __init__(self, demand: np.ndarray, start: float, step_s: int) -> None:
        self.start = start
        self.step = max(1, int(step_s))
        self.prefix = np.concatenate([[0.0], np.cumsum(demand)])

    def fit(self, history: RateSeries) -> None:
        return None

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        n = len(self.prefix) - 1
        i0 = int(now - self.start)
        edges = np.minimum(np.arange(i0, i0 + int(horizon_s) + self.step, self.step), n)
        if i0 >= n or len(edges) < 2:
            return None
        sums = np.diff(self.prefix[edges])
        widths = np.maximum(np.diff(edges), 1)
        points = tuple(
            ForecastPoint(t=self.start + float(t), rps=(float(v),) * len(quantiles))
            for t, v in zip(edges[:-1].tolist(), (sums / widths).tolist(), strict=True)
            if t < n
        )
        return Forecast(
            source="clairvoyant", issued_at=now, step_s=float(self.step), quantiles=quantiles, points=points
        )


class Clairvoyant(CorePolicy):
    """``CorePolicy`` whose forecasters read the trace: requests, and tokens when it has them."""

    def __init__(self, scenario: Scenario, demand: np.ndarray, start: float) -> None:
        super().__init__("clairvoyant", scenario, None, math.inf)
        self.step = slo_window_s(scenario) + 1
        # Integration point: CorePolicy asks ``self.forecaster`` (a prescaler Forecaster) for
        # a forecast every minute; this one answers with the trace itself.
        self.forecaster = TrueFuture(demand, start, self.step)

    def make_token_forecaster(self, sim: Simulation) -> TrueFuture | None:
        return None if sim.tokens is None else TrueFuture(sim.tokens, sim.start, self.step)


def clairvoyant(scenario: Scenario, demand: np.ndarray, start: float) -> CorePolicy:
    """``CorePolicy`` with the true future as its forecast (prescale forced on)."""
    spec = scenario.policy
    if spec.prescale.mode != "on":
        spec = spec.model_copy(update={"prescale": spec.prescale.model_copy(update={"mode": "on"})})
        scenario = scenario.model_copy(update={"policy": spec})
    return Clairvoyant(scenario, demand, start)
