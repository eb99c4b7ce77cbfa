"""Sampling: greedy, or temperature / top-k / top-p with a per-request seed.

The randomness for token k of a sequence is one uniform number drawn from a generator
seeded with (seed, k): never from the batch, the step or what ran before. A worker that
continues a sequence from its prompt plus k delivered tokens therefore draws token k
exactly as the first worker would have (DESIGN.md, "Generation over the queue").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: all
    seed: int = 0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if not 0 <= self.temperature <= 100:
            raise ValueError("temperature must be in [0, 100]")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")


def uniform(seed: int, k: int) -> float:
    """The one random number behind token ``k`` of a sequence seeded ``seed``."""
    return float(np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, k]).random())


def sample(logits: torch.Tensor, p: SamplingParams, k: int) -> int:
    """Token ``k`` of a sequence from its last-position ``logits`` (vocab,)."""
    if p.temperature == 0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(logits.float() / p.temperature, dim=-1)
    sorted_p, order = torch.sort(probs, descending=True)
    if p.top_k:
        sorted_p = sorted_p[: p.top_k]
        order = order[: p.top_k]
    if p.top_p < 1:
        cum = torch.cumsum(sorted_p, 0)
        keep = int(torch.searchsorted(cum, torch.tensor(p.top_p)).item()) + 1
        sorted_p, order = sorted_p[:keep], order[:keep]
    cdf = torch.cumsum(sorted_p, 0)
    u = uniform(p.seed, k) * float(cdf[-1])
    idx = min(int(torch.searchsorted(cdf, torch.tensor(u)).item()), len(order) - 1)
    return int(order[idx].item())
