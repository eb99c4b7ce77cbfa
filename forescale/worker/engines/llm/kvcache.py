"""The paged KV cache: one preallocated pool of fixed-size blocks, a block table per
sequence. Allocation never grows the pool, so memory is fixed at start-up; when blocks
run out the scheduler preempts a sequence instead of failing.
"""

from __future__ import annotations

import torch

from forescale.worker.engines.llm.config import LLMOptions


class OutOfBlocks(Exception):
    """Not enough free blocks: the scheduler preempts, never the caller."""


class KVPool:
    def __init__(self, o: LLMOptions, device: torch.device, dtype: torch.dtype) -> None:
        self.block_size = o.block_size
        self.total = o.pool_blocks
        # Per layer, (blocks * block_size, kv_heads, head_dim) flat: a slot is one position.
        shape = (o.layers, self.total * o.block_size, o.kv_heads, o.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.free: list[int] = list(range(self.total - 1, -1, -1))
        self.device = device

    @property
    def used(self) -> int:
        return self.total - len(self.free)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def grow(self, table: list[int], tokens: int) -> None:
        """Extend ``table`` to cover ``tokens`` positions, or raise OutOfBlocks unchanged."""
        need = self.blocks_for(tokens) - len(table)
        if need <= 0:
            return
        if need > len(self.free):
            raise OutOfBlocks(f"{need} blocks wanted, {len(self.free)} free")
        for _ in range(need):
            table.append(self.free.pop())

    def release(self, table: list[int]) -> None:
        self.free.extend(reversed(table))
        table.clear()

    def slots(self, table: list[int], tokens: int) -> torch.Tensor:
        """Cache slots of positions 0 .. tokens-1 under ``table``."""
        b = torch.tensor(table, dtype=torch.long)
        s = (b[:, None] * self.block_size + torch.arange(self.block_size)[None, :]).reshape(-1)[:tokens]
        return s.to(self.device)
