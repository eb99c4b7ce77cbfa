"""PromQL templates per serving engine, built from the metric names each engine documents.

Placeholders are filled by ``core.metrics_spec.render``: ``{{selector}}`` holds the label
matchers (the engine's model label, the namespace and the policy's selector), ``{{window}}``
the rate range. ``None`` marks a kind the engine does not expose; a policy asking a
preset for it is refused with ``missing_kind``'s sentence.

Aggregation: counts and rates are summed over every replica (HPA ``AverageValue``:
desired = total / per-replica target); the KV cache usage is averaged (HPA
``Utilization``: desired = current x mean / target). ``max`` for forescale's queue depth:
every router reports the same stream length.

Sources (metric names and labels as documented):
- forescale: the routers' ``forescale_router_requests_total``, ``forescale_queue_depth``;
  the ``llm`` workers' ``forescale_llm_prompt_tokens_total`` and
  ``forescale_llm_generated_tokens_total``; label ``model``.
- vLLM, "Production Metrics": ``vllm:num_requests_running``, ``vllm:num_requests_waiting``,
  ``vllm:kv_cache_usage_perc`` (V1; ``vllm:gpu_cache_usage_perc`` before it, a ratio
  despite the name), ``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``,
  ``vllm:request_success_total``; label ``model_name``.
- SGLang, "Production Metrics": ``sglang:num_running_reqs``, ``sglang:num_queue_reqs``,
  ``sglang:token_usage``, ``sglang:prompt_tokens_total``, ``sglang:generation_tokens_total``,
  ``sglang:num_requests_total``; label ``model_name``.
- TGI, "Metrics": ``tgi_request_count``, ``tgi_batch_current_size``, ``tgi_queue_size``,
  histograms ``tgi_request_input_length`` and ``tgi_request_generated_tokens``; no model
  label (one model per server: select by namespace / pod labels); no KV cache gauge.
- Triton, "Metrics": ``nv_inference_request_success``, ``nv_inference_pending_request_count``;
  label ``model``; no in-flight, token or KV cache metric in the core server.
- Dynamo frontend, "Metrics": ``dynamo_frontend_requests_total``,
  ``dynamo_frontend_inflight_requests``, ``dynamo_frontend_queued_requests``, histograms
  ``dynamo_frontend_input_sequence_tokens`` / ``dynamo_frontend_output_sequence_tokens``;
  label ``model``; KV cache usage is the backend engine's (use its preset or a query).
"""

from __future__ import annotations

from typing import Literal

MetricKind = Literal["request_rate", "in_flight", "waiting", "token_throughput", "kv_cache_usage"]
PresetName = Literal["forescale", "vllm", "sglang", "tgi", "triton", "dynamo"]
KINDS: tuple[MetricKind, ...] = ("request_rate", "in_flight", "waiting", "token_throughput", "kv_cache_usage")

_S = "{{selector}}"
_W = "{{window}}"


def _rate(name: str) -> str:
    return f"sum(rate({name}{{{_S}}}[{_W}]))"


def _sum(name: str) -> str:
    return f"sum({name}{{{_S}}})"


PRESETS: dict[str, dict[str, str | None]] = {
    "forescale": {
        "model_label": "model",
        "request_rate": _rate("forescale_router_requests_total"),
        "in_flight": None,  # the routers count requests, not their service; the stream holds both
        "waiting": f"max(forescale_queue_depth{{{_S}}})",
        # the llm workers' counters (worker/generate_metrics.py): prompt tokens admitted + generated
        "token_throughput": (
            f"sum(rate(forescale_llm_prompt_tokens_total{{{_S}}}[{_W}]))"
            f" + sum(rate(forescale_llm_generated_tokens_total{{{_S}}}[{_W}]))"
        ),
        "kv_cache_usage": None,
    },
    "vllm": {
        "model_label": "model_name",
        "request_rate": _rate("vllm:request_success_total"),
        "in_flight": _sum("vllm:num_requests_running"),
        "waiting": _sum("vllm:num_requests_waiting"),
        "token_throughput": (
            f"sum(rate(vllm:prompt_tokens_total{{{_S}}}[{_W}]))"
            f" + sum(rate(vllm:generation_tokens_total{{{_S}}}[{_W}]))"
        ),
        # V1 renamed the gauge; `or` reads whichever the running version exposes.
        "kv_cache_usage": f"avg(vllm:kv_cache_usage_perc{{{_S}}} or vllm:gpu_cache_usage_perc{{{_S}}})",
    },
    "sglang": {
        "model_label": "model_name",
        "request_rate": _rate("sglang:num_requests_total"),
        "in_flight": _sum("sglang:num_running_reqs"),
        "waiting": _sum("sglang:num_queue_reqs"),
        "token_throughput": (
            f"sum(rate(sglang:prompt_tokens_total{{{_S}}}[{_W}]))"
            f" + sum(rate(sglang:generation_tokens_total{{{_S}}}[{_W}]))"
        ),
        "kv_cache_usage": f"avg(sglang:token_usage{{{_S}}})",
    },
    "tgi": {
        "model_label": "",
        "request_rate": _rate("tgi_request_count"),
        "in_flight": _sum("tgi_batch_current_size"),
        "waiting": _sum("tgi_queue_size"),
        "token_throughput": (
            f"sum(rate(tgi_request_input_length_sum{{{_S}}}[{_W}]))"
            f" + sum(rate(tgi_request_generated_tokens_sum{{{_S}}}[{_W}]))"
        ),
        "kv_cache_usage": None,
    },
    "triton": {
        "model_label": "model",
        "request_rate": _rate("nv_inference_request_success"),
        "in_flight": None,
        "waiting": _sum("nv_inference_pending_request_count"),
        "token_throughput": None,
        "kv_cache_usage": None,
    },
    "dynamo": {
        "model_label": "model",
        "request_rate": _rate("dynamo_frontend_requests_total"),
        "in_flight": _sum("dynamo_frontend_inflight_requests"),
        "waiting": _sum("dynamo_frontend_queued_requests"),
        "token_throughput": (
            f"sum(rate(dynamo_frontend_input_sequence_tokens_sum{{{_S}}}[{_W}]))"
            f" + sum(rate(dynamo_frontend_output_sequence_tokens_sum{{{_S}}}[{_W}]))"
        ),
        "kv_cache_usage": None,
    },
}


def missing_kind(preset: str, kind: str) -> str:
    """Why ``preset`` cannot measure ``kind``: a sentence for validation errors."""
    has = ", ".join(k for k in KINDS if PRESETS[preset].get(k) is not None)
    return f"preset {preset!r} has no {kind} metric (it has: {has}); give a custom `query` instead"
