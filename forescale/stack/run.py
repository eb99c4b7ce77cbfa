"""``forescale demo``: the whole control plane, live, then replayed in the simulator.

Order: Redis; model, policy and pools written; router, prescaler, controller (local
provider) started; the reservation's replicas ready; the event announced through the
webhook; the compressed day replayed by the open-loop load generator while a recorder
samples the control plane once a second (live view); then everything stopped (process
groups, then a sweep by run id), the simulator replay, the report, and one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from forescale.devstack.redis_server import RedisServer
from forescale.loadgen.arrivals import poisson_offsets
from forescale.loadgen.chat import ChatLoad
from forescale.loadgen.runner import LoadGen, LoadReport
from forescale.stack import services
from forescale.stack.chat import CHAT_MODEL, MODEL_DIR, ChatPlan, build_model_dir
from forescale.stack.chat import offsets as chat_offsets
from forescale.stack.controller_proc import OUTAGES_KEY
from forescale.stack.finish import finish
from forescale.stack.procs import Children
from forescale.stack.recorder import Recorder
from forescale.stack.scenario import MODEL, DemoPlan, announced, outage_seconds, policy, pools
from forescale.stack.view import line, render

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: everything was stopped, no report."""


@dataclass(frozen=True)
class DemoOptions:
    plan: DemoPlan
    demand: np.ndarray  # req/s per demo second
    announce: bool  # post the scheduled event (the synthetic day has one)
    out: Path
    live_view: bool
    chat: ChatPlan | None = None  # the llm chat leg (stack/chat.py); None: off (DEMO_CHAT=0)


@dataclass
class LiveRun:
    t0: float
    samples: list[dict[str, Any]]
    events: list[dict[str, Any]]
    load: LoadReport
    gen: LoadGen
    load_time_s: float
    chat: ChatLoad | None = None
    # (spawned, ready) of each worker started during the load, in s from t0
    worker_starts: list[tuple[float, float]] = field(default_factory=list)


async def run_live(opts: DemoOptions, stop: asyncio.Event) -> LiveRun:
    """Bring the stack up, run the day, bring it all down (whatever happens)."""
    plan, run_id = opts.plan, uuid.uuid4().hex[:12]
    (opts.out / "logs").mkdir(parents=True, exist_ok=True)
    children = Children(run_id, opts.out / "logs")
    server = RedisServer().start()
    r = aioredis.Redis.from_url(server.url)
    try:
        chat = None
        if opts.chat is not None:  # the tiny model's pinned weights, before any worker needs them
            chat = (opts.chat, await asyncio.to_thread(build_model_dir, opts.out))
        await services.configure(r, plan, chat)
        ends = services.start_services(children, server.url, plan, opts.out / MODEL_DIR)
        for url in (
            f"{ends.router}/v2/health/live",
            f"{ends.prescaler}/v1/forecasts",
            ends.controller_metrics,
        ):
            await services.wait_http(children, url, stop)
        _say(opts, f"services up (logs in {opts.out / 'logs'}); waiting for the reservation's replicas")
        elapsed = await services.wait_ready(children, r, policy(plan).min_replicas, stop)
        # From the first decision: the reservation's launch delay, then the worker's start.
        load_time = max(0.3, elapsed - pools()[0].lead_time_s)
        if opts.chat is not None:  # the chat worker loads torch: ready before its load starts
            await services.wait_ready(children, r, 1, stop, timeout_s=120, model=CHAT_MODEL)
        if stop.is_set():
            raise Interrupted
        return await _day(opts, r, children, ends, load_time, stop)
    finally:
        children.stop(grace_s=10)
        await r.aclose()
        server.close()


async def _day(
    opts: DemoOptions,
    r: aioredis.Redis,
    children: Children,
    ends: services.Endpoints,
    load_time: float,
    stop: asyncio.Event,
) -> LiveRun:
    plan = opts.plan
    # The load starts on a whole epoch second: the routers count arrivals per epoch second
    # and the controller ticks on its interval's grid (controller/loop.py), so the seconds
    # the replay bins the demand into are the seconds the controller read (from a second
    # that straddled two, the live rate windows lagged the simulator's by up to a second).
    t0 = math.ceil(time.time()) + 1.0
    a, b = outage_seconds(plan)
    await r.set(OUTAGES_KEY, json.dumps([{"pool": plan.outage_pool, "start": t0 + a, "end": t0 + b}]))
    if opts.announce:
        status = await services.announce(ends.prescaler, ends.webhook_secret, announced(plan, t0))
        _say(opts, f"scheduled event announced through the webhook (HTTP {status})")
    gen = LoadGen(ends.router, MODEL, concurrency=256, timeout_s=10.0)
    ttl = policy(plan).unavailable_pool_ttl_s
    rec = Recorder(
        r,
        MODEL,
        pools(),
        ends.controller_metrics,
        gen,
        outage=(a, b, plan.outage_pool),
        unavailable_ttl_s=ttl,
    )
    chat = None
    if opts.chat is not None:
        chat = ChatLoad(ends.router, CHAT_MODEL, opts.chat.lengths, seed=opts.chat.seed)
        rec.chat = (CHAT_MODEL, opts.chat, chat)
    done = asyncio.Event()
    offsets = poisson_offsets(opts.demand, seed=plan.seed)
    await asyncio.sleep(max(0.0, t0 - time.time()))
    load = asyncio.create_task(gen.run(offsets, stop))
    chatting = (
        asyncio.create_task(chat.run(chat_offsets(opts.chat, plan.load_s), stop))
        if chat is not None and opts.chat is not None
        else None
    )
    recording = asyncio.create_task(rec.run(t0, done))
    watching = asyncio.create_task(_watch(opts, rec, children, stop, done))
    try:
        report_ = await load
        if chatting is not None:
            await chatting
    finally:
        done.set()
        await asyncio.gather(recording, watching, return_exceptions=True)
    services.check(children)  # a service that died stopped the run: say which one
    if stop.is_set():
        raise Interrupted
    starts = sorted((a - t0, b - t0) for a, b in rec.starts.values() if a >= t0)
    return LiveRun(t0, rec.samples, rec.events, report_, gen, load_time, chat, starts)


async def _watch(
    opts: DemoOptions, rec: Recorder, children: Children, stop: asyncio.Event, done: asyncio.Event
) -> None:
    """Redraw the view every second; stop the run if a service died."""
    from rich.live import Live

    spec = policy(opts.plan)
    ctx = Live(refresh_per_second=2, transient=False) if opts.live_view else contextlib.nullcontext()
    shown = 0
    with ctx as live:
        while not done.is_set():
            await asyncio.sleep(1.0)
            if children.failed() is not None:
                _say(opts, f"{children.failed().name} exited; stopping")  # type: ignore[union-attr]
                stop.set()
            if not rec.samples:
                continue
            s = rec.samples[-1]
            if live is not None:
                live.update(
                    render(
                        s,
                        model=MODEL,
                        slo_s=spec.latency_slo_s,
                        pools=pools(),
                        load_s=opts.plan.load_s,
                        events=rec.events,
                        chat_slo=opts.chat.ttft if opts.chat is not None else None,
                    )
                )
            elif s["t"] - shown >= 10:
                shown = s["t"]
                print(line(s), flush=True)


def _say(opts: DemoOptions, text: str) -> None:
    print(f"demo: {text}", flush=not opts.live_view)


def main(opts: DemoOptions) -> int:
    async def go() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        live = await run_live(opts, stop)
        return await asyncio.to_thread(finish, opts, live)

    try:
        figures = asyncio.run(go())
    except Interrupted:
        print("demo: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    except services.ServiceFailed as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"demo: report in {opts.out / 'report.html'}")
    print(json.dumps(figures), flush=True)
    return 0
