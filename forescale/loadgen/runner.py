"""The open-loop load generator: requests leave on schedule whether or not answers came.

A closed loop (each client waits for its answer before sending again) slows down with the
server and hides overload; here arrivals never wait, so a slow service builds a real
backlog. Only a bounded number of requests may be in flight (sockets and memory are
finite): an arrival over the cap is *dropped* and counted, never delayed.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

DROPPED = -1  # status of an arrival dropped by the concurrency cap
NO_ANSWER = 0  # status of a connection error or a client-side timeout


@dataclass(frozen=True, slots=True)
class Outcome:
    """One arrival: when it was due (s from start), how long it took, its HTTP status."""

    at: float
    latency_s: float
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def infer_body(index: int) -> dict[str, Any]:
    """A minimal Open Inference Protocol v2 request (one FP32 value)."""
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [float(index % 1000)]}]}


@dataclass(frozen=True)
class LoadReport:
    """Latency percentiles of answered requests and counts by status."""

    requests: int
    statuses: dict[str, int]
    dropped: int
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    duration_s: float

    @staticmethod
    def of(outcomes: list[Outcome], duration_s: float) -> LoadReport:
        ok = np.array([o.latency_s for o in outcomes if o.ok])
        pct = [float(np.percentile(ok, q)) if len(ok) else None for q in (50, 90, 99)]
        counts = Counter(o.status for o in outcomes)
        names = {DROPPED: "dropped", NO_ANSWER: "no_answer"}
        statuses = {names.get(k, str(k)): v for k, v in sorted(counts.items())}
        return LoadReport(len(outcomes), statuses, counts.get(DROPPED, 0), pct[0], pct[1], pct[2], duration_s)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": self.statuses,
            "dropped": self.dropped,
            "p50_latency_s": self.p50_s,
            "p90_latency_s": self.p90_s,
            "p99_latency_s": self.p99_s,
            "duration_s": round(self.duration_s, 3),
            "sent_rps": round(self.requests / self.duration_s, 3) if self.duration_s > 0 else 0.0,
        }


@dataclass
class LoadGen:
    """Sends ``POST {url}/v2/models/{model}/infer`` at the given offsets.

    ``outcomes`` fills in as answers come (the demo's live view reads it while running).
    """

    url: str
    model: str
    concurrency: int = 256
    timeout_s: float = 30.0
    outcomes: list[Outcome] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # offset of every arrival sent so far
    in_flight: int = 0
    started_at: float | None = None  # event-loop time of offset 0

    async def run(self, offsets: np.ndarray, stop: asyncio.Event | None = None) -> LoadReport:
        """Send every arrival on time (or until ``stop``); wait for answers; report."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        conn = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s + 5)
        endpoint = f"{self.url.rstrip('/')}/v2/models/{self.model}/infer"
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            self.started_at = t0 = loop.time()
            for i, off in enumerate(offsets.tolist()):
                delay = t0 + off - loop.time()
                if delay > 0 and await _stopped_within(stop, delay):
                    break
                if stop.is_set():
                    break
                self.sent_at.append(off)
                if self.in_flight >= self.concurrency:
                    self.outcomes.append(Outcome(off, math.nan, DROPPED))
                    continue
                self.in_flight += 1  # counted here: the task may not run before the next arrival
                task = asyncio.create_task(self._one(session, endpoint, i, off))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sending_s = loop.time() - t0
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout_s + 10)
            for task in tasks:
                task.cancel()
        return LoadReport.of(list(self.outcomes), sending_s)

    async def _one(self, session: aiohttp.ClientSession, endpoint: str, i: int, off: float) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        status = NO_ANSWER
        try:
            headers = {"X-Request-Timeout": f"{self.timeout_s:g}"}
            async with session.post(endpoint, json=infer_body(i), headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = NO_ANSWER
        finally:
            self.in_flight -= 1
            self.outcomes.append(Outcome(off, loop.time() - began, status))


async def _stopped_within(stop: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds; True when ``stop`` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
