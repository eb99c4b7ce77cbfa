"""Iteration-level (continuous) batching over the paged KV cache.

Each ``step``: running sequences first (oldest admitted first), each with its next
prefill chunk or one decode token, within a per-step token budget (chunked prefill: a
long prompt takes several steps and never stalls the running streams); then waiting
sequences are admitted while the budget, ``max_running`` and free blocks allow. When
blocks run out, the most recently admitted sequence is preempted: its blocks are freed
and it goes back to the head of the waiting queue, to be recomputed later (its tokens
are kept, so the recomputation is a prefill of prompt + generated).
"""

from __future__ import annotations

from collections import deque

import torch

from forescale.worker.engines.llm import sampling
from forescale.worker.engines.llm.config import LLMOptions
from forescale.worker.engines.llm.kvcache import KVPool, OutOfBlocks
from forescale.worker.engines.llm.model import Chunk, Transformer
from forescale.worker.engines.llm.sequence import Sequence, StepOutput, emit
from forescale.worker.engines.llm.tokenizer import Tokenizer


class Scheduler:
    def __init__(self, o: LLMOptions, model: Transformer, pool: KVPool, tok: Tokenizer) -> None:
        self.o = o
        self.model = model
        self.pool = pool
        self.tok = tok
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # admission order
        self.preemptions = 0
        self._admissions = 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def abort(self, seq_id: str) -> bool:
        """Drop a sequence wherever it is; its blocks are free at once."""
        for s in self.running:
            if s.seq_id == seq_id:
                self.running.remove(s)
                self.pool.release(s.blocks)
                return True
        for s in self.waiting:
            if s.seq_id == seq_id:
                self.waiting.remove(s)
                return True
        return False

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    def _preempt_newest(self) -> Sequence:
        victim = max(self.running, key=lambda s: s.admitted_at)
        self.running.remove(victim)
        self.pool.release(victim.blocks)
        victim.computed = 0
        self.waiting.appendleft(victim)
        self.preemptions += 1
        return victim

    def _plan(self) -> list[tuple[Sequence, int]]:
        """(sequence, tokens to run) for this step; blocks are reserved for each."""
        budget = self.o.step_tokens
        plan: list[tuple[Sequence, int]] = []
        static_closed = self.o.static_batching and bool(self.running)
        for seq in list(self.running):
            if seq not in self.running:  # preempted below by an older one
                continue
            n = min(seq.pending(), budget)
            if n <= 0:
                continue
            while True:
                try:
                    self.pool.grow(seq.blocks, seq.computed + n)
                    break
                except OutOfBlocks:
                    victim = self._preempt_newest()
                    plan = [(s, m) for s, m in plan if s is not victim]
                    if victim is seq:
                        break
            if seq in self.running:
                plan.append((seq, n))
                budget -= n
        while self.waiting and budget > 0 and len(self.running) < self.o.max_running and not static_closed:
            seq = self.waiting[0]
            n = min(seq.pending(), budget)
            try:
                self.pool.grow(seq.blocks, seq.computed + n)
            except OutOfBlocks:
                break
            self.waiting.popleft()
            seq.admitted_at = self._admissions
            self._admissions += 1
            self.running.append(seq)
            plan.append((seq, n))
            budget -= n
        return plan

    def step(self) -> list[StepOutput]:
        """One forward pass for the batch; outputs for sequences that produced a token
        (and for those that ended without one, e.g. a pool too small for them)."""
        outs = self._starved()
        plan = self._plan()
        if not plan:
            return outs
        chunks = []
        for seq, n in plan:
            toks = seq.tokens
            chunks.append(Chunk(toks[seq.computed : seq.computed + n], seq.computed,
                                self.pool.slots(seq.blocks, seq.computed + n)))  # fmt: skip
        logits = self.model.forward(chunks, self.pool)
        for (seq, n), row in zip(plan, logits, strict=True):
            seq.computed += n
            if seq.pending() > 0:  # prefill continues next step
                continue
            outs.append(self._append(seq, row))
        return outs

    def _append(self, seq: Sequence, row: torch.Tensor) -> StepOutput:
        p, k = seq.params, len(seq.generated)
        tok = sampling.sample(row, p, k)
        eos = tok == self.tok.eos_id and not p.ignore_eos
        if not eos:
            seq.generated.append(tok)
        if eos:
            seq.finish_reason = "stop"
        elif len(seq.generated) >= p.max_tokens or len(seq.tokens) >= self.o.max_context:
            seq.finish_reason = "length"
        out = emit(seq, self.tok, k, [] if eos else [tok])
        if seq.finish_reason is not None:
            self.running.remove(seq)
            self.pool.release(seq.blocks)
        return out

    def _starved(self) -> list[StepOutput]:
        """A lone sequence that needs more blocks than the whole pool can never run:
        end it (finish "length") rather than preempting it forever."""
        if self.running or not self.waiting:
            return []
        seq = self.waiting[0]
        if self.pool.blocks_for(len(seq.tokens)) <= self.pool.total:
            return []
        self.waiting.popleft()
        seq.finish_reason = "length"
        return [emit(seq, self.tok, len(seq.generated), [])]
