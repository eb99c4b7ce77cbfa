"""The controller's Prometheus metrics (prefix forescale_, base units, _total counters).

One ``ControllerMetrics`` per controller, on the registry it is given: the service passes
the default registry (exported on /metrics); tests pass a fresh one each, so they do not
see each other's samples.
"""

from __future__ import annotations

import contextlib

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from forescale.core.model import Decision, Observation, PolicySpec, PoolSpec
from forescale.observability.exporters import ForecastMetrics, PoolCatalogMetrics

TERMS = ("reactive", "backlog", "panic", "forecast", "forecast-tokens", "floor")
NODE_STATES = ("ready", "starting", "draining")


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.desired = Gauge(
            "forescale_controller_desired_replicas", "Replicas decided.", ["model"], registry=r
        )
        self.current = Gauge(
            "forescale_controller_current_replicas", "Replicas requested.", ["model"], registry=r
        )
        self.ready = Gauge("forescale_controller_ready_replicas", "Replicas ready.", ["model"], registry=r)
        self.slo = Gauge(  # dashboards draw each model's own objective against its latency
            "forescale_controller_latency_slo_seconds", "Latency objective of the model's policy.",
            ["model"], registry=r,
        )  # fmt: skip
        self.ttft_slo = Gauge(  # alerts compare the p99 time to first token with it
            "forescale_controller_ttft_slo_seconds", "Time-to-first-token objective of the model's policy.",
            ["model"], registry=r,
        )  # fmt: skip
        self.tpot_slo = Gauge(  # alerts compare the p99 inter-token latency with it
            "forescale_controller_tpot_slo_seconds", "Time-per-output-token objective of the model's policy.",
            ["model"], registry=r,
        )  # fmt: skip
        self.term = Gauge(
            "forescale_controller_decision_term_replicas",
            "Replicas each decision term asked for at the last tick (NaN: term gave none).",
            ["model", "term"],
            registry=r,
        )
        self.pool_nodes = Gauge(
            "forescale_controller_pool_nodes",
            "Nodes of a model per pool by state and capacity type.",
            ["model", "pool", "state", "capacity_type"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "forescale_controller_tick_duration_seconds",
            "Wall time of one reconcile tick over all policies.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.errors = Counter("forescale_controller_errors_total", "Errors by kind.", ["kind"], registry=r)
        self.lead_time = Histogram(
            "forescale_controller_lead_time_seconds",
            "Measured launch-to-ready time of nodes per pool.",
            ["pool"],
            buckets=(15, 30, 60, 90, 120, 180, 240, 300, 480, 600, 900),
            registry=r,
        )
        self.stale = Gauge(
            "forescale_signal_stale", "1 when a signal of the model is missing, stale or failing.",
            ["model"], registry=r,
        )  # fmt: skip
        self.leader = Gauge("forescale_controller_leader", "1 while this controller leads.", registry=r)
        # Prices, reservations and forecasts, so dashboards can show cost and forecast error.
        self.catalog = PoolCatalogMetrics(r)
        self.forecast = ForecastMetrics(r)

    def observed(self, obs: Observation, pools: dict[str, PoolSpec]) -> None:
        self.current.labels(obs.model).set(obs.current_replicas)
        self.ready.labels(obs.model).set(obs.ready_replicas)
        self.stale.labels(obs.model).set(1 if obs.stale else 0)
        self.forecast.update(obs.model, obs.forecasts, obs.now)
        for p in obs.pools:
            ctype = pools[p.name].capacity_type if p.name in pools else "unknown"
            for state, n in zip(
                NODE_STATES, (p.ready_nodes, p.starting_nodes, p.draining_nodes), strict=True
            ):
                self.pool_nodes.labels(obs.model, p.name, state, ctype).set(n)
            for lead in p.lead_times_s:
                self.lead_time.labels(p.name).observe(lead)

    def decided(self, d: Decision, spec: PolicySpec) -> None:
        self.desired.labels(d.model).set(d.desired_replicas)
        self.slo.labels(d.model).set(spec.latency_slo_s)
        for gauge, slo in ((self.ttft_slo, spec.ttft_slo_s), (self.tpot_slo, spec.tpot_slo_s)):
            if slo is not None:
                gauge.labels(d.model).set(slo)
            else:  # absent rather than NaN: no objective, no alert
                with contextlib.suppress(KeyError):
                    gauge.remove(d.model)
        by_term = {r.term: r.replicas for r in d.reasons}
        # floor: the policy minimum, raised by an active schedule window
        by_term["floor"] = max(spec.min_replicas, by_term.get("schedule") or 0)
        for term in TERMS:
            value = by_term.get(term)
            self.term.labels(d.model, term).set(float("nan") if value is None else value)

    def error(self, kind: str) -> None:
        self.errors.labels(kind).inc()
