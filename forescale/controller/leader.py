"""Leader election: two controllers running means exactly one acts.

A ``Lease`` backend (Redis for the local provider, a ``coordination.k8s.io`` Lease on
Kubernetes) answers one question atomically: "take or renew the lease for me at ``now``".
Both compare renew times with the injected clock, never a server's TTL, so the takeover
is testable with a manual clock. ``LeaderElector`` keeps renewing every third of the
lease and counts itself leader only until two thirds of the lease have passed since its
last renewal (client-go's renew deadline): it stops acting before anyone else may start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.errors import ActuatorError
from forescale.core.clock import Clock

log = logging.getLogger(__name__)


class Lease(Protocol):
    duration_s: float

    async def acquire(self, identity: str, now: float) -> bool:
        """Take the lease if free or expired, renew it if ours; True when we hold it."""
        ...

    async def release(self, identity: str) -> None: ...


class LeaderElector:
    def __init__(self, lease: Lease, clock: Clock, identity: str) -> None:
        self.lease = lease
        self.clock = clock
        self.identity = identity
        self._valid_until = float("-inf")

    def leading(self) -> bool:
        return self.clock.now() < self._valid_until

    async def step(self) -> bool:
        now = self.clock.now()
        if await self.lease.acquire(self.identity, now):
            if not self.leading():
                log.info("%s is now the leader", self.identity)
            self._valid_until = now + self.lease.duration_s * 2 / 3
        elif self.leading():
            log.warning("%s lost the lease", self.identity)
            self._valid_until = float("-inf")
        return self.leading()

    async def run(self, stop: asyncio.Event) -> None:
        """Renew every third of the lease until ``stop``; then hand the lease back."""
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except (OSError, aioredis.RedisError, ActuatorError) as exc:  # backend unreachable
                    log.warning("lease renewal failed: %s", exc)  # leading() lapses on its own
                await self.clock.sleep(self.lease.duration_s / 3)
        finally:
            if self.leading():
                self._valid_until = float("-inf")
                await self.lease.release(self.identity)


# Atomic compare-and-set on the renew time carried in the value (not a Redis TTL), so the
# caller's clock decides expiry.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
if cur then
  local held = cjson.decode(cur)
  if held['holder'] ~= ARGV[1] and tonumber(held['renew']) + tonumber(held['duration']) > now then
    return 0
  end
end
redis.call('SET', KEYS[1], cjson.encode({holder=ARGV[1], renew=now, duration=tonumber(ARGV[3])}))
return 1
"""

_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if cur and cjson.decode(cur)['holder'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """The local provider's lease: one key holding ``{holder, renew, duration}``."""

    def __init__(self, redis: aioredis.Redis, duration_s: float = 15.0, key: str = keys.LEADER):
        self.redis = redis
        self.duration_s = duration_s
        self.key = key

    async def acquire(self, identity: str, now: float) -> bool:
        got = await self.redis.eval(_ACQUIRE, 1, self.key, identity, repr(now), repr(self.duration_s))  # type: ignore[misc]
        return bool(got)

    async def release(self, identity: str) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, identity)  # type: ignore[misc]

    async def holder(self) -> str | None:
        raw = await self.redis.get(self.key)
        return None if raw is None else str(json.loads(raw)["holder"])
