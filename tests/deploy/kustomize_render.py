"""A small kustomize renderer for the features deploy/kubernetes/ uses: ``resources``
(files and directories), ``namespace`` and ``labels``. Tests render every overlay with it
instead of needing the kubectl/kustomize binary, which Debian does not ship.
Anything else in a kustomization.yaml is an error here, so the layout stays this simple.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {
    "Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "NodePool", "EC2NodeClass",
}  # fmt: skip
KNOWN_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels"}


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def render(directory: Path, seen: set[Path] | None = None) -> list[dict[str, Any]]:
    """Resources of the kustomization in ``directory``; ``seen`` collects files read."""
    seen = seen if seen is not None else set()
    kfile = directory / "kustomization.yaml"
    spec = yaml.safe_load(kfile.read_text())
    seen.add(kfile.resolve())
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise ValueError(f"{kfile}: unsupported fields {sorted(unknown)}")
    out: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            out.extend(render(target, seen))
        else:
            seen.add(target)
            out.extend(load_docs(target))
    for doc in out:
        meta = doc.setdefault("metadata", {})
        if "namespace" in spec and doc["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = spec["namespace"]
        for group in spec.get("labels", []):
            meta.setdefault("labels", {}).update(group["pairs"])
    return out


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return doc["kind"], meta.get("namespace", ""), meta["name"]
