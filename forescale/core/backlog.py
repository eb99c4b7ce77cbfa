"""The backlog term: enough replicas that the queue still waiting when they can be ready
drains within the SLO.

In a fluid queue a request arriving behind ``depth`` others waits ``depth / (R * mu)``
with ``R`` replicas of ``mu`` req/s each; keeping that under the latency SLO needs
``R >= depth / (slo * mu)``. Arrivals are the reactive term's job (the policy takes the
max of both), so a normal in-flight queue (about rps x service time, below rps x SLO)
never makes this term win: it wins only when a queue built up that the rate alone hides.

Replicas asked for now are ready a lead time later. By then the replicas already asked
for (ready, and those still starting, which were asked earlier and so come first) have
served part of the queue, or all of it: after a spot reclaim or a short burst the queue
often drains on replacements already on their way. Sizing for today's depth then buys
capacity that arrives to an empty queue (measured in the demo: six on-demand nodes ready
eight seconds after the spot replacements had drained the queue, a quarter of the day's
cost). So the term sizes for ``queue_at_lead``: the queue projected to the lead time at
the larger of the two rates, each replica asked for serving from when it is due (ready
ones, and those loading on ready nodes: now; those on starting nodes: their pool's lead
time less the time they have been starting) at its service rate
(``prescale.service_rps_per_replica``, else the utilisation target: a queue drains at
what a replica serves, the target is a steady-state margin). Never more than today's
depth: the projection only removes what capacity already asked for will serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from forescale.core.hpa import ceil_div
from forescale.core.model import Observation, PolicySpec
from forescale.core.pooltable import PoolTable


def backlog(depth: int, target_rps: float, slo_s: float) -> tuple[int, str]:
    """Replicas to drain ``depth`` queued requests within ``slo_s``, and why."""
    n = ceil_div(depth, target_rps * slo_s)
    return n, (
        f"backlog: {n} replicas = ceil({depth} queued / ({target_rps:g} per replica x {slo_s:g} s SLO))"
    )


def starting(table: PoolTable, starting_since: Mapping[str, float], now: float) -> list[tuple[int, float]]:
    """``(replicas, seconds until due)`` per pool with nodes starting: its lead time less the
    time they have been starting (``starting_since``: since the pool's last progress)."""
    names, per = table.layout.names, table.layout.per
    return [
        (table.starting[i] * per[i], table.lead_s[i] - (now - starting_since.get(names[i], now)))
        for i in table.occupied
        if table.starting[i]
    ]


def queue_at_lead(
    depth: float,
    rate: float,
    ready: int,
    asked: int,
    serve_rps: float,
    lead_s: float,
    in_flight: Sequence[tuple[int, float]] = (),
) -> float:
    """The queue left ``lead_s`` from now (see module doc), between 0 and ``depth``.

    ``in_flight``: ``(replicas, seconds until due)`` on starting nodes; the other asked-for
    replicas past the ready ones sit on ready nodes (loading) and count from now."""
    left = max(asked - ready, 0)
    replica_s = (ready + left) * lead_s
    for replicas, due_s in in_flight:
        n = min(replicas, left)
        left -= n
        replica_s -= n * min(max(due_s, 0.0), lead_s)  # not serving until due
    return min(float(depth), max(0.0, depth + rate * lead_s - serve_rps * replica_s))


def term(
    obs: Observation, spec: PolicySpec, lead_s: float, in_flight: Sequence[tuple[int, float]]
) -> tuple[int, str]:
    """The backlog term for ``obs`` (its queue depth must be known)."""
    depth = obs.queue_depth or 0
    rate = max(obs.rps_stable or 0.0, obs.rps_short or 0.0)
    target = spec.target_rps_per_replica
    serve = spec.prescale.service_rps_per_replica or target
    left = queue_at_lead(depth, rate, obs.ready_replicas, obs.current_replicas, serve, lead_s, in_flight)
    n, detail = backlog(round(left), target, spec.latency_slo_s)
    if round(left) < depth:
        detail += (
            f"; {depth} queued now, {round(left)} left when capacity asked now is ready in {lead_s:.0f} s"
            f" (at {rate:.1f} req/s, the {obs.current_replicas} replicas asked for serving)"
        )
    return n, detail
