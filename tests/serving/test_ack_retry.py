"""The worker's ack retried while Redis is down (tenacity on the worker's clock): a real
redis-server stopped and started again on the same port and data dir, and a clock whose
sleeps are counted, not slept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from forescale import keys
from forescale.devstack.redis_server import RedisServer
from forescale.queue.client import connect
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Queue, ok_reply
from forescale.worker import engines
from forescale.worker.loop import Worker
from forescale.worker.metrics import WorkerMetrics
from forescale.worker.settings import WorkerSettings
from tests.controller.conftest import SteppingClock


class RestartingClock(SteppingClock):
    """Steps at once; on the ``restart_at``-th sleep, starts Redis again (None: never)."""

    def __init__(self, server: RedisServer, restart_at: int | None) -> None:
        super().__init__()
        self.server = server
        self.restart_at = restart_at

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if len(self.slept) == self.restart_at:
            await asyncio.to_thread(self.server.start)


async def _acking(tmp_path: Path, restart_at: int | None) -> tuple[Worker, RestartingClock, Queue, bool]:
    server = RedisServer(data_dir=tmp_path).start()
    r = connect(server.url, timeout_s=1.0)
    try:
        queue = Queue(r)
        cfg = ModelConfig(name="m", engine="echo")
        await queue.ensure_group("m")
        await queue.admit("m", 10, "req-1", keys.reply_stream("router-1"), 2**62, b"{}")
        settings = WorkerSettings(worker_id="w1", ack_retry_s=3.0)
        [entry] = await queue.read("m", "w1", 1, None)
        clock = RestartingClock(server, restart_at)
        w = Worker(settings, cfg, engines.create("echo", {}), queue, clock, WorkerMetrics("m"))
        w.inflight[entry.entry_id] = entry
        await asyncio.to_thread(server.stop)  # SIGTERM: the AOF keeps the pending entry
        await w.ack([(entry, ok_reply([]))])
        replied = bool(await r.xlen(keys.reply_stream("router-1"))) if restart_at else False
        return w, clock, queue, replied
    finally:
        await r.aclose()
        server.close()


async def test_ack_retries_until_redis_is_back(tmp_path: Path) -> None:
    w, clock, _, replied = await _acking(tmp_path, restart_at=3)
    assert clock.slept == [0.2, 0.2, 0.2] and w.inflight == {}
    assert replied  # acked and answered once Redis was back


async def test_ack_gives_up_after_ack_retry_s_on_the_clock(tmp_path: Path) -> None:
    w, clock, _, _ = await _acking(tmp_path, restart_at=None)
    assert set(clock.slept) == {0.2} and 3.0 <= sum(clock.slept) <= 3.2 + 1e-9  # 3 s, on the clock
    assert w.inflight == {}  # given up: left pending for the reaper to reclaim
