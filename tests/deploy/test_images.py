"""The image build files cannot drift from a working install.

Base images cannot be pulled here, so each ``images/*.Dockerfile`` is parsed: its build
stage's COPY steps are mirrored into a build context, its RUN steps run in order in a
fresh virtualenv (``/opt/forescale`` mapped to a temporary folder), and the final stage's
entry point is started from that virtualenv.

The ``pip install`` step runs twice, and this is what it proves:

1. as written (less ``--no-cache-dir``: the cache only saves downloads), plus
   ``--dry-run --report``: pip resolves the image's whole dependency set
   against the configured index under constraints.txt (the control plane's without
   torch, the worker's with torch==2.13.0);
2. as written, plus ``--no-deps``: the project itself is built and installed by the same
   command; the dependencies the dry run resolved are then taken from the shared
   virtualenv, each checked to be exactly the version resolved (nothing else is
   visible), instead of unpacking ~600 MB again (minutes on this machine).

Then ``ENTRYPOINT + CMD`` runs with ``--version`` and ``--help``; the control-plane
image's controller is started for real on a test Redis and answers ``/healthz``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from forescale.devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
VENV_IN_IMAGE = "/opt/forescale"


@dataclass
class Stage:
    base: str
    copies: list[list[str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    user: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """ARG defaults and the stages of a Dockerfile (the subset our files use)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif op == "FROM":
            base = rest.split()[0]
            for name, value in args.items():
                base = base.replace("${" + name + "}", value)
            stages.append(Stage(base))
        elif op == "COPY" and not rest.startswith("--from"):
            stages[-1].copies.append(rest.split())
        elif op == "RUN":
            stages[-1].runs.append(rest)
        elif op == "USER":
            stages[-1].user = rest
        elif op in ("ENTRYPOINT", "CMD"):
            setattr(stages[-1], op.lower() if op == "CMD" else "entrypoint", json.loads(rest))
        elif op not in ("ENV", "WORKDIR", "COPY", "EXPOSE"):
            raise AssertionError(f"{path.name}: instruction this test does not model: {op}")
    return args, stages


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _sh(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=timeout)


def _context(stage: Stage, workdir: Path) -> None:
    """What the COPY steps put in the build stage's WORKDIR, from this checkout."""
    for *sources, dest in stage.copies:
        into_dir = dest.endswith("/") or len(sources) > 1
        for src in sources:
            target = workdir / dest / Path(src).name if into_dir else workdir / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(ROOT / src, target)


def _shared_deps(resolved: dict[str, str], into: Path) -> Path:
    """Links to the shared virtualenv's copies of exactly the resolved distributions."""
    from importlib import metadata

    into.mkdir()
    shared = Path(site.getsitepackages()[0])
    for name, version in resolved.items():
        dist = metadata.distribution(name)
        assert dist.version == version, f"{name}: image resolves {version}, shared venv has {dist.version}"
        tops = {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}
        for top in tops:
            if (shared / top).exists() and not (into / top).exists() and not top.endswith(".pth"):
                (into / top).symlink_to(shared / top)
    return into


@dataclass
class Installed:
    final: Stage
    venv: Path
    resolved: dict[str, str]


def install(dockerfile: str, tmp: Path) -> Installed:
    """Run the build stage's RUN steps of ``dockerfile`` (see the module docstring)."""
    args, (build, final) = parse(IMAGES / dockerfile)
    assert ":" in args["BASE"] and not args["BASE"].endswith(":latest"), "base image must be pinned"
    ctx, venv = tmp / "src", tmp / "opt-forescale"
    ctx.mkdir(parents=True)
    _context(build, ctx)
    report = tmp / "report.json"
    for run in build.runs:
        argv = [a.replace(VENV_IN_IMAGE, str(venv)) for a in shlex.split(run)]
        if argv[:3] == ["python", "-m", "venv"]:  # pip comes from this interpreter: --python below
            done = _sh([sys.executable, "-m", "venv", "--without-pip", *argv[3:]], ctx)
            assert done.returncode == 0, done.stderr
            continue
        assert argv[0] == f"{venv}/bin/pip" and argv[1] == "install", f"RUN this test does not model: {run}"
        # --no-cache-dir keeps the image small; here it would only re-download every wheel
        cached = [a for a in argv[1:] if a != "--no-cache-dir"]
        pip = [sys.executable, "-m", "pip", "--python", f"{venv}/bin/python", *cached]
        dry = _sh([*pip, "--dry-run", "--quiet", "--report", str(report)], ctx)
        assert dry.returncode == 0, dry.stderr[-3000:]
        done = _sh([*pip, "--no-deps", "--quiet"], ctx)
        assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        i["metadata"]["name"].lower(): i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
        if i["metadata"]["name"].lower() != "forescale"
    }
    deps = _shared_deps(resolved, tmp / "deps")
    target = _sh([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"], tmp)
    (Path(target.stdout.strip()) / "image-deps.pth").write_text(f"{deps}\n")
    return Installed(final, venv, resolved)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Installed]:
    """Both images, side by side: the steps mostly wait on the index, not the CPU."""
    names = ["control-plane.Dockerfile", "worker.Dockerfile"]
    with ThreadPoolExecutor(len(names)) as pool:
        done = pool.map(lambda n: install(n, tmp_path_factory.mktemp(n.split(".")[0])), names)
        return dict(zip(names, done, strict=True))


@pytest.mark.parametrize(
    ("dockerfile", "torch_wanted", "service"),
    [("control-plane.Dockerfile", False, "controller"), ("worker.Dockerfile", True, "worker")],
)
def test_image_install_steps_work_and_the_entry_point_starts(
    dockerfile: str, torch_wanted: bool, service: str, installed: dict[str, Installed], tmp_path: Path,
    redis_url: str,
) -> None:  # fmt: skip
    image = installed[dockerfile]
    final, venv, resolved = image.final, image.venv, image.resolved
    assert final.user is not None and final.user.split(":")[0] not in ("0", "root"), "must run as non-root"
    assert final.entrypoint == ["forescale"] and final.cmd == [service]
    assert ("torch" in resolved) == torch_wanted, sorted(resolved)
    if torch_wanted:
        assert resolved["torch"].split("+")[0] == "2.13.0"
    py = venv / "bin" / "python"
    entry = [str(venv / "bin" / final.entrypoint[0]), *final.cmd]
    version = _sh([*entry, "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("forescale "), version.stderr
    assert _sh([*entry, "--help"], tmp_path).returncode == 0
    probe = "import importlib.util as u; print(u.find_spec('torch') is not None)"
    assert _sh([str(py), "-c", probe], tmp_path).stdout.strip() == str(torch_wanted)
    if service == "controller":  # the image's wheel carries the mypyc-compiled core (hatch_build.py)
        compiled = "import forescale.core as c; print(c.COMPILED)"
        assert _sh([str(py), "-c", compiled], tmp_path).stdout.strip() == "True"
        _start_controller(entry, tmp_path, redis_url)


def _start_controller(entry: list[str], cwd: Path, redis_url: str) -> None:
    """The image's default command, configured as deploy/kubernetes/base does (env only)."""
    port = free_port()
    env = {**_env(), "FORESCALE_REDIS_URL": redis_url, "FORESCALE_API_HOST": "127.0.0.1",
           "FORESCALE_API_PORT": str(port), "FORESCALE_API_TOKENS": "read:" + "r" * 32,
           "FORESCALE_CONTROLLER_METRICS_PORT": "0"}  # fmt: skip
    proc = subprocess.Popen(entry, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "controller did not serve /healthz"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(20)
