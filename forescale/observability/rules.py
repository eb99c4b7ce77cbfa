"""deploy/prometheus/rules/*.yaml as a Prometheus Operator ``PrometheusRule``.

The rule files are the source (promtool checks and unit-tests them); clusters running
the Prometheus Operator load rules from a ``PrometheusRule`` object instead, so this
wraps the same groups, unchanged, into one and writes it beside the ServiceMonitors:

    python -m forescale.observability.rules deploy/kubernetes/base/prometheusrule.yaml
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
HEADER = (
    "# Generated from deploy/prometheus/rules/ by `python -m forescale.observability.rules`; do not edit.\n"
)


def prometheus_rule(rules_dir: Path = RULES_DIR) -> dict[str, Any]:
    groups = [
        g for path in sorted(rules_dir.glob("*.yaml")) for g in yaml.safe_load(path.read_text())["groups"]
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "forescale",
            "namespace": "forescale",
            "labels": {"app.kubernetes.io/name": "forescale"},
        },
        "spec": {"groups": groups},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line PromQL as ``|`` blocks, as in the source files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def render(rules_dir: Path = RULES_DIR) -> str:
    return HEADER + yaml.dump(prometheus_rule(rules_dir), Dumper=_Dumper, sort_keys=False, width=120)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m forescale.observability.rules OUT_FILE", file=sys.stderr)
        return 2
    Path(args[0]).write_text(render())
    print(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
