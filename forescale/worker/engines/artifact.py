"""``torchscript`` and ``export``: a user's own model, loaded from a file.

``path`` is a TorchScript file (``torch.jit.save``) or a ``torch.export`` program
(``torch.export.save``), relative to the worker's model directory and pinned by
``sha256``; ``artifact_check`` refuses anything else before torch reads the file.
The model is called with one tensor per input, in the order of
``input_names`` (default: the request's order), the requests of a batch concatenated
along dim 0 when their other dims agree (else run one by one). Outputs (a tensor, a
tuple/list or a dict) are named by ``output_names`` (default OUTPUT0, OUTPUT1, ...).
``inputs`` (v2 metadata: name, datatype, shape with -1 for the batch dim) drives the
warm-up and is what ``GET /v2/models/{m}`` shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forescale.worker.engines import BadInput, Tensors, artifact_check
from forescale.worker.engines.torchutil import check_autocast, pick_device, precision, set_threads
from forescale.worker.tensors import DTYPES


class _ArtifactEngine:
    def __init__(self, path: str, sha256: str, model_dir: str, input_names: list[str] | None = None,
                 output_names: list[str] | None = None, inputs: list[dict[str, Any]] | None = None,
                 outputs: list[dict[str, Any]] | None = None, device: str = "auto",
                 autocast: str | None = None, threads: int | None = None) -> None:  # fmt: skip
        check_autocast(autocast)
        self.threads = threads
        self.path = artifact_check.resolve(model_dir, path)
        self.sha256 = sha256
        self.input_names = input_names or [i["name"] for i in inputs or []] or None
        self.output_names = output_names or [o["name"] for o in outputs or []] or None
        self.inputs = inputs or []
        self.device = pick_device(device)
        self.autocast = autocast
        self.model: Any = None

    def warm_up(self) -> None:
        if self.inputs:
            example = {
                i["name"]: np.zeros([1 if d < 0 else d for d in i["shape"]], dtype=DTYPES[i["datatype"]])
                for i in self.inputs
            }
            self.infer([example])

    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        names = self.input_names or list(batch[0])
        if any(set(item) != set(names) for item in batch):
            raise BadInput(f"expects inputs {names}")
        if any(item[n].ndim == 0 for item in batch for n in names):
            raise BadInput("inputs need a batch dimension")
        same = all(item[n].shape[1:] == batch[0][n].shape[1:] for item in batch for n in names)
        if not same:
            return [self._call([item], names)[0] for item in batch]
        return self._call(batch, names)

    def _call(self, batch: list[Tensors], names: list[str]) -> list[Tensors]:
        args = [torch.from_numpy(np.concatenate([item[n] for item in batch])).to(self.device) for n in names]
        with torch.inference_mode(), precision(self.device, self.autocast):
            res = self.model(*args)
        outs = self._name_outputs(res)
        sizes = np.cumsum([item[names[0]].shape[0] for item in batch])[:-1]
        split = {k: np.split(v, sizes) for k, v in outs.items()}
        return [{k: parts[i] for k, parts in split.items()} for i in range(len(batch))]

    def _name_outputs(self, res: Any) -> dict[str, np.ndarray]:
        if isinstance(res, dict):
            items = list(res.items())
        else:
            seq = list(res) if isinstance(res, (tuple, list)) else [res]
            names = self.output_names or [f"OUTPUT{i}" for i in range(len(seq))]
            items = list(zip(names, seq, strict=True))
        return {k: v.detach().float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                for k, v in items}  # fmt: skip


class TorchScriptEngine(_ArtifactEngine):
    def load(self) -> None:
        set_threads(self.threads)
        artifact_check.check_digest(self.path, self.sha256)
        self.model = torch.jit.load(str(self.path), map_location=self.device).eval()


class ExportEngine(_ArtifactEngine):
    def load(self) -> None:
        set_threads(self.threads)
        artifact_check.check_digest(self.path, self.sha256)
        artifact_check.check_export_archive(self.path)
        program = torch.export.load(str(self.path))
        self.model = program.module().to(self.device)
