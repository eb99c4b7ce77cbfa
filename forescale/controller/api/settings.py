"""Settings of the admin API (env prefix FORESCALE_API_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from forescale.settings import ServiceSettings


class ApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_API_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the admin API listens on (0.0.0.0 in a pod).")
    port: int = Field(default=8081, ge=0, le=65535, description="Port of the admin API (0: any free one).")
    tokens: str = Field(
        default="",
        description="Comma-separated SCOPE:TOKEN bearer tokens, SCOPE `read` or `write` "
        "(FORESCALE_API_TOKENS). No token at all: every request is refused.",
    )
    tokens_file: str = Field(
        default="",
        description="File of SCOPE:TOKEN entries, one per line or comma-separated, `#` comments "
        "(FORESCALE_API_TOKENS_FILE); added to `tokens`.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body accepted; larger: 413."
    )
    audit_max: int = Field(default=10_000, ge=1, description="Audit records kept (oldest trimmed).")
    whatif_hours: float = Field(
        default=24.0, gt=0, le=24 * 7, description="Recorded demand a dry run replays, in hours."
    )
    whatif_tick_s: float = Field(
        default=15.0, gt=0, le=300, description="Control period of the what-if simulation."
    )
    whatif_forecaster: str = Field(
        default="seasonal-naive", description="Forecaster the what-if simulation uses (empty: none)."
    )
