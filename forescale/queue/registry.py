"""The model registry: ModelConfig JSON in the ``fs:models`` hash.

Written by ``forescale models add`` and the admin API's ``/v1/models``; both validate
through ``ModelConfig`` (engine and options included, see ``queue/engines.py``). An entry
that fails that validation (written by hand, or by an older version) is never skipped
silently: ``get`` raises ``InvalidModel`` saying why, and ``scan`` lists it apart so that
it can be seen and removed.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import ValidationError

from forescale import keys
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Queue


class InvalidModel(ValueError):
    """A stored registration that does not validate; the message is one line."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name!r}: its registration in {keys.MODELS} is invalid: {reason}")
        self.name = name
        self.reason = reason


def parse(name: str, raw: bytes | str) -> ModelConfig:
    try:
        return ModelConfig.model_validate_json(raw)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise InvalidModel(name, reasons) from None


async def add(r: aioredis.Redis, cfg: ModelConfig) -> None:
    """Register (or replace) a model and create its stream's consumer group."""
    await r.hset(keys.MODELS, cfg.name, cfg.model_dump_json())
    await Queue(r).ensure_group(cfg.name)


async def get(r: aioredis.Redis, name: str) -> ModelConfig | None:
    """The model's config, None if unregistered; ``InvalidModel`` if its entry is invalid."""
    raw = await r.hget(keys.MODELS, name)
    return None if raw is None else parse(name, raw)


async def scan(r: aioredis.Redis) -> tuple[dict[str, ModelConfig], dict[str, InvalidModel]]:
    """Every entry: (valid configs, invalid entries with the reason) by name."""
    raw = await r.hgetall(keys.MODELS)
    good: dict[str, ModelConfig] = {}
    bad: dict[str, InvalidModel] = {}
    for k, v in sorted(raw.items()):
        name = k.decode() if isinstance(k, bytes) else k
        try:
            good[name] = parse(name, v)
        except InvalidModel as exc:
            bad[name] = exc
    return good, bad


async def all_models(r: aioredis.Redis) -> dict[str, ModelConfig]:
    """The valid entries (see ``scan`` for the others)."""
    return (await scan(r))[0]


async def remove(r: aioredis.Redis, name: str) -> bool:
    """Unregister; the stream is kept so that no admitted request is lost."""
    return bool(await r.hdel(keys.MODELS, name))
