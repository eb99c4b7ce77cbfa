"""The demo's child processes: each in its own session (process group), all marked.

Each service starts with ``start_new_session=True`` so that ``stop()`` can signal its
whole group (a CLI and anything it forks) and so that a Ctrl-C in the terminal reaches
the demo alone, which then stops everything in order. Every child's environment carries
``FORESCALE_DEMO_RUN=<run id>``; worker processes started by the controller inherit it,
so ``sweep()`` finds anything of this run still alive (e.g. after the controller was
killed) by that id, and by nothing broader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
MARKER = "FORESCALE_DEMO_RUN"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Children:
    run_id: str
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        out = (self.log_dir / f"{name}.log").open("wb")
        full_env = {**os.environ, **env, MARKER: self.run_id}
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
        out.close()
        child = Child(name, proc, self.log_dir / f"{name}.log")
        self.children.append(child)
        return child

    def failed(self) -> Child | None:
        """A child that exited on its own (the demo cannot go on without it)."""
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM each group, newest first; SIGKILL what is left after ``grace_s``."""
        for child in reversed(self.children):
            _signal_group(child.proc, signal.SIGTERM)
            _wait(child.proc, grace_s)
            _signal_group(child.proc, signal.SIGKILL)
            _wait(child.proc, 5)
        self.children = []
        sweep(self.run_id)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # its own session: pgid == pid


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout_s)


def marked(run_id: str) -> list[int]:
    """Pids of live processes whose environment says they belong to run ``run_id``."""
    needle = f"{MARKER}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in env.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep(run_id: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of this run still alive; returns their pids."""
    pids = marked(run_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while marked(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in marked(run_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if pids:
        log.info("swept %d leftover processes of run %s", len(pids), run_id)
    return pids
