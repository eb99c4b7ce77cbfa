"""Admission and ack on a Redis Cluster, where a script takes one slot only.

Admission: redis-py's cluster pipeline refuses EVALSHA, so the router's batching of
admissions (``admission.py``) does not apply; each ADMIT is its own call, which the
cluster client sends to the model's shard (following MOVED while slots migrate).

On one Redis, ``scripts.FENCED_ACK`` fences, acks and publishes the replies in one
atomic step. On a cluster it cannot: the request stream is in the model's slot
(``keys.tag``), the reply stream in its router's, and a script whose keys span two slots
is refused (CROSSSLOT). So here it is split in two, in this order (the order
``scripts.DEAD_LETTER`` + ``publish`` follow on every Redis):

1. a script on the model's slot alone: fence (still ours?), then XACK + XDEL;
2. then, for the entries the fence let through, the reply (XADD + EXPIRE NX).

The fence keeps its meaning: only the worker that acked an entry publishes its reply, so
a worker that lost its lease never answers. Acking first also frees memory before the
reply needs some (Redis at ``maxmemory``). The cost is a window between the two steps:
a worker killed there leaves its client to the router's deadline (504), which still is
exactly one response; the request is not run again. (Publishing first instead would
close that window but let fenced-off workers publish; the router ignores duplicates,
yet a stale error could then win the race against a good result.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis

from forescale import keys
from forescale.queue import scripts

# KEYS[1] request stream. ARGV: group, consumer, entry ids... One flag per id: 1 it was
# ours and is now acked and deleted, 0 fenced off (another consumer owns it, or nobody).
FENCE_ACK = """
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    out[i - 2] = 1
  else
    out[i - 2] = 0
  end
end
return out
"""


class _Entry(Protocol):
    @property
    def entry_id(self) -> str: ...
    @property
    def req_id(self) -> str: ...
    @property
    def reply_to(self) -> str: ...


class SlotSafe:
    """``Queue``'s admit and ack for a cluster client (same results)."""

    def __init__(self, r: aioredis.Redis, reply_ttl_s: int) -> None:
        self.r = r
        self.reply_ttl_s = reply_ttl_s
        self._admit = r.register_script(scripts.ADMIT)
        self._ack = r.register_script(FENCE_ACK)

    async def admit(self, stream: str, args: list[Any]) -> Any:
        return await self._admit(keys=[stream], args=args)

    async def ack(self, model: str, consumer: str, replies: Sequence[tuple[_Entry, bytes]]) -> list[bool]:
        ids = [e.entry_id for e, _ in replies]
        res = await self._ack(keys=[keys.request_stream(model)], args=[keys.GROUP, consumer, *ids])
        acked = [bool(int(x)) for x in res]
        await publish(self.r, [(e, reply) for (e, reply), ok in zip(replies, acked, strict=True) if ok],
                      self.reply_ttl_s)  # fmt: skip
        return acked


async def publish(r: aioredis.Redis, replies: Sequence[tuple[_Entry, bytes]], reply_ttl_s: int) -> None:
    """Answer each entry's client; one pipeline (a cluster client sends each reply stream's
    commands to its shard)."""
    if not replies:
        return
    pipe: Any = r.pipeline(transaction=False)
    for e, reply in replies:
        pipe.xadd(e.reply_to, {"req_id": e.req_id, "reply": reply}, maxlen=100_000, approximate=True)
        pipe.expire(e.reply_to, reply_ttl_s, nx=True)  # a router's heartbeat owns it after
    await pipe.execute()
