"""A real Prometheus scrapes a running router, worker and controller under load; every
dashboard panel query and every rule expression is evaluated against it.

The stack: redis-server, `forescale router`, one `forescale worker` (echo engine) for
model `chat`, and `forescale controller --provider local` (it starts worker processes
of its own for the policy below) with Prometheus signals; its spot pool reports
insufficient capacity, so the fallback to on-demand shows in errors and alerts. Model `slow` has no worker and
a queue of 2, so its requests end in 429 and 504: error panels and the burn-rate rules
get data too. Queries that cannot have data in such a short healthy run are listed in
EXPECTED_EMPTY with the reason; the test also fails when one of them starts returning
data, so the list stays true.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from forescale.controller.store import Store
from forescale.core.model import PolicySpec, PoolSpec
from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.prometheus_server import PrometheusServer
from forescale.devstack.redis_server import RedisServer, require
from forescale.observability import dashboards
from forescale.observability.grafana import panel_queries, substitute
from forescale.queue import registry
from forescale.queue.config import ModelConfig

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yaml"))
LOAD_S = 12.0

NO_FORECAST = "no forecast is published in this run"
NO_LLM = "this run serves the echo engine; the llm metrics are checked against the worker in tests/serving"
EXPECTED_EMPTY = {
    # panel title or rule name -> why it has no data in this run
    "Forecast quantiles against actual demand": None,  # has data: the actual-demand query
    "Forecast age": NO_FORECAST,
    "model:forescale_prescale_excess_replicas:max": NO_FORECAST,
    "Firing forescale alerts": None,  # has data: 0 (`or vector(0)`), no alert fires this soon
    "Time to first token / inter-token latency p99": NO_LLM,
    "Generated tokens/s": NO_LLM,
    "KV cache usage and preemptions": NO_LLM,
    "model:forescale_llm_time_to_first_token_seconds:p99_5m": NO_LLM,
    "model:forescale_llm_inter_token_latency_seconds:p99_5m": NO_LLM,
    "model:forescale_llm_kv_cache_usage_ratio:avg": NO_LLM,
    "model:forescale_llm_preemptions:rate5m": NO_LLM,
    "annotation Spot interruptions": "no spot node gets an interruption notice in this run",
    "annotation Fallbacks (insufficient capacity)": "no pool runs out of capacity in this run",
}


def run(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: the controller's worker processes are stopped with it (killpg by its id).
    return subprocess.Popen(
        [sys.executable, "-m", "forescale.cli", *args], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.2)


# One reserved node, then spot (which reports insufficient capacity), then on-demand.
POOLS = (
    PoolSpec(name="res", capacity_type="reserved", price_per_node_hour=3, max_nodes=1, reservation_nodes=1,
             lead_time_s=2),
    PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1, max_nodes=2, lead_time_s=2),
    PoolSpec(name="od", capacity_type="on-demand", price_per_node_hour=4, max_nodes=2, lead_time_s=2),
)  # fmt: skip
POLICY = PolicySpec(
    model="chat",
    target_rps_per_replica=5,
    min_replicas=1,
    max_replicas=2,
    stable_window_s=10,
    panic_window_s=2,
)


async def configure(redis_url: str) -> None:
    """Models, pools and the policy, written the way `forescale models add` and the
    admin API write them (their libraries, not their CLIs, which are other tests' job)."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        await registry.add(r, ModelConfig(name="chat", engine="echo"))
        await registry.add(r, ModelConfig(name="slow", engine="echo", queue_limit=2))
        store = Store(r)
        for pool in POOLS:
            await store.pools.put(pool)
        await store.policies.put(POLICY)
    finally:
        await r.aclose()


async def load(router: str, seconds: float) -> dict[int, int]:
    """~25 req/s to `chat` and ~5 req/s to `slow` (which cannot answer in time)."""
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}]}
    codes: dict[int, int] = {}

    async def one(session: aiohttp.ClientSession, model: str) -> None:
        headers = {"X-Request-Timeout": "0.3"} if model == "slow" else {}
        async with session.post(f"{router}/v2/models/{model}/infer", json=body, headers=headers) as r:
            codes[r.status] = codes.get(r.status, 0) + 1

    async with aiohttp.ClientSession() as session:
        tasks = []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            tasks.append(asyncio.create_task(one(session, "slow" if i % 6 == 0 else "chat")))
            i += 1
            await asyncio.sleep(1 / 30)
        await asyncio.gather(*tasks)
    return codes


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    procs: list[subprocess.Popen[bytes]] = []
    with RedisServer() as redis_server:
        env = {**os.environ, "FORESCALE_REDIS_URL": redis_server.url, "FORESCALE_LOG_LEVEL": "WARNING"}
        asyncio.run(configure(redis_server.url))
        ports = {"router": free_port(), "worker": free_port(), "controller": free_port()}
        targets = {job: [f"127.0.0.1:{port}"] for job, port in ports.items()}
        with PrometheusServer(targets=targets, scrape_interval_s=1.0, rule_files=RULES) as prom:
            try:
                procs.append(run("router", "--port", str(ports["router"]), env=env))
                procs.append(run("worker", "--model", "chat", "--port", str(ports["worker"]), env=env))
                controller_env = {
                    **env,
                    "FORESCALE_CONTROLLER_PROMETHEUS_URL": prom.url,
                    "FORESCALE_CONTROLLER_METRICS_PORT": str(ports["controller"]),
                    "FORESCALE_LOCAL_UNAVAILABLE_POOLS": "spot-a",
                    "FORESCALE_API_PORT": "0",
                }
                args = ("controller", "--provider", "local", "--interval", "1", "--signals", "prometheus")
                procs.append(run(*args, env=controller_env))
                router = f"http://127.0.0.1:{ports['router']}"
                wait_http(f"{router}/v2/health/ready")
                wait_http(f"http://127.0.0.1:{ports['worker']}/healthz")
                wait_port(ports["controller"], 60)
                codes = asyncio.run(load(router, LOAD_S))
                time.sleep(3)  # two more scrapes and rule evaluations after the load
                yield {"prom": prom, "codes": codes, "ports": ports}
            finally:
                for proc in reversed(procs):
                    stop(proc)


def query(prom: PrometheusServer, expr: str) -> dict[str, Any]:
    url = f"{prom.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return dict(json.load(r))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))


def has_data(answer: dict[str, Any]) -> bool:
    result = answer["data"]["result"]
    return bool(result) if isinstance(result, list) else True  # scalars always have a value


def test_load_reached_every_outcome(stack: dict[str, Any]) -> None:
    codes = stack["codes"]
    assert codes.get(200, 0) > 100
    assert codes.get(429, 0) > 0 and codes.get(504, 0) > 0, codes


def test_every_dashboard_panel_query(stack: dict[str, Any]) -> None:
    """Valid PromQL, and data wherever this run can have data (per panel, any query)."""
    panels: dict[str, bool] = {}
    errors = []
    for make in dashboards.DASHBOARDS.values():
        for title, expr in panel_queries(make()):
            answer = query(stack["prom"], substitute(expr))
            if answer["status"] != "success":
                errors.append(f"{title}: {answer.get('error')}")
                continue
            panels[title] = panels.get(title, False) or has_data(answer)
    assert errors == []
    empty = {t for t, data in panels.items() if not data}
    expected = {t for t, why in EXPECTED_EMPTY.items() if why and t in panels}
    assert empty == expected, f"unexpectedly empty: {empty - expected}; now with data: {expected - empty}"


def rules() -> list[dict[str, Any]]:
    return [r for path in RULES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def test_every_rule_expression(stack: dict[str, Any]) -> None:
    errors, empty = [], set()
    for rule in rules():
        answer = query(stack["prom"], rule["expr"])
        if answer["status"] != "success":
            errors.append(f"{rule.get('record') or rule.get('alert')}: {answer.get('error')}")
        elif "record" in rule and not has_data(answer):
            empty.add(rule["record"])
    assert errors == []
    expected = {name for name, why in EXPECTED_EMPTY.items() if why and ":" in name}
    assert empty == expected, f"unexpectedly empty: {empty - expected}; now with data: {expected - empty}"


def test_prometheus_evaluates_the_rules_without_errors(stack: dict[str, Any]) -> None:
    with urllib.request.urlopen(f"{stack['prom'].url}/api/v1/rules", timeout=10) as r:
        groups = json.load(r)["data"]["groups"]
    health = {
        rule["name"]: (rule["health"], rule.get("lastError", "")) for g in groups for rule in g["rules"]
    }
    assert len(health) == len(rules())
    assert {name: h for name, h in health.items() if h[0] != "ok"} == {}
    burn = query(stack["prom"], 'model:forescale_slo_errors:ratio_rate5m{model="slow"}')
    assert float(burn["data"]["result"][0]["value"][1]) > 0.5  # `slow` fails most of its requests


@pytest.mark.parametrize("job", ["router", "worker", "controller"])
def test_promtool_check_metrics_on_live_exposition(stack: dict[str, Any], job: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['ports'][job]}/metrics", timeout=10) as r:
        text = r.read()
    assert b"forescale_" in text
    result = subprocess.run(
        [require("promtool", "prometheus"), "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
