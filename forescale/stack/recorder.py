"""Once a second: what the control plane is doing, read from where it publishes it.

Sources: the controller's store in Redis (``fs:decisions:{model}``: desired replicas,
winner, reasons), the workers' heartbeats (``fs:workers:{model}``: ready replicas), the
queue (``XLEN fs:req:{model}``), the routers' arrival counters (``fs:arr:{model}:{s}``),
the controller's ``/metrics`` (nodes per pool by state and capacity type) and the load
generator's own answers (latency). Each sample is a plain dict: the live view shows the
newest, the report and the fidelity check read them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from forescale import keys
from forescale.core.model import Decision, PolicyState, PoolSpec
from forescale.loadgen.chat import ChatLoad
from forescale.loadgen.runner import LoadGen
from forescale.queue import arrivals, heartbeat
from forescale.stack.chat import ChatPlan, window_quantile

NODE_STATES = ("ready", "starting", "draining")


def cost_per_hour(nodes: dict[str, dict[str, int]], pools: Sequence[PoolSpec]) -> float:
    """USD per hour of what is held now; a reservation is paid whether used or not."""
    total = 0.0
    for p in pools:
        held = sum(nodes.get(p.name, {}).values())
        if p.capacity_type == "reserved":
            held = max(held, p.reservation_nodes)
        total += held * p.price_per_node_hour
    return total


def spot_share(nodes: dict[str, dict[str, int]], pools: Sequence[PoolSpec]) -> float:
    kinds = {p.name: p.capacity_type for p in pools}
    held = {name: sum(v.values()) for name, v in nodes.items()}
    total = sum(held.values())
    spot = sum(n for name, n in held.items() if kinds.get(name) == "spot")
    return spot / total if total else 0.0


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None when it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live local process (0 when it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def started_at(pid: int) -> float | None:
    """Epoch seconds a live local process started (None when it is gone or unreadable)."""
    fields = _stat(pid)
    if fields is None:
        return None
    # Its start in clock ticks since boot, against the time since boot now (not /proc/stat's
    # btime: whole seconds, which once put every measured start half a second short).
    ago = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - ago


@dataclass
class Recorder:
    redis: aioredis.Redis
    model: str
    pools: Sequence[PoolSpec]
    metrics_url: str
    gen: LoadGen
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    outage: tuple[float, float, str] | None = None  # (start, end) in s from load start, pool
    unavailable_ttl_s: float = 10.0  # the policy's unavailable_pool_ttl_s
    chat: tuple[str, ChatPlan, ChatLoad] | None = None  # the chat leg: model, plan, its load
    # pid -> (process start, first ready beat), epoch seconds: each worker's start, measured
    starts: dict[int, tuple[float, float]] = field(default_factory=dict)

    async def run(self, t0_wall: float, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            next_at = time.monotonic()
            while not stop.is_set():
                await self.sample(http, time.time() - t0_wall)
                next_at += 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))

    async def sample(self, http: aiohttp.ClientSession, t: float) -> dict[str, Any]:
        now = time.time()
        raw = await self.redis.lindex(keys.decisions(self.model), 0)  # type: ignore[misc]
        decision = Decision.model_validate_json(raw) if raw else None
        raw_state = await self.redis.get(keys.policy_state(self.model))
        state = PolicyState.model_validate_json(raw_state) if raw_state else PolicyState()
        workers = await heartbeat.live(self.redis, self.model, now)
        self._starts(workers)
        queue = int(await self.redis.xlen(keys.request_stream(self.model)))
        arrived = (await arrivals.read(self.redis, self.model, int(now) - 1, int(now) - 1)).per_second()[0]
        nodes = await self._nodes(http)
        s = {
            "t": round(t, 3),
            "desired": decision.desired_replicas if decision else 0,
            "decided_at": decision.at if decision else None,  # epoch: the controller's tick phase
            "ready": workers.count("ready"),
            "queue": queue,
            "arrived_rps": int(arrived or 0),
            "sent_rps": self._sent_rate(t, 5.0),
            "p99_s": self._p99(t, 5.0),
            "nodes": nodes,
            "cost_per_hour": cost_per_hour(nodes, self.pools),
            "spot_share": spot_share(nodes, self.pools),
            "winner": decision.winner if decision else "",
            "panic": decision.panic if decision else False,
            "reasons": [r.detail for r in decision.reasons] if decision else [],
            "placed": {p.pool: p.replicas for p in decision.pools} if decision else {},
            "lead_s": dict(state.lead_time_s),
            "unavailable": sorted(
                p for p, at in state.unavailable_at.items() if now - at < self.unavailable_ttl_s
            ),
        }
        if self.chat is not None:
            s |= await self._chat(now, t)
        self._events(s)
        self.samples.append(s)
        return s

    def _starts(self, workers: heartbeat.Workers) -> None:
        """A worker's first ready beat is written the moment it is ready, and a sample comes
        every second, before its next beat (every 2 s): that beat's time is its ready time."""
        for b in workers:
            if b.state == "ready" and b.pid not in self.starts:
                began = started_at(b.pid)
                if began is not None:
                    self.starts[b.pid] = (began, b.at)

    async def _chat(self, now: float, t: float) -> dict[str, Any]:
        assert self.chat is not None
        model, plan, load = self.chat
        done = load.outcomes[-2000:]
        workers = await heartbeat.live(self.redis, model, now)
        return {
            "chat_ready": workers.count("ready"),
            # What the chat leg costs the machine the main model's workers share (the
            # local provider's workers are processes here): CPU seconds so far.
            "chat_cpu_s": sum(cpu_seconds(b.pid) for b in workers),
            "chat_ttft_s": window_quantile(done, t, plan.window_s, plan.ttft.quantile),
            "chat_done": len(load.outcomes),
            "chat_in_flight": load.in_flight,
        }

    async def _nodes(self, http: aiohttp.ClientSession) -> dict[str, dict[str, int]]:
        try:
            async with http.get(self.metrics_url) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return self.samples[-1]["nodes"] if self.samples else {}
        out: dict[str, dict[str, int]] = {}
        for fam in text_string_to_metric_families(text):
            if fam.name != "forescale_controller_pool_nodes":
                continue
            for smp in fam.samples:
                if smp.labels.get("model", self.model) != self.model:
                    continue
                out.setdefault(smp.labels["pool"], {})[smp.labels["state"]] = int(smp.value)
        return out

    def _sent_rate(self, t: float, window: float) -> float:
        recent = [at for at in self.gen.sent_at[-4000:] if t - window <= at < t]
        return len(recent) / window

    def _p99(self, t: float, window: float) -> float | None:
        lat = [
            o.latency_s if o.ok else math.inf
            for o in self.gen.outcomes[-4000:]
            if t - window <= o.at + (o.latency_s if math.isfinite(o.latency_s) else 0) < t
        ]
        return float(np.percentile(lat, 99, method="higher")) if lat else None

    def _events(self, s: dict[str, Any]) -> None:
        prev = self.samples[-1] if self.samples else None
        if s["winner"] == "forecast" and (prev is None or prev["winner"] != "forecast"):
            why = [r for r in s["reasons"] if r.startswith("forecast")] or s["reasons"][-1:]
            self._event(s, "forecast pre-scale", why[0] if why else "")
        if s["panic"] and (prev is None or not prev["panic"]):
            self._event(s, "panic", "short-window demand over 2x ready capacity")
        kinds = {p.name: p.capacity_type for p in self.pools}
        for name, states in s["nodes"].items():
            before = prev["nodes"].get(name, {}) if prev else {}
            if kinds.get(name) == "spot" and states.get("draining", 0) > before.get("draining", 0):
                self._event(s, "interruption", f"{name}: {states['draining']} nodes under notice")
        if self.outage is None or prev is None:
            return
        a, b, pool = self.outage
        od = sum(sum(v.values()) for n, v in s["nodes"].items() if kinds.get(n) == "on-demand")
        od_before = sum(sum(v.values()) for n, v in prev["nodes"].items() if kinds.get(n) == "on-demand")
        if a <= s["t"] < b + 10 and od > od_before and not self._seen("spot fallback"):
            self._event(s, "spot fallback", f"{od} on-demand nodes while {pool} has no capacity")
        held = sum(n for state, n in s["nodes"].get(pool, {}).items() if state != "draining")
        if s["t"] >= b and held > 0 and not self._seen("return to spot"):
            self._event(s, "return to spot", f"{pool} holds {held} nodes again")

    def _seen(self, kind: str) -> bool:
        return any(e["kind"] == kind for e in self.events)

    def _event(self, s: dict[str, Any], kind: str, detail: str) -> None:
        self.events.append({"t": s["t"], "kind": kind, "detail": detail})

    def dump(self) -> str:
        return json.dumps({"samples": self.samples, "events": self.events})
