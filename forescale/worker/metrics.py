"""Worker metrics (contracts.md names), in a registry per worker.

Every metric carries the ``model`` label: a worker serves one model, and a Prometheus
that scrapes workers outside Kubernetes (no ServiceMonitor relabelling from pod labels)
must still tell models apart. The attributes are the children bound to that model, so
callers observe/inc/set without naming it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LABELS = ("model",)


class WorkerMetrics:
    def __init__(self, model: str) -> None:
        self.registry = r = CollectorRegistry()
        self.batch_size = Histogram(
            "forescale_worker_batch_size",
            "Requests per engine call.",
            LABELS,
            buckets=BATCH_BUCKETS,
            registry=r,
        ).labels(model)
        self.inference = Histogram(
            "forescale_worker_inference_seconds",
            "Engine time per batch.",
            LABELS,
            buckets=SECONDS_BUCKETS,
            registry=r,
        ).labels(model)
        self.queue_wait = Histogram(
            "forescale_worker_queue_wait_seconds",
            "Time from enqueue to the start of the engine call.",
            LABELS,
            buckets=SECONDS_BUCKETS,
            registry=r,
        ).labels(model)
        self.busy_ratio = Gauge(
            "forescale_worker_busy_ratio",
            "Share of the last heartbeat period spent in the engine.",
            LABELS,
            registry=r,
        ).labels(model)
        self.reclaimed = Counter(
            "forescale_worker_reclaimed_total",
            "Entries this worker reclaimed from idle owners.",
            LABELS,
            registry=r,
        ).labels(model)
        self.dead_lettered = Counter(
            "forescale_worker_dead_lettered_total",
            "Entries moved to the dead-letter stream.",
            LABELS,
            registry=r,
        ).labels(model)
        self.ready = Gauge(
            "forescale_worker_ready", "1 when warmed up and consuming.", LABELS, registry=r
        ).labels(model)
        self.ready.set(0)
