"""Worker processes of the local provider: spawn, SIGTERM (drain), SIGKILL after a grace."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import sys
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(eq=False)
class WorkerProc:
    model: str
    pool: str
    node_id: int
    proc: asyncio.subprocess.Process
    started_at: float
    term_at: float | None = None  # wall time SIGTERM was sent

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None


@dataclass
class ProcessTable:
    """Every worker this provider started; ``reap`` forgets the ones that exited."""

    command: str
    redis_url: str
    drain_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    procs: list[WorkerProc] = field(default_factory=list)

    def argv(self, model: str) -> list[str]:
        line = self.command.format(python=shlex.quote(sys.executable), model=shlex.quote(model))
        return shlex.split(line)

    async def spawn(self, model: str, pool: str, node_id: int, wall_now: float) -> WorkerProc:
        env = {**os.environ, "FORESCALE_REDIS_URL": self.redis_url, "FORESCALE_WORKER_PORT": "0", **self.env}
        proc = await asyncio.create_subprocess_exec(
            *self.argv(model),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C to the controller is not a Ctrl-C to its workers
        )
        w = WorkerProc(model, pool, node_id, proc, wall_now)
        self.procs.append(w)
        log.info("started worker %s/%s pid %d on node %d", model, pool, proc.pid, node_id)
        return w

    def terminate(self, w: WorkerProc, wall_now: float) -> None:
        """SIGTERM: the worker drains (finishes its batch, acks) and exits."""
        if w.alive and w.term_at is None:
            w.proc.send_signal(signal.SIGTERM)
            w.term_at = wall_now

    def reap(self, wall_now: float) -> None:
        """Forget exited workers; SIGKILL those that outstayed the drain timeout."""
        for w in self.procs:
            if w.alive and w.term_at is not None and wall_now - w.term_at > self.drain_timeout_s:
                w.proc.kill()
        self.procs = [w for w in self.procs if w.alive]

    def of(self, model: str, pool: str) -> list[WorkerProc]:
        return [w for w in self.procs if w.model == model and w.pool == pool and w.alive]

    async def stop_all(self, wall_now: float) -> None:
        for w in self.procs:
            self.terminate(w, wall_now)
        for w in self.procs:
            try:
                await asyncio.wait_for(w.proc.wait(), self.drain_timeout_s)
            except TimeoutError:
                w.proc.kill()
                await w.proc.wait()
        self.procs = []
