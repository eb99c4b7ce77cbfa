"""Generation over the queue (DESIGN.md): request payloads, chunk messages, and the
per-step publish / handover / cancel operations shared by the router and the workers.

A request entry is an ordinary queue entry (admitted by the same ADMIT script, so the
same limit and 429s apply) whose ``reply_to`` is the router's generation reply stream
and whose payload is :class:`GenRequest` JSON. Each reply message carries ``req_id`` and
``reply``: a chunk ``{"n", "start", "tokens", "text_at", "text", "finish_reason",
"usage"}`` or an error ``{"status", "error"}`` (the form the reaper's dead letters use).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from forescale import keys
from forescale.queue import stream_scripts
from forescale.queue.protocol import Entry


@dataclass(frozen=True, slots=True)
class GenRequest:
    """What a worker needs to run (or continue) a sequence; ``created`` in epoch seconds."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    created: float = 0.0

    def dumps(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def loads(cls, raw: bytes) -> GenRequest:
        """Raises ValueError (or TypeError) on a payload that is not a GenRequest."""
        d = orjson.loads(raw)
        if not isinstance(d, dict) or not isinstance(d.get("prompt"), str):
            raise ValueError("payload is not a generation request")
        d["stop"] = tuple(str(s) for s in d.get("stop") or ())
        return cls(**d)


@dataclass(slots=True)
class Progress:
    tokens: list[int] = field(default_factory=list)
    n: int = 0  # chunks sent

    def dumps(self) -> bytes:
        return orjson.dumps({"tokens": self.tokens, "n": self.n})


@dataclass(frozen=True, slots=True)
class Item:
    """One sequence's part of a step: kind "c" chunk, "f" final, "p" probe."""

    entry: Entry
    kind: str
    progress: bytes = b""
    message: bytes = b""


NOT_OURS, DONE, CANCELLED = 0, 1, 2


def error_message(status: int, message: str) -> bytes:
    return orjson.dumps({"status": status, "error": message})


class StreamQueue:
    def __init__(self, r: aioredis.Redis, reply_ttl_s: int = 120) -> None:
        self.r = r
        self.reply_ttl_s = reply_ttl_s
        self._step = r.register_script(stream_scripts.STEP)
        self._handover = r.register_script(stream_scripts.HANDOVER)

    async def step(self, model: str, consumer: str, items: list[Item]) -> list[int]:
        if not items:
            return []
        ks = [keys.request_stream(model), keys.gen_progress(model), keys.gen_cancel(model)]
        ks += [it.entry.reply_to for it in items]
        args: list[Any] = [keys.GROUP, consumer, self.reply_ttl_s]
        for it in items:
            args += [it.entry.entry_id, it.entry.req_id, it.kind, it.progress, it.message]
        return [int(x) for x in await self._step(keys=ks, args=args)]

    async def handover(self, model: str, consumer: str, entry_ids: list[str]) -> list[str]:
        if not entry_ids:
            return []
        res = await self._handover(keys=[keys.request_stream(model)], args=[keys.GROUP, consumer, *entry_ids])
        return [x.decode() if isinstance(x, bytes) else str(x) for x in res]

    async def progress(self, model: str, req_ids: list[str]) -> list[Progress | None]:
        if not req_ids:
            return []
        raw = await self.r.hmget(keys.gen_progress(model), req_ids)
        out: list[Progress | None] = []
        for v in raw:
            if v is None:
                out.append(None)
            else:
                d = orjson.loads(v)
                out.append(Progress([int(t) for t in d["tokens"]], int(d["n"])))
        return out

    async def cancel(self, model: str, req_id: str, reason: str) -> None:
        """Flag a sequence as cancelled; the worker that runs it drops it within a step.
        The hash expires an hour after its last flag (flags for finished sequences)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(keys.gen_cancel(model), req_id, reason)
        pipe.expire(keys.gen_cancel(model), 3600)
        await pipe.execute()
