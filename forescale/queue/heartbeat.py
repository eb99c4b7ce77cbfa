"""Worker heartbeats: the record a worker writes every few seconds, and its one reader.

A worker writes ``{"state", "at", "pid"}`` under its consumer id in the model's hash
(``keys.workers``) every ``keys.WORKER_HEARTBEAT_S`` and deletes it when it exits. The
router (is any worker ready?), the controller's local provider and admin API (how many are
ready or warming?) and the demo read it, all through ``live`` so that all of them agree
on when a worker is dead: one cut-off, ``keys.WORKER_DEAD_AFTER_S`` without a beat.
(Before this module the router used ``<`` and the controller ``<=``.)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import redis.asyncio as aioredis

from forescale import keys

State = Literal["warming", "ready", "draining"]
STATES: tuple[str, ...] = get_args(State)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    worker_id: str
    state: State
    at: float  # the worker's clock (epoch seconds) when it wrote the beat
    pid: int

    def encode(self) -> str:
        return json.dumps({"state": self.state, "at": self.at, "pid": self.pid})

    @classmethod
    def decode(cls, worker_id: str, raw: bytes | str) -> Heartbeat | None:
        """None for a malformed entry (a reader must not fail on one bad writer)."""
        try:
            doc = json.loads(raw)
            state, at, pid = doc["state"], float(doc["at"]), int(doc["pid"])
        except (ValueError, TypeError, KeyError):
            return None
        if state not in STATES:
            return None
        return cls(worker_id, cast(State, state), at, pid)

    def alive(self, now: float) -> bool:
        return now - self.at <= keys.WORKER_DEAD_AFTER_S


@dataclass(frozen=True, slots=True)
class Workers:
    """The live heartbeats of one model's workers."""

    beats: tuple[Heartbeat, ...]

    def __iter__(self) -> Iterator[Heartbeat]:
        return iter(self.beats)

    def count(self, state: State) -> int:
        return sum(1 for b in self.beats if b.state == state)

    @property
    def ready_pids(self) -> set[int]:
        return {b.pid for b in self.beats if b.state == "ready"}


async def beat(r: aioredis.Redis, model: str, hb: Heartbeat) -> None:
    await cast(Awaitable[int], r.hset(keys.workers(model), hb.worker_id, hb.encode()))


async def remove(r: aioredis.Redis, model: str, worker_id: str) -> None:
    await cast(Awaitable[int], r.hdel(keys.workers(model), worker_id))


async def live(r: aioredis.Redis, model: str, now: float) -> Workers:
    """The model's workers that beat within ``keys.WORKER_DEAD_AFTER_S`` of ``now``."""
    raw = await cast(Awaitable[dict[Any, Any]], r.hgetall(keys.workers(model)))
    beats = []
    for wid, body in raw.items():
        hb = Heartbeat.decode(wid.decode() if isinstance(wid, bytes) else wid, body)
        if hb is not None and hb.alive(now):
            beats.append(hb)
    return Workers(tuple(sorted(beats, key=lambda b: b.worker_id)))
