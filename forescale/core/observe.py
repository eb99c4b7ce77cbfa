"""One way to assemble an ``Observation`` from what the ports report, for every driver.

The controller and the simulator both build the tick's observation here, from the
metrics source's ``Signals``, the node provider's pool observations and the replica
setter's counts, so the simulator sees exactly the shape the controller does.
"""

from __future__ import annotations

from collections.abc import Sequence

from forescale.core.model import Forecast, Observation, PoolObservation
from forescale.core.ports import PoolReplicas, Signals


def assemble(
    now: float,
    model: str,
    signals: Signals,
    pools: Sequence[PoolObservation],
    current: PoolReplicas,
    forecasts: tuple[Forecast, ...] = (),
) -> Observation:
    """The observation of ``model`` at ``now``; each pool gets its replica counts."""
    by_pool = current.by_pool
    seen = []
    for p in pools:
        c = by_pool.get(p.name)
        ready, want = (c.ready, c.desired) if c is not None else (0, 0)
        if (p.ready_replicas, p.replicas) != (ready, want):
            p = p.model_copy(update={"ready_replicas": ready, "replicas": want})
        seen.append(p)
    return Observation(
        now=now,
        model=model,
        rps_short=signals.rps_short,
        rps_stable=signals.rps_stable,
        queue_depth=signals.queue_depth,
        current_replicas=current.desired,
        ready_replicas=current.ready,
        starting_replicas=current.starting,
        pools=tuple(seen),
        forecasts=forecasts,
        stale=signals.stale,
        metric_values=dict(signals.metrics),
    )
