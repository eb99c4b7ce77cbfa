"""Generation metrics of an ``llm`` worker, in the worker's own registry (``model`` label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LABELS = ("model",)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30)
ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5)
E2E_BUCKETS = (0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10, 20, 30, 60, 120)


class GenMetrics:
    def __init__(self, registry: CollectorRegistry, model: str) -> None:
        r = registry
        self.ttft = Histogram("forescale_llm_time_to_first_token_seconds",
                              "Time from admission to the first token sent.", LABELS,
                              buckets=TTFT_BUCKETS, registry=r).labels(model)  # fmt: skip
        self.itl = Histogram("forescale_llm_inter_token_latency_seconds",
                             "Time between successive tokens of a sequence.", LABELS,
                             buckets=ITL_BUCKETS, registry=r).labels(model)  # fmt: skip
        self.e2e = Histogram("forescale_llm_e2e_seconds", "Time from admission to the last token.",
                             LABELS, buckets=E2E_BUCKETS, registry=r).labels(model)  # fmt: skip
        self.prompt_tokens = Counter("forescale_llm_prompt_tokens_total", "Prompt tokens admitted.",
                                     LABELS, registry=r).labels(model)  # fmt: skip
        self.generated_tokens = Counter("forescale_llm_generated_tokens_total", "Tokens generated and sent.",
                                        LABELS, registry=r).labels(model)  # fmt: skip
        self.running = Gauge("forescale_llm_running_sequences", "Sequences in the running batch.",
                             LABELS, registry=r).labels(model)  # fmt: skip
        self.waiting = Gauge("forescale_llm_waiting_sequences", "Sequences waiting for KV blocks or a slot.",
                             LABELS, registry=r).labels(model)  # fmt: skip
        self.kv_usage = Gauge("forescale_llm_kv_cache_usage_ratio", "Used / total KV cache blocks.",
                              LABELS, registry=r).labels(model)  # fmt: skip
        self.preemptions = Counter("forescale_llm_preemptions_total",
                                   "Sequences preempted (KV blocks freed, recomputed later).",
                                   LABELS, registry=r).labels(model)  # fmt: skip
        self.handovers = Counter("forescale_llm_handovers_total",
                                 "Sequences handed to another worker on drain.",
                                 LABELS, registry=r).labels(model)  # fmt: skip
