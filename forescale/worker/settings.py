"""Worker settings (env prefix ``FORESCALE_WORKER_``; the Redis URL is FORESCALE_REDIS_URL)."""

from __future__ import annotations

import os
import socket
import uuid

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from forescale.settings import ServiceSettings


def _worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class WorkerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_WORKER_", extra="ignore")

    model: str = Field(
        default="", description="Name of the model (in fs:models) whose queue this worker serves."
    )
    worker_id: str = Field(default_factory=_worker_id, description="Consumer name in the stream's group.")
    host: str = Field(default="127.0.0.1", description="Address of the /metrics HTTP server.")
    port: int = Field(default=9100, ge=0, le=65535, description="Port of the /metrics HTTP server (0: any).")
    block_ms: int = Field(
        default=500, ge=10, description="XREADGROUP BLOCK time; also bounds how fast a drain notices SIGTERM."
    )
    drain_grace_s: float = Field(
        default=25.0, ge=0, description="On SIGTERM: finish the in-flight batch and ack within this time."
    )
    model_dir: str = Field(
        default="models",
        description="Directory that model artifacts (torchscript, export) must lie in; registered "
        "paths are relative to it and may not leave it.",
    )
    redis_timeout_s: float = Field(default=2.0, gt=0, description="Connect/read timeout of Redis calls.")
    ack_retry_s: float = Field(
        default=15.0, ge=0, description="How long a reply is retried while Redis is unreachable."
    )
