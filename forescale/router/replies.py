"""Waiting requests and the reply listener of one router process.

Each router reads only its own reply stream. A reply resolves the future registered
under its ``req_id`` once; a second reply for the same request (a re-run after a
reclaim, or one that arrives after the router answered 504) is counted and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from forescale.queue.client import raise_if_cancelling

log = logging.getLogger(__name__)


class Replies:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.duplicates = 0
        self.last_id = "0-0"
        self.ended: dict[str, Any] | None = None  # set by end_all (shutdown)

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def expect(self, req_id: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        if self.ended is not None:  # admitted while the drain ended the others
            fut.set_result(self.ended)
        return fut

    def forget(self, req_id: str) -> None:
        self._waiting.pop(req_id, None)

    def resolve(self, req_id: str, reply: dict[str, Any]) -> bool:
        fut = self._waiting.pop(req_id, None)
        if fut is None or fut.done():
            self.duplicates += 1
            return False
        fut.set_result(reply)
        return True

    def end_all(self, reply: dict[str, Any]) -> int:
        """Shutdown: answer every waiting request (and any registered later) with
        ``reply``; a real reply arriving after it is counted as a duplicate."""
        self.ended = reply
        n = 0
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result(reply)
                n += 1
        return n

    async def listen(self, r: aioredis.Redis, stream: str, block_ms: int) -> None:
        """Read the reply stream forever; survives Redis outages (retries every 0.2 s)."""
        while True:
            try:
                res: Any = await r.xread({stream: self.last_id}, count=512, block=block_ms)
            except (RedisError, OSError) as exc:
                raise_if_cancelling()  # a cancel seen as a socket timeout (Python 3.11)
                log.debug("reply listener: %s", exc)
                await asyncio.sleep(0.2)
                continue
            for self.last_id, req_id, reply in decode_replies(res):
                if req_id is not None:
                    self.resolve(req_id, reply)


def decode_replies(res: Any) -> Iterator[tuple[str, str | None, Any]]:
    """(entry id, req_id, decoded reply) of each entry an XREAD of a reply stream returned;
    req_id is None (and the entry logged) when the entry is malformed. One reader for the v2
    reply stream and the generation chunk stream, which carry the same two fields."""
    for _, entries in res or []:
        for eid, fields in entries:
            entry_id = eid.decode() if isinstance(eid, bytes) else eid
            try:
                yield entry_id, fields[b"req_id"].decode(), orjson.loads(fields[b"reply"])
            except (KeyError, ValueError) as exc:
                log.warning("malformed reply entry %s: %s", entry_id, exc)
                yield entry_id, None, None
