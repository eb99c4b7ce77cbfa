"""Gauges the dashboards and alerts need that no loop metric carries: the pool catalog
(price, reservation size) and the forecast in force. The controller owns the values
(it loads pools and forecasts every tick) and calls ``update`` with them; these classes
only turn core values into samples, so the names live beside the dashboards that use them.

Cost per hour and reservation use are then PromQL over these and the controller's
``forescale_controller_pool_nodes`` (see deploy/prometheus/rules/).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from forescale.core.model import Forecast, PoolSpec


class PoolCatalogMetrics:
    """``forescale_pool_*`` gauges from the pool catalog; pools removed from it vanish."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        labels = ["pool", "capacity_type"]
        self.price = Gauge(
            "forescale_pool_price_usd_per_node_hour", "Price of one node of the pool per hour (USD).",
            labels, registry=registry,
        )  # fmt: skip
        self.reserved = Gauge(
            "forescale_pool_reservation_nodes", "Nodes reserved and paid for whether used or not.",
            labels, registry=registry,
        )  # fmt: skip
        self.max_nodes = Gauge(
            "forescale_pool_max_nodes", "Most nodes the pool may have.", labels, registry=registry
        )
        self._seen: set[tuple[str, str]] = set()

    def update(self, pools: Sequence[PoolSpec]) -> None:
        now: set[tuple[str, str]] = {(p.name, str(p.capacity_type)) for p in pools}
        for gone in self._seen - now:
            for gauge in (self.price, self.reserved, self.max_nodes):
                gauge.remove(*gone)
        for p in pools:
            self.price.labels(p.name, p.capacity_type).set(p.price_per_node_hour)
            self.reserved.labels(p.name, p.capacity_type).set(p.reservation_nodes)
            self.max_nodes.labels(p.name, p.capacity_type).set(p.max_nodes)
        self._seen = now


class ForecastMetrics:
    """The forecast for *now* per model, source and quantile, and each forecast's age.

    Plotted against the router's measured rate, it shows forecast error as it happens;
    the age shows a prescaler that stopped publishing before the core ignores it.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.rps = Gauge(
            "forescale_forecast_requests_per_second",
            "Forecast request rate for the current step, per source and quantile (label q: 0.5, 0.9).",
            ["model", "source", "q"], registry=registry,
        )  # fmt: skip
        self.age = Gauge(
            "forescale_forecast_age_seconds", "Seconds since the forecast in use was issued.",
            ["model", "source"], registry=registry,
        )  # fmt: skip
        self._seen: dict[str, set[tuple[str, str]]] = {}
        self._sources: dict[str, set[str]] = {}

    def update(self, model: str, forecasts: Sequence[Forecast], now: float) -> None:
        """Set the gauges for ``model`` at ``now``; series of vanished forecasts are removed."""
        current: set[tuple[str, str]] = set()
        for f in forecasts:
            point = next((p for p in f.points if p.t <= now < p.t + f.step_s), None)
            self.age.labels(model, f.source).set(max(0.0, now - f.issued_at))
            if point is None:
                continue
            for q, value in zip(f.quantiles, point.rps, strict=True):
                quantile = f"{q:g}"
                self.rps.labels(model, f.source, quantile).set(value)
                current.add((f.source, quantile))
        for source, quantile in self._seen.get(model, set()) - current:
            self.rps.remove(model, source, quantile)
        sources = {f.source for f in forecasts}
        for source in self._sources.get(model, set()) - sources:
            self.age.remove(model, source)
        self._seen[model] = current
        self._sources[model] = sources
