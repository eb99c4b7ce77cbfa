"""The wheel installs and runs the control plane without torch.

What this proves, and what it does not:

- The wheel is built from this tree by pip through the project's build backend (hatchling,
  fetched into an isolated build environment from the configured index).
- Its metadata requires torch only under the ``worker`` extra.
- Installed with ``pip install --no-deps`` into a fresh virtualenv, next to exactly the
  dependencies its metadata names (no more: each is checked present, torch is checked
  absent), ``forescale --version``, ``forescale controller --help`` and a short
  ``forescale simulate`` run from the installed console script.
- Those dependencies are not downloaded again: the fresh virtualenv sees the shared
  virtualenv's packages through a ``.pth`` pointing at a folder of links to them, torch
  (and the packages only torch pulls in) left out. So this does not prove that the
  index can resolve them; it proves the installed control plane runs on what the
  wheel's metadata declares, without torch.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# torch and what only torch brings (a CPU build: no nvidia-*, no triton compiler)
TORCH_ONLY = ("torch", "functorch", "torchgen", "nvidia", "triton-", "sympy", "mpmath", "networkx")
OURS = ("forescale", "_editable_impl_forescale", "__editable__")


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=240, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)])
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("forescale-*.whl")
    return path


def _skipped(name: str) -> bool:
    low = name.lower()
    return low.startswith(TORCH_ONLY) or low.startswith(OURS) or low == "triton"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("venv")
    env = base / "env"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    assert done.returncode == 0, done.stderr
    deps = base / "deps"
    deps.mkdir()
    shared = Path(site.getsitepackages()[0])
    for entry in shared.iterdir():
        if not _skipped(entry.name) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    py = env / "bin" / "python"
    target = Path(_run([str(py), "-c", "import site; print(site.getsitepackages()[0])"]).stdout.strip())
    (target / "shared-deps.pth").write_text(f"{deps}\n")
    done = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)])
    assert done.returncode == 0, done.stderr
    return env


def test_metadata_puts_torch_in_the_worker_extra_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = z.read(name).decode()
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    torch = [r for r in requires if r.split()[1].startswith("torch")]
    assert torch and all("extra == 'worker'" in r or 'extra == "worker"' in r for r in torch), torch
    assert "Provides-Extra: worker" in meta.splitlines()


CHECK = """
import importlib.metadata as md, importlib.util, sys
from packaging.requirements import Requirement
assert importlib.util.find_spec("torch") is None, "torch is importable"
dist = md.distribution("forescale")
assert "site-packages" in str(dist.locate_file("forescale")), dist.locate_file("forescale")
missing = []
for text in dist.requires or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # an extra (worker, dev): not part of the control plane
    try:
        if not req.specifier.contains(md.version(req.name), prereleases=True):
            missing.append(f"{req} (have {md.version(req.name)})")
    except md.PackageNotFoundError:
        missing.append(str(req))
assert not missing, missing
import forescale.controller.service, forescale.controller.api.hosting, forescale.prescaler.service
import forescale.sim.run, forescale.cli
assert "torch" not in sys.modules
print("ok")
"""


def test_installed_wheel_runs_the_control_plane_without_torch(venv: Path, tmp_path: Path) -> None:
    py, cli = str(venv / "bin" / "python"), str(venv / "bin" / "forescale")
    check = _run([py, "-c", CHECK], cwd=tmp_path)  # not the checkout: the installed wheel
    assert check.returncode == 0 and check.stdout.strip() == "ok", check.stderr
    version = _run([cli, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "forescale 0.1.0", version
    help_ = _run([cli, "controller", "--help"], cwd=tmp_path)
    assert help_.returncode == 0 and "--signals" in help_.stdout, help_.stderr
    assert _run([cli, "controller", "--version"], cwd=tmp_path).stdout.strip() == "forescale 0.1.0"
    sim = _simulate(cli, tmp_path)
    assert sim.returncode == 0, sim.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["policies"]["forescale"]["requests"] > 0


def _simulate(cli: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    start = 1_699_920_000.0
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, 900)
    times = np.repeat(start + np.arange(900), counts) + rng.random(int(counts.sum()))
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,tokens\n" + "".join(f"{t:.3f},{i % 50}\n" for i, t in enumerate(times)))
    scenario = {
        "name": "wheel", "seed": 1, "slo": {"latency_s": 10},
        "model": {"name": "m", "service_rate_rps": 1.0, "service_time_s": 1, "load_time_s": 30},
        "pools": [{"name": "spot", "capacity_type": "spot", "price_per_node_hour": 1, "max_nodes": 20,
                   "launch_delay": {"kind": "fixed", "low_s": 60}, "spot": {"notice_s": 120}}],
        "policy": {"target_rps_per_replica": 0.8, "max_replicas": 20, "min_replicas": 1},
    }  # fmt: skip
    sc = tmp_path / "scenario.yaml"
    sc.write_text(yaml.safe_dump(scenario))
    args = [cli, "simulate", "--trace", str(trace), "--scenario", str(sc), "--out", str(tmp_path / "out"),
            "--policies", "forescale"]  # fmt: skip
    return _run(args, cwd=tmp_path)
