"""The ``llm`` engine: text generation with continuous batching over a paged KV cache.

Unlike the batch engines it is driven step by step (``forescale.worker.generate``):
``add`` a sequence, ``step`` the whole batch, ``abort`` one. ``infer`` is not served.
"""

from __future__ import annotations

from typing import Any

import torch

from forescale.worker.engines import BadInput, Tensors, artifact_check
from forescale.worker.engines.llm import tokenizer, weights
from forescale.worker.engines.llm.config import LLMOptions
from forescale.worker.engines.llm.kvcache import KVPool
from forescale.worker.engines.llm.model import Transformer
from forescale.worker.engines.llm.sampling import SamplingParams
from forescale.worker.engines.llm.scheduler import Scheduler
from forescale.worker.engines.llm.sequence import Sequence, StepOutput, resume_text_sent

__all__ = ["LLMEngine", "SamplingParams", "StepOutput"]


def _pinned(model_dir: str, rel: str | None, sha256: str | None) -> str | None:
    """The checked absolute path of an optional file; ``UnsafeArtifact`` when it escapes or differs."""
    if rel is None:
        return None
    if sha256 is None:  # LLMOptions refuses this; kept so a bypass cannot load an unpinned file
        raise artifact_check.UnsafeArtifact(f"{rel!r} has no sha256 pin")
    path = artifact_check.resolve(model_dir, rel)
    artifact_check.check_digest(path, sha256)
    return str(path)


class LLMEngine:
    def __init__(self, model_dir: str = "models", **options: Any) -> None:
        self.o = LLMOptions(**options)
        # Files are checked like any artifact before anything parses them: inside model_dir
        # (symlinks resolved) and byte-for-byte the pinned file (LLMOptions requires the pin).
        tok_path = _pinned(model_dir, self.o.tokenizer, self.o.tokenizer_sha256)
        w_path = _pinned(model_dir, self.o.weights, self.o.weights_sha256)
        self.tok = tokenizer.load(tok_path)
        self.vocab = self.o.vocab or self.tok.vocab_size
        if self.vocab < self.tok.vocab_size:
            raise ValueError(f"vocab {self.vocab} is smaller than the tokenizer's {self.tok.vocab_size}")
        want_cuda = self.o.device == "cuda" or (self.o.device is None and torch.cuda.is_available())
        self.device = torch.device("cuda" if want_cuda else "cpu")
        self.dtype = torch.bfloat16 if want_cuda else torch.float32
        w = weights.load_checked(w_path, self.o, self.vocab) if w_path else None
        self._weights = w
        self.sched: Scheduler | None = None

    def load(self) -> None:
        if self.device.type == "cpu" and self.o.cpu_threads:
            # Small matrices: more threads only spin against each other (10x slower on 2 cores).
            torch.set_num_threads(self.o.cpu_threads)
        w = self._weights if self._weights is not None else weights.seeded(self.o, self.vocab)
        model = Transformer(self.o, w, self.device, self.dtype)
        self.pool = KVPool(self.o, self.device, self.dtype)
        self.sched = Scheduler(self.o, model, self.pool, self.tok)

    def warm_up(self) -> None:
        s = self.scheduler
        s.add(Sequence("warm-up", self.tok.encode("hi"), SamplingParams(max_tokens=2)))
        while s.has_work():
            s.step()

    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        raise BadInput("the llm engine generates text: use /v1/completions or /v2/models/{m}/generate")

    @property
    def scheduler(self) -> Scheduler:
        if self.sched is None:
            raise RuntimeError("load() first")
        return self.sched

    def encode_prompt(self, text: str) -> list[int]:
        """Token ids of ``text``; BadInput when no output token would fit the context."""
        ids = self.tok.encode(text)
        if not ids:
            raise BadInput("the prompt is empty")
        if len(ids) >= self.o.max_context:
            raise BadInput(f"the prompt has {len(ids)} tokens; the context holds {self.o.max_context} "
                           "(prompt + at least one output token)")  # fmt: skip
        return ids

    def add(self, seq_id: str, prompt: list[int], params: SamplingParams, generated: list[int]) -> None:
        """Queue a sequence; ``generated``: tokens already delivered (a continuation)."""
        seq = Sequence(seq_id, prompt, params, list(generated))
        if generated:
            resume_text_sent(seq, self.tok)
        self.scheduler.add(seq)

    def step(self) -> list[StepOutput]:
        return self.scheduler.step()

    def abort(self, seq_id: str) -> bool:
        return self.scheduler.abort(seq_id)

    def kv_usage(self) -> float:
        return self.pool.used / self.pool.total
