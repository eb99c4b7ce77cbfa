"""Background duties of a worker beside its consumer loop: lease renewal (so a long
batch is not reclaimed), the reaper (reclaim entries of dead workers, dead-letter
poison), the heartbeat (``queue/heartbeat.py``) and the busy ratio.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

from forescale import keys
from forescale.queue import heartbeat
from forescale.queue.client import raise_if_cancelling
from forescale.queue.protocol import error_reply
from forescale.worker.loop import REDIS_DOWN, Worker

log = logging.getLogger(__name__)


async def renew_once(w: Worker) -> None:
    ids = list(w.inflight)
    if not ids:
        return
    renewed = set(await w.queue.renew(w.cfg.name, w.consumer, ids))
    for eid in ids:
        if eid not in renewed:
            log.info("lost the lease on %s", eid)


async def reap_once(w: Worker) -> None:
    cfg = w.cfg
    entries = await w.queue.autoclaim(cfg.name, w.consumer, cfg.min_idle_ms, cfg.max_batch)
    for e in entries:
        if e.deliveries > cfg.max_deliveries:
            reply = error_reply(500, f"dead-lettered: the engine failed {cfg.max_deliveries} times on it")
            if await w.queue.dead_letter(cfg.name, w.consumer, e, reply, "max deliveries exceeded"):
                w.metrics.dead_lettered.inc()
            continue
        w.metrics.reclaimed.inc()
        w.inflight[e.entry_id] = e
        w.reclaimed.append(e)


_reraise_cancel = raise_if_cancelling  # see queue/client.py: a swallowed cancel kept failed workers alive


async def heartbeat_once(w: Worker) -> None:
    hb = heartbeat.Heartbeat(w.consumer, w.state, w.clock.now(), os.getpid())
    # Through a script allowed when Redis is out of memory: a worker that still serves
    # must not look dead (queue/scripts.py HEARTBEAT).
    await w.queue.heartbeat(keys.workers(w.cfg.name), hb.worker_id, hb.encode())
    await w.tokens.flush(w.queue.fast)  # after the heartbeat: a full Redis must not hide a live worker


async def _every(w: Worker, period_s: float, step: Callable[[Worker], Awaitable[None]], name: str) -> None:
    while True:
        try:
            await step(w)
        except REDIS_DOWN as exc:
            log.debug("%s: redis unavailable: %s", name, exc)
        _reraise_cancel()
        await w.clock.sleep(period_s)


async def lease_loop(w: Worker) -> None:
    await _every(w, w.cfg.min_idle_ms / 3000, renew_once, "lease")


async def reaper_loop(w: Worker) -> None:
    await _every(w, w.cfg.min_idle_ms / 2000, reap_once, "reaper")


async def heartbeat_loop(w: Worker) -> None:
    last_t, last_busy = w.clock.now(), w.busy_s
    while True:
        try:
            await heartbeat_once(w)
        except REDIS_DOWN as exc:
            log.debug("heartbeat: redis unavailable: %s", exc)
        _reraise_cancel()
        await w.clock.sleep(keys.WORKER_HEARTBEAT_S)
        now = w.clock.now()
        if now > last_t:
            w.metrics.busy_ratio.set(min(1.0, (w.busy_s - last_busy) / (now - last_t)))
        last_t, last_busy = now, w.busy_s
