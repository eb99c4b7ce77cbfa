"""The ``llm`` engine's options (ModelConfig.engine_options), validated once at the edge.

Here in queue/ (torch-free) so registration checks them as the worker does (queue/engines.py).

``weights`` and ``tokenizer`` are files like any model artifact (docs/security.md): paths
relative to the worker's model directory, never climbing out of it, each pinned by its
sha256 so the worker loads exactly the reviewed file."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LLMOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    layers: int = Field(default=2, ge=1, le=128, description="Transformer blocks.")
    d_model: int = Field(default=64, ge=8, le=16384, description="Hidden size.")
    heads: int = Field(default=4, ge=1, le=256, description="Query heads.")
    kv_heads: int = Field(default=2, ge=1, le=256, description="Key/value heads (grouped-query attention).")
    ffn: int = Field(default=0, ge=0, description="SwiGLU hidden size; 0: 8/3 x d_model rounded to 8.")
    vocab: int = Field(default=0, ge=0, description="Vocabulary size; 0: the tokenizer's.")
    max_context: int = Field(default=512, ge=8, le=131072, description="Longest sequence (prompt + output).")
    rope_theta: float = Field(default=10000.0, gt=0)
    tie_embeddings: bool = Field(default=False, description="Output head shares the token embedding.")
    seed: int = Field(default=0, description="Seed of the deterministic default weights.")
    weights: str | None = Field(
        default=None, description="Safetensors file with the weights, relative to the model directory."
    )
    weights_sha256: str | None = Field(default=None, description="Hex SHA-256 of the weights file.")
    tokenizer: str | None = Field(
        default=None,
        description="Hugging Face tokenizer.json relative to the model directory; default byte-level.",
    )
    tokenizer_sha256: str | None = Field(default=None, description="Hex SHA-256 of the tokenizer file.")
    block_size: int = Field(default=16, ge=1, le=1024, description="Tokens per KV cache block.")
    kv_blocks: int = Field(
        default=0, ge=0, description="KV blocks in the pool; 0: enough for 8 full contexts."
    )
    max_running: int = Field(default=32, ge=1, le=4096, description="Most sequences in one engine step.")
    step_tokens: int = Field(
        default=256, ge=1, description="Token budget per step (prefill chunks + decodes)."
    )
    max_tokens_default: int = Field(default=64, ge=1, description="max_tokens when a request names none.")
    device: str | None = Field(default=None, description="cuda / cpu; default cuda when present.")
    cpu_threads: int = Field(
        default=1,
        ge=0,
        description="torch threads on CPU (0: torch's default); small models run fastest on one.",
    )
    static_batching: bool = Field(
        default=False, description="Benchmark baseline: admit only into an empty batch."
    )

    @field_validator("weights", "tokenizer")
    @classmethod
    def _inside(cls, v: str | None) -> str | None:
        # Same rule as artifact paths (queue/engines.py); the worker also resolves symlinks.
        if v is None:
            return v
        p = PurePosixPath(v)
        if not v or p.is_absolute() or ".." in p.parts or "\\" in v or "\x00" in v:
            raise ValueError("must be a relative path inside the model directory (no '..', not absolute)")
        return v

    @field_validator("weights_sha256", "tokenizer_sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("must be 64 lowercase hex digits (sha256sum of the file)")
        return v

    @model_validator(mode="after")
    def _pinned(self) -> LLMOptions:
        for name in ("weights", "tokenizer"):
            if getattr(self, name) is not None and getattr(self, f"{name}_sha256") is None:
                raise ValueError(
                    f"{name} needs {name}_sha256 (sha256sum of the file): only pinned files load"
                )
            if getattr(self, name) is None and getattr(self, f"{name}_sha256") is not None:
                raise ValueError(f"{name}_sha256 is given without {name}")
        return self

    @model_validator(mode="after")
    def _heads(self) -> LLMOptions:
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError("d_model must be a multiple of heads with an even head size (rotary)")
        if self.heads % self.kv_heads:
            raise ValueError("heads must be a multiple of kv_heads")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def ffn_dim(self) -> int:
        return self.ffn or ((self.d_model * 8 // 3 + 7) // 8) * 8

    @property
    def pool_blocks(self) -> int:
        per_seq = -(-self.max_context // self.block_size)
        return self.kv_blocks or 8 * per_seq
