"""HPA v2 per-metric replica counts (pure): totals, usage ratios, tolerance, no replicas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forescale.core.metric_terms import metric_replicas, metric_terms
from forescale.core.metrics_spec import MetricSpec, matchers, query, quote
from forescale.core.model import PolicySpec

CASES = [
    # kind, value, target, current, tolerance -> replicas
    ("in_flight", 50, 10, 4, 0.1, 5),  # AverageValue: ceil(50 / 10)
    ("in_flight", 41, 10, 4, 0.1, 4),  # ratio 1.025 within tolerance: kept
    ("waiting", 0, 2, 6, 0.1, 0),  # nothing waiting: this metric asks for none
    ("token_throughput", 4500, 600, 0, 0.1, 8),  # from zero replicas: a total still counts
    ("kv_cache_usage", 0.9, 0.5, 10, 0.1, 18),  # Utilization: ceil(10 x 0.9 / 0.5)
    ("kv_cache_usage", 0.52, 0.5, 10, 0.1, 10),  # within tolerance
    ("kv_cache_usage", 0.9, 0.5, 0, 0.1, 0),  # a mean over no replicas says nothing
]


@pytest.mark.parametrize(("kind", "value", "target", "current", "tol", "want"), CASES)
def test_metric_replicas(kind: str, value: float, target: float, current: int, tol: float, want: int) -> None:
    n, detail = metric_replicas(kind, value, target, current, tol)
    assert n == want and detail.startswith(kind)


def test_terms_skip_missing_values_and_the_request_rate() -> None:
    metrics = (
        MetricSpec(kind="request_rate", preset="vllm"),
        MetricSpec(kind="in_flight", preset="vllm", target=10),
        MetricSpec(kind="waiting", preset="vllm", target=2),
    )
    terms = metric_terms({"in_flight": 35.0}, metrics, 2, 0.1)
    assert [(t, n) for t, n, _ in terms] == [("metric:in_flight", 4)]


def test_templating_escapes_free_text_names() -> None:
    m = MetricSpec(kind="waiting", preset="vllm", target=1, namespace="llm", selector={"app": 'v"1'})
    assert quote('a\\b"c') == 'a\\\\b\\"c'
    assert matchers(m, 'meta-llama/Llama-3.1-8B "x"') == (
        'model_name="meta-llama/Llama-3.1-8B \\"x\\"",namespace="llm",app="v\\"1"'
    )
    custom = MetricSpec(kind="waiting", target=1, query="sum(q{ {{selector}} }[{{window}}]) # {{model}}")
    assert query(custom, "m", 59.6) == "sum(q{  }[60s]) # m"  # no model label: the query names it


def test_custom_only_metrics_must_measure_rate_and_queue() -> None:
    custom = {"kind": "in_flight", "target": 8, "query": "sum(x{ {{selector}} })"}
    with pytest.raises(ValidationError, match="no request_rate metric"):
        PolicySpec.model_validate({"model": "m", "target_rps_per_replica": 1, "metrics": [custom]})
    rate = {"kind": "request_rate", "query": "sum(rate(r[{{window}}]))"}
    queue = {"kind": "waiting", "target": 2, "query": "sum(w)"}
    spec = PolicySpec.model_validate(
        {"model": "m", "target_rps_per_replica": 1, "metrics": [custom, rate, queue]}
    )
    assert len(spec.metrics) == 3
