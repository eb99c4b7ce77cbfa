"""Kubernetes HPA v2 arithmetic: the reactive term, stabilization windows and behavior rules.

Follows the documented algorithm (kubernetes.io, "Horizontal Pod Autoscaling"):

- desired = ceil(current * metric / target), which for an RPS target is
  ceil(rps / target_rps_per_replica); no change while |ratio - 1| <= tolerance;
- stabilization: the recommendation is bounded below by the *minimum* raw recommendation
  of the scale-up window and above by the *maximum* of the scale-down window (both
  windows include the current recommendation), then the current count is moved into
  that band;
- behavior rules: each rule allows a change of `value` pods or percent relative to the
  replica count at the start of its period; `select` picks the most (max) or least (min)
  permissive rule, `disabled` forbids the direction.

Histories are plain tuples so PolicyState stays JSON; the windows are monotone queues so
the max/min is the first element and the tuples stay short even with 1 s ticks.
"""

from __future__ import annotations

import math

from forescale.core.model import ScalingBehavior

History = tuple[tuple[float, int], ...]

# Guards ceil() against float noise: 118.00000000001 / 10 must not become 12.
_EPS = 1e-9


def ceil_div(amount: float, per: float) -> int:
    """ceil(amount / per), never negative, robust to float noise."""
    return max(0, math.ceil(amount / per - _EPS))


def reactive(rps: float, target: float, current: int, tolerance: float) -> tuple[int, str]:
    """HPA's replica count for an RPS target, and the sentence that explains it."""
    if current > 0:
        ratio = rps / (target * current)
        if abs(ratio - 1.0) <= tolerance:
            return current, (
                f"reactive: {current} replicas kept, usage ratio {ratio:.2f} = {rps:.1f} req/s / "
                f"({current} x {target:g} per replica) is within the tolerance {tolerance:g}"
            )
    n = ceil_div(rps, target)
    return n, f"reactive: {n} replicas = ceil({rps:.1f} req/s / {target:g} per replica)"


def push_window(history: History, now: float, value: int, window_s: float, keep_max: bool) -> History:
    """Add ``(now, value)`` to a monotone queue over the last ``window_s`` seconds.

    With ``keep_max`` the first element is the window's maximum, otherwise its minimum.
    Entries at or before ``now - window_s`` fall out, as in HPA (it keeps samples strictly
    after the cutoff).
    """
    cutoff = now - window_s
    start, end = 0, len(history)
    while start < end and history[start][0] <= cutoff:  # oldest first: expired ones lead
        start += 1
    if keep_max:
        while end > start and history[end - 1][1] <= value:
            end -= 1
    else:
        while end > start and history[end - 1][1] >= value:
            end -= 1
    return (*history[start:end], (now, value))


def recent(history: History, now: float, window_s: float) -> History:
    """The part of a window's queue within the last ``window_s`` (the newest entry always).

    A monotone queue's suffix is the monotone queue of the shorter window, so one history
    kept over the spec's window also answers for any shorter one.
    """
    cutoff = now - window_s
    start = 0
    while start < len(history) - 1 and history[start][0] <= cutoff:
        start += 1
    return history[start:]


def stabilize(current: int, up_history: History, down_history: History) -> int:
    """Move ``current`` into [min over the scale-up window, max over the scale-down window]."""
    up_floor = up_history[0][1]
    down_ceiling = down_history[0][1]
    value = max(current, up_floor)
    return min(value, down_ceiling)


def _changed(events: History, now: float, period_s: float) -> tuple[int, int]:
    """Replicas added and removed by scale events in the last ``period_s``."""
    added = removed = 0
    cutoff = now - period_s
    for t, delta in events:
        if t > cutoff:
            if delta > 0:
                added += delta
            else:
                removed -= delta
    return added, removed


def scale_up_limit(current: int, events: History, now: float, behavior: ScalingBehavior) -> int:
    """The highest count the scale-up rules allow now (never below ``current``)."""
    if behavior.select == "disabled":
        return current
    proposals = []
    for rule in behavior.rules:
        added, removed = _changed(events, now, rule.period_s)
        start = current - added + removed
        if rule.type == "pods":
            proposals.append(start + rule.value)
        else:  # rounded up so that a small count can still grow (as HPA does)
            proposals.append(math.ceil(start * (1 + rule.value / 100) - _EPS))
    limit = min(proposals) if behavior.select == "min" else max(proposals)
    return max(limit, current)


def scale_down_limit(current: int, events: History, now: float, behavior: ScalingBehavior) -> int:
    """The lowest count the scale-down rules allow now (never above ``current``)."""
    if behavior.select == "disabled":
        return current
    proposals = []
    for rule in behavior.rules:
        added, removed = _changed(events, now, rule.period_s)
        start = current - added + removed
        if rule.type == "pods":
            proposals.append(start - rule.value)
        else:  # truncated, as HPA does
            proposals.append(int(start * (1 - rule.value / 100) + _EPS))
    # `max` select = the most permissive rule = the lowest count.
    limit = max(proposals) if behavior.select == "min" else min(proposals)
    return min(max(limit, 0), current)


def record_event(events: History, now: float, delta: int, horizon_s: float) -> History:
    """Append a scale event and drop those older than the longest rule period."""
    cutoff = now - horizon_s
    start = 0
    while start < len(events) and events[start][0] <= cutoff:  # oldest first
        start += 1
    kept = events[start:] if start else events
    return (*kept, (now, delta)) if delta else kept


def longest_period(up: ScalingBehavior, down: ScalingBehavior) -> float:
    """How long scale events matter: the longest period of any rule in either direction."""
    longest = 0.0
    for rule in (*up.rules, *down.rules):
        if rule.period_s > longest:
            longest = rule.period_s
    return longest
