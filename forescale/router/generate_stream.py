"""Token streams at the router: the generation reply listener and one request's stream.

Workers publish numbered chunks to this router's generation reply stream
(``keys.gen_reply_stream``). The listener hands each to the waiting request's queue; the
request's :class:`GenStream` forwards tokens and text in order and drops anything it
already forwarded (a chunk re-sent after a reclaim), so the client sees one stream with
no gap and no repeat even when its sequence moved between workers. When the client goes
away or a deadline passes, the stream flags the sequence cancelled in Redis; the worker
running it frees its KV blocks at its next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from forescale.queue.client import raise_if_cancelling
from forescale.queue.stream import StreamQueue
from forescale.router.replies import decode_replies

log = logging.getLogger(__name__)
REDIS_DOWN = (RedisError, OSError, TimeoutError)


class GenError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Delta:
    tokens: list[int]
    text: str
    finish_reason: str | None
    usage: dict[str, int] | None


class GenReplies:
    """Waiting generation requests of one router and the listener that feeds them."""

    def __init__(self, r: aioredis.Redis, stream: str, ttl_s: int) -> None:
        self.r = r
        self.stream = stream
        self.ttl_s = ttl_s
        self.waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.last_id = "0-0"
        self.ended: dict[str, Any] | None = None  # set by end_all (shutdown)

    def expect(self, req_id: str) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.waiting[req_id] = q
        if self.ended is not None:  # admitted while the drain ended the others: end it too
            q.put_nowait(self.ended)
        return q

    def forget(self, req_id: str) -> None:
        self.waiting.pop(req_id, None)

    def end_all(self, message: str) -> int:
        """Shutdown: end every open stream (and any opened later) with a 503. Unlike a
        worker's error, the sequence still runs on its worker: the flag makes each
        stream's close() cancel it there, which frees its KV blocks at the next step."""
        self.ended = {"status": 503, "error": message, "cancel": True}
        for q in self.waiting.values():
            q.put_nowait(self.ended)
        return len(self.waiting)

    def _fail_all(self, message: str) -> None:
        for q in self.waiting.values():
            q.put_nowait({"status": 503, "error": message})

    async def listen(self, blocking: aioredis.Redis, block_ms: int) -> None:
        """Forever: read chunks and dispatch them; keep the stream alive (TTL) and short.
        A lost connection ends every open stream with an error: chunks published while
        the connection was down may be gone (a restarted Redis), and a stream must end
        cleanly rather than wait for tokens that will never come."""
        loop = asyncio.get_running_loop()
        next_upkeep = 0.0
        while True:
            try:
                if loop.time() >= next_upkeep:
                    next_upkeep = loop.time() + 1.0
                    pipe = self.r.pipeline(transaction=False)
                    pipe.expire(self.stream, self.ttl_s)
                    pipe.xtrim(self.stream, minid=self.last_id)
                    await pipe.execute()
                res: Any = await blocking.xread({self.stream: self.last_id}, count=1024, block=block_ms)
            except REDIS_DOWN as exc:
                raise_if_cancelling()  # a cancel seen as a socket timeout (Python 3.11)
                log.warning("generation reply listener: %s", exc)
                self._fail_all("lost the connection to redis")
                await asyncio.sleep(0.2)
                continue
            for self.last_id, req_id, msg in decode_replies(res):
                q = self.waiting.get(req_id) if req_id is not None else None
                if q is not None:
                    q.put_nowait(msg)


class GenStream:
    """One request's chunks, in order, each token and character once."""

    def __init__(self, replies: GenReplies, sq: StreamQueue, model: str, req_id: str,
                 ttft_deadline: float, deadline: float) -> None:  # fmt: skip
        self.replies = replies
        self.sq = sq
        self.model = model
        self.req_id = req_id
        self.q = replies.expect(req_id)
        self.ttft_deadline = ttft_deadline  # loop time
        self.deadline = deadline
        self.tokens = 0
        self.chars = 0
        self.done = False
        self.duplicates = 0
        self.error_status: int | None = None  # the status of the error that ended it, if any

    async def next(self) -> Delta:
        """The next non-empty delta (or the final one); GenError on an error or timeout."""
        loop = asyncio.get_running_loop()
        while True:
            until = self.deadline if self.tokens else min(self.ttft_deadline, self.deadline)
            try:
                msg = await asyncio.wait_for(self.q.get(), max(0.0, until - loop.time()))
            except TimeoutError:
                what = "the first token" if not self.tokens and until < self.deadline else "the last token"
                self.error_status = 504
                raise GenError(504, f"deadline passed before {what}") from None
            if "error" in msg:
                # the worker (or reaper) ended it: nothing to cancel; the router's drain
                # ended it: close() cancels it on its worker
                self.done = not msg.get("cancel", False)
                self.error_status = int(msg.get("status", 500))
                raise GenError(self.error_status, str(msg["error"]))
            d = self._delta(msg)
            if d is not None:
                return d

    def _delta(self, msg: dict[str, Any]) -> Delta | None:
        start, toks = int(msg["start"]), list(msg["tokens"])
        fin = msg.get("finish_reason")
        if start < self.tokens:  # already forwarded (a re-sent chunk): keep only what is new
            toks = toks[self.tokens - start :]
        elif start > self.tokens:
            log.warning("stream %s: chunk at token %d after %d (gap)", self.req_id, start, self.tokens)
        at, text = int(msg["text_at"]), str(msg["text"])
        text = text[max(0, self.chars - at) :]
        if not toks and not text and fin is None:
            self.duplicates += 1
            return None
        self.tokens = max(self.tokens, start) + len(toks)
        self.chars = max(self.chars, at) + len(text)
        if fin is not None:
            self.done = True
        return Delta(toks, text, fin, msg.get("usage"))

    async def close(self) -> None:
        """Forget the request; cancel its sequence unless it ended."""
        self.replies.forget(self.req_id)
        if not self.done:
            with contextlib.suppress(*REDIS_DOWN):
                await self.sq.cancel(self.model, self.req_id, "client gone or deadline passed")
