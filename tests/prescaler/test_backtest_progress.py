"""``backtest`` reports how far it is (the CLI draws a bar from it on a terminal)."""

from __future__ import annotations

import numpy as np

from forescale.prescaler.backtest import backtest
from forescale.prescaler.base import RateSeries

DAY = 86_400.0


def test_progress_rises_to_one_and_changes_nothing() -> None:
    step = 300.0
    t = np.arange(int(3 * DAY / step)) * step
    series = RateSeries(0.0, step, 10 + 5 * np.sin(2 * np.pi * t / DAY))
    seen: list[float] = []
    with_bar = backtest(series, "seasonal-naive", horizon_s=3600, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 0.1
    assert len(seen) == (3 * DAY - DAY - 3600) // 3600 + 1  # one report per origin
    assert with_bar == backtest(series, "seasonal-naive", horizon_s=3600)
