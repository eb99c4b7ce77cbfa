"""One way to assemble an ``Observation`` from what the ports report, for every driver.

The controller and the simulator both build the tick's observation here, from the
metrics source's ``Signals``, the node provider's pool observations and the replica
setter's counts, so the simulator sees exactly the shape the controller does.

This is also where what was observed is checked. ``Observation`` and ``PoolObservation``
are plain frozen dataclasses (read ~10^5 times a tick; core/model.py), so nothing checks
them when they are made: a negative count or a non-finite number (a NaN rate from a
metrics backend, an infinite lead time) is refused here, before it reaches the core,
as ``BadObservation`` naming the model and the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from forescale.core.model import Forecast, Observation, PoolObservation
from forescale.core.ports import PoolReplicas, Signals


class BadObservation(ValueError):
    """What a port reported cannot be a value: a negative count or a non-finite number."""


def _finite(model: str, what: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise BadObservation(f"{model}: {what} is {value}, not a finite number")


def _count(model: str, what: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise BadObservation(f"{model}: {what} is {value}, must be >= 0")


def check_signals(model: str, signals: Signals) -> None:
    """Raise ``BadObservation`` for a non-finite rate or metric value."""
    _finite(model, "rps_short", signals.rps_short)
    _finite(model, "rps_stable", signals.rps_stable)
    for kind, value in signals.metrics.items():
        _finite(model, f"metric {kind}", value)


def check_pool(model: str, p: PoolObservation) -> None:
    """Raise ``BadObservation`` for a negative count or a non-finite time in ``p``."""
    # the usual pool (counts >= 0, no times) passes on the first test
    if min(p.ready_nodes, p.starting_nodes, p.draining_nodes, p.ready_replicas, p.replicas,
           p.interruptions) < 0:  # fmt: skip
        for what in ("ready_nodes", "starting_nodes", "draining_nodes", "ready_replicas", "replicas",
                     "interruptions"):  # fmt: skip
            _count(model, f"pool {p.name} {what}", getattr(p, what))
    _finite(model, f"pool {p.name} insufficient_capacity_at", p.insufficient_capacity_at)
    for d in p.lead_times_s:
        _finite(model, f"pool {p.name} lead time", d)


def assemble(
    now: float,
    model: str,
    signals: Signals,
    pools: Sequence[PoolObservation],
    current: PoolReplicas,
    forecasts: tuple[Forecast, ...] = (),
) -> Observation:
    """The observation of ``model`` at ``now``; each pool gets its replica counts.

    Raises ``BadObservation`` where a port reported a negative count or a non-finite number.
    """
    _finite(model, "now", now)
    check_signals(model, signals)
    by_pool = current.by_pool
    seen = []
    for p in pools:
        c = by_pool.get(p.name)
        ready, want = (c.ready, c.desired) if c is not None else (0, 0)
        if (p.ready_replicas, p.replicas) != (ready, want):
            p = p.model_copy(update={"ready_replicas": ready, "replicas": want})
        check_pool(model, p)
        seen.append(p)
    desired, ready, starting = current.desired, current.ready, current.starting
    _count(model, "current_replicas", desired)
    _count(model, "ready_replicas", ready)
    _count(model, "starting_replicas", starting)
    return Observation(
        now=now,
        model=model,
        rps_short=signals.rps_short,
        rps_stable=signals.rps_stable,
        queue_depth=signals.queue_depth,
        current_replicas=desired,
        ready_replicas=ready,
        starting_replicas=starting,
        pools=tuple(seen),
        forecasts=forecasts,
        stale=signals.stale,
        metric_values=dict(signals.metrics),
    )
