"""Arrival counters: requests (and tokens) per model per second, read here only.

Each router counts the requests that arrive for a model (admitted or rejected) per epoch
second and flushes them at least once a second: ``INCRBY keys.arrivals(model, second)``
plus an hour's TTL. The second in progress is therefore incomplete, and a missing
counter inside the last hour means no request arrived in that second (routers write
only seconds that saw requests); before that, nothing is known. The controller's direct
signals, the admin API's what-if, the prescaler's history and the demo's recorder all
read through ``read``; one model's counters share its hash tag, so one MGET is legal on
a Redis Cluster.

Tokens: ``llm`` workers count the prompt tokens they admit and the tokens they generate,
per epoch second (``TokenTally``), and flush them with their heartbeat into
``keys.tokens(model, second)``, same TTL, same rules: the prescaler forecasts token
throughput from them (``read(..., what="tokens")``). They are work done, not demand
offered (a queue that waits is counted when it runs), like the serving engines' own
token counters (``vllm:prompt_tokens_total`` + ``vllm:generation_tokens_total``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from forescale import keys

TTL_S = keys.ARRIVALS_TTL_S
_CHUNK = 3600  # keys per MGET: a bounded reply


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Counts for the seconds ``first, first + 1, ...``; None where no counter exists."""

    model: str
    first: int
    counts: tuple[int | None, ...]

    def per_second(self) -> list[int]:
        """Counts with a missing counter read as no arrivals (right inside the TTL)."""
        return [c or 0 for c in self.counts]

    def first_counted(self) -> int | None:
        """Offset of the first second that has a counter (where the record begins)."""
        return next((i for i, c in enumerate(self.counts) if c is not None), None)


def add(pipe: Pipeline, counts: Mapping[tuple[str, int], int]) -> None:
    """Queue the flush of ``{(model, second): n}`` on ``pipe`` (the router's heartbeat)."""
    for (model, sec), n in counts.items():
        name = keys.arrivals(model, sec)
        pipe.incrby(name, n)
        pipe.expire(name, TTL_S)


class TokenTally:
    """One worker's token counts per second, until its next flush (its heartbeat)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.counts: Counter[int] = Counter()

    def count(self, now: float, n: int) -> None:
        if n > 0:
            self.counts[int(now)] += n

    async def flush(self, r: aioredis.Redis) -> None:
        """INCRBY each second's count; on a Redis error the counts are kept for the next
        flush and the error is raised (the caller's loop logs it)."""
        counts, self.counts = self.counts, Counter()
        if not counts:
            return
        pipe = r.pipeline(transaction=False)
        for sec, n in counts.items():
            name = keys.tokens(self.model, sec)
            pipe.incrby(name, n)
            pipe.expire(name, TTL_S)
        try:
            await pipe.execute()
        except BaseException:
            self.counts.update(counts)
            raise


Kind = Literal["requests", "tokens"]
_KEY = {"requests": keys.arrivals, "tokens": keys.tokens}


async def read(r: aioredis.Redis, model: str, first: int, last: int, what: Kind = "requests") -> Arrivals:
    """The counters of ``model`` for the seconds ``first..last`` (inclusive): requests
    arrived at the routers, or tokens processed by the workers."""
    key = _KEY[what]
    counts: list[int | None] = []
    for lo in range(first, last + 1, _CHUNK):
        names = [key(model, s) for s in range(lo, min(lo + _CHUNK, last + 1))]
        raw = await cast(Awaitable[list[Any]], r.mget(names))
        counts += [None if c is None else int(c) for c in raw]
    return Arrivals(model, first, tuple(counts))
