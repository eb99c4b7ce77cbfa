"""HPA v2 arithmetic, row by row (kubernetes.io "Horizontal Pod Autoscaling" algorithm)."""

from __future__ import annotations

import pytest

from forescale.core import hpa
from forescale.core.model import ScalingBehavior, ScalingRule


@pytest.mark.parametrize(
    ("rps", "target", "current", "tolerance", "expected"),
    [
        (118.0, 10.0, 4, 0.1, 12),  # ceil(11.8)
        (120.0, 10.0, 4, 0.1, 12),  # exact: no float noise rounds it up to 13
        (0.0, 10.0, 4, 0.1, 0),  # no demand
        (0.0, 10.0, 0, 0.1, 0),  # from zero, stays zero
        (25.0, 10.0, 0, 0.1, 3),  # from zero: no ratio, plain ceil
        (105.0, 10.0, 10, 0.1, 10),  # ratio 1.05: within tolerance, keep
        (91.0, 10.0, 10, 0.1, 10),  # ratio 0.91: within tolerance, keep
        (111.0, 10.0, 10, 0.1, 12),  # ratio 1.11: outside, ceil(11.1)
        (89.0, 10.0, 10, 0.1, 9),  # ratio 0.89: outside, ceil(8.9)
        (105.0, 10.0, 10, 0.0, 11),  # no tolerance
    ],
)
def test_reactive(rps: float, target: float, current: int, tolerance: float, expected: int) -> None:
    n, detail = hpa.reactive(rps, target, current, tolerance)
    assert n == expected
    assert detail.startswith("reactive: ")
    assert str(expected) in detail


def test_reactive_detail_reads_like_a_sentence() -> None:
    assert (
        hpa.reactive(118.0, 10.0, 4, 0.1)[1] == "reactive: 12 replicas = ceil(118.0 req/s / 10 per replica)"
    )


@pytest.mark.parametrize(
    ("history", "now", "value", "window", "keep_max", "expected"),
    [
        ((), 10.0, 5, 300, True, ((10.0, 5),)),
        (((0.0, 9), (5.0, 4)), 10.0, 5, 300, True, ((0.0, 9), (10.0, 5))),  # 4 can never be the max
        (((0.0, 9), (5.0, 4)), 300.0, 5, 300, True, ((300.0, 5),)),  # t=0 leaves at the cutoff; 4 dominated
        (((0.0, 9),), 299.0, 5, 300, True, ((0.0, 9), (299.0, 5))),
        (((0.0, 3), (5.0, 6)), 10.0, 4, 300, False, ((0.0, 3), (10.0, 4))),  # min queue
        (((0.0, 3),), 10.0, 4, 0, False, ((10.0, 4),)),  # zero window: only now
    ],
)
def test_push_window(history, now, value, window, keep_max, expected) -> None:  # type: ignore[no-untyped-def]
    assert hpa.push_window(history, now, value, window, keep_max) == expected


@pytest.mark.parametrize(
    ("current", "up", "down", "expected"),
    [
        (5, ((0.0, 8),), ((0.0, 8),), 8),  # scale up to the recommendation
        (10, ((0.0, 4),), ((0.0, 7),), 7),  # scale down only to the window's max
        (6, ((0.0, 4),), ((0.0, 7),), 6),  # inside the band: keep
        (2, ((0.0, 4),), ((0.0, 7),), 4),  # below the up-window min: rise to it
    ],
)
def test_stabilize(current: int, up: hpa.History, down: hpa.History, expected: int) -> None:
    assert hpa.stabilize(current, up, down) == expected


def _b(*rules: tuple[str, int, float], select: str = "max") -> ScalingBehavior:
    return ScalingBehavior(
        stabilization_window_s=0,
        rules=tuple(ScalingRule(type=t, value=v, period_s=p) for t, v, p in rules),  # type: ignore[arg-type]
        select=select,  # type: ignore[arg-type]
    )


UP_DEFAULT = _b(("percent", 100, 15), ("pods", 4, 15))


@pytest.mark.parametrize(
    ("current", "events", "now", "behavior", "expected"),
    [
        (1, (), 100.0, UP_DEFAULT, 5),  # max(2, 1+4)
        (10, (), 100.0, UP_DEFAULT, 20),  # max(20, 14)
        (0, (), 100.0, UP_DEFAULT, 4),  # from zero only the pods rule helps
        (10, (), 100.0, _b(("percent", 100, 15), ("pods", 4, 15), select="min"), 14),
        (10, ((95.0, 5),), 100.0, UP_DEFAULT, 10),  # 5 -> 10 within 15 s: period start 5, limit max(10, 9)
        (10, ((80.0, 5),), 100.0, UP_DEFAULT, 20),  # that event is older than the period
        (10, ((95.0, -4),), 100.0, UP_DEFAULT, 28),  # period started at 14
        (10, (), 100.0, _b(("pods", 1, 15), select="disabled"), 10),
        (3, (), 100.0, _b(("percent", 10, 15)), 4),  # rounded up: 3.3 -> 4
    ],
)
def test_scale_up_limit(current, events, now, behavior, expected) -> None:  # type: ignore[no-untyped-def]
    assert hpa.scale_up_limit(current, events, now, behavior) == expected


DOWN_DEFAULT = _b(("percent", 100, 15))


@pytest.mark.parametrize(
    ("current", "events", "now", "behavior", "expected"),
    [
        (10, (), 100.0, DOWN_DEFAULT, 0),
        (10, (), 100.0, _b(("pods", 1, 60)), 9),
        (10, ((70.0, -1),), 100.0, _b(("pods", 1, 60)), 10),  # one already removed this minute
        (10, ((30.0, -1),), 100.0, _b(("pods", 1, 60)), 9),  # the minute has passed
        (10, (), 100.0, _b(("percent", 10, 60)), 9),
        (9, (), 100.0, _b(("percent", 10, 60)), 8),  # 8.1 truncated
        (10, (), 100.0, _b(("pods", 1, 60), ("percent", 50, 60)), 5),  # max select: most permissive
        (10, (), 100.0, _b(("pods", 1, 60), ("percent", 50, 60), select="min"), 9),
        (10, (), 100.0, _b(("pods", 1, 60), select="disabled"), 10),
        (2, (), 100.0, _b(("pods", 5, 60)), 0),  # never negative
    ],
)
def test_scale_down_limit(current, events, now, behavior, expected) -> None:  # type: ignore[no-untyped-def]
    assert hpa.scale_down_limit(current, events, now, behavior) == expected


def test_record_event_drops_old_and_zero() -> None:
    events = ((0.0, 3), (90.0, -1))
    assert hpa.record_event(events, 100.0, 0, 15.0) == ((90.0, -1),)
    assert hpa.record_event(events, 100.0, 2, 15.0) == ((90.0, -1), (100.0, 2))


# a scale-down queue (max first) pushed at t = 0, 100, 200, 300 with 9, 7, 5, 3
DOWN: hpa.History = ((0.0, 9), (100.0, 7), (200.0, 5), (300.0, 3))


@pytest.mark.parametrize(
    ("window", "expected_max"),
    [
        (400.0, 9),  # the whole queue
        (300.0, 7),  # t = 0 is at the cutoff: out, as in push_window
        (150.0, 5),
        (50.0, 3),
        (0.0, 3),  # the newest entry always stays
    ],
)
def test_recent_is_the_shorter_windows_queue(window: float, expected_max: int) -> None:
    tail = hpa.recent(DOWN, 300.0, window)
    assert tail[0][1] == expected_max and tail[-1] == DOWN[-1]
    # the same as a queue kept over that window from the start
    built: hpa.History = ()
    for t, v in DOWN:
        built = hpa.push_window(built, t, v, window, keep_max=True)
    assert tail == built
