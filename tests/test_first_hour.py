"""The first hour with forescale, end to end: the README's commands, in the README's
order, in a scratch folder, each as a real `forescale` process.

The commands are read from README.md's command block, so the README cannot drift from the
product: a command renamed or an option dropped there fails here. Placeholders are filled
in as a new user would (T: a small synthetic trace, S: a bundled scenario, DIR: a folder).
Each command must exit 0 and print what the README and `--help` promise.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.devstack.ports import free_port
from forescale.traces.synthetic import Workload, synthetic_trace

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)
TOKEN = "first-hour-secret"


def readme_commands() -> dict[str, str]:
    """``{"simulate": "forescale simulate --trace T ...", ...}`` from the README's block,
    keyed by the subcommand (and its action: ``policy apply``), comments dropped."""
    text = (REPO / "README.md").read_text()
    out: dict[str, str] = {}
    fenced = False
    for line in text.splitlines():
        fenced = fenced != line.startswith("```")
        if not fenced or not line.startswith("forescale "):
            continue
        command = line.split("#")[0].strip()
        words = command.split()
        key = " ".join(words[1:3]) if words[1] in ("policy", "models", "pool") else words[1]
        out.setdefault(key, command)
    return out


def write_trace(path: Path, days: float) -> Path:
    """A rate trace (one row a minute) of the built-in synthetic workload."""
    rates = synthetic_trace(days * 86_400, Workload(mean_rps=20), seed=7).rate_series(60.0)
    rows = (f"{rates.start + i * 60:.0f},{v:.3f}" for i, v in enumerate(rates.values))
    path.write_text("timestamp,rps\n" + "\n".join(rows) + "\n")
    return path


class Shell:
    """Runs README commands as a user would, in ``cwd`` with ``env``."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env

    def argv(self, command: str, **fill: str) -> list[str]:
        words = shlex.split(command)
        assert words[0] == "forescale"
        return [sys.executable, "-m", "forescale.cli", *(fill.get(w, w) for w in words[1:])]

    def run(self, command: str, *extra: str, expect: int = 0, **fill: str) -> str:
        done = subprocess.run(
            [*self.argv(command, **fill), *extra],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert done.returncode == expect, f"{command}: exit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout


@pytest.fixture
def shell(tmp_path: Path, redis_url: str) -> Iterator[Shell]:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "policy.yaml", tmp_path / "examples" / "policy.yaml")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "FORESCALE_REDIS_URL": redis_url,
        "FORESCALE_API_TOKENS": f"write:{TOKEN}",  # the controller's side
        "FORESCALE_API_URL": f"http://127.0.0.1:{port}",  # the CLI's side
        "FORESCALE_API_TOKEN": TOKEN,
        "FORESCALE_API_PORT": str(port),
        "FORESCALE_CONTROLLER_METRICS_PORT": "0",
        "FORESCALE_CONTROLLER_INTERVAL_S": "1",
        "FORESCALE_LOG_LEVEL": "WARNING",
    }
    yield Shell(tmp_path, env)


def wait_for_api(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:  # waits for a real process to listen; not a timing assertion
        try:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=2):
                return
        except urllib.error.HTTPError:  # an answer, even a refusal: it listens
            return
        except OSError:
            assert proc.poll() is None, "the controller exited"
            assert time.monotonic() < deadline, "the admin API never answered"
            time.sleep(0.2)


def test_the_readme_commands_in_order(shell: Shell, tmp_path: Path) -> None:
    cmd = readme_commands()
    for key in ("models add", "controller", "policy apply", "policy diff", "policy get", "status",
                "simulate", "backtest"):  # fmt: skip
        assert key in cmd, f"README.md no longer shows `forescale {key}`"

    # The simulator on a small synthetic trace and a bundled scenario.
    trace = write_trace(tmp_path / "trace.csv", days=2 / 24)
    scenario = str(REPO / "forescale/sim/scenarios/azure-conv.yaml")
    out = shell.run(cmd["simulate"], T=str(trace), S=scenario, DIR="sim-out")
    words = shlex.split(cmd["simulate"])
    policies = words[words.index("--policies") + 1].split(",")  # the ones the README names
    head, *rows = out.splitlines()
    assert head.split()[:3] == ["policy", "SLO", "attainment"]
    assert [r.split()[0] for r in rows[: len(policies)]] == policies
    assert rows[-1] == "wrote sim-out/results.json and sim-out/report.html"
    results = json.loads((tmp_path / "sim-out" / "results.json").read_text())
    assert list(results["policies"]) == policies
    assert (tmp_path / "sim-out" / "report.html").stat().st_size > 1000

    # The forecaster's backtest: more than the one day of warm-up it needs.
    long_trace = write_trace(tmp_path / "longer.csv", days=1.2)
    out = shell.run(cmd["backtest"], T=str(long_trace))
    summary = json.loads(out.splitlines()[-1])
    assert set(summary) == {"pinball_loss", "seasonal_naive_pinball_loss", "ratio", "coverage", "points"}
    assert summary["points"] > 0 and 0 <= summary["coverage"] <= 1

    # Register the model, start the controller with the local provider, manage policies.
    registered = json.loads(shell.run(cmd["models add"]))
    assert registered["name"] == "chat"
    controller = cmd["controller"].replace("local|kubernetes", "local")
    proc = subprocess.Popen(shell.argv(controller), cwd=tmp_path, env=shell.env, start_new_session=True)
    try:
        wait_for_api(shell.env["FORESCALE_API_URL"], proc)
        out = shell.run(cmd["policy apply"])
        assert out.splitlines() == [
            "pool/reserved-a created", "pool/spot-a created", "pool/spot-b created",
            "pool/on-demand created", "policy/chat created",
        ]  # fmt: skip
        assert shell.run(cmd["policy diff"]) == ""  # exit 0: nothing would change
        table = shell.run(cmd["policy get"]).splitlines()
        assert table[0].split()[:2] == ["NAME", "POLICY"] and table[1].split()[:2] == ["chat", "forescale"]
        deadline = time.monotonic() + 30
        while True:  # the first tick after the policy appeared; not a timing assertion
            status = shell.run(cmd["status"]).splitlines()
            if len(status) > 1 and status[1].split()[2] != "<none>":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        assert status[0].split()[:5] == ["MODEL", "MODE", "DESIRED", "CURRENT", "READY"]
        assert status[1].split()[0] == "chat" and int(status[1].split()[2]) >= 2  # min_replicas 2
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
