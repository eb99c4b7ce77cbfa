"""What each engine accepts, checked without importing torch: one validation for every
place a model is registered or read (``forescale models add``, the admin API's
``/v1/models``, the worker before it builds its engine, the router reading metadata).

Each engine's options are a frozen pydantic model with ``extra="forbid"``, mirroring the
engine's constructor, so a typo or a value the engine would choke on (``threads=-1``) is
refused at registration instead of surfacing as a silent worker that never becomes ready.

Artifacts (``torchscript``, ``export``) are files a model's owner provides, and loading
one is loading code (see docs/security.md). Their ``path`` is relative to the worker's
model directory (``FORESCALE_WORKER_MODEL_DIR``) and may not climb out of it, and their
``sha256`` pins the exact file: the worker refuses any other content.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forescale.queue.llm_options import LLMOptions

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Torch(_Options):
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:[0-9]{1,2})?|mps)$")
    autocast: Literal["bf16", "fp16"] | None = None
    threads: int | None = Field(default=None, ge=1, le=1024)


class EchoOptions(_Options):
    poison: float | None = None
    run_log: str | None = None


class SleepOptions(EchoOptions):
    base_ms: float = Field(default=10.0, ge=0, le=600_000)
    per_item_ms: float = Field(default=0.0, ge=0, le=600_000)
    dist: Literal["constant", "exponential", "lognormal"] = "constant"
    sigma: float = Field(default=0.5, ge=0, le=10)
    seed: int = 0


class TransformerOptions(_Torch):
    d_model: int = Field(default=64, ge=1, le=65_536)
    nhead: int = Field(default=4, ge=1, le=1024)
    layers: int = Field(default=2, ge=1, le=1024)
    ff: int = Field(default=128, ge=1, le=1 << 20)
    vocab: int = Field(default=1000, ge=1, le=1 << 24)
    max_len: int = Field(default=128, ge=1, le=1 << 20)
    buckets: list[int] | None = None
    seed: int = 0


class TensorSpec(_Options):
    name: str = Field(min_length=1)
    datatype: Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                      "INT64", "FP16", "FP32", "FP64"]  # fmt: skip
    shape: list[int] = Field(max_length=16)

    @field_validator("shape")
    @classmethod
    def _dims(cls, v: list[int]) -> list[int]:
        if any(d < -1 or d > 1 << 20 for d in v) or math.prod(max(d, 1) for d in v) > 1 << 24:
            raise ValueError("dims are -1 (any) or 0..2**20, at most 2**24 elements for warm-up")
        return v


class ArtifactOptions(_Torch):
    path: str = Field(description="File path relative to the worker's model directory.")
    sha256: str = Field(description="Hex SHA-256 of the file; the worker refuses any other content.")
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    inputs: list[TensorSpec] | None = None
    outputs: list[dict[str, Any]] | None = None

    @field_validator("path")
    @classmethod
    def _inside(cls, v: str) -> str:
        p = PurePosixPath(v)
        if not v or p.is_absolute() or ".." in p.parts or "\\" in v or "\x00" in v:
            raise ValueError("must be a relative path inside the model directory (no '..', not absolute)")
        return v

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not SHA256_RE.match(v):
            raise ValueError("must be 64 lowercase hex digits (sha256sum of the file)")
        return v


OPTIONS: dict[str, type[BaseModel]] = {
    "echo": EchoOptions,
    "sleep": SleepOptions,
    "transformer": TransformerOptions,
    "torchscript": ArtifactOptions,
    "export": ArtifactOptions,
    "llm": LLMOptions,
}
ARTIFACT_ENGINES = frozenset({"torchscript", "export"})


class EngineOptionsError(ValueError):
    """An unknown engine or options it does not accept; the message says which."""


def check(engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` for ``engine``; returns them with defaults applied.

    ``EngineOptionsError`` (a ValueError) names the engine and every bad option."""
    spec = OPTIONS.get(engine)
    if spec is None:
        raise EngineOptionsError(f"unknown engine {engine!r} (known: {', '.join(OPTIONS)})")
    try:
        return spec.model_validate(options).model_dump(exclude_unset=True)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(options)"
            parts.append(f"{where}: {err['msg']}")
        raise EngineOptionsError(f"engine {engine!r}: bad options: {'; '.join(parts)}") from None
