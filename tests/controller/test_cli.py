"""Policy files (controller.policyfile) and `forescale controller --provider local` end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.cli import main
from forescale.cliutil import CliError
from forescale.controller.policyfile import load_policy_file
from forescale.controller.store import Store

GOOD = """\
pools:
  - name: od-a
    capacity_type: on-demand
    price_per_node_hour: 3
    max_nodes: 4
    lead_time_s: 1
policies:
  - model: m1
    target_rps_per_replica: 10
    min_replicas: 1
    pools: [od-a]
"""

BAD = """\
policies:
  - model: m1
    target_rps_per_replica: 10
  - model: m2
    target_rps_per_replica: -1
"""


def test_policy_file_with_pools_and_policies(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD)
    policies, pools = load_policy_file(f)
    assert [p.model for p in policies] == ["m1"] and [p.name for p in pools] == ["od-a"]
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"model": "m2", "target_rps_per_replica": 5}))
    assert [p.model for p in load_policy_file(single)[0]] == ["m2"]


def test_bad_file_names_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    with pytest.raises(CliError) as exc:
        load_policy_file(f)  # nothing is returned, so a caller writes nothing
    assert str(exc.value).startswith(f"{f}: line 5: policies[1].target_rps_per_replica")  # the field's line
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model: [unclosed", "not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("- 3\n", "policies[0].(entry)"),
        ("42", "expected a policy"),
        ("policies: []\nextra: 1\n", "unknown top-level keys ['extra']"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(CliError) as exc:
        load_policy_file(f)
    assert needle in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CliError) as exc:
        load_policy_file(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(exc.value)


def test_bad_controller_setting_is_one_line_exit_2(capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORESCALE_CONTROLLER_INTERVAL_S", "-1")  # environment, not our modules
    assert main(["controller"]) == 2
    assert "interval_s" in capsys.readouterr().err


async def test_controller_local_provider_runs_workers_and_stops_them(
    tmp_path: Path, redis_url: str, aredis: aioredis.Redis
) -> None:
    """The embedded default: policies from the file, replicas as real worker processes;
    SIGTERM stops the controller and its workers (none left behind)."""
    f = tmp_path / "p.yaml"
    f.write_text(GOOD)
    policies, pools = load_policy_file(f)
    store = Store(aredis)
    await store.pools.put(pools[0])
    await store.policies.put(policies[0])
    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_url, "FORESCALE_CONTROLLER_INTERVAL_S": "0.5",
           "FORESCALE_CONTROLLER_METRICS_PORT": "0", "FORESCALE_API_PORT": "0",
           "FORESCALE_LOG_LEVEL": "WARNING"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "forescale.cli", "controller",
                                                "--provider", "local", env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # waits for real processes; not a timing assertion
            workers = {k: json.loads(v) for k, v in (await aredis.hgetall(keys.workers("m1"))).items()}
            if any(w["state"] == "ready" for w in workers.values()):
                break
            assert time.monotonic() < deadline and proc.returncode is None
            await asyncio.sleep(0.2)
        decisions = await store.list_decisions("m1")
        assert decisions and decisions[-1].desired_replicas == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 40) == 0
    pids = [w["pid"] for w in workers.values()]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
