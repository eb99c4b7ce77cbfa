"""A real ``redis-server`` child process with AOF persistence (DESIGN.md queue settings)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from forescale.devstack.ports import free_port, wait_port


def redis_errors() -> type[Exception]:
    import redis

    return redis.RedisError


class ServiceMissing(RuntimeError):
    """A required executable is not installed; the message says how to install it."""


def require(executable: str, package: str) -> str:
    path = shutil.which(executable)
    if path is None:
        raise ServiceMissing(
            f"{executable} not found: install it with `apt-get install {package}` "
            "(make test and make demo do this when run as root)"
        )
    return path


class RedisServer:
    """Start, kill -9 and restart one redis-server on a fixed port and data dir.

    The data dir outlives restarts so that an AOF reload can be tested for real.
    """

    def __init__(self, port: int | None = None, data_dir: Path | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.port = port or free_port()
        self.extra_args = extra_args
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="fs-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.executable = require("redis-server", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        args = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--protected-mode", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        # Its own session: a terminal's Ctrl-C reaches the demo, which then stops Redis in order.
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            wait_port(self.port, timeout_s)
            self._wait_loaded(timeout_s)
        except (OSError, TimeoutError, redis_errors()) as exc:
            raise RuntimeError(f"redis-server on port {self.port} did not start: {self._log_tail()}") from exc
        return self

    def _log_tail(self) -> str:
        """The last lines of its log: why it exited (port taken, bad option, ...)."""
        log = self.data_dir / "redis.log"
        lines = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        return " | ".join(lines) or "(no log)"

    def _wait_loaded(self, timeout_s: float) -> None:
        """After an AOF reload Redis answers LOADING for a while; wait for PING."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.BusyLoadingError, redis.ConnectionError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, exactly what a crash looks like."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
