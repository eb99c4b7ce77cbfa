"""Clock faults: the wall clock stepping back, or jumping forward by more than a few ticks.

A policy's state is stamped in the controller's clock (HPA windows, scale events, panic,
pool timers). When the clock steps back, every stamp lies in the future: the scale-down
window never lets go of them and the count freezes for the step plus the window (a day
back held 20 replicas where 2 were needed). A big step forward makes the whole window
expire at once and drops 20 to 2 in one tick. Neither is elapsed time.

So a tick whose ``now`` is before the state's last tick, or more than ``max_gap_s`` after
it, is a clock fault: the state is re-stamped as if exactly one tick had passed (every
stamp shifted by the same amount, so windows keep their shape), the observation is
flagged stale (``clock``) so the core holds (no scale-down this tick), and the caller
counts it. The next tick runs normally: that is the recovery.

``max_gap_s`` is a few ticks, not one: a slow tick or a short pause is not a fault, and a
controller that was down for longer holds one tick before it acts, which is harmless.
"""

from __future__ import annotations

from typing import Literal

from forescale.core.model import Observation, PolicyState

Fault = Literal["backward", "forward"]
STALE = "clock"


def _shift_pairs(pairs: tuple[tuple[float, int], ...], by: float) -> tuple[tuple[float, int], ...]:
    return tuple((t + by, v) for t, v in pairs)


def _shift_map(m: dict[str, float], by: float) -> dict[str, float]:
    return {k: v + by for k, v in m.items()}


def restamp(state: PolicyState, by: float) -> PolicyState:
    """``state`` with every time stamp moved by ``by`` seconds."""
    return state.model_copy(
        update={
            "last_at": None if state.last_at is None else state.last_at + by,
            "up_history": _shift_pairs(state.up_history, by),
            "down_history": _shift_pairs(state.down_history, by),
            "scale_events": _shift_pairs(state.scale_events, by),
            "panic_at": None if state.panic_at is None else state.panic_at + by,
            "starting_since": _shift_map(state.starting_since, by),
            "unavailable_at": _shift_map(state.unavailable_at, by),
            # the forecast floor's coverage checks (core/coverage.py)
            "floor_pending": tuple((t + by, v) for t, v in state.floor_pending),
            "floor_rates": tuple((t + by, v) for t, v in state.floor_rates),
            "floor_checked_at": None if state.floor_checked_at is None else state.floor_checked_at + by,
            "floor_missed_at": None if state.floor_missed_at is None else state.floor_missed_at + by,
        }
    )


def check(
    obs: Observation, state: PolicyState, interval_s: float, max_gap_s: float
) -> tuple[Observation, PolicyState, Fault | None]:
    """The observation and state to decide with, and the fault found (``None``: none)."""
    last = state.last_at
    if last is None:
        return obs, state, None
    gap = obs.now - last
    if gap < 0:
        fault: Fault = "backward"
    elif gap > max_gap_s:
        fault = "forward"
    else:
        return obs, state, None
    fixed = restamp(state, (obs.now - interval_s) - last)
    flagged = obs.model_copy(update={"stale": (*obs.stale, f"{STALE} (stepped {gap:+.0f} s)")})
    return flagged, fixed, fault
