"""Weights of the ``llm`` transformer: their names and shapes, seeded defaults, and
loading from a local safetensors file (never pickle: a weights file cannot run code).
"""

from __future__ import annotations

import torch

from forescale.worker.engines.llm.config import LLMOptions


def expected_shapes(o: LLMOptions, vocab: int) -> dict[str, tuple[int, ...]]:
    """Every tensor the model needs, in a fixed order (so "the first mismatch" is stable)."""
    d, hd, f = o.d_model, o.head_dim, o.ffn_dim
    out: dict[str, tuple[int, ...]] = {"embed.weight": (vocab, d)}
    for i in range(o.layers):
        p = f"layers.{i}."
        out |= {
            p + "attn_norm.weight": (d,),
            p + "wq.weight": (o.heads * hd, d),
            p + "wk.weight": (o.kv_heads * hd, d),
            p + "wv.weight": (o.kv_heads * hd, d),
            p + "wo.weight": (d, o.heads * hd),
            p + "mlp_norm.weight": (d,),
            p + "w_gate.weight": (f, d),
            p + "w_up.weight": (f, d),
            p + "w_down.weight": (d, f),
        }
    out["norm.weight"] = (d,)
    if not o.tie_embeddings:
        out["lm_head.weight"] = (vocab, d)
    return out


def seeded(o: LLMOptions, vocab: int) -> dict[str, torch.Tensor]:
    """Deterministic default weights: the same seed gives the same model everywhere."""
    g = torch.Generator().manual_seed(o.seed)
    out = {}
    for name, shape in expected_shapes(o, vocab).items():
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shape)
        else:
            # std 1/sqrt(fan_in), larger than usual for embeddings: a random model then
            # produces varied tokens instead of one repeated byte.
            std = 1.0 if name.startswith("embed") else shape[-1] ** -0.5
            out[name] = torch.randn(shape, generator=g) * std
    return out


class WeightsMismatch(ValueError):
    """The safetensors file does not match the configured architecture."""


def load_checked(path: str, o: LLMOptions, vocab: int) -> dict[str, torch.Tensor]:
    """The file's tensors, after checking every name and shape; the first mismatch raises."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except Exception as exc:  # OSError, or safetensors' own SafetensorError (an Exception)
        raise WeightsMismatch(f"cannot read safetensors file {path!r}: {exc}") from None
    want = expected_shapes(o, vocab)
    for name, shape in want.items():
        if name not in tensors:
            raise WeightsMismatch(f"{path}: missing tensor {name!r} (shape {list(shape)})")
        got = tuple(tensors[name].shape)
        if got != shape:
            raise WeightsMismatch(f"{path}: tensor {name!r} has shape {list(got)}, expected {list(shape)}")
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise WeightsMismatch(f"{path}: unexpected tensor {extra[0]!r} (not in this architecture)")
    return {k: v.float() for k, v in tensors.items()}
