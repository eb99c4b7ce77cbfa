"""Start the demo's services: Redis (in-process handle), router, prescaler, controller.

Each service is the real CLI in its own process group (``procs.Children``); settings
travel as FORESCALE_* environment variables, exactly as an operator would set them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.store import Store
from forescale.devstack.ports import free_port
from forescale.prescaler.external import ExternalForecast
from forescale.prescaler.webhook import sign
from forescale.queue import heartbeat, registry
from forescale.stack.chat import ChatPlan, chat_config, chat_policy, chat_pools
from forescale.stack.procs import Children
from forescale.stack.scenario import MODEL, DemoPlan, model_config, policy, pools


class ServiceFailed(RuntimeError):
    """A service exited or did not come up; the message names it and its log."""


@dataclass
class Endpoints:
    router: str
    prescaler: str
    controller_metrics: str
    webhook_secret: str


async def configure(
    r: aioredis.Redis, plan: DemoPlan, chat: tuple[ChatPlan, dict[str, Any]] | None = None
) -> None:
    """The model in the registry; the policy and the pools in the controller's store;
    with ``chat`` (its plan, the llm engine's options with the weights pinned) the chat
    leg's as well."""
    await registry.add(r, model_config())
    store = Store(r)
    for pool in pools():
        await store.pools.put(pool)
    await store.policies.put(policy(plan))
    if chat is not None:
        await registry.add(r, chat_config(chat[1]))
        for pool in chat_pools():
            await store.pools.put(pool)
        await store.policies.put(chat_policy(policy(plan), chat[0]))


def start_services(children: Children, redis_url: str, plan: DemoPlan, model_dir: Path) -> Endpoints:
    """``model_dir``: where the workers the controller starts find model files (chat leg)."""
    py = sys.executable
    common = {
        "FORESCALE_REDIS_URL": redis_url,
        "FORESCALE_LOG_LEVEL": os.environ.get("FORESCALE_LOG_LEVEL", "INFO"),
    }
    rport, pport, mport = free_port(), free_port(), free_port()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    children.start("router", [py, "-m", "forescale.cli", "router", "--port", str(rport)], common)
    children.start(
        "prescaler",
        [py, "-m", "forescale.cli", "prescaler", "--port", str(pport)],
        {
            **common,
            "FORESCALE_PRESCALER_WEBHOOK_SECRET": secret,
            "FORESCALE_PRESCALER_FORECASTER": "seasonal-naive",
            "FORESCALE_PRESCALER_STEP_S": "2",
            "FORESCALE_PRESCALER_PUBLISH_EVERY_S": "2",
            "FORESCALE_PRESCALER_HISTORY_S": "600",
            "FORESCALE_PRESCALER_LEAD_TIME_S": "10",
        },
    )
    children.start(
        "controller",
        [py, "-m", "forescale.stack.controller_proc"],
        {
            **common,
            "FORESCALE_CONTROLLER_INTERVAL_S": f"{plan.interval_s:g}",
            "FORESCALE_CONTROLLER_METRICS_PORT": str(mport),
            "FORESCALE_CONTROLLER_LEASE_DURATION_S": "3",
            "FORESCALE_LOCAL_INTERRUPTION_NOTICE_S": f"{plan.notice_s:g}",
            "FORESCALE_LOCAL_DRAIN_TIMEOUT_S": "5",
            "FORESCALE_LOCAL_SPOT_INTERRUPTIONS_PER_HOUR": "0",
            "FORESCALE_WORKER_MODEL_DIR": str(model_dir.resolve()),  # workers inherit it
        },
    )
    base = "http://127.0.0.1"
    return Endpoints(f"{base}:{rport}", f"{base}:{pport}", f"{base}:{mport}/metrics", secret)


async def wait_http(children: Children, url: str, stop: asyncio.Event, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while not stop.is_set():
            check(children)
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServiceFailed(f"nothing answers at {url} after {timeout_s:g}s")
            await asyncio.sleep(0.2)


async def wait_ready(
    children: Children,
    r: aioredis.Redis,
    want: int,
    stop: asyncio.Event,
    timeout_s: float = 90,
    model: str = MODEL,
) -> float:
    """Wait until ``want`` workers are ready; returns the seconds since the first decision."""
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        check(children)
        if (await heartbeat.live(r, model, time.time())).count("ready") >= want:
            first = await r.lindex(keys.decisions(model), -1)  # type: ignore[misc]
            return time.time() - json.loads(first)["at"] if first else 0.0
        if time.monotonic() > deadline:
            raise ServiceFailed(
                f"{want} {model} replicas not ready after {timeout_s:g}s (see logs/controller.log)"
            )
        await asyncio.sleep(0.2)
    return 0.0


def check(children: Children) -> None:
    """``ServiceFailed`` naming the first service that exited, with its log's last lines."""
    dead = children.failed()
    if dead is not None:
        tail = dead.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise ServiceFailed(
            f"{dead.name} exited ({dead.proc.returncode}): {' | '.join(tail)} ({dead.log_path})"
        )


async def announce(url: str, secret: str, forecast: ExternalForecast) -> int:
    """POST the event to the prescaler's webhook, signed with Standard Webhooks."""
    body = forecast.model_dump_json(exclude_none=True).encode()
    msg_id, now = f"msg_{uuid.uuid4().hex}", time.time()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": sign(secret, msg_id, now, body),
        "content-type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/forecasts", data=body, headers=headers) as resp,
    ):
        return resp.status
