"""Settings shared by every service (pydantic-settings, env prefix ``FORESCALE_``).

Each service subclasses ``ServiceSettings`` in its own ``settings.py`` with its own
prefix (``FORESCALE_ROUTER_``, ``FORESCALE_WORKER_``, ...); the Redis URL is one variable
for all of them. Every field carries a description: ``forescale settings`` prints them
and docs/settings.md is generated from them.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_", extra="ignore")

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("FORESCALE_REDIS_URL", "redis_url"),
        description="Redis URL for the queue, model registry and controller state (FORESCALE_REDIS_URL).",
    )
    log_level: str = Field(
        default="INFO",
        validation_alias=AliasChoices("FORESCALE_LOG_LEVEL", "log_level"),
        description="Log level of every service (FORESCALE_LOG_LEVEL).",
    )
