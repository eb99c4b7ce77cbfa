"""The interim ``forescale demo``: serves real requests, stops everything, exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SCRIPT = "import sys; from forescale.demo.interim import run_demo; sys.exit(run_demo({n}, 4))"


def test_demo_serves_requests_and_exits_0() -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(n=20)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "status {200: 20}" in res.stdout
    assert "latency p50" in res.stdout and "stopped router, worker and redis-server" in res.stdout


def test_demo_stops_everything_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(n=5000)], stdout=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal would give it
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready" in line:
            break
    time.sleep(0.5)
    import os

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
    out = proc.stdout.read()
    assert proc.wait(60) == 0
    assert "stopped router, worker and redis-server" in out
