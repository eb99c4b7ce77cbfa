"""Small scenarios and traces written into tmp_path; nothing here reads ../shared/traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from forescale.sim.scenario import Scenario

START = 1_699_920_000.0  # 2023-11-14 00:00 UTC


def base_scenario(**overrides: Any) -> dict[str, Any]:
    """Reserved 2 nodes, a spot pool and an on-demand pool; 1 GPU per node and replica."""
    doc: dict[str, Any] = {
        "name": "test",
        "seed": 1,
        "slo": {"latency_s": 10},
        "model": {"name": "m", "service_rate_rps": 1.0, "service_time_s": 1, "load_time_s": 30},
        "pools": [
            {
                "name": "reserved",
                "capacity_type": "reserved",
                "price_per_node_hour": 2,
                "max_nodes": 2,
                "reservation_nodes": 2,
                "launch_delay": {"kind": "fixed", "low_s": 60},
            },
            {
                "name": "spot",
                "capacity_type": "spot",
                "price_per_node_hour": 1,
                "max_nodes": 20,
                "launch_delay": {"kind": "fixed", "low_s": 120},
                "spot": {"notice_s": 120},
            },
            {
                "name": "on-demand",
                "capacity_type": "on-demand",
                "price_per_node_hour": 4,
                "max_nodes": 30,
                "launch_delay": {"kind": "uniform", "low_s": 150, "high_s": 210},
            },
        ],
        "policy": {"target_rps_per_replica": 0.8, "max_replicas": 50, "min_replicas": 1},
    }
    doc.update(overrides)
    return doc


def write_scenario(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def availability_file(tmp_path: Path, gap_s: float, data: list[int]) -> Path:
    path = tmp_path / "spot.json"
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap_s}, "data": data}))
    return path


def scenario(doc: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(doc)
