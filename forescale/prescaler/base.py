"""The forecaster interface shared by the prescaler service, the backtest and the simulator.

A forecaster is pure: it sees a regularly sampled request-rate history that ends at
``now`` (nothing after it: no look-ahead) and returns a quantile ``Forecast`` over
``[now, now + horizon_s)``. Forecasters register by name (STYLE.md #9).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from forescale.core.model import Forecast
from forescale.traces.trace import RateSeries  # one series type for traces, forecasts, sim


class Forecaster(Protocol):
    """``fit`` may be costly and is called now and then (the prescaler's training period,
    the simulator's refit interval); ``forecast`` is cheap and called every tick. Both
    see only the past: callers pass ``history.until(now)``."""

    name: str

    def fit(self, history: RateSeries) -> None:
        """Learn from ``history``; a no-op for forecasters that learn nothing."""
        ...

    def forecast(
        self, history: RateSeries, now: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        """Quantile forecast from ``history`` (ending at ``now``), or None when it cannot say."""
        ...


FORECASTERS: dict[str, Callable[[], Forecaster]] = {}


def register(name: str) -> Callable[[Callable[[], Forecaster]], Callable[[], Forecaster]]:
    def deco(factory: Callable[[], Forecaster]) -> Callable[[], Forecaster]:
        if name in FORECASTERS:
            raise ValueError(f"forecaster {name!r} registered twice")
        FORECASTERS[name] = factory
        return factory

    return deco


def get_forecaster(name: str) -> Forecaster:
    """A new forecaster by registered name (``seasonal-naive``, ``gbq``); ValueError if unknown."""
    # The package __init__ imports the built-ins; this import keeps the registry complete
    # even for callers that reach base some other way (it is a no-op once loaded).
    import forescale.prescaler.forecasters
    import forescale.prescaler.gbq  # noqa: F401

    try:
        return FORECASTERS[name]()
    except KeyError:
        raise ValueError(f"unknown forecaster {name!r}; known: {sorted(FORECASTERS)}") from None
