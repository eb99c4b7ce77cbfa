"""The metric catalog check: docs/metrics.md against what the code registers.

Each service's metrics class is instantiated on a fresh registry and read back (name,
type, labels); docs/metrics.md has one table per service with the same facts. They must
agree, and names must follow Prometheus conventions (``forescale_`` prefix, base units,
``_total`` only on counters).

    python -m forescale.observability.catalog docs/metrics.md     (exit 1 on a mismatch)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase

# Units that are not base units (Prometheus: seconds, bytes, ratios 0-1, ...).
NON_BASE_UNITS = (
    "_ms",
    "_milliseconds",
    "_microseconds",
    "_minutes",
    "_hours",
    "_kb",
    "_mb",
    "_gb",
    "_percent",
)
ROW = re.compile(r"^\|\s*`(forescale_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|\s*([^|]*)\|")
SECTION = re.compile(r"^##\s+(\w[\w-]*)")


@dataclass(frozen=True, order=True)
class MetricDef:
    name: str
    type: str
    labels: tuple[str, ...]


def _router(reg: CollectorRegistry) -> CollectorRegistry:
    from forescale.router.metrics import RouterMetrics

    return RouterMetrics().registry  # a registry of its own per app


def _worker(reg: CollectorRegistry) -> CollectorRegistry:
    from forescale.worker.metrics import WorkerMetrics

    return WorkerMetrics("catalog").registry


def _llm_worker(reg: CollectorRegistry) -> CollectorRegistry:
    from forescale.worker.generate_metrics import GenMetrics

    GenMetrics(reg, "catalog")  # in the worker's registry, beside WorkerMetrics
    return reg


def _controller(reg: CollectorRegistry) -> CollectorRegistry:
    from forescale.controller.metrics import ControllerMetrics

    ControllerMetrics(reg)
    return reg


def _prescaler(reg: CollectorRegistry) -> CollectorRegistry:
    from forescale.prescaler.metrics import PrescalerMetrics

    return PrescalerMetrics().registry


# Section name in docs/metrics.md -> how to build that service's registry.
SERVICES: dict[str, Callable[[CollectorRegistry], CollectorRegistry]] = {
    "router": _router,
    "worker": _worker,
    "llm-worker": _llm_worker,
    "controller": _controller,  # registers the pool catalog and forecast exporters too
    "prescaler": _prescaler,
}


def _collectors(reg: CollectorRegistry) -> list[MetricWrapperBase]:
    # The registry keeps its collectors privately; the wrappers know their label names.
    return [c for c in reg._collector_to_names if isinstance(c, MetricWrapperBase)]


def _name(metric: MetricWrapperBase) -> str:
    return metric._name + ("_total" if metric._type == "counter" else "")


def registered() -> dict[str, list[MetricDef]]:
    out = {}
    for service, build in SERVICES.items():
        reg = build(CollectorRegistry())
        defs = [MetricDef(_name(m), str(m._type), tuple(m._labelnames)) for m in _collectors(reg)]
        out[service] = sorted(defs)
    return out


def documented(path: Path) -> dict[str, list[MetricDef]]:
    """The tables of docs/metrics.md: ``| `name` | type | labels | ...`` rows per ``## service``."""
    out: dict[str, list[MetricDef]] = {}
    section = None
    for line in path.read_text().splitlines():
        if m := SECTION.match(line):
            section = m.group(1).lower()
        elif (m := ROW.match(line)) and section is not None:
            labels = tuple(x.strip(" `") for x in m.group(3).split(",") if x.strip(" `-"))
            out.setdefault(section, []).append(MetricDef(m.group(1), m.group(2), labels))
    return {k: sorted(v) for k, v in out.items()}


def convention_problems(defs: Sequence[MetricDef]) -> list[str]:
    problems = []
    for d in defs:
        if not re.fullmatch(r"forescale_[a-z][a-z0-9_]*[a-z0-9]", d.name):
            problems.append(f"{d.name}: needs the forescale_ prefix and snake_case")
        if (d.type == "counter") != d.name.endswith("_total"):
            problems.append(f"{d.name}: `_total` is for counters, and counters need it")
        if any(d.name.endswith(u) or f"{u}_" in d.name for u in NON_BASE_UNITS):
            problems.append(f"{d.name}: use base units (seconds, bytes, ratios)")
        if (
            d.type == "histogram"
            and re.search(r"duration|latency|time|wait", d.name)
            and not d.name.endswith("_seconds")
        ):
            problems.append(f"{d.name}: a duration histogram is in seconds")
        if any(label in ("le", "quantile") or not re.fullmatch(r"[a-z_]+", label) for label in d.labels):
            problems.append(f"{d.name}: bad label name in {d.labels}")
    return problems


def exposition(service: str) -> bytes:
    """The service's /metrics text with one sample per series, for `promtool check metrics`."""
    reg = SERVICES[service](CollectorRegistry())
    for metric in _collectors(reg):
        child: Any = metric.labels(*("x" for _ in metric._labelnames)) if metric._labelnames else metric
        if metric._type == "counter":
            child.inc()
        elif metric._type == "gauge":
            child.set(1)
        else:
            child.observe(1)
    return generate_latest(reg)


def diff(path: Path) -> list[str]:
    """Every difference between the code and the catalog, as lines a person reads."""
    code, docs = registered(), documented(path)
    lines = []
    for service in sorted(set(code) | set(docs)):
        have, said = set(code.get(service, [])), set(docs.get(service, []))
        lines += [f"{service}: registered but not in {path}: {d}" for d in sorted(have - said)]
        lines += [f"{service}: in {path} but not registered: {d}" for d in sorted(said - have)]
    lines += convention_problems([d for defs in code.values() for d in defs])
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0] if args else "docs/metrics.md")
    problems = diff(path)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
