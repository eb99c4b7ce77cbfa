"""The demo end to end, as short as it goes: the JSON last line, and nothing left behind
after it ends or after SIGINT.

Every process of a run (Redis, router, prescaler, controller, the workers the controller
starts) inherits the demo's environment, so a tag put there finds any of them left alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

TAG = "FORESCALE_DEMO_TEST_TAG"
KEYS = {
    "replica_correlation",
    "slo_attainment_live",
    "slo_attainment_sim",
    "cost_live",
    "cost_sim",
    "hpa_karpenter_slo_attainment",
    "hpa_karpenter_cost",
    "chat_ttft_attainment",
    "chat_ttft_p50_s",
}


def tagged(tag: str, tmp: Path) -> list[int]:
    """Live processes of one demo run: by the tag in their environment, or (redis-server,
    which rewrites its environment and command line for its process title) by its working
    directory, the data dir it was given under ``tmp``."""
    needle, where = f"{TAG}={tag}".encode(), str(tmp)
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (needle in env.split(b"\0") or cwd.startswith(where)):
            pids.append(int(entry.name))
    return pids


def start_demo(tmp_path: Path, tag: str, minutes: str, *, new_session: bool = False) -> subprocess.Popen[str]:
    (tmp_path / "tmp").mkdir(exist_ok=True)  # Redis's data dir goes here (tempfile)
    env = {
        **os.environ,
        TAG: tag,
        "DEMO_MINUTES": minutes,
        "FORESCALE_LOG_LEVEL": "WARNING",
        "TMPDIR": str(tmp_path / "tmp"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "forescale.stack", "--out", str(tmp_path / "report")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=new_session,
    )  # fmt: skip


@pytest.mark.timeout(300)
def test_short_demo_prints_fidelity_json_last_and_leaves_nothing(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    proc = start_demo(tmp_path, tag, "0.5")  # the shortest day: 24 s of load
    out, err = proc.communicate(timeout=280)
    assert proc.returncode == 0, err[-2000:]
    last = json.loads(out.strip().splitlines()[-1])
    assert set(last) >= KEYS
    assert 0.0 <= last["slo_attainment_live"] <= 1.0 and 0.0 <= last["slo_attainment_sim"] <= 1.0
    assert last["cost_live"] > 0 and last["cost_sim"] > 0
    # hpa-karpenter replayed on the same demand, beside the live run and its replay.
    assert 0.0 <= last["hpa_karpenter_slo_attainment"] <= 1.0 and last["hpa_karpenter_cost"] > 0
    # The chat leg streamed through the llm engine: TTFT measured for answered requests.
    assert last["chat_requests"] >= 3 and last["chat_ok"] >= 1
    assert last["chat_ttft_p50_s"] > 0 and last["chat_tpot_p50_s"] > 0 and last["chat_output_tokens"] > 0
    assert 0.0 <= last["chat_ttft_attainment"] <= 1.0
    for name in ("report.html", "demand.png", "latency.png", "cost.png", "timeline.json", "replicas.png",
                 "ttft.png", "chat.csv"):  # fmt: skip
        assert (tmp_path / "report" / name).stat().st_size > 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert "hpa-karpenter, simulated" in page and "TTFT against its SLO" in page
    assert tagged(tag, tmp_path / "tmp") == []


@pytest.mark.timeout(200)
@pytest.mark.parametrize(
    ("sig", "after", "whole_group"),
    [
        # Ctrl-C in a terminal: SIGINT to the whole foreground group, Redis included,
        # while the load runs (workers exist by then).
        (signal.SIGINT, "announced", True),
        # SIGTERM to the demo alone while it waits for the first replicas.
        (signal.SIGTERM, "services up", False),
    ],
)
def test_a_signal_stops_every_process(
    tmp_path: Path, sig: signal.Signals, after: str, whole_group: bool
) -> None:
    tag = uuid.uuid4().hex
    proc = start_demo(tmp_path, tag, "3", new_session=whole_group)
    assert proc.stdout is not None
    for text in proc.stdout:
        if after in text:
            break
    else:
        pytest.fail(f"demo ended before {after!r}: {proc.stderr.read() if proc.stderr else ''}")
    time.sleep(3)
    assert len(tagged(tag, tmp_path / "tmp")) >= 5  # demo, redis, router, prescaler, controller (+ workers)
    if whole_group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert tagged(tag, tmp_path / "tmp") == []
