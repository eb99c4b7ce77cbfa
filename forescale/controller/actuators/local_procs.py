"""Worker processes of the local provider: spawn, SIGTERM (drain), SIGKILL after a grace.

A worker's stderr goes to a file of its own, so a worker that exits on its own (a model
that does not load, a bad option) has its reason logged: exit code and the last lines
it wrote. Such a worker is restarted with an exponential backoff per (model, pool),
1 s doubling to ``MAX_BACKOFF_S``; a worker that ran for ``HEALTHY_S`` before exiting
resets it. Without this, a worker that cannot start was restarted every tick forever
with nothing in the log (issues 15 and 16).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
HEALTHY_S = 60.0  # a worker that lived this long was not failing to start
TAIL_BYTES = 2000


@dataclass(eq=False)
class WorkerProc:
    model: str
    pool: str
    node_id: int
    proc: asyncio.subprocess.Process
    started_at: float
    stderr: Path | None = None
    term_at: float | None = None  # wall time SIGTERM was sent

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None


@dataclass
class Failing:
    """Consecutive failures of one (model, pool)'s workers, and when the next may start."""

    count: int = 0
    next_at: float = 0.0


def tail(path: Path | None, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``path`` as text, its last few lines joined by ' | '."""
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-5:])


@dataclass
class ProcessTable:
    """Every worker this provider started; ``reap`` forgets the ones that exited."""

    command: str
    redis_url: str
    drain_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    procs: list[WorkerProc] = field(default_factory=list)
    failing: dict[tuple[str, str], Failing] = field(default_factory=dict)
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="forescale-workers-")))

    def argv(self, model: str) -> list[str]:
        line = self.command.format(python=shlex.quote(sys.executable), model=shlex.quote(model))
        return shlex.split(line)

    def may_start(self, model: str, pool: str, wall_now: float) -> bool:
        f = self.failing.get((model, pool))
        return f is None or wall_now >= f.next_at

    async def spawn(self, model: str, pool: str, node_id: int, wall_now: float) -> WorkerProc:
        env = {**os.environ, "FORESCALE_REDIS_URL": self.redis_url, "FORESCALE_WORKER_PORT": "0", **self.env}
        self.logdir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{model}-{pool}-", suffix=".stderr", dir=self.logdir)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(model),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=fd,
                env=env,
                start_new_session=True,  # a Ctrl-C to the controller is not a Ctrl-C to its workers
            )
        finally:
            os.close(fd)
        w = WorkerProc(model, pool, node_id, proc, wall_now, Path(name))
        self.procs.append(w)
        log.info("started worker %s/%s pid %d on node %d", model, pool, proc.pid, node_id)
        return w

    def terminate(self, w: WorkerProc, wall_now: float) -> None:
        """SIGTERM: the worker drains (finishes its batch, acks) and exits."""
        if w.alive and w.term_at is None:
            w.proc.send_signal(signal.SIGTERM)
            w.term_at = wall_now

    def reap(self, wall_now: float) -> None:
        """Forget exited workers (logging why those we did not stop exited); SIGKILL those
        that outstayed the drain timeout."""
        for w in self.procs:
            if w.alive and w.term_at is not None and wall_now - w.term_at > self.drain_timeout_s:
                w.proc.kill()
        for w in self.procs:
            if not w.alive:
                self._exited(w, wall_now)
        self.procs = [w for w in self.procs if w.alive]

    def _exited(self, w: WorkerProc, wall_now: float) -> None:
        key = (w.model, w.pool)
        if w.term_at is None:  # it exited on its own
            f = self.failing.setdefault(key, Failing())
            if wall_now - w.started_at >= HEALTHY_S:
                f.count = 0
            f.count += 1
            wait = min(MAX_BACKOFF_S, 2.0 ** (f.count - 1))
            f.next_at = wall_now + wait
            log.warning(
                "worker %s/%s pid %d exited with code %s after %.1f s (failure %d; next start in %.0f s): %s",
                w.model, w.pool, w.pid, w.proc.returncode, wall_now - w.started_at, f.count, wait,
                tail(w.stderr) or "no output on stderr",
            )  # fmt: skip
        elif key in self.failing and w.term_at - w.started_at >= HEALTHY_S:
            del self.failing[key]
        if w.stderr is not None:
            w.stderr.unlink(missing_ok=True)

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
        shutil.rmtree(self.logdir, ignore_errors=True)
