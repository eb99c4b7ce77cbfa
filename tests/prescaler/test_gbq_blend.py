"""gbq's quantiles are mixed with exponential smoothing's (``ets_weight``), point by point."""

from __future__ import annotations

import pytest

from forescale.prescaler.baselines import Ets
from forescale.prescaler.gbq import GradientBoostedQuantiles
from tests.prescaler.test_gbq import poisson_series


def test_quantiles_are_the_weighted_mean_of_gbq_and_ets() -> None:
    history = poisson_series(4)
    q = (0.5, 0.9)
    alone = GradientBoostedQuantiles(ets_weight=0.0, max_iter=30)
    mixed = GradientBoostedQuantiles(ets_weight=0.4, max_iter=30)
    ets = Ets()
    for m in (alone, mixed, ets):
        m.fit(history)
    a, b, e = (m.forecast(history, history.end, 600, q) for m in (alone, mixed, ets))
    assert a is not None and b is not None and e is not None
    assert [p.t for p in b.points] == [p.t for p in a.points]
    theirs = {p.t: p.rps for p in e.points}
    for pa, pb in zip(a.points, b.points, strict=True):
        for k in range(len(q)):
            assert pb.rps[k] == pytest.approx(0.6 * pa.rps[k] + 0.4 * theirs[pa.t][k])
        assert pb.rps[0] <= pb.rps[1]  # a mix of two monotone columns stays monotone
    assert b.source == "gbq"
