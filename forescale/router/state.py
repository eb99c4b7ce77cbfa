"""The router's per-process state: Redis, model cache, arrival counters, replies, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from forescale import keys
from forescale.core.clock import Clock, to_grid
from forescale.queue import arrivals, heartbeat, registry
from forescale.queue.client import raise_if_cancelling
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Queue
from forescale.router.metrics import RouterMetrics
from forescale.router.replies import Replies
from forescale.router.settings import RouterSettings

log = logging.getLogger(__name__)

FLUSH_OFFSET_S = 0.02  # after each whole second (of the heartbeat's grid)


class Router:
    def __init__(self, settings: RouterSettings, clock: Clock, redis: aioredis.Redis,
                 blocking: aioredis.Redis) -> None:  # fmt: skip
        self.settings = settings
        self.clock = clock
        self.redis = redis
        self.blocking = blocking
        self.queue = Queue(redis, blocking, reply_ttl_s=settings.reply_ttl_s)
        self.replies = Replies()
        self.metrics = RouterMetrics()
        self.reply_stream = keys.reply_stream(settings.router_id)
        self.redis_ok = False
        self.accepting = True
        self.draining: asyncio.Future[None] | None = None  # router/drain.py
        self._models: dict[str, tuple[ModelConfig, float]] = {}
        self._arrivals: Counter[tuple[str, int]] = Counter()

    async def model(self, name: str) -> ModelConfig | None:
        """The model's config, cached for ``model_cache_s``; RedisError when Redis is down."""
        hit = self._models.get(name)
        now = self.clock.now()
        if hit and now - hit[1] < self.settings.model_cache_s:
            return hit[0]
        cfg = await registry.get(self.redis, name)
        if cfg is None:
            self._models.pop(name, None)
        else:
            self._models[name] = (cfg, now)
        return cfg

    def count_arrival(self, model: str) -> None:
        self._arrivals[(model, int(self.clock.now()))] += 1

    async def heartbeat(self) -> None:
        """Flush arrivals, keep the reply stream alive, sample queue depth, note Redis health."""
        counts, self._arrivals = self._arrivals, Counter()
        models = list(self._models)
        pipe = self.redis.pipeline(transaction=False)
        arrivals.add(pipe, counts)
        pipe.expire(self.reply_stream, self.settings.reply_ttl_s)
        pipe.xtrim(self.reply_stream, minid=self.replies.last_id)
        for m in models:
            pipe.xlen(keys.request_stream(m))
        try:
            res = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._arrivals.update(counts)  # keep them for the next flush
            raise_if_cancelling()  # a cancel seen as a socket timeout (Python 3.11)
            self.redis_ok = False
            log.warning("redis unavailable: %s", exc)
            return
        self.redis_ok = True
        for m, depth in zip(models, res[len(res) - len(models) :], strict=True):
            self.metrics.queue_depth.labels(m).set(depth)

    async def heartbeat_loop(self) -> None:
        while True:
            await self.heartbeat()
            # Just after each whole second: a second's arrivals reach Redis within
            # FLUSH_OFFSET_S of its end, before the controller's tick reads it (loop.py).
            await self.clock.sleep(to_grid(self.clock.now(), self.settings.heartbeat_s, FLUSH_OFFSET_S))

    async def workers_ready(self, model: str) -> bool:
        return bool((await heartbeat.live(self.redis, model, self.clock.now())).ready_pids)

    async def ping(self) -> bool:
        try:
            self.redis_ok = bool(await asyncio.wait_for(self.redis.ping(), self.settings.redis_timeout_s))
        except (RedisError, OSError, TimeoutError):
            self.redis_ok = False
        return self.redis_ok
