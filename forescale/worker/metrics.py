"""Worker metrics (contracts.md names), in a registry per worker."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    def __init__(self, model: str) -> None:
        self.registry = r = CollectorRegistry()
        self.batch_size = Histogram(
            "forescale_worker_batch_size", "Requests per engine call.", buckets=BATCH_BUCKETS, registry=r
        )
        self.inference = Histogram(
            "forescale_worker_inference_seconds",
            "Engine time per batch.",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "forescale_worker_queue_wait_seconds", "Time from enqueue to the start of the engine call.",
            buckets=SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.busy_ratio = Gauge(
            "forescale_worker_busy_ratio",
            "Share of the last heartbeat period spent in the engine.",
            registry=r,
        )
        self.reclaimed = Counter(
            "forescale_worker_reclaimed_total", "Entries this worker reclaimed from idle owners.", registry=r
        )
        self.dead_lettered = Counter(
            "forescale_worker_dead_lettered_total", "Entries moved to the dead-letter stream.", registry=r
        )
        self.ready = Gauge("forescale_worker_ready", "1 when warmed up and consuming.", ["model"], registry=r)
        self.ready.labels(model).set(0)
