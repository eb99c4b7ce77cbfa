"""The worker loop for generative (``llm``) models: continuous batching over the queue.

Each iteration runs one engine step (in a thread) while the next entries are read, then
publishes the step for the whole batch in one script call (``queue/stream.py``): new
tokens to each waiting router, progress, ownership and cancel flags together. A
sequence whose entry is no longer ours, or whose client is gone, is dropped from the
engine at once (its KV blocks free within the step). An entry carrying progress from a
previous worker continues from prompt + the tokens already sent.

Drain (SIGTERM): stop reading; run what can finish before the grace period ends; hand
every other sequence over (a fresh copy of its entry, progress kept) and exit. If Redis
fails while publishing, the step's sequences are dropped locally: their entries stay
pending and are continued, from their recorded progress, once reclaimed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from forescale.queue.protocol import Entry
from forescale.queue.stream import CANCELLED, DONE, GenRequest, Item, Progress, StreamQueue, error_message
from forescale.worker.engines import BadInput
from forescale.worker.engines.llm import LLMEngine, SamplingParams, StepOutput
from forescale.worker.generate_metrics import GenMetrics
from forescale.worker.loop import REDIS_DOWN, Worker

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Active:
    entry: Entry
    req: GenRequest
    progress: Progress
    last_t: float | None = None
    started: float = 0.0


@dataclass
class _Drain:
    until: float
    step_s: float = 0.0
    handed: set[str] = field(default_factory=set)


class GenerateWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.engine, LLMEngine):
            raise TypeError("the generation loop needs the llm engine")
        self.llm: LLMEngine = self.engine
        self.stream = StreamQueue(self.queue.fast, self.queue.reply_ttl_s)
        self.gm = GenMetrics(self.metrics.registry, self.cfg.name)
        self.active: dict[str, Active] = {}
        self.finals: list[Item] = []
        self.drain_state: _Drain | None = None
        self._preempt_seen = 0

    async def consume(self) -> None:
        """One engine step per iteration. Publishing step k overlaps with computing step
        k+1 (the Redis round trips are in flight while the engine runs); what the publish
        says to drop (cancelled, lost, past deadline) is dropped right after, so KV
        blocks free within a step or two."""
        loop = asyncio.get_running_loop()
        unsent: list[StepOutput] | None = None
        while True:
            if self.stopping.is_set() and self.drain_state is None:
                self.drain_state = _Drain(loop.time() + self.settings.drain_grace_s * 0.8)
            idle = not self.llm.scheduler.has_work()
            if unsent is not None and (idle or self.drain_state is not None):
                self._apply(await self._publish(unsent))
                unsent = None
                continue
            if self.drain_state is not None:
                await self._hand_over_late(loop.time())
                if not self.active and not self.finals:
                    return
            if not self.llm.scheduler.has_work():
                if self.finals:
                    self._apply(await self._publish([]))
                elif self.drain_state is None:
                    await self._admit(await self._read_new(self.settings.block_ms))
                continue
            t0 = loop.time()
            reading = asyncio.ensure_future(self._read_new(None) if self.drain_state is None else _nothing())
            publishing = asyncio.ensure_future(self._publish(unsent) if unsent is not None else _nothing())
            # Let both send their commands, then step on this thread while Redis answers:
            # in a second thread the step's Python code and the event loop fight over the
            # GIL (5 ms switch interval), which cost more than the overlap gained.
            for _ in range(3):
                await asyncio.sleep(0)
            try:
                outs = self.llm.step()
            finally:
                new, drops = await reading, await publishing
            dt = loop.time() - t0
            self.busy_s += dt
            if self.drain_state is not None:
                self.drain_state.step_s = max(self.drain_state.step_s * 0.8, dt)
            self._apply(drops)
            unsent = outs
            await self._admit(new)

    def _apply(self, drops: list[Entry]) -> None:
        for e in drops:
            self._drop(e)
        self._gauges()

    async def _read_new(self, block_ms: int | None) -> list[Entry]:
        got = [self.reclaimed.popleft() for _ in range(len(self.reclaimed))]
        room = self.llm.o.max_running * 2 - len(self.active) - len(got)
        if room <= 0 or self.stopping.is_set():
            return got
        try:
            new = await self.queue.read(self.cfg.name, self.consumer, min(room, self.cfg.max_batch),
                                        None if got else block_ms)  # fmt: skip
        except REDIS_DOWN as exc:
            log.warning("redis unavailable: %s", exc)
            await self.clock.sleep(0.2)
            return got
        for e in new:
            self.inflight[e.entry_id] = e
        return got + new

    async def _admit(self, entries: list[Entry]) -> None:
        if not entries:
            return
        try:
            progress = await self.stream.progress(self.cfg.name, [e.req_id for e in entries])
        except REDIS_DOWN:
            for e in entries:  # left pending: reclaimed and continued later
                self.inflight.pop(e.entry_id, None)
            return
        now = self.clock.now()
        for e, prog in zip(entries, progress, strict=True):
            if e.req_id in self.active:
                continue
            if e.deadline_ms <= now * 1000:
                self.finals.append(
                    Item(e, "f", message=error_message(504, "deadline passed before the request ran"))
                )
                continue
            try:
                req = GenRequest.loads(e.payload)
                params = SamplingParams(req.max_tokens, req.temperature, req.top_p, req.top_k, req.seed,
                                        req.stop, req.ignore_eos)  # fmt: skip
                prompt = self.llm.encode_prompt(req.prompt)
            except (BadInput, ValueError, TypeError) as exc:
                self.finals.append(Item(e, "f", message=error_message(400, str(exc))))
                continue
            prog = prog or Progress()
            self.llm.add(e.req_id, prompt, params, prog.tokens)
            self.active[e.req_id] = Active(e, req, prog, started=now)
            self.gm.prompt_tokens.inc(len(prompt))
            self.tokens.count(now, len(prompt))  # token throughput for the prescaler (queue/arrivals.py)

    def _item(self, o: StepOutput, now: float) -> Item | None:
        a = self.active.get(o.seq_id)
        if a is None:
            return None
        a.progress.tokens += o.tokens
        a.progress.n += 1
        msg: dict[str, object] = {
            "n": a.progress.n, "start": o.start, "tokens": o.tokens, "text_at": o.text_at, "text": o.text,
            "finish_reason": o.finish_reason,
        }  # fmt: skip
        if o.tokens:
            if a.last_t is None and o.start == 0:
                self.gm.ttft.observe(max(0.0, now - a.req.created))
            elif a.last_t is not None:
                for _ in o.tokens:
                    self.gm.itl.observe((now - a.last_t) / len(o.tokens))
            a.last_t = now
            self.gm.generated_tokens.inc(len(o.tokens))
            self.tokens.count(now, len(o.tokens))
        if o.finish_reason is None:
            return Item(a.entry, "c", a.progress.dumps(), orjson.dumps(msg))
        msg["usage"] = {"prompt_tokens": o.prompt_tokens, "completion_tokens": len(a.progress.tokens)}
        self.gm.e2e.observe(max(0.0, now - a.req.created))
        return Item(a.entry, "f", message=orjson.dumps(msg))

    async def _publish(self, outs: list[StepOutput]) -> list[Entry]:
        """Publish a step; the entries to drop from the engine (called while it may run)."""
        now = self.clock.now()
        items = [it for it in (self._item(o, now) for o in outs) if it is not None]
        seen = {o.seq_id for o in outs}
        for req_id, a in list(self.active.items()):
            if req_id in seen:
                continue
            if a.entry.deadline_ms <= now * 1000:
                items.append(
                    Item(a.entry, "f", message=error_message(504, "deadline passed during generation"))
                )
            else:
                items.append(Item(a.entry, "p"))
        items += self.finals
        self.finals = []
        try:
            res = await self.stream.step(self.cfg.name, self.consumer, items)
        except REDIS_DOWN as exc:
            log.warning("redis unavailable while publishing: dropping %d sequences (%s)", len(items), exc)
            res = [-1] * len(items)
        drops = []
        for it, r in zip(items, res, strict=True):
            if it.kind == "f" or r != DONE:
                if r == CANCELLED:
                    log.info("sequence %s cancelled by its client", it.entry.req_id)
                drops.append(it.entry)
        return drops

    def _drop(self, e: Entry) -> None:
        self.llm.abort(e.req_id)
        a = self.active.get(e.req_id)
        if a is not None and a.entry.entry_id == e.entry_id:
            del self.active[e.req_id]
        self.inflight.pop(e.entry_id, None)

    def _gauges(self) -> None:
        s = self.llm.scheduler
        self.gm.running.set(len(s.running))
        self.gm.waiting.set(len(s.waiting))
        self.gm.kv_usage.set(self.llm.kv_usage())
        new = s.preemptions - self._preempt_seen
        if new:
            self.gm.preemptions.inc(new)
        self._preempt_seen = s.preemptions

    async def _hand_over_late(self, now: float) -> None:
        """Hand over every sequence that cannot finish before the drain deadline."""
        d = self.drain_state
        assert d is not None
        left = d.until - now
        late = []
        for req_id, a in self.active.items():
            seq = next((s for s in self.llm.scheduler.running if s.seq_id == req_id), None)
            todo = a.req.max_tokens - len(a.progress.tokens) + (0 if seq else a.req.max_tokens)
            if seq is None or left <= 0 or todo * d.step_s > left:
                late.append(a.entry)
        if not late:
            return
        for e in late:
            self.llm.abort(e.req_id)
        try:
            moved = await self.stream.handover(self.cfg.name, self.consumer, [e.entry_id for e in late])
        except REDIS_DOWN as exc:
            log.warning("handover failed (%s): %d sequences left to the reaper", exc, len(late))
            moved = [""] * len(late)
        self.gm.handovers.inc(sum(1 for m in moved if m))
        for e in late:
            self._drop(e)
        self._gauges()


async def _nothing() -> list[Any]:
    return []
