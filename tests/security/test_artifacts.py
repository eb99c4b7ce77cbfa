"""Item 1 and 7 of the hardening review: a model artifact never runs code on load, and a
registration a worker could not serve is refused where it is made.

Each crafted file below, given to ``torch.export.load`` as the engine called it before,
runs a command (it creates ``marker``); pass criteria: the engine refuses it before
torch reads it, and the marker never appears.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import redis
import torch

from forescale import keys
from forescale.cli import main
from forescale.queue.config import ModelConfig
from forescale.worker import engines
from forescale.worker.engines.artifact_check import UnsafeArtifact


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _export(path: Path) -> None:
    torch.export.save(torch.export.export(Tiny(), (torch.zeros(2, 4),)), str(path))


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            rel = item.filename.split("/", 1)[1]
            zout.writestr(item, change.get(rel, zin.read(item.filename)))
        for rel, data in change.items():
            if rel not in {i.filename.split("/", 1)[1] for i in zin.infolist()}:
                zout.writestr(zin.infolist()[0].filename.split("/", 1)[0] + "/" + rel, data)


def _pickled_weight(src: Path, dst: Path, marker: Path) -> None:
    with zipfile.ZipFile(src) as z:
        cfg_name = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
        cfg = json.loads(z.read(cfg_name))
    first = next(iter(cfg["config"].values()))
    first["use_pickle"] = True
    _rewrite(src, dst, {
        "data/weights/model_weights_config.json": json.dumps(cfg).encode(),
        f"data/weights/{first['path_name']}": pickle.dumps(_Exploit(marker)),
    })  # fmt: skip


def _pickled_sample_inputs(src: Path, dst: Path, marker: Path) -> None:
    _rewrite(src, dst, {"data/sample_inputs/model.pt": _torch_save_exploit(marker)})


def _torch_save_exploit(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save(_Exploit(marker), buf)
    return buf.getvalue()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("craft", [_pickled_weight, _pickled_sample_inputs])
def test_crafted_export_archive_is_refused_and_runs_nothing(tmp_path: Path, craft: object) -> None:
    good, bad, marker = tmp_path / "good.pt2", tmp_path / "bad.pt2", tmp_path / "marker"
    _export(good)
    craft(good, bad, marker)  # type: ignore[operator]
    e = engines.create("export", {"path": "bad.pt2", "sha256": _digest(bad)}, str(tmp_path))
    with pytest.raises(UnsafeArtifact):
        e.load()
    assert not marker.exists()


def test_plain_export_archive_still_loads(tmp_path: Path) -> None:
    _export(tmp_path / "m.pt2")
    e = engines.create("export", {"path": "m.pt2", "sha256": _digest(tmp_path / "m.pt2")}, str(tmp_path))
    e.load()
    out = e.infer([{"x": torch.ones(2, 4).numpy()}])  # exported with a static batch of 2
    assert out[0]["OUTPUT0"].shape == (2, 3)


def test_artifact_must_match_its_pin_and_stay_in_the_model_dir(tmp_path: Path) -> None:
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    outside.mkdir()
    torch.jit.save(torch.jit.script(Tiny()), str(outside / "t.pt"))
    (models / "link.pt").symlink_to(outside / "t.pt")
    with pytest.raises(UnsafeArtifact, match="outside the model directory"):
        engines.create("torchscript", {"path": "link.pt", "sha256": _digest(outside / "t.pt")}, str(models))
    torch.jit.save(torch.jit.script(Tiny()), str(models / "t.pt"))
    e = engines.create("torchscript", {"path": "t.pt", "sha256": "0" * 64}, str(models))
    with pytest.raises(UnsafeArtifact, match="not the pinned"):
        e.load()


@pytest.mark.parametrize(
    ("engine", "options", "needle"),
    [
        ("nope", {}, "unknown engine"),
        ("export", {"path": "/etc/passwd", "sha256": "0" * 64}, "relative path"),
        ("export", {"path": "../x.pt2", "sha256": "0" * 64}, "relative path"),
        ("export", {"path": "x.pt2"}, "sha256"),
        ("transformer", {"threads": -1}, "threads"),
        ("sleep", {"base_ms": 1, "typo": 2}, "typo"),
    ],
)
def test_registration_is_validated_like_the_worker(
    engine: str, options: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        ModelConfig.model_validate({"name": "m", "engine": engine, "engine_options": options})
    with pytest.raises(ValueError, match=needle):
        engines.create(engine, options)


def test_models_add_refuses_bad_engine_in_one_line(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["models", "--redis-url", redis_url, "add", "m", "--engine", "transformer", "-o", "threads=-1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "threads" in err
    assert redis.Redis.from_url(redis_url).hget(keys.MODELS, "m") is None


def test_worker_that_cannot_load_says_why_and_exits_nonzero(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "m.pt2").write_bytes(b"not a zip")
    cfg = {
        "name": "m",
        "engine": "export",
        "engine_options": {"path": "m.pt2", "sha256": _digest(tmp_path / "m.pt2")},
    }
    redis.Redis.from_url(redis_url).hset(keys.MODELS, "m", json.dumps(cfg))
    env = {**os.environ, "FORESCALE_WORKER_MODEL_DIR": str(tmp_path)}
    args = [sys.executable, "-m", "forescale.worker", "--model", "m", "--redis-url", redis_url, "--port", "0"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=90, env=env)
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "cannot load" in last and "not a readable torch.export archive" in last
