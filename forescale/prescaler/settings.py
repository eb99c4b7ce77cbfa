"""Settings of ``forescale prescaler`` (env prefix ``FORESCALE_PRESCALER_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from forescale.settings import ServiceSettings


class PrescalerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_PRESCALER_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Listen address of the webhook API.")
    port: int = Field(default=8083, ge=0, le=65535, description="Listen port of the webhook API.")
    webhook_secret: str = Field(
        default="", description="Standard Webhooks secret (`whsec_` + base64) for POST /v1/forecasts."
    )
    tokens: str = Field(
        default="",
        description="Comma-separated SCOPE:TOKEN bearer tokens (as FORESCALE_API_TOKENS) for GET "
        "(read) and DELETE (write) of /v1/forecasts and for /metrics (read). No token: those are refused.",
    )
    tokens_file: str = Field(default="", description="File of SCOPE:TOKEN entries; added to `tokens`.")
    webhook_tolerance_s: float = Field(
        default=300, gt=0, le=3600, description="Largest accepted |now - webhook-timestamp|."
    )
    max_body_bytes: int = Field(
        default=1 << 20, gt=0, description="Largest accepted webhook body (413 above)."
    )
    prometheus_url: str | None = Field(
        default=None, description="Prometheus base URL for history; unset: the direct Redis counters."
    )
    query_timeout_s: float = Field(default=30, gt=0, description="Timeout of one history fetch.")
    models: tuple[str, ...] = Field(
        default=(), description="Models to forecast; empty: every model registered in `fs:models`."
    )
    forecaster: str = Field(default="gbq", description="Registered forecaster name.")
    quantiles: tuple[float, ...] = Field(default=(0.5, 0.9), min_length=1, description="Published quantiles.")
    step_s: float = Field(default=60, gt=0, le=3600, description="Step of history and forecasts.")
    history_s: float = Field(default=28 * 86400, gt=0, description="History used for training.")
    train_every_s: float = Field(default=3600, gt=0, description="Refit period per model.")
    publish_every_s: float = Field(default=60, gt=0, description="Forecast publishing period.")
    lead_time_s: float = Field(
        default=600,
        gt=0,
        description="Longest pool lead time; the horizon covers it (pools in `fs:pools` may raise it).",
    )
    max_multiplier: float = Field(default=20, gt=0, description="Largest accepted external multiplier.")
    max_external_rps: float = Field(default=1e6, gt=0, description="Largest accepted external rate (req/s).")
