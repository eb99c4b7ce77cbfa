"""Engines on their own: determinism, bucketing and padding, user artifacts, options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from forescale.worker import engines
from forescale.worker.engines import BadInput
from forescale.worker.engines.basic import EngineCrash
from forescale.worker.tensors import decode, encode


def _transformer(**opts: object) -> engines.Engine:
    e = engines.create("transformer", {"threads": 1, **opts})
    e.load()
    return e


def test_transformer_weights_are_seeded_and_deterministic() -> None:
    ids = {"input_ids": np.arange(1, 20)}
    a = _transformer(seed=7).infer([ids])[0]["embedding"]
    b = _transformer(seed=7).infer([ids])[0]["embedding"]
    c = _transformer(seed=8).infer([ids])[0]["embedding"]
    assert a.shape == (64,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_padding_and_batch_company_do_not_change_results() -> None:
    e = _transformer(buckets=[16, 64, 128])
    short = np.arange(1, 6)
    alone = e.infer([{"input_ids": short}])[0]["embedding"]  # padded 5 -> 16
    mixed = e.infer([
        {"input_ids": np.arange(1, 60)},  # bucket 64
        {"input_ids": np.stack([short, np.arange(10, 15)])},  # two rows, bucket 16
        {"input_ids": np.arange(3, 15).astype(np.int32)},  # bucket 16, other length
    ])  # fmt: skip
    assert [m["embedding"].shape for m in mixed] == [(64,), (2, 64), (64,)]
    np.testing.assert_allclose(mixed[1]["embedding"][0], alone, atol=1e-5)
    # A different amount of padding (bucket 64 instead of 16) gives the same answer.
    wide = _transformer(buckets=[64, 128]).infer([{"input_ids": short}])[0]["embedding"]
    np.testing.assert_allclose(wide, alone, atol=1e-5)


@pytest.mark.parametrize(
    "item",
    [
        {"x": np.arange(3)},
        {"input_ids": np.ones(3, dtype=np.float32)},
        {"input_ids": np.ones(129, dtype=np.int64)},
        {"input_ids": np.array([1, 5000])},
        {"input_ids": np.ones((1, 1, 3), dtype=np.int64)},
    ],
    ids=["no input_ids", "floats", "too long", "out of vocab", "3-d"],
)
def test_transformer_bad_input(item: dict[str, np.ndarray]) -> None:
    with pytest.raises(BadInput):
        _transformer().infer([item])


def test_transformer_warm_up_runs_every_bucket() -> None:
    e = _transformer(max_len=32)
    assert e.buckets == [8, 16, 32]  # type: ignore[attr-defined]
    e.warm_up()


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lin(x), y * 2


def _expected(x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return Tiny()(torch.from_numpy(x), torch.zeros(len(x)))[0].numpy()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", ["torchscript", "export"])
def test_user_artifact_is_loaded_batched_and_named(kind: str, tmp_path: Path) -> None:
    x = np.zeros((2, 4), dtype=np.float32)
    y = np.zeros(2, dtype=np.int64)
    path = tmp_path / f"tiny.{kind}"
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(Tiny()), str(path))
    else:
        batch = torch.export.Dim("batch")
        prog = torch.export.export(Tiny(), (torch.from_numpy(x), torch.from_numpy(y)),
                                   dynamic_shapes=({0: batch}, {0: batch}))  # fmt: skip
        torch.export.save(prog, str(path))
    inputs = [
        {"name": "x", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "y", "datatype": "INT64", "shape": [-1]},
    ]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    opts = {"path": path.name, "sha256": digest, "inputs": inputs, "output_names": ["out", "twice"]}
    opts["threads"] = 1
    e = engines.create(kind, opts, str(tmp_path))
    e.load()
    e.warm_up()
    rng = np.random.default_rng(0)
    a = {"x": rng.normal(size=(1, 4)).astype(np.float32), "y": np.array([3])}
    b = {"x": rng.normal(size=(3, 4)).astype(np.float32), "y": np.array([1, 2, 5])}
    ra, rb = e.infer([a, b])
    assert ra["out"].shape == (1, 3) and rb["out"].shape == (3, 3)
    np.testing.assert_allclose(rb["out"], _expected(b["x"]), atol=1e-6)
    np.testing.assert_array_equal(rb["twice"], [2, 4, 10])
    with pytest.raises(BadInput):
        e.infer([{"x": a["x"]}])


def test_artifact_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        engines.create("torchscript", {"path": "missing.pt", "sha256": "0" * 64}, str(tmp_path))


def test_unknown_engine_and_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        engines.create("nope", {})
    with pytest.raises(ValueError):
        engines.create("sleep", {"dist": "zipf"})
    with pytest.raises(ValueError):
        engines.create("transformer", {"autocast": "int4"})
    with pytest.raises(ValueError, match="unknown_option"):
        engines.create("echo", {"unknown_option": 1})


def test_echo_poison_raises_and_sleep_draws_are_seeded() -> None:
    echo = engines.create("echo", {"poison": 13})
    with pytest.raises(EngineCrash):
        echo.infer([{"x": np.array([1.0, 13.0])}])
    draws = [engines.create("sleep", {"dist": "lognormal", "seed": 3})._factor() for _ in range(2)]  # type: ignore[attr-defined]
    assert draws[0] == draws[1] and draws[0] != 1.0


def test_tensor_codec_round_trip() -> None:
    payload = (
        b'{"inputs":[{"name":"a","datatype":"INT8","shape":[2,2],"data":[1,2,3,4]},'
        b'{"name":"s","datatype":"BYTES","shape":[1],"data":["hi"]},'
        b'{"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]}]}'
    )
    t = decode(payload)
    assert t["a"].dtype == np.int8 and t["a"].shape == (2, 2)
    enc = {o["name"]: {**o, "data": list(o["data"])} for o in encode(t)}
    assert enc["a"] == {"name": "a", "datatype": "INT8", "shape": [2, 2], "data": [1, 2, 3, 4]}
    assert enc["s"]["datatype"] == "BYTES" and enc["s"]["data"] == ["hi"]
    assert enc["b"]["datatype"] == "BOOL" and enc["b"]["data"] == [True, False]
    with pytest.raises(BadInput):
        decode(b'{"inputs":[{"name":"a","datatype":"INT8","shape":[3],"data":[1,2]}]}')
