"""The queue protocol on Redis Streams, shared by the router (producer) and workers.

Request entries carry ``req_id``, ``reply_to`` (the router's reply stream),
``deadline_ms`` (epoch ms) and ``payload`` (JSON). Replies carry ``req_id`` and ``reply``
(JSON ``{"status": int, "outputs": [...]}`` or ``{"status": int, "error": str}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import OutOfMemoryError, ResponseError

from forescale import keys
from forescale.queue import scripts, slotsafe
from forescale.queue.admission import AdmitBatcher

DEFAULT_REPLY_TTL_S = 120


@dataclass(frozen=True)
class Entry:
    """One request as a worker sees it."""

    entry_id: str
    req_id: str
    reply_to: str
    deadline_ms: int
    payload: bytes
    deliveries: int = 1


def is_oom(exc: BaseException) -> bool:
    """Redis refused a command because ``maxmemory`` is reached (policy noeviction)."""
    if isinstance(exc, OutOfMemoryError):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith("OOM")


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def parse_entry(entry_id: bytes | str, fields: dict[Any, Any], deliveries: int = 1) -> Entry:
    f = {_s(k): v for k, v in fields.items()}
    return Entry(
        entry_id=_s(entry_id),
        req_id=_s(f.get("req_id", b"")),
        reply_to=_s(f.get("reply_to", b"")),
        deadline_ms=int(f.get("deadline_ms", 0)),
        payload=f["payload"] if isinstance(f.get("payload"), bytes) else str(f.get("payload", "")).encode(),
        deliveries=deliveries,
    )


def ok_reply(outputs: list[dict[str, Any]]) -> bytes:
    """``outputs[*]["data"]`` may be numpy arrays: orjson writes them directly (and 25x
    faster than json + tolist, which was most of a worker's per-request overhead)."""
    return orjson.dumps({"status": 200, "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)


def error_reply(status: int, message: str) -> bytes:
    return orjson.dumps({"status": status, "error": message})


class Queue:
    """Protocol operations for one Redis; ``blocking`` serves XREAD(GROUP) BLOCK calls."""

    def __init__(self, fast: aioredis.Redis, blocking: aioredis.Redis | None = None,
                 reply_ttl_s: int = DEFAULT_REPLY_TTL_S) -> None:  # fmt: skip
        self.fast = fast
        self.blocking = blocking or fast
        self.reply_ttl_s = reply_ttl_s
        self._admit = AdmitBatcher(fast, fast.register_script(scripts.ADMIT))
        self._ack = fast.register_script(scripts.FENCED_ACK)
        self._renew = fast.register_script(scripts.RENEW)
        self._dead = fast.register_script(scripts.DEAD_LETTER)
        # A cluster refuses scripts that span slots: ack and dead-letter go split there.
        self._cluster = slotsafe.SlotSafe(fast, reply_ttl_s) if isinstance(fast, RedisCluster) else None
        self._beat = fast.register_script(scripts.HEARTBEAT)
        self._publish = fast.register_script(scripts.PUBLISH_REPLY)

    async def ensure_group(self, model: str) -> None:
        try:
            await self.fast.xgroup_create(keys.request_stream(model), keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return
            # Out of memory, XGROUP CREATE is refused even when there is nothing to create:
            # a worker starting on a full Redis must still serve an existing queue.
            if not (is_oom(exc) and await self._has_group(model)):
                raise

    async def _has_group(self, model: str) -> bool:
        try:
            groups = await self.fast.xinfo_groups(keys.request_stream(model))
        except ResponseError:  # no such stream
            return False
        return any(_s(g["name"]) == keys.GROUP for g in groups)

    async def heartbeat(self, key: str, consumer: str, doc: str) -> None:
        await self._beat(keys=[key], args=[consumer, doc])

    async def admit(self, model: str, limit: int, req_id: str, reply_to: str, deadline_ms: int,
                    payload: bytes) -> str | None:  # fmt: skip
        """Enqueue unless XLEN >= limit; the entry id, or None when the queue is full.
        Concurrent calls share one round trip (``admission.py``), each still atomic."""
        args: list[Any] = [limit, req_id, reply_to, deadline_ms, payload]
        res = await (self._cluster or self._admit).admit(keys.request_stream(model), args)
        return None if res is None else _s(res)

    async def read(self, model: str, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        """New entries for this consumer (XREADGROUP >); recreates a lost group once."""
        stream = keys.request_stream(model)
        try:
            res: Any = await self.blocking.xreadgroup(keys.GROUP, consumer, {stream: ">"}, count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group(model)
            return []
        return [parse_entry(eid, fields) for _, items in res or [] for eid, fields in items if fields]

    async def ack(self, model: str, consumer: str, replies: list[tuple[Entry, bytes]]) -> list[bool]:
        """Fenced publish + XACK + XDEL of each (entry, reply); False where fenced off."""
        if not replies:
            return []
        if self._cluster is not None:
            return await self._cluster.ack(model, consumer, replies)
        ks = [keys.request_stream(model)] + [e.reply_to for e, _ in replies]
        args: list[Any] = [keys.GROUP, consumer, self.reply_ttl_s]
        for e, reply in replies:
            args += [e.entry_id, e.req_id, reply]
        res = await self._ack(keys=ks, args=args)
        return [bool(int(x)) for x in res]

    async def renew(self, model: str, consumer: str, entry_ids: list[str]) -> list[str]:
        """Reset the idle time of the entries still ours; returns those renewed."""
        if not entry_ids:
            return []
        res = await self._renew(keys=[keys.request_stream(model)], args=[keys.GROUP, consumer, *entry_ids])
        return [_s(x) for x in res]

    async def autoclaim(self, model: str, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Claim entries idle longer than ``min_idle_ms`` (their owner is presumed dead)."""
        stream = keys.request_stream(model)
        res = await self.fast.xautoclaim(stream, keys.GROUP, consumer, min_idle_ms, "0-0", count)
        claimed = [(eid, f) for eid, f in res[1] if f]
        if not claimed:
            return []
        pend = await self.fast.xpending_range(
            stream, keys.GROUP, claimed[0][0], claimed[-1][0], len(claimed) + 16, consumer
        )
        counts = {_s(cast(bytes, p["message_id"])): int(p["times_delivered"]) for p in pend}
        return [parse_entry(eid, f, counts.get(_s(eid), 1)) for eid, f in claimed]

    async def dead_letter(self, model: str, consumer: str, entry: Entry, reply: bytes, reason: str) -> bool:
        """Move the entry to the dead letters (if still ours), then answer its client."""
        ks = [keys.request_stream(model), keys.dead_letters(model)]
        if not int(await self._dead(keys=ks, args=[keys.GROUP, consumer, entry.entry_id, reason])):
            return False
        if self._cluster is not None:
            await slotsafe.publish(self.fast, [(entry, reply)], self.reply_ttl_s)
        else:  # one Redis: a script allowed when out of memory answers the client
            await self._publish(keys=[entry.reply_to], args=[entry.req_id, reply, self.reply_ttl_s])
        return True
