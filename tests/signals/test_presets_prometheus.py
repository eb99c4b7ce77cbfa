"""Every engine preset against a real Prometheus holding that engine's series.

The series carry exactly the metric names and labels each engine documents (see
``core/metric_presets.py``), two replicas each, plus decoys (another model, another
namespace) that a query must not pick up. They are written as an OpenMetrics file and
backfilled with ``promtool tsdb create-blocks-from openmetrics``; they span the wall-clock
"now" (into the future), because the controller evaluates at Prometheus' own now.
Counters grow linearly, so every rate is known exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from forescale import keys
from forescale.controller.api.demand import PrometheusDemand
from forescale.controller.signals.prometheus import PrometheusSource
from forescale.core import metrics_spec
from forescale.core.clock import ManualClock
from forescale.core.metric_presets import KINDS, PRESETS
from forescale.core.metrics_spec import MetricSpec
from forescale.core.model import Observation, PolicySpec, PolicyState
from forescale.core.policy import decide
from forescale.devstack.prometheus_server import PrometheusServer, backfill
from forescale.prescaler.publisher import Publisher
from forescale.prescaler.settings import PrescalerSettings

STEP_S = 5
SPAN_S = 1200  # samples from now - 20 min to now + 20 min
NS = "llm"
MODEL = "llama-3.1-8b-instruct"
FREE_TEXT = 'meta-llama/Llama-3.1-8B-Instruct "v2"'  # a name a matcher must escape


def _pods(*labels: str) -> list[str]:
    """Two replicas of ``labels`` (already formatted) in namespace ``NS``."""
    return [",".join([*labels, f'namespace="{NS}"', f'pod="p{i}"']) for i in (0, 1)]


FORESCALE_QUEUE = 7.0  # every router reports the same stream length: the preset takes the max

# name -> list of (labels, kind, per-replica value or rate); kind "c" = counter (value = rate/s).
Series = dict[str, list[tuple[str, str, float]]]


def _engine(
    model_label: str, model: str, names: dict[str, tuple[str, tuple[float, float]]], extra: str = ""
) -> Series:
    """Series of one engine for ``model``: ``names`` maps metric name -> (c|g, per-pod values)."""
    base = [f'{model_label}="{model}"'] if model_label else []
    if extra:
        base.append(extra)
    out: Series = {}
    for name, (kind, values) in names.items():
        out[name] = [(labels, kind, v) for labels, v in zip(_pods(*base), values, strict=True)]
    return out


ENGINES: dict[str, tuple[str, dict[str, tuple[str, tuple[float, float]]], str]] = {
    "forescale": (
        "model",
        {
            "forescale_router_requests_total": ("c", (3.0, 5.0)),
            "forescale_queue_depth": ("g", (FORESCALE_QUEUE, FORESCALE_QUEUE)),
            "forescale_llm_prompt_tokens_total": ("c", (1000.0, 3000.0)),
            "forescale_llm_generated_tokens_total": ("c", (200.0, 300.0)),
        },
        'code="200"',
    ),
    "vllm": (
        "model_name",
        {
            "vllm:request_success_total": ("c", (3.0, 5.0)),
            "vllm:num_requests_running": ("g", (20.0, 30.0)),
            "vllm:num_requests_waiting": ("g", (4.0, 6.0)),
            "vllm:prompt_tokens_total": ("c", (1000.0, 3000.0)),
            "vllm:generation_tokens_total": ("c", (200.0, 300.0)),
            "vllm:kv_cache_usage_perc": ("g", (0.5, 0.7)),
        },
        'engine="0"',
    ),
    "sglang": (
        "model_name",
        {
            "sglang:num_requests_total": ("c", (3.0, 5.0)),
            "sglang:num_running_reqs": ("g", (20.0, 30.0)),
            "sglang:num_queue_reqs": ("g", (4.0, 6.0)),
            "sglang:prompt_tokens_total": ("c", (1000.0, 3000.0)),
            "sglang:generation_tokens_total": ("c", (200.0, 300.0)),
            "sglang:token_usage": ("g", (0.5, 0.7)),
        },
        'tp_rank="0"',
    ),
    "tgi": (
        "",
        {
            "tgi_request_count": ("c", (3.0, 5.0)),
            "tgi_batch_current_size": ("g", (20.0, 30.0)),
            "tgi_queue_size": ("g", (4.0, 6.0)),
            "tgi_request_input_length_sum": ("c", (1000.0, 3000.0)),
            "tgi_request_generated_tokens_sum": ("c", (200.0, 300.0)),
        },
        'service="tgi"',
    ),
    "triton": (
        "model",
        {
            "nv_inference_request_success": ("c", (3.0, 5.0)),
            "nv_inference_pending_request_count": ("g", (4.0, 6.0)),
        },
        'version="1"',
    ),
    "dynamo": (
        "model",
        {
            "dynamo_frontend_requests_total": ("c", (3.0, 5.0)),
            "dynamo_frontend_inflight_requests": ("g", (20.0, 30.0)),
            "dynamo_frontend_queued_requests": ("g", (4.0, 6.0)),
            "dynamo_frontend_input_sequence_tokens_sum": ("c", (1000.0, 3000.0)),
            "dynamo_frontend_output_sequence_tokens_sum": ("c", (200.0, 300.0)),
        },
        'dynamo_namespace="dynamo"',
    ),
}
# What each kind must read from the series above (sums over both replicas; KV: their mean).
EXPECTED = {"request_rate": 8.0, "in_flight": 50.0, "waiting": 10.0, "token_throughput": 4500.0,
            "kv_cache_usage": 0.6}  # fmt: skip


def expected(preset: str, kind: str) -> float:
    return FORESCALE_QUEUE if (preset, kind) == ("forescale", "waiting") else EXPECTED[kind]


DECOY_FACTOR = 100.0  # decoys are 100x larger: picking one up cannot pass unnoticed


def _all_series() -> Series:
    series: Series = {}
    for label, names, extra in ENGINES.values():
        for model, ns_scale in ((MODEL, 1.0), ("other-model", DECOY_FACTOR), (FREE_TEXT, 1.0)):
            if not label and model != MODEL:
                continue  # TGI has no model label: its decoy is another namespace (below)
            eng = _engine(label, model.replace("\\", "\\\\").replace('"', '\\"'), names, extra)
            for name, rows in eng.items():
                series.setdefault(name, []).extend((lab, k, v * ns_scale) for lab, k, v in rows)
        decoy = {n: (k, (v[0] * DECOY_FACTOR, v[1])) for n, (k, v) in names.items()}
        for name, rows in _engine(label, MODEL, decoy, extra).items():
            series[name].extend(
                (lab.replace(f'namespace="{NS}"', 'namespace="other"'), k, v) for lab, k, v in rows
            )
    # vLLM before V1 exposed the KV gauge as gpu_cache_usage_perc: a model on an old version
    series["vllm:gpu_cache_usage_perc"] = [(lab, "g", v) for lab, v in zip(
        _pods('model_name="old-vllm"'), (0.2, 0.4), strict=True)]  # fmt: skip
    return series


def _openmetrics(series: Series, start: int, end: int) -> str:
    lines = []
    for name, rows in series.items():  # one family per name, samples grouped, time ascending
        for labels, kind, value in rows:
            for ts in range(start, end + 1, STEP_S):
                v = value * (ts - start) if kind == "c" else value
                lines.append(f"{name}{{{labels}}} {v:.6f} {ts}")
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    work: Path = tmp_path_factory.mktemp("presets")
    now = int(time.time())
    with PrometheusServer(
        storage_dir=backfill(_openmetrics(_all_series(), now - SPAN_S, now + SPAN_S), work), retention="30d"
    ) as server:
        yield server


def _spec(preset: str, model: str = MODEL, **over: object) -> PolicySpec:
    """A policy listing every kind ``preset`` has (targets chosen so each count differs)."""
    targets = {"in_flight": 10.0, "waiting": 2.0, "token_throughput": 600.0, "kv_cache_usage": 0.5}
    metrics = [{"kind": "request_rate", "preset": preset, "namespace": NS}]
    metrics += [
        {"kind": k, "preset": preset, "namespace": NS, "target": t}
        for k, t in targets.items()
        if PRESETS[preset][k] is not None
    ]
    return PolicySpec.model_validate({"model": model, "target_rps_per_replica": 2.0, "max_replicas": 100,
                                      "metrics": metrics, **over})  # fmt: skip


@pytest.mark.parametrize("preset", list(ENGINES))
async def test_preset_reads_its_engines_series(preset: str, prometheus: PrometheusServer) -> None:
    spec = _spec(preset)
    sig = await PrometheusSource(prometheus.url, timeout_s=5).read(spec, time.time())
    assert sig.stale == ()
    assert sig.rps_stable == pytest.approx(EXPECTED["request_rate"], rel=1e-6)
    assert sig.rps_short == pytest.approx(EXPECTED["request_rate"], rel=1e-6)
    assert sig.queue_depth == round(expected(preset, "waiting"))
    kinds = {m.kind for m in metrics_spec.extra_metrics(spec.metrics)}
    assert set(sig.metrics) == kinds
    for kind, value in sig.metrics.items():
        assert value == pytest.approx(expected(preset, kind), rel=1e-6), kind


@pytest.mark.parametrize("preset", [p for p in ENGINES if PRESETS[p]["model_label"]])
async def test_free_text_model_name_is_escaped_in_every_preset(
    preset: str, prometheus: PrometheusServer
) -> None:
    source = PrometheusSource(prometheus.url, timeout_s=5)
    for kind in KINDS:
        if PRESETS[preset][kind] is None:
            continue
        m = MetricSpec.model_validate({"kind": kind, "preset": preset, "namespace": NS,
                                       "target": None if kind == "request_rate" else 1.0})  # fmt: skip
        value = await source._scalar(metrics_spec.query(m, FREE_TEXT, 60))
        assert value == pytest.approx(expected(preset, kind), rel=1e-6), kind


async def test_vllm_before_v1_kv_gauge_is_read_too(prometheus: PrometheusServer) -> None:
    m = MetricSpec(kind="kv_cache_usage", preset="vllm", target=0.8)
    value = await PrometheusSource(prometheus.url, timeout_s=5)._scalar(metrics_spec.query(m, "old-vllm", 60))
    assert value == pytest.approx(0.3)


async def test_custom_query_with_placeholders(prometheus: PrometheusServer) -> None:
    query = 'sum(vllm:num_requests_waiting{model_name="{{model}}",namespace="{{namespace}}"}) * 2'
    spec = PolicySpec.model_validate({"model": MODEL, "target_rps_per_replica": 2, "metrics": [
        {"kind": "request_rate", "preset": "vllm"},
        {"kind": "waiting", "query": query, "namespace": NS, "target": 5}]})  # fmt: skip
    sig = await PrometheusSource(prometheus.url, timeout_s=5).read(spec, time.time())
    assert sig.metrics == {"waiting": pytest.approx(20.0)} and sig.queue_depth == 20
    # no namespace: the decoy namespace (100x) is summed in
    assert sig.rps_stable == pytest.approx(3 * DECOY_FACTOR + 5 + 8)


async def test_vllm_kv_cache_wins_and_no_router_metrics_do_not_hold(prometheus: PrometheusServer) -> None:
    """From vLLM series only, the policy scales down (nothing is stale) and the largest
    metric count wins: KV usage 0.6 mean over 10 replicas at target 0.5 -> 12."""
    spec = _spec("vllm", scale_down={"stabilization_window_s": 0, "rules": [
        {"type": "percent", "value": 100, "period_s": 15}]})  # fmt: skip
    sig = await PrometheusSource(prometheus.url, timeout_s=5).read(spec, time.time())
    obs = Observation(now=1000.0, model=MODEL, rps_short=sig.rps_short, rps_stable=sig.rps_stable,
                      queue_depth=sig.queue_depth, current_replicas=10, ready_replicas=10,
                      stale=sig.stale, metric_values=dict(sig.metrics))  # fmt: skip
    decision, _ = decide(obs, spec, [], PolicyState())
    counts = {r.term: r.replicas for r in decision.reasons}
    # in_flight 50/10 -> 5, waiting 10/2 -> 5, tokens 4500/600 -> 8, request rate 8/2 -> 4
    assert counts["metric:in_flight"] == 5 and counts["metric:waiting"] == 5
    assert counts["metric:token_throughput"] == 8 and counts["reactive"] == 4
    assert decision.desired_replicas == 12 and decision.winner == "metric:kv_cache_usage"
    low = obs.model_copy(update={"metric_values": {**obs.metric_values, "kv_cache_usage": 0.1}})
    down, _ = decide(low, spec, [], PolicyState())
    assert down.desired_replicas == 8 and down.winner == "metric:token_throughput"  # scaled down


def test_missing_kind_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValidationError, match="preset 'triton' has no in_flight metric"):
        MetricSpec(kind="in_flight", preset="triton", target=4)
    with pytest.raises(ValidationError, match="unknown placeholder"):
        MetricSpec(kind="waiting", query='x{a="{{modle}}"}', target=1)
    with pytest.raises(ValidationError, match="each metric kind may be listed once"):
        _spec("vllm", metrics=[{"kind": "waiting", "target": 1}, {"kind": "waiting", "target": 2}])
    with pytest.raises(ValidationError, match="target_rps_per_replica"):
        MetricSpec(kind="request_rate", target=3)


async def test_prescaler_history_reads_the_policys_request_rate(
    prometheus: PrometheusServer, aredis: aioredis.Redis
) -> None:
    """The prescaler trains on the request rate the policy scales on: vLLM's here, where
    forescale's router counter does not exist (the what-if reads the same query)."""
    spec = _spec("vllm")
    await aredis.hset(keys.POLICIES, MODEL, spec.model_dump_json())  # type: ignore[misc]
    settings = PrescalerSettings(prometheus_url=prometheus.url, step_s=60, history_s=600, models=(MODEL,))
    publisher = Publisher(settings, aredis, ManualClock(0.0))
    now = time.time() - 60  # whole steps inside the backfilled span
    series = await publisher.history(MODEL, now)
    assert np.isfinite(series.values[-5:]).all()
    assert series.values[-5:] == pytest.approx(EXPECTED["request_rate"], rel=1e-6)
    demand = await PrometheusDemand(prometheus.url).recorded(MODEL, now, 600, spec.metrics)
    assert demand is not None and demand.values[-1] == pytest.approx(EXPECTED["request_rate"], rel=1e-6)
    # without the policy's metrics, forescale's router counter is read (here: both namespaces)
    router = await PrometheusDemand(prometheus.url).recorded(MODEL, now, 600)
    assert router is not None and router.values[-1] == pytest.approx(3 * DECOY_FACTOR + 5 + 8, rel=1e-6)
