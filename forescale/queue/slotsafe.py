"""Admission, ack and dead letters on a Redis Cluster, where a script takes one slot only.

Admission: redis-py's cluster pipeline refuses EVALSHA, so the router's batching of
admissions (``admission.py``) does not apply; each ADMIT is its own call, which the
cluster client sends to the model's shard (following MOVED while slots migrate).

On one Redis, ``scripts.FENCED_ACK`` and ``scripts.DEAD_LETTER`` fence, ack and publish
the reply in one atomic step. On a cluster they cannot: the request stream is in the
model's slot (``keys.tag``), the reply stream in its router's, and a script whose keys
span two slots is refused (CROSSSLOT). So here each is split in two, in this order:

1. a script on the model's slot alone: fence (still ours?), then XACK + XDEL (and, for a
   dead letter, the copy to the model's dead-letter stream, same slot);
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

# KEYS[1] request stream, KEYS[2] dead-letter stream (the same model: the same slot).
# ARGV: group, consumer, entry_id, reason. Copies the entry to the dead letters and acks
# it, only if still ours; returns 1 then, else 0. The caller then answers the client.
FENCE_DEAD_LETTER = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p ~= 1 or p[1][2] ~= ARGV[2] then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e == 1 then
  local f = e[1][2]
  table.insert(f, 'deliveries'); table.insert(f, tostring(p[1][4]))
  table.insert(f, 'reason'); table.insert(f, ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', unpack(f))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
"""


class _Entry(Protocol):
    @property
    def entry_id(self) -> str: ...
    @property
    def req_id(self) -> str: ...
    @property
    def reply_to(self) -> str: ...


class SlotSafe:
    """``Queue``'s admit, ack and dead_letter for a cluster client (same results)."""

    def __init__(self, r: aioredis.Redis, reply_ttl_s: int) -> None:
        self.r = r
        self.reply_ttl_s = reply_ttl_s
        self._admit = r.register_script(scripts.ADMIT)
        self._ack = r.register_script(FENCE_ACK)
        self._dead = r.register_script(FENCE_DEAD_LETTER)

    async def admit(self, stream: str, args: list[Any]) -> Any:
        return await self._admit(keys=[stream], args=args)

    async def ack(self, model: str, consumer: str, replies: Sequence[tuple[_Entry, bytes]]) -> list[bool]:
        ids = [e.entry_id for e, _ in replies]
        res = await self._ack(keys=[keys.request_stream(model)], args=[keys.GROUP, consumer, *ids])
        acked = [bool(int(x)) for x in res]
        await self._publish([(e, reply) for (e, reply), ok in zip(replies, acked, strict=True) if ok])
        return acked

    async def dead_letter(self, model: str, consumer: str, entry: _Entry, reply: bytes, reason: str) -> bool:
        ks = [keys.request_stream(model), keys.dead_letters(model)]
        if not int(await self._dead(keys=ks, args=[keys.GROUP, consumer, entry.entry_id, reason])):
            return False
        await self._publish([(entry, reply)])
        return True

    async def _publish(self, replies: Sequence[tuple[_Entry, bytes]]) -> None:
        """One pipeline; the cluster client sends each reply stream's commands to its shard."""
        if not replies:
            return
        pipe: Any = self.r.pipeline(transaction=False)
        for e, reply in replies:
            pipe.xadd(e.reply_to, {"req_id": e.req_id, "reply": reply}, maxlen=100_000, approximate=True)
            pipe.expire(e.reply_to, self.reply_ttl_s, nx=True)  # a router's heartbeat owns it after
        await pipe.execute()
