"""ModelConfig: one model's serving settings, stored as JSON in the ``fs:models`` hash."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forescale.core.names import MODEL_NAME_PATTERN
from forescale.queue import engines

NAME_RE = re.compile(MODEL_NAME_PATTERN)


class ModelConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(description="Model name, as in /v2/models/{name}.")
    engine: str = Field(description="Engine name in the worker's engine registry (echo, sleep, ...).")
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Options passed to the engine (JSON values)."
    )
    max_batch: int = Field(default=8, ge=1, le=4096, description="Most requests in one engine call.")
    max_wait_ms: float = Field(
        default=5.0, ge=0, le=10_000, description="How long a worker tops up a partial batch."
    )
    queue_limit: int = Field(
        default=1000, ge=1, description="Admission limit on XLEN (backlog + in flight); above it: 429."
    )
    default_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Deadline when the client sends no X-Request-Timeout."
    )
    min_idle_ms: int = Field(
        default=5000, ge=100, description="Lease: an entry idle this long is reclaimed by another worker."
    )
    max_deliveries: int = Field(
        default=3, ge=1, description="After this many deliveries an entry goes to the dead-letter stream."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("model names are 1-256 characters, without white space or control characters")
        return v

    @model_validator(mode="after")
    def _engine(self) -> ModelConfig:
        # The same check the worker runs before it builds the engine: a registration that
        # would leave a worker unable to start is refused where it is made.
        engines.check(self.engine, self.engine_options)
        return self
