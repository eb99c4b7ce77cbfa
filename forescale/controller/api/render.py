"""kubectl-like terminal output: aligned tables, ``-o json|yaml``, change lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["<none>" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip()


def _value(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


def changes(items: Sequence[dict[str, Any]], indent: str = "  ") -> list[str]:
    """``~ /min_replicas: 1 -> 3``, ``+ /pools: [...]``, ``- /x: 1``."""
    out = []
    for c in items:
        if c["op"] == "add":
            out.append(f"{indent}+ {c['path']}: {_value(c.get('value'))}")
        elif c["op"] == "remove":
            out.append(f"{indent}- {c['path']}: {_value(c.get('old'))}")
        else:
            out.append(f"{indent}~ {c['path']}: {_value(c.get('old'))} -> {_value(c.get('value'))}")
    return out


def policies(items: Sequence[dict[str, Any]]) -> str:
    rows = [
        (s["model"], s["policy"], s["mode"], s["min_replicas"], s["max_replicas"],
         s["target_rps_per_replica"], ",".join(s["pools"]) or "*")
        for s in items
    ]  # fmt: skip
    return table(("NAME", "POLICY", "MODE", "MIN", "MAX", "TARGET-RPS", "POOLS"), rows)


def pools(items: Sequence[dict[str, Any]]) -> str:
    rows = [
        (p["name"], p["capacity_type"], p["accelerator"], p["gpus_per_node"], p["price_per_node_hour"],
         p["zone"], p["max_nodes"], p["reservation_nodes"])
        for p in items
    ]  # fmt: skip
    return table(("NAME", "TYPE", "ACCELERATOR", "GPUS", "PRICE/H", "ZONE", "MAX", "RESERVED"), rows)


def _rate(v: float | None) -> str:
    return "<none>" if v is None else f"{v:.1f}"


def status(models: Sequence[dict[str, Any]]) -> str:
    rows = []
    for m in models:
        sig, last = m["signals"], m.get("last_decision") or {}
        age = m.get("last_decision_age_s")
        rows.append((
            m["model"], m["mode"], m.get("desired_replicas"), m["current_replicas"], m["ready_replicas"],
            _rate(sig.get("rps_stable")), sig.get("queue_depth"), ",".join(sig["stale"]) or "-",
            last.get("winner"), None if age is None else f"{age:.0f}s",
        ))  # fmt: skip
    headers = ("MODEL", "MODE", "DESIRED", "CURRENT", "READY", "RPS", "QUEUE", "STALE", "WINNER", "DECIDED")
    return table(headers, rows)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def what_if(answer: dict[str, Any] | None, note: str | None) -> str:
    if answer is None:
        return f"  what-if: not available: {note}"
    head = (f"  what-if: replayed {_duration(answer['duration_s'])} of recorded demand "
            f"({answer['requests']:,} requests, step {answer.get('history_step_s', 1):g} s), "
            f"SLO {answer['slo_s']:g} s; longest lead time/window "
            f"{_duration(answer.get('needed_s', 0))} ({answer.get('needed_for', '?')})")  # fmt: skip
    rows = [
        (label, f"{r['cost_usd']:.2f}", f"{100 * r['slo_attainment']:.2f}%", r["peak_replicas"],
         f"{r['mean_replicas']:.1f}")
        for label, r in (("current", answer.get("current")), ("proposed", answer["proposed"]))
        if r is not None
    ]  # fmt: skip
    body = table(("", "COST-USD", "SLO", "PEAK-REPLICAS", "MEAN-REPLICAS"), rows)
    warning = [f"  WARNING: {answer['warning']}"] if answer.get("warning") else []
    return "\n".join([head, *warning, *("    " + line for line in body.splitlines()), *warning])
