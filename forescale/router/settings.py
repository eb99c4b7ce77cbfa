"""Router settings (env prefix ``FORESCALE_ROUTER_``; the Redis URL is FORESCALE_REDIS_URL)."""

from __future__ import annotations

import os
import socket
import uuid

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from forescale.settings import ServiceSettings


def _router_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_ROUTER_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(default=8080, ge=0, le=65535, description="HTTP port (Open Inference Protocol v2).")
    router_id: str = Field(
        default_factory=_router_id,
        description="Unique id of this router process; names its reply stream fs:resp:{router_id}.",
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest accepted request body; larger ones get 413."
    )
    auth_token: SecretStr | None = Field(
        default=None, description="When set, inference requires `Authorization: Bearer <token>`."
    )
    redis_timeout_s: float = Field(
        default=2.0, gt=0,
        description="Connect/read timeout of Redis calls (a refused connection is a 503 at once; this bounds "
        "a Redis that hangs). Too short and a loaded machine turns slow replies into 503s.",
    )  # fmt: skip
    reply_block_ms: int = Field(default=1000, ge=10, description="XREAD BLOCK time of the reply listener.")
    heartbeat_s: float = Field(
        default=1.0, gt=0, le=1.0,
        description="Period of the heartbeat: arrival counters, reply-stream TTL, queue depth, readiness.",
    )  # fmt: skip
    reply_ttl_s: int = Field(
        default=120, ge=10, description="TTL of the reply stream, refreshed by heartbeat."
    )
    model_cache_s: float = Field(default=1.0, ge=0, description="How long a model's config is cached.")
    shutdown_grace_s: float = Field(
        default=10.0, ge=0,
        description="On shutdown (new requests get 503), how long in-flight requests and open generations "
        "may take to finish; then they end with a 503 (a stream: an error event), their work cancelled.",
    )  # fmt: skip
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After sent with 429 and 503.")
