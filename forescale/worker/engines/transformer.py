"""``transformer``: a real PyTorch transformer encoder doing real compute.

Weights are seeded, so every worker of a model computes the same function. Each
request carries ``input_ids`` (INT32/INT64, shape [L] or [n, L]) and gets
``embedding`` (FP32, [d_model] or [n, d_model]): the mean of the encoder's outputs
over the sequence. Sequences of a batch are grouped by length bucket and padded to the
bucket with a key-padding mask, so padding never changes a result and short requests
do not pay for long ones.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import numpy as np
import torch
from torch import nn

from forescale.worker.engines import BadInput, Tensors
from forescale.worker.engines.torchutil import check_autocast, pick_device, precision, set_threads


class Encoder(nn.Module):
    def __init__(self, vocab: int, d_model: int, nhead: int, layers: int, ff: int, max_len: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """ids [B, T], pad [B, T] (True = padding) -> mean-pooled [B, d_model]."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.encoder(self.tok(ids) + self.pos(pos), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(1) / keep.sum(1).clamp(min=1)


class TransformerEngine:
    def __init__(self, d_model: int = 64, nhead: int = 4, layers: int = 2, ff: int = 128,
                 vocab: int = 1000, max_len: int = 128, buckets: list[int] | None = None, seed: int = 0,
                 device: str = "auto", autocast: str | None = None,
                 threads: int | None = None) -> None:  # fmt: skip
        check_autocast(autocast)
        self.threads = threads
        self.buckets = sorted(
            buckets or [b for b in (8, 16, 32, 64, 128, 256, 512) if b < max_len] + [max_len]
        )
        if self.buckets[-1] > max_len:
            raise ValueError(f"buckets {self.buckets} exceed max_len {max_len}")
        self.shape = (vocab, d_model, nhead, layers, ff, max_len)
        self.seed, self.autocast = seed, autocast
        self.device = pick_device(device)
        self.model: Encoder | None = None

    def load(self) -> None:
        set_threads(self.threads)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # same seed, same weights, on every worker
        self.model = Encoder(*self.shape).eval().to(self.device)
        torch.random.set_rng_state(gen_state)

    def warm_up(self) -> None:
        for b in self.buckets:
            self.infer([{"input_ids": np.ones(b, dtype=np.int64)}])

    def _sequences(self, batch: list[Tensors]) -> list[np.ndarray]:
        vocab, max_len = self.shape[0], self.shape[-1]
        seqs: list[np.ndarray] = []
        for item in batch:
            ids = item.get("input_ids")
            if ids is None or ids.dtype.kind not in "iu" or ids.ndim not in (1, 2) or ids.shape[-1] == 0:
                raise BadInput("expects input_ids: INT32/INT64 of shape [L] or [n, L], L > 0")
            if ids.shape[-1] > max_len or ids.min() < 0 or ids.max() >= vocab:
                raise BadInput(f"input_ids must have L <= {max_len} and values in [0, {vocab})")
            seqs.extend(ids.reshape(-1, ids.shape[-1]))
        return seqs

    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        seqs = self._sequences(batch)
        pooled = np.zeros((len(seqs), self.shape[1]), dtype=np.float32)
        by_bucket: dict[int, list[int]] = defaultdict(list)
        for i, s in enumerate(seqs):
            by_bucket[self.buckets[bisect.bisect_left(self.buckets, len(s))]].append(i)
        for length, idx in by_bucket.items():
            pooled[idx] = self._run(length, [seqs[i] for i in idx])
        out, at = [], 0
        for item in batch:
            ids = item["input_ids"]
            n = 1 if ids.ndim == 1 else ids.shape[0]
            emb = pooled[at : at + n]
            out.append({"embedding": emb[0] if ids.ndim == 1 else emb})
            at += n
        return out

    def _run(self, length: int, seqs: list[np.ndarray]) -> np.ndarray:
        assert self.model is not None, "load() first"
        ids = np.zeros((len(seqs), length), dtype=np.int64)
        pad = np.ones((len(seqs), length), dtype=bool)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s
            pad[row, : len(s)] = False
        with torch.inference_mode(), precision(self.device, self.autocast):
            res = self.model(torch.from_numpy(ids).to(self.device), torch.from_numpy(pad).to(self.device))
        return res.float().cpu().numpy()
