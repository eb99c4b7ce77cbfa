"""The worker's consumer loop: batches from the model's stream, engine in a thread,
fenced acks. Lease renewal, the reaper and the heartbeat live in ``upkeep.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from redis.exceptions import RedisError
from tenacity import RetryError, retry_if_exception_type, wait_fixed

from forescale.core.clock import Clock
from forescale.queue import arrivals, heartbeat
from forescale.queue.config import ModelConfig
from forescale.queue.protocol import Entry, Queue, error_reply, ok_reply
from forescale.retrying import on_clock, stop_after_clock
from forescale.worker import tensors
from forescale.worker.engines import BadInput, Engine, Tensors
from forescale.worker.metrics import WorkerMetrics
from forescale.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
REDIS_DOWN = (RedisError, OSError, TimeoutError)


class Worker:
    def __init__(self, settings: WorkerSettings, cfg: ModelConfig, engine: Engine, queue: Queue,
                 clock: Clock, metrics: WorkerMetrics) -> None:  # fmt: skip
        self.settings = settings
        self.cfg = cfg
        self.engine = engine
        self.queue = queue
        self.clock = clock
        self.metrics = metrics
        self.consumer = settings.worker_id
        self.state: heartbeat.State = "warming"
        self.inflight: dict[str, Entry] = {}  # read, not yet acked: the lease covers these
        self.reclaimed: deque[Entry] = deque()  # claimed by the reaper, run before new entries
        self.stopping = asyncio.Event()
        self.busy_s = 0.0
        self.tokens = arrivals.TokenTally(cfg.name)  # llm workers count tokens; flushed by upkeep

    async def consume(self) -> None:
        """Until ``stopping``: read a batch, run it, ack it. The last batch always finishes.

        A pipeline of three stages: while the engine runs batch k (in a thread), the loop
        reads batch k+1 and acks batch k-1, so the engine does not wait on Redis.
        """
        reading: asyncio.Task[list[Entry]] | None = asyncio.create_task(self._next_batch_or_nothing())
        acking: asyncio.Task[None] | None = None
        while reading is not None:
            batch = await reading
            # Once stopping, read nothing more: this batch is the last one.
            reading = None if self.stopping.is_set() else asyncio.create_task(self._next_batch_or_nothing())
            if batch:
                replies = await self.process(batch)
                if acking is not None:
                    await acking
                acking = asyncio.create_task(self.ack(replies))
        if acking is not None:
            await acking

    async def _next_batch_or_nothing(self) -> list[Entry]:
        try:
            return await self.next_batch()
        except REDIS_DOWN as exc:
            log.warning("redis unavailable: %s", exc)
            await self.clock.sleep(0.2)
            return []

    async def _read(self, count: int, block_ms: int) -> list[Entry]:
        entries = await self.queue.read(self.cfg.name, self.consumer, count, block_ms)
        for e in entries:
            self.inflight[e.entry_id] = e
        return entries

    async def next_batch(self) -> list[Entry]:
        """Reclaimed entries first; else block for new ones, then top up for max_wait_ms."""
        cap = self.cfg.max_batch
        batch = [self.reclaimed.popleft() for _ in range(min(cap, len(self.reclaimed)))]
        if batch:
            return batch
        batch = await self._read(cap, self.settings.block_ms)
        loop = asyncio.get_running_loop()
        until = loop.time() + self.cfg.max_wait_ms / 1000
        while batch and len(batch) < cap and not self.stopping.is_set():
            left_ms = int((until - loop.time()) * 1000)
            if left_ms < 1:  # BLOCK 0 would mean forever
                break
            try:
                more = await self._read(cap - len(batch), left_ms)
            except REDIS_DOWN:  # run what we hold: it is pending to us and nobody else has it
                break
            if not more:
                break
            batch += more
        return batch

    async def process(self, batch: list[Entry]) -> list[tuple[Entry, bytes]]:
        """The reply for each entry of the batch (none for one that crashed the engine)."""
        now = self.clock.now()
        replies: list[tuple[Entry, bytes]] = []
        runnable: list[tuple[Entry, Tensors]] = []
        for e in batch:
            if e.deadline_ms <= now * 1000:  # never run what nobody waits for
                replies.append((e, error_reply(504, "deadline passed before the request ran")))
                continue
            try:
                runnable.append((e, tensors.decode(e.payload)))
            except BadInput as exc:
                replies.append((e, error_reply(400, str(exc))))
        for e, _ in runnable:
            self.metrics.queue_wait.observe(max(0.0, now - int(e.entry_id.split("-")[0]) / 1000))
        return replies + await self.run(runnable)

    async def run(self, items: list[tuple[Entry, Tensors]]) -> list[tuple[Entry, bytes]]:
        """Replies for the items; a failing batch is retried one by one, and a single
        request that crashes the engine gets no reply: it stays pending for the reaper."""
        if not items:
            return []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            # Encoding in the engine's thread too: one GIL hand-off per batch, not two.
            outs = await asyncio.to_thread(self._infer_encode, [t for _, t in items])
        except BadInput as exc:
            if len(items) == 1:
                return [(items[0][0], error_reply(400, f"input does not fit the model: {exc}"))]
            return await self._one_by_one(items)
        except Exception as exc:  # an engine crash: isolate the request that causes it
            if len(items) == 1:
                log.warning("engine failed on %s (delivery %d): %r", items[0][0].entry_id,
                            items[0][0].deliveries, exc)  # fmt: skip
                self.inflight.pop(items[0][0].entry_id, None)  # stop renewing: let it be reclaimed
                return []
            return await self._one_by_one(items)
        finally:
            self.busy_s += loop.time() - t0
        self.metrics.inference.observe(loop.time() - t0)
        self.metrics.batch_size.observe(len(items))
        return [(e, reply) for (e, _), reply in zip(items, outs, strict=True)]

    def _infer_encode(self, batch: list[Tensors]) -> list[bytes]:
        return [ok_reply(tensors.encode(o)) for o in self.engine.infer(batch)]

    async def _one_by_one(self, items: list[tuple[Entry, Tensors]]) -> list[tuple[Entry, bytes]]:
        out: list[tuple[Entry, bytes]] = []
        for item in items:
            out += await self.run([item])
        return out

    async def ack(self, replies: list[tuple[Entry, bytes]]) -> None:
        """Publish + ack, retried while Redis is unreachable (up to ``ack_retry_s``)."""
        if not replies:
            return
        retrying = on_clock(
            self.clock,
            wait=wait_fixed(0.2),
            stop=stop_after_clock(self.clock, self.settings.ack_retry_s),
            retry=retry_if_exception_type(REDIS_DOWN),
        )
        try:
            flags: list[bool] = await retrying(self.queue.ack, self.cfg.name, self.consumer, replies)
        except RetryError as err:
            exc = err.last_attempt.exception()
            log.error("giving up on %d replies: %s (they will be reclaimed)", len(replies), exc)
            flags = [False] * len(replies)
        for (e, _), ok in zip(replies, flags, strict=True):
            self.inflight.pop(e.entry_id, None)
            if not ok:
                log.info("entry %s was reclaimed by another worker: its reply is theirs", e.entry_id)
