"""The llm engine's ``weights`` (safetensors) and ``tokenizer`` (tokenizer.json) files get
the artifact review: relative to the worker's model directory and inside it (symlinks
resolved), pinned by sha256, checked at registration and again by the worker before either
file is parsed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import save_file

from forescale.queue import engines as specs
from forescale.worker import engines
from forescale.worker.engines.artifact_check import UnsafeArtifact
from forescale.worker.engines.llm import weights as W
from forescale.worker.engines.llm.config import LLMOptions

OPTS: dict[str, Any] = {"layers": 1, "d_model": 16, "heads": 2, "kv_heads": 1, "max_context": 32}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model directory with valid weights and a tokenizer, plus a weights file outside it."""
    from tokenizers import Tokenizer, models

    d = tmp_path / "models"
    d.mkdir()
    o = LLMOptions(**OPTS)
    save_file(W.seeded(o, 256), str(d / "w.safetensors"))
    save_file(W.seeded(o, 256), str(tmp_path / "outside.safetensors"))
    Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]")).save(str(d / "tok.json"))
    return d


GOOD_SHA = "0" * 64


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"weights": "/etc/passwd", "weights_sha256": GOOD_SHA},
            "weights: Value error, must be a relative path",
        ),
        ({"weights": "../w.safetensors", "weights_sha256": GOOD_SHA}, "no '..'"),
        ({"tokenizer": "a/../../t.json", "tokenizer_sha256": GOOD_SHA}, "tokenizer: Value error, must be"),
        ({"weights": "w.safetensors"}, "weights needs weights_sha256"),
        ({"tokenizer": "tok.json"}, "tokenizer needs tokenizer_sha256"),
        ({"weights": "w.safetensors", "weights_sha256": "ABC"}, "weights_sha256: Value error, must be 64"),
        ({"tokenizer_sha256": GOOD_SHA}, "tokenizer_sha256 is given without tokenizer"),
    ],
)
def test_registration_refuses_unpinned_or_escaping_paths(options: dict[str, Any], message: str) -> None:
    with pytest.raises(specs.EngineOptionsError, match=message.replace("(", r"\(")):
        specs.check("llm", {**OPTS, **options})


def test_worker_loads_pinned_files_inside_the_model_dir(model_dir: Path) -> None:
    w = {"weights": "w.safetensors", "weights_sha256": sha(model_dir / "w.safetensors")}
    t = {"tokenizer": "tok.json", "tokenizer_sha256": sha(model_dir / "tok.json")}
    opts = {**OPTS, **w, **t, "vocab": 256}
    e = engines.create("llm", specs.check("llm", opts), str(model_dir))
    e.load()
    assert e.tok.vocab_size == 2  # type: ignore[attr-defined]


def test_worker_refuses_a_wrong_hash(model_dir: Path) -> None:
    w = {"weights": "w.safetensors", "weights_sha256": sha(model_dir / "w.safetensors")}
    t = {"tokenizer": "tok.json", "tokenizer_sha256": sha(model_dir / "tok.json")}
    with pytest.raises(UnsafeArtifact, match="not the pinned " + "1" * 64):
        engines.create("llm", {**OPTS, **w, "tokenizer": "tok.json", "tokenizer_sha256": "1" * 64},
                       str(model_dir))  # fmt: skip
    # The file was swapped after registration: its pinned digest no longer matches.
    (model_dir / "w.safetensors").write_bytes(b"{}")
    with pytest.raises(UnsafeArtifact, match="has sha256"):
        engines.create("llm", {**OPTS, **w, **t, "vocab": 256}, str(model_dir))


def test_worker_refuses_a_symlink_out_of_the_model_dir(model_dir: Path) -> None:
    outside = model_dir.parent / "outside.safetensors"
    (model_dir / "link.safetensors").symlink_to(outside)
    opts = {**OPTS, "weights": "link.safetensors", "weights_sha256": sha(outside)}
    with pytest.raises(UnsafeArtifact, match="outside the model directory"):
        engines.create("llm", opts, str(model_dir))
