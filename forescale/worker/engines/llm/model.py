"""A decoder-only transformer (RMSNorm, rotary positions, grouped-query attention,
SwiGLU) whose forward pass runs a whole engine step over a paged KV cache.

One step is a flat list of token chunks, one per sequence: a prefill chunk or a single
decode token. Projections and the MLP run on all tokens of the step at once; attention
runs per sequence on the keys gathered from its blocks (a plain gather-based paged
attention: simple, and exact against dense attention, which ``dense_logits`` computes
for the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from forescale.worker.engines.llm.config import LLMOptions
from forescale.worker.engines.llm.kvcache import KVPool


@dataclass(frozen=True, slots=True)
class Chunk:
    """Tokens of one sequence to run this step, at positions start .. start+len-1."""

    tokens: list[int]
    start: int
    slots: torch.Tensor  # cache slots of positions 0 .. start+len-1 (block table expanded)


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype) * w


class Transformer:
    def __init__(self, o: LLMOptions, weights: dict[str, torch.Tensor], device: torch.device,
                 dtype: torch.dtype) -> None:  # fmt: skip
        self.o = o
        self.device = device
        self.dtype = dtype
        self.w = {k: v.to(device=device, dtype=dtype) for k, v in weights.items()}
        self.head = self.w.get("lm_head.weight", self.w["embed.weight"])
        hd = o.head_dim
        inv = 1.0 / (o.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.outer(torch.arange(o.max_context, dtype=torch.float32), inv)
        self.cos = ang.cos().to(device=device, dtype=dtype)
        self.sin = ang.sin().to(device=device, dtype=dtype)

    def _rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Rotary embedding of x (T, heads, hd) at positions pos (T,); half-split pairs."""
        c, s = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)

    @torch.inference_mode()
    def forward(self, chunks: list[Chunk], pool: KVPool) -> torch.Tensor:
        """Logits (len(chunks), vocab) at the last token of each chunk."""
        o, dev = self.o, self.device
        ids = torch.tensor([t for c in chunks for t in c.tokens], device=dev)
        pos = torch.cat([torch.arange(c.start, c.start + len(c.tokens), device=dev) for c in chunks])
        # Write slots of the new tokens: the tail of each chunk's slot list.
        write = torch.cat([c.slots[c.start : c.start + len(c.tokens)] for c in chunks])
        x = self.w["embed.weight"][ids]
        for i in range(o.layers):
            x = x + self._attention(
                i, rms_norm(x, self.w[f"layers.{i}.attn_norm.weight"]), pos, write, chunks, pool
            )
            x = x + self._mlp(i, rms_norm(x, self.w[f"layers.{i}.mlp_norm.weight"]))
        ends = torch.tensor(_last_index(chunks), device=dev)
        h = rms_norm(x[ends], self.w["norm.weight"])
        return (h @ self.head.T).float()

    def _attention(self, i: int, h: torch.Tensor, pos: torch.Tensor, write: torch.Tensor,
                   chunks: list[Chunk], pool: KVPool) -> torch.Tensor:  # fmt: skip
        o, p = self.o, f"layers.{i}."
        t = h.shape[0]
        q = self._rope((h @ self.w[p + "wq.weight"].T).view(t, o.heads, o.head_dim), pos)
        k = self._rope((h @ self.w[p + "wk.weight"].T).view(t, o.kv_heads, o.head_dim), pos)
        v = (h @ self.w[p + "wv.weight"].T).view(t, o.kv_heads, o.head_dim)
        pool.k[i].index_copy_(0, write, k)
        pool.v[i].index_copy_(0, write, v)
        rep = o.heads // o.kv_heads
        offsets = [0]
        for c in chunks:
            offsets.append(offsets[-1] + len(c.tokens))
        outs: list[torch.Tensor | None] = [None] * len(chunks)
        decode = [j for j, c in enumerate(chunks) if len(c.tokens) == 1]
        if len(decode) > 1:  # one padded attention call for every single-token sequence
            batched = self._decode_attention(
                i, q, [offsets[j] for j in decode], [chunks[j] for j in decode], pool
            )
            for j, out in zip(decode, batched, strict=True):
                outs[j] = out
        for j, c in enumerate(chunks):
            if outs[j] is not None:
                continue
            n, ctx, at = len(c.tokens), c.start + len(c.tokens), offsets[j]
            keys = pool.k[i][c.slots[:ctx]].repeat_interleave(rep, dim=1).transpose(0, 1)
            vals = pool.v[i][c.slots[:ctx]].repeat_interleave(rep, dim=1).transpose(0, 1)
            qc = q[at : at + n].transpose(0, 1)  # (heads, n, hd)
            # Query j (position start+j) sees keys 0 .. start+j.
            mask = (
                torch.arange(ctx, device=h.device)[None, :]
                <= (c.start + torch.arange(n, device=h.device))[:, None]
            )
            outs[j] = F.scaled_dot_product_attention(qc, keys, vals, attn_mask=mask).transpose(0, 1)
        a = torch.cat([x for x in outs if x is not None]).reshape(t, o.heads * o.head_dim)
        return a @ self.w[p + "wo.weight"].T

    def _decode_attention(self, i: int, q: torch.Tensor, at: list[int], chunks: list[Chunk],
                          pool: KVPool) -> torch.Tensor:  # fmt: skip
        """Attention of B one-token queries over their own contexts, padded to the longest."""
        o, dev = self.o, q.device
        lens = torch.tensor([c.start + 1 for c in chunks], device=dev)
        width = int(lens.max().item())
        slots = torch.zeros(len(chunks), width, dtype=torch.long, device=dev)
        for b, c in enumerate(chunks):
            slots[b, : c.start + 1] = c.slots[: c.start + 1]
        rep = o.heads // o.kv_heads
        keys = pool.k[i][slots].repeat_interleave(rep, dim=2).transpose(1, 2)  # (B, heads, width, hd)
        vals = pool.v[i][slots].repeat_interleave(rep, dim=2).transpose(1, 2)
        qb = q[torch.tensor(at, device=dev)].unsqueeze(2)  # (B, heads, 1, hd)
        mask = (torch.arange(width, device=dev)[None, :] < lens[:, None])[:, None, None, :]
        return F.scaled_dot_product_attention(qb, keys, vals, attn_mask=mask).squeeze(2).unsqueeze(1)

    def _mlp(self, i: int, h: torch.Tensor) -> torch.Tensor:
        p = f"layers.{i}."
        return (F.silu(h @ self.w[p + "w_gate.weight"].T) * (h @ self.w[p + "w_up.weight"].T)) @ self.w[
            p + "w_down.weight"
        ].T

    @torch.inference_mode()
    def dense_logits(self, tokens: list[int]) -> torch.Tensor:
        """Reference: logits at every position with plain causal attention, no cache."""
        o = self.o
        t = len(tokens)
        pos = torch.arange(t, device=self.device)
        x = self.w["embed.weight"][torch.tensor(tokens, device=self.device)]
        rep = o.heads // o.kv_heads
        for i in range(o.layers):
            p = f"layers.{i}."
            h = rms_norm(x, self.w[p + "attn_norm.weight"])
            q = self._rope((h @ self.w[p + "wq.weight"].T).view(t, o.heads, o.head_dim), pos)
            k = self._rope((h @ self.w[p + "wk.weight"].T).view(t, o.kv_heads, o.head_dim), pos)
            v = (h @ self.w[p + "wv.weight"].T).view(t, o.kv_heads, o.head_dim)
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            a = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                               is_causal=True)  # fmt: skip
            x = x + a.transpose(0, 1).reshape(t, -1) @ self.w[p + "wo.weight"].T
            x = x + self._mlp(i, rms_norm(x, self.w[p + "mlp_norm.weight"]))
        return (rms_norm(x, self.w["norm.weight"]) @ self.head.T).float()


def _last_index(chunks: list[Chunk]) -> list[int]:
    out, at = [], 0
    for c in chunks:
        at += len(c.tokens)
        out.append(at - 1)
    return out
