"""The model registry: ModelConfig JSON in the ``fs:models`` hash (until the admin API)."""

from __future__ import annotations

import redis.asyncio as aioredis

from forescale import keys
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Queue


async def add(r: aioredis.Redis, cfg: ModelConfig) -> None:
    """Register (or replace) a model and create its stream's consumer group."""
    await r.hset(keys.MODELS, cfg.name, cfg.model_dump_json())
    await Queue(r).ensure_group(cfg.name)


async def get(r: aioredis.Redis, name: str) -> ModelConfig | None:
    raw = await r.hget(keys.MODELS, name)
    return None if raw is None else ModelConfig.model_validate_json(raw)


async def all_models(r: aioredis.Redis) -> dict[str, ModelConfig]:
    raw = await r.hgetall(keys.MODELS)
    out = {}
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else k
        out[name] = ModelConfig.model_validate_json(v)
    return out


async def remove(r: aioredis.Redis, name: str) -> bool:
    """Unregister; the stream is kept so that no admitted request is lost."""
    return bool(await r.hdel(keys.MODELS, name))
