"""Observability: Grafana dashboards built in code, the metric catalog check, and the
small exporters the control plane registers for what dashboards need beyond its loop."""
