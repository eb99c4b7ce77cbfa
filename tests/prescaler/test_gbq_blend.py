"""gbq's quantiles are mixed with exponential smoothing's (``ets_weight``) and ARIMA's
(``arima_weight``), point by point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale.prescaler.base import RateSeries
from forescale.prescaler.baselines import Arima, Ets
from forescale.prescaler.gbq import GradientBoostedQuantiles
from tests.prescaler.test_gbq import poisson_series

Q = (0.5, 0.9)


def test_quantiles_are_the_weighted_mean_of_gbq_ets_and_arima() -> None:
    history = poisson_series(4)
    alone = GradientBoostedQuantiles(ets_weight=0.0, arima_weight=0.0, max_iter=30)
    mixed = GradientBoostedQuantiles(ets_weight=0.3, arima_weight=0.2, max_iter=30)
    ets, arima = Ets(), Arima()
    for m in (alone, mixed, ets, arima):
        m.fit(history)
    a, b, e, r = (m.forecast(history, history.end, 600, Q) for m in (alone, mixed, ets, arima))
    assert a is not None and b is not None and e is not None and r is not None
    assert [p.t for p in b.points] == [p.t for p in a.points]
    by_e, by_r = {p.t: p.rps for p in e.points}, {p.t: p.rps for p in r.points}
    for pa, pb in zip(a.points, b.points, strict=True):
        for k in range(len(Q)):
            want = 0.5 * pa.rps[k] + 0.3 * by_e[pa.t][k] + 0.2 * by_r[pa.t][k]
            assert pb.rps[k] == pytest.approx(want)
        assert pb.rps[0] <= pb.rps[1]  # a mix of monotone columns stays monotone
    assert b.source == "gbq"


def test_without_recent_data_for_the_short_memory_models_gbq_answers_alone() -> None:
    values = poisson_series(4).values.copy()
    values[-30:] = np.nan  # the last 2.5 hours (5-min steps) lost: ETS and ARIMA say nothing
    gappy = RateSeries(poisson_series(4).start, 300.0, values)
    alone = GradientBoostedQuantiles(ets_weight=0.0, arima_weight=0.0, max_iter=30)
    mixed = GradientBoostedQuantiles(max_iter=30)
    for m in (alone, mixed):
        m.fit(gappy)
    assert Ets().forecast(gappy, gappy.end, 600, Q) is None
    a, b = (m.forecast(gappy, gappy.end, 600, Q) for m in (alone, mixed))
    assert a is not None and b is not None
    assert [p.rps for p in b.points] == pytest.approx([p.rps for p in a.points])


@pytest.mark.parametrize(("ets", "arima"), [(0.6, 0.4), (0.7, 0.5), (-0.1, 0.2), (math.nan, 0.1)])
def test_weights_that_leave_gbq_nothing_or_are_not_numbers_are_refused(ets: float, arima: float) -> None:
    with pytest.raises(ValueError, match="ets_weight, arima_weight and level_weight"):
        GradientBoostedQuantiles(ets_weight=ets, arima_weight=arima)
