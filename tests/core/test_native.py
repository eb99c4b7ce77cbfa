"""The mypyc build of the core (scripts/build_core.py): used only while it matches its
sources (core/native.py), and deciding exactly as the pure-Python core does.

The end-to-end checks run on a copy of the package (never the real tree) in a
subprocess, where the import of ``forescale.core`` chooses compiled or pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from forescale.core import native, values
from forescale.core.model import Decision, Observation, PoolObservation, PoolTarget, Reason

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "forescale" / "core"
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


def _fake_build(core: Path, modules: dict[str, str]) -> None:
    """Sources, an extension file per module (never imported here) and their manifest."""
    core.mkdir(parents=True)
    for name, text in modules.items():
        (core / f"{name}.py").write_text(text)
        (core / f"{name}{EXT}").write_bytes(b"not imported")
    digests = {n: hashlib.sha256(t.encode()).hexdigest() for n, t in modules.items()}
    (core / native.MANIFEST).write_text(json.dumps({"compiled": True, "sources": digests}))


def test_a_build_matching_its_sources_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    _fake_build(tmp_path / "core", {"hpa": "x = 1\n", "tick": "y = 2\n"})
    assert native.stale(tmp_path / "core") is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda core: (core / "tick.py").write_text("y = 3\n"), "source changed since the build: tick"),
        (lambda core: (core / "hpa.py").unlink(), "source changed since the build: hpa"),
        (lambda core: (core / native.MANIFEST).unlink(), "missing or unreadable"),
        (lambda core: (core / native.MANIFEST).write_text("{"), "missing or unreadable"),
    ],
)
def test_a_build_older_than_its_sources_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: object, why: str
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    core = tmp_path / "core"
    _fake_build(core, {"hpa": "x = 1\n", "tick": "y = 2\n"})
    change(core)  # type: ignore[operator]
    reason = native.stale(core)
    assert reason is not None and why in reason


def test_no_build_means_plain_imports(tmp_path: Path) -> None:
    (tmp_path / "hpa.py").write_text("x = 1\n")
    assert native.stale(tmp_path) is None


def test_the_environment_can_ask_for_pure_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_build(tmp_path / "core", {"hpa": "x = 1\n"})
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert native.stale(tmp_path / "core") == f"{native.PURE_ENV}=1"


@pytest.mark.parametrize("cls", sorted(values.MIRRORS, key=lambda c: c.__name__))
def test_each_native_value_has_the_fields_of_its_schema(cls: type) -> None:
    """natives.py and its mirrors in values.py declare the same fields, in order, with the
    same defaults; and a value survives its JSON, compiled or not."""

    def shape(c: type) -> list[tuple[str, object, bool]]:
        fs = dataclasses.fields(c)
        return [(f.name, f.default, f.default_factory is not dataclasses.MISSING) for f in fs]

    assert shape(cls) == shape(values.MIRRORS[cls])
    assert dataclasses.fields(cls)[0].kw_only == dataclasses.fields(values.MIRRORS[cls])[0].kw_only
    # each writes its own __init__ (natives.py): given only what is required, it gives every
    # other field the default the field declares
    fs = dataclasses.fields(cls)

    def sample(mirror_type: object) -> object:  # a value of the type the mirror declares
        t = str(mirror_type)
        return 1.0 if "float" in t else 1 if "int" in t else "x"

    types = {f.name: f.type for f in dataclasses.fields(values.MIRRORS[cls])}
    missing = dataclasses.MISSING
    required = {
        f.name: sample(types[f.name]) for f in fs if f.default is missing and f.default_factory is missing
    }
    made = cls(**required) if fs[0].kw_only else cls(*required.values())
    for f in fs:
        if f.name not in required:
            want = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            assert getattr(made, f.name) == want, f.name


@pytest.mark.parametrize(
    "value",
    [
        PoolObservation(name="spot-a", ready_nodes=2, insufficient_capacity_at=5.5, lead_times_s=(240.0,)),
        PoolTarget("od", "on-demand", 2, 3),
        Reason("forecast", None, "forecast: none fresh enough"),
    ],
)
def test_native_values_cross_the_edge(value: PoolObservation | PoolTarget | Reason) -> None:
    cls = type(value)
    assert cls.model_validate_json(value.model_dump_json()) == value
    assert cls.model_validate(value.model_dump()) == value
    assert value.model_copy() == value and hash(value.model_copy()) == hash(value)
    with pytest.raises(ValidationError):
        cls.model_validate({**value.model_dump(), "surprise": 1})


def test_native_values_keep_their_constraints_inside_others() -> None:
    with pytest.raises(ValidationError, match="greater_than_equal"):
        Observation.model_validate({"now": 1.0, "model": "m", "pools": [{"name": "a", "ready_nodes": -1}]})
    with pytest.raises(ValidationError, match="finite"):
        PoolObservation.model_validate({"name": "a", "insufficient_capacity_at": float("nan")})
    with pytest.raises(ValidationError):
        Decision.model_validate(
            {"model": "m", "at": 1.0, "desired_replicas": 1, "winner": "reactive",
             "pools": [{"pool": "a", "capacity_type": "gpu", "nodes": 1, "replicas": 1}]}
        )  # fmt: skip


# ---------------------------------------------------------------- end to end, on a copy

PROBE = """
import json, forescale.core as c, forescale.core.tick as t, forescale.core.hpa as h
edited = hasattr(h, "EDITED")
print(json.dumps({"compiled": c.COMPILED, "tick": t.__file__, "hpa": h.__file__, "edited": edited}))
"""


def _copy(tmp: Path) -> Path:
    """The package as installed here (sources, and the build when there is one)."""
    shutil.copytree(ROOT / "forescale", tmp / "forescale", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp / "forescale" / "core"


def _probe(tmp: Path, **env: str) -> tuple[dict[str, object], str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", native.PURE_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp, env={**clean, "PYTHONPATH": str(tmp), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def _built_here() -> bool:
    """Whether this checkout has a current build (``make install`` makes one where gcc is)."""
    return (CORE / native.MANIFEST).exists() and json.loads((CORE / native.MANIFEST).read_text())["compiled"]


def test_an_edited_source_runs_instead_of_the_stale_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)  # the suite may run pure; this checks the build
    core = _copy(tmp_path)
    got, _ = _probe(tmp_path)
    if _built_here():
        assert native.stale(CORE) is None, "the checkout's build is stale: run `make install`"
        assert got["compiled"] is True and str(got["tick"]).endswith(EXT) and str(got["hpa"]).endswith(EXT)
    else:  # no compiler on this machine: the pure core, and no warning
        assert got["compiled"] is False and str(got["tick"]).endswith(".py")
    with (core / "hpa.py").open("a") as f:
        f.write("\nEDITED = True\n")
    got, stderr = _probe(tmp_path)
    # every core module from source, the edited one included, and one warning that says why
    pure = {"compiled": False, "tick": str(core / "tick.py"), "hpa": str(core / "hpa.py"), "edited": True}
    assert got == pure
    if _built_here():
        assert stderr.count("not using the compiled modules") == 1
        assert "source changed since the build: hpa" in stderr


def test_pure_on_request_without_a_warning(tmp_path: Path) -> None:
    core = _copy(tmp_path)
    got, stderr = _probe(tmp_path, **{native.PURE_ENV: "1"})
    assert got["compiled"] is False and got["tick"] == str(core / "tick.py")
    assert "not using the compiled modules" not in stderr


TICKS = """
import json, sys
sys.argv = ["core_scale"]
sys.path.insert(0, "bench")
import random, core_scale as b
import forescale.core
from forescale.core.tick import plan_tick
rng, pools = random.Random(3), b.make_pools(30)
specs = [b.make_spec(i) for i in range(40)]
states, last, out = {}, {}, []
for tick in range(4):
    obs = {s.model: b.make_obs(i, tick, pools, last.get(s.model), rng) for i, s in enumerate(specs)}
    plan, states = plan_tick(obs, specs, pools, states)
    last = {d.model: d for d in plan.decisions}
    out.append([d.model_dump() for d in plan.decisions])
    out.append([list(c) for c in plan.commands])
    out.append({m: s.model_dump() for m, s in sorted(states.items())})
print(json.dumps({"compiled": forescale.core.COMPILED, "ticks": out}))
"""


def test_compiled_and_pure_decide_alike() -> None:
    """The bench's inputs (40 policies x 30 pools, interruptions, stock-outs, forecasts,
    schedules) over four ticks: the same decisions, reasons, commands and states."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-c", TICKS]
    runs = [
        subprocess.run(argv, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=120)
        for extra in ({}, {native.PURE_ENV: "1"})
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    compiled, pure = (json.loads(r.stdout) for r in runs)
    assert compiled["compiled"] is _built_here() and pure["compiled"] is False
    assert compiled["ticks"] == pure["ticks"]
