"""HPA v2 replica counts for a policy's listed metrics (besides the request rate).

For each metric, as the HPA computes it (kubernetes.io, "Horizontal Pod Autoscaling"):

- totals (in-flight, waiting, token throughput; HPA ``AverageValue``):
  desired = ceil(total / target per replica);
- usage ratios (KV cache; HPA ``Utilization``): desired = ceil(current x mean / target);

with no change while the usage ratio is within the tolerance of 1. The policy takes the
largest count over these and its other terms. A metric with no value this tick names no
count: the loop has marked it stale, so the policy holds instead of scaling down.
"""

from __future__ import annotations

from collections.abc import Mapping

from forescale.core.hpa import ceil_div
from forescale.core.metrics_spec import AVERAGE_KINDS, MetricSpec, extra_metrics

UNITS = {"in_flight": "requests in flight", "waiting": "requests waiting",
         "token_throughput": "tokens/s", "kv_cache_usage": "KV cache usage"}  # fmt: skip


def metric_replicas(
    kind: str, value: float, target: float, current: int, tolerance: float
) -> tuple[int, str]:
    """HPA's replica count for one metric, and the sentence that explains it."""
    unit = UNITS.get(kind, kind)
    if kind in AVERAGE_KINDS:
        if current == 0:  # a ratio per replica of no replicas: nothing to scale from
            return 0, f"{kind}: no replicas to average {unit} over"
        ratio = value / target
        total, shown = current * value, f"{current} x {value:.2f} mean {unit}"
    else:
        ratio = value / (target * current) if current else float("inf")
        total, shown = value, f"{value:.1f} {unit}"
    if current > 0 and abs(ratio - 1.0) <= tolerance:
        kept = f"{current} replicas kept, usage ratio {ratio:.2f}"
        return current, f"{kind}: {kept} within tolerance {tolerance:g}"
    n = ceil_div(total, target)
    return n, f"{kind}: {n} replicas = ceil({shown} / {target:g} per replica)"


def metric_terms(
    values: Mapping[str, float], metrics: tuple[MetricSpec, ...], current: int, tolerance: float
) -> list[tuple[str, int, str]]:
    """(term, replicas, detail) for each listed metric that has a value this tick."""
    out = []
    for m in extra_metrics(metrics):
        value = values.get(m.kind)
        if value is None or m.target is None:
            continue
        n, detail = metric_replicas(m.kind, value, m.target, current, tolerance)
        out.append((f"metric:{m.kind}", n, detail))
    return out
