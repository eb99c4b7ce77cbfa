"""The backlog term: enough replicas that the queue now waiting drains within the SLO.

In a fluid queue a request arriving behind ``depth`` others waits ``depth / (R * mu)``
with ``R`` replicas of ``mu`` req/s each; keeping that under the latency SLO needs
``R >= depth / (slo * mu)``. Arrivals are the reactive term's job (the policy takes the
max of both), so a normal in-flight queue (about rps x service time, below rps x SLO)
never makes this term win: it wins only when a queue built up that the rate alone hides.
"""

from __future__ import annotations

from forescale.core.hpa import ceil_div


def backlog(depth: int, target_rps: float, slo_s: float) -> tuple[int, str]:
    """Replicas to drain ``depth`` queued requests within ``slo_s``, and why."""
    n = ceil_div(depth, target_rps * slo_s)
    return n, (
        f"backlog: {n} replicas = ceil({depth} queued / ({target_rps:g} per replica x {slo_s:g} s SLO))"
    )
