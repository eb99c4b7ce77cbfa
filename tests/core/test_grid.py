"""``to_grid``: periodic loops keep a fixed phase on the epoch grid of their period."""

from __future__ import annotations

import pytest

from forescale.core.clock import to_grid


@pytest.mark.parametrize(
    ("now", "period", "offset", "wait"),
    [
        (100.0, 1.0, 0.25, 0.25),  # on the grid: to the offset
        (100.3, 1.0, 0.25, 0.95),  # just past the offset: the next second's
        (100.2, 1.0, 0.25, 1.05),  # 0.05 s before it (under a tenth of a period): skipped
        (7.0, 15.0, 0.25, 8.25),  # 15-s grid: 0, 15, 30 ... plus the offset
        (100.0, 0.0, 0.25, 0.0),  # no period: no wait
    ],
)
def test_waits_until_the_next_grid_point(now: float, period: float, offset: float, wait: float) -> None:
    assert to_grid(now, period, offset) == pytest.approx(wait)


def test_a_loop_on_the_grid_keeps_its_phase_whatever_its_work_takes() -> None:
    now, phases = 1_700_000_000.37, []
    for work in (0.01, 0.4, 0.02, 0.7, 0.05):
        now += to_grid(now, 1.0, 0.25)
        phases.append(round(now % 1, 6))
        now += work
    assert phases == [0.25] * 5
