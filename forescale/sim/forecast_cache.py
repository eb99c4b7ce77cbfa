"""Forecasts of one trace, computed once and shared by every run that asks the same question.

A sweep runs forescale's core at 20-odd settings on the same demand. The forecaster only
ever sees the trace's past (``history.until(now)``), refits on the same schedule (the
forecast period and ``--refit`` from the same start) and is deterministic (seeded), so
every setting would get the very same forecast at each minute: ``gbq`` costs ~15 ms a
forecast and ~2 s a fit, 8-10 minutes per 23-day run, paid again at every point.
``SharedForecasts`` keeps each (minute, fit time, quantiles) answer and the latest fitted
forecasters; a run that asks what an earlier one asked reads it back. Answers are kept as
arrays (a ``Forecast`` of pydantic points is ~30x larger) and rebuilt without validation:
they were validated when first made.

A question for columns the prescaler publishes anyway (its default ``(0.5, 0.9)``) is
answered from one forecast of both: each built-in forecaster's lower columns do not depend
on which higher ones are asked for (gbq only raises a higher column to a lower one), so a
sweep's p50 and p90 points cost one forecast per minute, not two.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from forescale.core.model import Forecast, ForecastPoint
from forescale.prescaler.base import Forecaster, RateSeries, get_forecaster

KEEP_FITS = 2  # runs go forward in time: the current fit and the one before it
KEEP_HISTORIES = 4  # per process: a sweep uses one (two with a token history)
PUBLISHED = (0.5, 0.9)  # PrescalerSettings.quantiles' default


@dataclass(frozen=True)
class _Packed:
    source: str
    issued_at: float
    step_s: float
    quantiles: tuple[float, ...]
    t: tuple[float, ...]
    rps: np.ndarray  # points x quantiles

    def unpack(self, quantiles: tuple[float, ...]) -> Forecast:
        """The forecast with the columns of ``quantiles`` (a subset of those it was made with)."""
        rps = self.rps[:, [self.quantiles.index(q) for q in quantiles]]
        points = tuple(
            ForecastPoint.model_construct(t=t, rps=tuple(row), tokens=None)
            for t, row in zip(self.t, rps.tolist(), strict=True)
        )
        return Forecast.model_construct(
            source=self.source, issued_at=self.issued_at, step_s=self.step_s,
            quantiles=quantiles, points=points,
        )  # fmt: skip


def _pack(f: Forecast) -> _Packed:
    rps = np.array([p.rps for p in f.points], dtype=float).reshape(len(f.points), len(f.quantiles))
    return _Packed(f.source, f.issued_at, f.step_s, f.quantiles, tuple(p.t for p in f.points), rps)


class SharedForecasts:
    """One forecaster's answers on one history (``fit`` and ``forecast`` as the caller
    would make them, each made once)."""

    def __init__(self, name: str, history: RateSeries) -> None:
        self.name = name
        self.history = history
        self.fits: OrderedDict[float, Forecaster] = OrderedDict()
        self.answers: dict[tuple[float, float, float, tuple[float, ...]], _Packed | None] = {}
        self.lock = threading.Lock()  # one fitted forecaster is not made to be used by two threads

    def forecast(
        self, now: float, fitted_at: float, horizon_s: float, quantiles: tuple[float, ...]
    ) -> Forecast | None:
        """The forecast at ``now`` of a forecaster last fitted at ``fitted_at`` on the
        history known then."""
        ask = PUBLISHED if set(quantiles) <= set(PUBLISHED) else quantiles
        key = (now, fitted_at, horizon_s, ask)
        with self.lock:
            if key not in self.answers:
                made = self._fitted(fitted_at).forecast(self.history.until(now), now, horizon_s, ask)
                self.answers[key] = None if made is None else _pack(made)
            packed = self.answers[key]
        return None if packed is None else packed.unpack(quantiles)

    def _fitted(self, at: float) -> Forecaster:
        forecaster = self.fits.get(at)
        if forecaster is None:
            forecaster = get_forecaster(self.name)
            forecaster.fit(self.history.until(at))
            self.fits[at] = forecaster
            while len(self.fits) > KEEP_FITS:
                self.fits.popitem(last=False)
        return forecaster


_SHARED: OrderedDict[tuple[str, float, float, int, str], SharedForecasts] = OrderedDict()
# The admin API runs what-ifs in worker threads (asyncio.to_thread): the registry and each
# history's answers are shared between them, so both are locked.
_LOCK = threading.Lock()


def shared_forecasts(name: str, history: RateSeries) -> SharedForecasts:
    """The process's ``SharedForecasts`` for ``name`` on this exact history (by content)."""
    digest = hashlib.blake2b(np.ascontiguousarray(history.values, dtype=float).tobytes()).hexdigest()
    key = (name, history.start, history.step_s, len(history.values), digest)
    with _LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = SharedForecasts(name, history)
            while len(_SHARED) > KEEP_HISTORIES:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return found
