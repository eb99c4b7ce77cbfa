"""Metrics sources (core.ports.MetricsSource): Prometheus, or Redis directly (no Prometheus)."""
