"""gbq's quantiles are mixed with exponential smoothing's (``ets_weight``), ARIMA's
(``arima_weight``) and level-qr's (``level_weight``), point by point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale.prescaler.base import RateSeries
from forescale.prescaler.baselines import Ets, QuickArima
from forescale.prescaler.gbq import GradientBoostedQuantiles
from forescale.prescaler.levels import RecentLevelQuantiles
from tests.prescaler.test_gbq import poisson_series

Q = (0.5, 0.9)


def test_quantiles_are_the_weighted_mean_of_gbq_ets_arima_and_level_qr() -> None:
    history = poisson_series(4)
    alone = GradientBoostedQuantiles(ets_weight=0.0, arima_weight=0.0, level_weight=0.0, max_iter=30)
    mixed = GradientBoostedQuantiles(ets_weight=0.3, arima_weight=0.2, level_weight=0.4, max_iter=30)
    ets, arima, level = Ets(), QuickArima(), RecentLevelQuantiles()
    for m in (alone, mixed, ets, arima, level):
        m.fit(history)
    a, b, e, r, v = (m.forecast(history, history.end, 600, Q) for m in (alone, mixed, ets, arima, level))
    assert a is not None and b is not None and e is not None and r is not None and v is not None
    assert [p.t for p in b.points] == [p.t for p in a.points]
    by_e, by_r, by_v = ({p.t: p.rps for p in f.points} for f in (e, r, v))
    for pa, pb in zip(a.points, b.points, strict=True):
        for k in range(len(Q)):
            want = 0.1 * pa.rps[k] + 0.3 * by_e[pa.t][k] + 0.2 * by_r[pa.t][k] + 0.4 * by_v[pa.t][k]
            assert pb.rps[k] == pytest.approx(want)
        assert pb.rps[0] <= pb.rps[1]  # a mix of monotone columns stays monotone
    assert b.source == "gbq"


def test_without_recent_data_for_ets_and_arima_gbq_answers_alone() -> None:
    values = poisson_series(4).values.copy()
    values[-30:] = np.nan  # the last 2.5 hours (5-min steps) lost: ETS and ARIMA say nothing
    gappy = RateSeries(poisson_series(4).start, 300.0, values)
    alone = GradientBoostedQuantiles(ets_weight=0.0, arima_weight=0.0, level_weight=0.0, max_iter=30)
    mixed = GradientBoostedQuantiles(ets_weight=0.3, arima_weight=0.3, level_weight=0.0, max_iter=30)
    for m in (alone, mixed):
        m.fit(gappy)
    assert Ets().forecast(gappy, gappy.end, 600, Q) is None
    a, b = (m.forecast(gappy, gappy.end, 600, Q) for m in (alone, mixed))
    assert a is not None and b is not None
    assert [p.rps for p in b.points] == pytest.approx([p.rps for p in a.points])


@pytest.mark.parametrize(
    ("ets", "arima", "level"),
    [
        (0.6, 0.4, 0.0),
        (0.2, 0.3, 0.5),
        (0.7, 0.5, 0.0),
        (-0.1, 0.2, 0.1),
        (math.nan, 0.1, 0.1),
        (0.1, 0.1, math.inf),
    ],
)
def test_weights_that_leave_gbq_nothing_or_are_not_numbers_are_refused(
    ets: float, arima: float, level: float
) -> None:
    with pytest.raises(ValueError, match="ets_weight, arima_weight and level_weight"):
        GradientBoostedQuantiles(ets_weight=ets, arima_weight=arima, level_weight=level)
