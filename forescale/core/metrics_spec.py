"""What a policy measures: a list of metrics with HPA v2 semantics, and their PromQL.

Each ``MetricSpec`` names a kind of signal, where it comes from (an engine preset or a
custom PromQL template) and, except for the request rate, a per-replica target. Each
yields a replica count and the largest wins, as an HPA v2 with several ``metrics`` does.
The request rate keeps its target in ``PolicySpec.target_rps_per_replica``: it also feeds
the forecast, backlog and panic terms, which are all in requests per second.

Templates take ``{{model}}``, ``{{namespace}}``, ``{{selector}}`` (the label matchers:
the preset's model label, the namespace, then the spec's ``selector``, comma-joined, no
braces) and ``{{window}}`` (a range such as ``60s``). Values are escaped for PromQL
string literals, so free-text model names (``meta-llama/Llama-3.1-8B-Instruct``) and
names with quotes cannot break out of a matcher.

Pure: string work only. The presets live in ``core/metric_presets.py`` so that the
controller, the prescaler's history and the what-if all read the same query.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from forescale.core.metric_presets import PRESETS, MetricKind, PresetName, missing_kind

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)\s*\}\}")
KNOWN_PLACEHOLDERS = frozenset({"model", "namespace", "selector", "window"})
# HPA "Utilization" kinds: the query gives the mean per replica, desired = current x mean / target.
# Every other kind is an "AverageValue" total: desired = total / target.
AVERAGE_KINDS: frozenset[str] = frozenset({"kv_cache_usage"})


class MetricSpec(BaseModel):
    """One signal a policy scales on (an entry of HPA v2's ``metrics``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MetricKind = Field(
        description=(
            "request_rate (req/s), in_flight (requests being served), waiting (queued requests), "
            "token_throughput (prompt + generated tokens/s) or kv_cache_usage (ratio 0..1 per replica)."
        )
    )
    target: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Per-replica target: requests, tokens/s, or a usage ratio for kv_cache_usage. Not for "
            "request_rate, whose target is the policy's target_rps_per_replica."
        ),
    )
    preset: PresetName = Field(default="forescale", description="Engine whose documented metrics to read.")
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description="Custom PromQL template, instead of the preset's (placeholders: module docstring).",
    )
    namespace: str | None = Field(
        default=None, min_length=1, max_length=63, description="Kubernetes namespace label to match."
    )
    selector: dict[str, str] = Field(
        default_factory=dict, description="Extra label matchers (label -> exact value)."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "request_rate" and self.target is not None:
            raise ValueError("request_rate takes its target from target_rps_per_replica, not `target`")
        if self.kind != "request_rate" and self.target is None:
            raise ValueError(f"{self.kind} needs a per-replica `target`")
        if self.kind == "kv_cache_usage" and self.target is not None and self.target > 1:
            raise ValueError("kv_cache_usage's target is a ratio in (0, 1]")
        for label in self.selector:
            if not LABEL_NAME.match(label):
                raise ValueError(f"selector label {label!r} is not a Prometheus label name")
        if self.query is not None:
            unknown = {m for m in PLACEHOLDER.findall(self.query)} - KNOWN_PLACEHOLDERS
            if unknown:
                raise ValueError(f"unknown placeholder(s) in query: {', '.join(sorted(unknown))}")
        elif PRESETS[self.preset].get(self.kind) is None:
            raise ValueError(missing_kind(self.preset, self.kind))
        return self


def _check_list(metrics: tuple[MetricSpec, ...]) -> tuple[MetricSpec, ...]:
    kinds = [m.kind for m in metrics]
    if len(kinds) != len(set(kinds)):
        raise ValueError("each metric kind may be listed once")
    for kind in ("request_rate", "waiting") if metrics else ():
        # Unmeasured, either would be missing every tick, and missing signals forbid scale-down.
        if source_of(metrics, kind) is None:
            raise ValueError(
                f"no {kind} metric: list one with a `query`, or a preset that has it "
                "(without it the controller could never scale down)"
            )
    return metrics


MetricList = Annotated[tuple[MetricSpec, ...], AfterValidator(_check_list)]


def quote(value: str) -> str:
    """``value`` as the inside of a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def matchers(metric: MetricSpec, model: str) -> str:
    """The label matchers of ``metric`` for ``model``, comma-joined, without braces."""
    parts = []
    label = PRESETS[metric.preset]["model_label"] if metric.query is None else None
    if label:
        parts.append(f'{label}="{quote(model)}"')
    if metric.namespace is not None:
        parts.append(f'namespace="{quote(metric.namespace)}"')
    parts.extend(f'{k}="{quote(v)}"' for k, v in sorted(metric.selector.items()))
    return ",".join(parts)


def render(template: str, metric: MetricSpec, model: str, window_s: float) -> str:
    """Fill ``template``'s placeholders for ``model`` (values escaped)."""
    values = {
        "model": quote(model),
        "namespace": quote(metric.namespace or ""),
        "selector": matchers(metric, model),
        "window": f"{max(1, round(window_s))}s",
    }
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def query(metric: MetricSpec, model: str, window_s: float) -> str:
    """The PromQL that measures ``metric`` for ``model`` (rates over ``window_s``)."""
    template = metric.query if metric.query is not None else PRESETS[metric.preset][metric.kind]
    assert template is not None  # MetricSpec refuses a preset without this kind
    return render(template, metric, model, window_s)


def source_of(metrics: tuple[MetricSpec, ...], kind: MetricKind) -> MetricSpec | None:
    """Where ``kind`` is read from: its own entry, else the first listed preset that has it.

    A policy that lists only, say, vLLM's KV cache usage still reads its request rate and
    queue from vLLM's metrics: reading forescale's router metrics, absent there, would
    leave those signals missing and the controller holding replicas forever.
    """
    for m in metrics:
        if m.kind == kind:
            return m
    for m in metrics:
        if m.query is None and PRESETS[m.preset].get(kind) is not None:
            return MetricSpec.model_validate(
                {"kind": kind, "target": None if kind == "request_rate" else 1.0, "preset": m.preset,
                 "namespace": m.namespace, "selector": m.selector}
            )  # fmt: skip
    return None


DEFAULT_RATE = MetricSpec(kind="request_rate")
DEFAULT_QUEUE = MetricSpec(kind="waiting", target=1.0)


def rate_source(metrics: tuple[MetricSpec, ...]) -> MetricSpec:
    """The request-rate metric of a policy (forescale's router counter when none is listed)."""
    return source_of(metrics, "request_rate") or DEFAULT_RATE


def queue_source(metrics: tuple[MetricSpec, ...]) -> MetricSpec | None:
    """The queue (waiting requests) metric the backlog term reads, if any."""
    if not metrics:
        return DEFAULT_QUEUE
    return source_of(metrics, "waiting")


def extra_metrics(metrics: tuple[MetricSpec, ...]) -> tuple[MetricSpec, ...]:
    """The entries that add a term of their own (every kind but the request rate)."""
    return tuple(m for m in metrics if m.kind != "request_rate")
