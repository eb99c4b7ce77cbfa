"""The four Grafana dashboards, built in code and written to ``deploy/grafana/*.json``.

    python -m forescale.observability.dashboards deploy/grafana     (make dashboards)

overview: what users feel (rate, latency against the SLO, queue, 429 and 5xx);
capacity: what is running and what it costs (replicas, nodes per pool and capacity type,
spot share, reservation use, cost per hour); forecast: forecasts against real demand,
lead times and pre-scaling; controller: is the control loop itself healthy.

Queries use raw metrics where they are cheap and the recording rules of
deploy/prometheus/rules/ where the arithmetic is not (cost, reservations, burn rate), so
those panels need the rules loaded. Every query is checked against a real Prometheus
in tests/observability/.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forescale.observability.grafana import build, graph, single

M = '{model=~"$model"}'
RATE = "[$__rate_interval]"
REQUESTS = "forescale_router_requests_total"


def _quantile(q: float, metric: str, by: str, sel: str = M) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{sel}{RATE})))"


def _traffic_panels() -> list[Any]:
    code = 'model=~"$model",code'
    return [
        graph(
            "Request rate",
            "reqps",
            (f"sum by (model) (rate({REQUESTS}{M}{RATE}))", "{{model}}"),
            description="Requests per second answered by the routers, all status codes: the demand.",
        ),
        graph(
            "Latency p50 / p99 against the SLO",
            "s",
            (_quantile(0.5, "forescale_router_request_duration_seconds", "model"), "p50 {{model}}"),
            (_quantile(0.99, "forescale_router_request_duration_seconds", "model"), "p99 {{model}}"),
            (f"max by (model) (forescale_controller_latency_slo_seconds{M})", "SLO {{model}}"),
            description="Router latency, admission to reply. The SLO line of each model is its own "
            "policy's latency_slo_s; p99 above it is an SLO miss.",
        ),
        graph(
            "Queue depth (XLEN)",
            "short",
            (f"max by (model) (forescale_queue_depth{M})", "{{model}}"),
            description="Requests waiting or in flight per model (XLEN of its stream). Growing while "
            "replicas are ready: the model is under-provisioned.",
        ),
        graph(
            "429 and 5xx rate",
            "reqps",
            (f'sum by (model) (rate({REQUESTS}{{{code}="429"}}{RATE}))', "429 {{model}}"),
            (f'sum by (model) (rate({REQUESTS}{{{code}=~"5.."}}{RATE}))', "5xx {{model}}"),
            description="Requests refused at admission (429, queue full) and failed (5xx, e.g. 504 "
            "deadline). Both count against the error budget.",
        ),
        graph(
            "Rejected at admission by reason",
            "reqps",
            (
                f"sum by (model, reason) (rate(forescale_router_rejected_total{M}{RATE}))",
                "{{model}} {{reason}}",
            ),
            description="Why the router refused requests before queueing them, per model.",
        ),
        graph(
            "Error budget burn rate (1 h, 1 = on budget)",
            "short",
            (f"model:forescale_slo_errors:ratio_rate1h{M} / 0.001", "{{model}}"),
            description="Errors (5xx and 429) against a 99.9 % SLO; above 14.4 pages (ErrorBudgetBurnFast).",
        ),
    ]


def _worker_panels() -> list[Any]:
    return [
        graph(
            "Workers ready",
            "short",
            (f"sum by (model) (forescale_worker_ready{M})", "{{model}}"),
            width=8,
            description="Worker replicas warmed up and consuming; warming and draining ones are not counted.",
        ),
        graph(
            "Worker busy ratio",
            "percentunit",
            (f"avg(forescale_worker_busy_ratio{M})", "mean"),
            width=8,
            description="Share of time the workers spend in the engine, averaged; near 100 %: saturated.",
        ),
        graph(
            "Batch size p50 / p99",
            "short",
            (_quantile(0.5, "forescale_worker_batch_size", "job"), "p50 {{job}}"),
            (_quantile(0.99, "forescale_worker_batch_size", "job"), "p99 {{job}}"),
            width=8,
            description="Requests per engine call; larger batches use the GPU better at some latency.",
        ),
        graph(
            "Inference and queue wait p99",
            "s",
            (_quantile(0.99, "forescale_worker_inference_seconds", "job"), "inference {{job}}"),
            (_quantile(0.99, "forescale_worker_queue_wait_seconds", "job"), "queue wait {{job}}"),
            description="Engine time per batch and time from enqueue to the engine call (p99).",
        ),
        graph(
            "Reclaimed and dead-lettered",
            "ops",
            (f"sum(rate(forescale_worker_reclaimed_total{M}{RATE}))", "reclaimed"),
            (f"sum(rate(forescale_worker_dead_lettered_total{M}{RATE}))", "dead-lettered"),
            description="Entries taken over from workers that died or stalled, and entries given up "
            "after too many deliveries (fs:dlq:{model}).",
        ),
    ]


def _generation_panels() -> list[Any]:
    """Models with the llm engine (docs/designs/generation.md)."""
    return [
        graph(
            "Time to first token / inter-token latency p99",
            "s",
            (_quantile(0.99, "forescale_llm_time_to_first_token_seconds", "model"), "TTFT {{model}}"),
            (_quantile(0.99, "forescale_llm_inter_token_latency_seconds", "model"), "ITL {{model}}"),
            (f"max by (model) (forescale_controller_ttft_slo_seconds{M})", "TTFT objective {{model}}"),
            (f"max by (model) (forescale_controller_tpot_slo_seconds{M})", "TPOT objective {{model}}"),
            width=8,
            description="p99 time from admission to the first streamed token, and between tokens, per "
            "llm model: what a chat user feels as waiting and as typing speed; beside them the "
            "policy's ttft_slo_s / tpot_slo_s the alerts compare them with.",
        ),
        graph(
            "Generated tokens/s",
            "short",
            (f"sum by (model) (rate(forescale_llm_generated_tokens_total{M}{RATE}))", "{{model}}"),
            width=8,
            description="Tokens generated per second by the workers of each llm model: the decode load.",
        ),
        graph(
            "KV cache usage and preemptions",
            "short",
            (f"max by (model) (forescale_llm_kv_cache_usage_ratio{M})", "KV used {{model}}"),
            (f"sum by (model) (rate(forescale_llm_preemptions_total{M}{RATE}))", "preempted/s {{model}}"),
            (f"sum by (model) (rate(forescale_llm_handovers_total{M}{RATE}))", "handed over/s {{model}}"),
            width=8,
            description="Share of KV cache blocks in use (near 1: sequences get preempted), preemptions "
            "and sequences handed to another worker (SIGTERM or a lost worker) per second.",
        ),
    ]


def overview() -> dict[str, Any]:
    return build(
        "forescale-overview", "forescale / overview", "What users feel: traffic, latency, queue, errors.",
        [("Traffic and SLO", _traffic_panels()), ("Workers", _worker_panels()),
         ("Generation (llm)", _generation_panels())],
    )  # fmt: skip


NODES = 'forescale_controller_pool_nodes{pool=~"$pool"'


def _replica_panels() -> list[Any]:
    return [
        graph(
            "Replicas desired / current / ready",
            "short",
            (f"forescale_controller_desired_replicas{M}", "desired {{model}}"),
            (f"forescale_controller_current_replicas{M}", "current {{model}}"),
            (f"forescale_controller_ready_replicas{M}", "ready {{model}}"),
            description="What the controller decided, what it asked the actuator for, and what is "
            "ready. A gap between current and ready is capacity still arriving (lead time).",
        ),
        graph(
            "Decision terms (replicas each term asked for)",
            "short",
            (f"forescale_controller_decision_term_replicas{M}", "{{model}} {{term}}"),
            description="Each term's proposal at the last tick (reactive, backlog, panic, forecast, "
            "floor); the largest wins. Forecast above reactive is pre-scaling.",
        ),
        graph(
            "Ready nodes by capacity type",
            "short",
            (f'sum by (capacity_type) ({NODES},state="ready"}})', "{{capacity_type}}"),
            stacked=True,
            description="Ready GPU nodes, stacked: reserved first, then spot, then on-demand fallback.",
        ),
        graph(
            "Nodes per pool and state",
            "short",
            (f"sum by (pool, state) ({NODES}}})", "{{pool}} {{state}}"),
            description="Nodes per pool: ready, starting (asked for, not yet ready) and draining "
            "(interruption notice received).",
        ),
    ]


def _cost_panels() -> list[Any]:
    return [
        single(
            "Spot share of ready nodes",
            "percentunit",
            "cluster:forescale_spot_share:ratio",
            description="Share of ready nodes that are spot (recording rule).",
        ),
        single(
            "Cost per hour",
            "currencyUSD",
            "cluster:forescale_cost_usd_per_hour:sum",
            description="What the ready and starting nodes cost per hour now, reservations included.",
        ),
        single(
            "Reservation use (lowest pool)",
            "percentunit",
            'min(pool:forescale_reservation_utilisation:ratio{pool=~"$pool"})',
            description="Reserved nodes in use in the least-used pool; reservations are paid either way.",
        ),
        single(
            "Nodes starting",
            "short",
            f'sum({NODES},state="starting"}}) or vector(0)',
            description="Nodes asked for and not ready yet (they arrive after the pool's lead time).",
        ),
        graph(
            "Cost per hour by pool",
            "currencyUSD",
            ('pool:forescale_cost_usd_per_hour:sum{pool=~"$pool"}', "{{pool}}"),
            stacked=True,
            description="Cost per hour of each pool's nodes, stacked to the total.",
        ),
        graph(
            "Reservation utilisation",
            "percentunit",
            ('pool:forescale_reservation_utilisation:ratio{pool=~"$pool"}', "{{pool}}"),
            description="Reserved nodes in use per pool; below 100 % is capacity paid for and idle.",
        ),
    ]


def capacity() -> dict[str, Any]:
    return build(
        "forescale-capacity", "forescale / capacity", "What runs where, and what it costs.",
        [("Replicas and nodes", _replica_panels()), ("Cost and reservations", _cost_panels())],
    )  # fmt: skip


def forecast() -> dict[str, Any]:
    rows = [
        graph(
            "Forecast quantiles against actual demand",
            "reqps",
            (f"forescale_forecast_requests_per_second{M}", "{{model}} {{source}} q{{q}}"),
            (f"sum by (model) (rate({REQUESTS}{M}{RATE}))", "{{model}} actual"),
            width=24,
            description="Each forecast source's quantiles for the current step against the request "
            "rate that arrived; actual above the planning quantile means under-forecast.",
        ),
        graph(
            "Forecast age",
            "s",
            (f"forescale_forecast_age_seconds{M}", "{{model}} {{source}}"),
            description="Seconds since the forecast in use was issued; past max_forecast_age_s "
            "it is ignored.",
        ),
        graph(
            "Measured lead time per pool (p50 / p90 over 6 h)",
            "s",
            (_lead_quantile(0.5), "p50 {{pool}}"),
            (_lead_quantile(0.9), "p90 {{pool}}"),
            description="Node launch to ready, measured; the forecast horizon must cover the p90.",
        ),
        graph(
            "Pre-scale: forecast term above the reactive term",
            "short",
            (f"model:forescale_prescale_excess_replicas:max{M}", "{{model}} extra replicas"),
            (
                'forescale_controller_decision_term_replicas{model=~"$model",term=~"forecast|forecast-tokens|reactive|floor"}',
                "{{model}} {{term}}",
            ),
            description="Above zero: pre-scaling, the forecast asks for more than current demand.",
        ),
        single(
            "Nodes measured (6 h)",
            "short",
            'sum(increase(forescale_controller_lead_time_seconds_count{pool=~"$pool"}[6h])) or vector(0)',
            description="Node launches whose lead time was measured in the last 6 hours.",
        ),
    ]
    return build(
        "forescale-forecast", "forescale / forecast", "Forecasts against demand, lead times, pre-scaling.",
        [("Forecast", rows)],
    )  # fmt: skip


def _lead_quantile(q: float) -> str:
    bucket = 'forescale_controller_lead_time_seconds_bucket{pool=~"$pool"}'
    return f"histogram_quantile({q}, sum by (pool, le) (increase({bucket}[6h])))"


def controller() -> dict[str, Any]:
    tick = "forescale_controller_tick_duration_seconds"
    rows = [
        graph(
            "Tick duration p50 / p99",
            "s",
            (f"histogram_quantile(0.5, sum by (le) (rate({tick}_bucket{RATE})))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate({tick}_bucket{RATE})))", "p99"),
            description="Wall time of one reconcile over all policies; it must stay well under the interval.",
        ),
        graph(
            "Ticks per second",
            "ops",
            (f"sum by (instance) (rate({tick}_count{RATE}))", "{{instance}}"),
            description="Reconcile ticks per controller; only the leader ticks.",
        ),
        graph(
            "Stale signals",
            "short",
            (f"max by (model) (forescale_signal_stale{M})", "{{model}}"),
            description="1 while a model's signal is missing, stale or failing; capacity is held, not cut.",
        ),
        graph(
            "Errors by kind",
            "ops",
            (f"sum by (kind) (rate(forescale_controller_errors_total{RATE}))", "{{kind}}"),
            description="Controller errors per second by kind; InsufficientCapacity triggers the "
            "spot-to-on-demand fallback.",
        ),
        graph(
            "Leader (1 = holds the lease)",
            "short",
            ("forescale_controller_leader", "{{instance}}"),
            description="Which controller replica holds the lease; exactly one should.",
        ),
        single(
            "Controllers leading",
            "short",
            "sum(forescale_controller_leader) or vector(0)",
            description="Controllers holding the lease: 1 is healthy, 0 means nobody scales.",
        ),
        single(
            "Firing forescale alerts",
            "short",
            'count(ALERTS{alertname=~"Forescale.*",alertstate="firing"}) or vector(0)',
            description="forescale alerts firing now; 0 when none (count of nothing is empty in PromQL, "
            "hence `or vector(0)`).",
        ),
    ]
    return build(
        "forescale-controller", "forescale / controller health", "Is the control loop healthy and leading?",
        [("Controller", rows)],
    )  # fmt: skip


DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "overview": overview,
    "capacity": capacity,
    "forecast": forecast,
    "controller": controller,
}


def write_all(out_dir: Path) -> list[Path]:
    """Write ``forescale-<name>.json`` for every dashboard; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in DASHBOARDS.items():
        path = out_dir / f"forescale-{name}.json"
        path.write_text(json.dumps(make(), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m forescale.observability.dashboards OUT_DIR", file=sys.stderr)
        return 2
    for path in write_all(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
