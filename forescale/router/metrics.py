"""Router metrics (contracts.md names), in a registry per app so apps do not collide."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# 1.5 s is the default latency SLO: a bucket edge there makes the SLO a bucket-based SLI.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10, 30, 60)


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "forescale_router_requests_total", "Inference requests by model and HTTP status code.",
            ["model", "code"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "forescale_router_request_duration_seconds", "Inference request latency at the router.",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.admitted = Counter(
            "forescale_router_admitted_total", "Requests admitted to the queue.", ["model"], registry=r
        )
        self.rejected = Counter(
            "forescale_router_rejected_total", "Requests refused at admission, by reason.",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "forescale_queue_depth", "XLEN of the model's request stream (backlog + in flight).",
            ["model"], registry=r,
        )  # fmt: skip

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: the lookup (label checks, a lock) cost more
        than the increment on the request path. Children live as long as their metric."""
        key = (id(metric), labels)
        hit = self._children.get(key)
        if hit is None:
            hit = self._children[key] = metric.labels(*labels)
        return hit
