"""Pool catalog and forecast gauges: values from core types, vanished series removed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from forescale.core.model import Forecast, ForecastPoint, PoolSpec
from forescale.observability.exporters import ForecastMetrics, PoolCatalogMetrics


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_pool_catalog() -> None:
    reg = CollectorRegistry()
    m = PoolCatalogMetrics(reg)
    res = PoolSpec(
        name="res", capacity_type="reserved", price_per_node_hour=2.5, max_nodes=4, reservation_nodes=2
    )
    spot = PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1.2, max_nodes=10)
    m.update([res, spot])
    assert value(reg, "forescale_pool_price_usd_per_node_hour", pool="res", capacity_type="reserved") == 2.5
    assert value(reg, "forescale_pool_reservation_nodes", pool="res", capacity_type="reserved") == 2
    assert value(reg, "forescale_pool_max_nodes", pool="spot-a", capacity_type="spot") == 10
    m.update([res])
    assert value(reg, "forescale_pool_price_usd_per_node_hour", pool="spot-a", capacity_type="spot") is None


def forecast(source: str, issued_at: float) -> Forecast:
    points = (
        ForecastPoint(t=1000, rps=(10, 14)),
        ForecastPoint(t=1060, rps=(20, 28)),
    )
    return Forecast(source=source, issued_at=issued_at, step_s=60, quantiles=(0.5, 0.9), points=points)


def test_forecast_for_now_and_age() -> None:
    reg = CollectorRegistry()
    m = ForecastMetrics(reg)
    m.update("chat", [forecast("learned", 990)], now=1070)
    rps = "forescale_forecast_requests_per_second"
    assert value(reg, rps, model="chat", source="learned", q="0.9") == 28
    assert value(reg, rps, model="chat", source="learned", q="0.5") == 20
    assert value(reg, "forescale_forecast_age_seconds", model="chat", source="learned") == 80
    m.update("chat", [forecast("learned", 990)], now=2000)  # past the last point
    assert value(reg, rps, model="chat", source="learned", q="0.9") is None
    assert value(reg, "forescale_forecast_age_seconds", model="chat", source="learned") == 1010
    m.update("chat", [], now=2000)
    assert value(reg, "forescale_forecast_age_seconds", model="chat", source="learned") is None
