"""Wiring of ``forescale controller``: settings -> store, signals, actuator, lease, loop.

Settings are read once, by the entry point (``controller/cli.py``, the demo's
``stack/controller_proc.py``), and passed in: nothing here reads the environment.
Redis is one server (``redis://``) or a Cluster (``redis+cluster://``, via
``queue.client.connect``); every key a model has shares its slot and nothing here runs a
script or transaction across slots (docs/designs/redis-keys-and-cluster.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from prometheus_client import REGISTRY, CollectorRegistry

from forescale.controller.api.settings import ApiSettings
from forescale.controller.leader import LeaderElector, Lease, RedisLease
from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.settings import ControllerSettings, KubeSettings, LocalSettings
from forescale.controller.signals.direct import DirectSource
from forescale.controller.signals.prometheus import PrometheusSource
from forescale.controller.store import Store
from forescale.core.clock import Clock, SystemClock
from forescale.core.ports import MetricsSource, NodePoolProvider, ReplicaSetter
from forescale.queue.client import connect

log = logging.getLogger(__name__)
LeadTime = Literal["node", "replica"]
# Short control-plane commands and a per-tick pipeline over every model: a Redis that stops
# answering fails the tick within this (the next one retries) instead of hanging it.
REDIS_TIMEOUT_S = 5.0


@dataclass
class Parts:
    nodes: NodePoolProvider
    replicas: ReplicaSetter
    lease: Lease


Extra = Callable[[Parts, aioredis.Redis, Clock, asyncio.Event], Awaitable[None]]


async def kube_client(s: KubeSettings):  # type: ignore[no-untyped-def]
    """An ApiClient: explicit host (tests), else in-cluster, else the kubeconfig."""
    from kubernetes_asyncio import client, config

    if s.host:
        return client.ApiClient(client.Configuration(host=s.host))
    try:
        config.load_incluster_config()
    except config.ConfigException:
        await config.load_kube_config(config_file=s.kubeconfig or None)
    return client.ApiClient()


@dataclass(frozen=True)
class Wiring:
    """The settings besides ``ControllerSettings`` that the entry point read: ``kube`` is
    needed by the kubernetes provider, ``local`` by the local one, ``api`` by the admin API."""

    kube: KubeSettings | None = None
    local: LocalSettings | None = None
    api: ApiSettings | None = None

    def need(self, name: Literal["kube", "local", "api"]) -> Any:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"the controller's entry point must read and pass {name} settings")
        return value


@asynccontextmanager
async def _actuator(
    settings: ControllerSettings, wiring: Wiring, redis: aioredis.Redis, clock: Clock,
    lead_time: LeadTime = "node",
) -> AsyncIterator[Parts]:  # fmt: skip
    if settings.provider == "kubernetes":
        from forescale.controller.actuators.kube_lease import KubeLease
        from forescale.controller.actuators.kube_world import KubeWorld, store_policies
        from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas

        ks: KubeSettings = wiring.need("kube")
        api = await kube_client(ks)
        async with api:
            lease = KubeLease(api, ks.namespace, ks.lease_name, settings.lease_duration_s)
            world = KubeWorld(api, ks, clock, policies=store_policies(Store(redis)))  # one set of caches
            try:
                yield Parts(KubeNodes(api, ks, clock, world), KubeReplicas(api, ks, clock, world), lease)
            finally:
                await world.close()
        return
    from forescale.controller.actuators.local import LocalProvider

    local = LocalProvider(redis, settings.redis_url, wiring.need("local"), clock, lead_time=lead_time)
    local.start()
    try:
        yield Parts(local, local, RedisLease(redis, settings.lease_duration_s))
    finally:
        await local.close()


def _source(settings: ControllerSettings, redis: aioredis.Redis) -> MetricsSource:
    if settings.signals == "prometheus":
        return PrometheusSource(
            settings.prometheus_url, settings.prometheus_timeout_s, settings.prometheus_min_range_s
        )
    return DirectSource(redis)


async def serve(
    settings: ControllerSettings,
    stop: asyncio.Event,
    clock: Clock | None = None,
    api_port: int | None = None,
    *,
    wiring: Wiring,
    registry: CollectorRegistry = REGISTRY,
    lead_time: LeadTime = "node",
    api: bool = True,
    extra: Extra | None = None,
) -> None:
    """Run the controller until ``stop``: one task renews the lease, one reconciles, and
    the admin API (``wiring.api``; ``api_port`` overrides its port) serves alongside.
    ``registry``: where its metrics go (tests pass a fresh one).

    The one wiring of the controller: the demo's controller process (stack/controller_proc.py)
    runs this too, with ``lead_time`` (the local provider's lead-time report), no admin API
    and an ``extra`` task (its outage script) given the parts."""
    from forescale.controller.api.hosting import controller_api

    clock = clock or SystemClock()
    identity = settings.identity or f"{socket.gethostname()}-{os.getpid()}"
    metrics = ControllerMetrics(registry)
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    async with AsyncExitStack() as stack:
        redis = connect(settings.redis_url, timeout_s=REDIS_TIMEOUT_S)
        stack.push_async_callback(redis.aclose)
        parts = await stack.enter_async_context(_actuator(settings, wiring, redis, clock, lead_time))
        elector = LeaderElector(parts.lease, clock, identity)
        store = Store(redis, settings.decision_history)
        source = _source(settings, redis)
        ctl = Controller(
            store, source, parts.nodes, parts.replicas,
            clock, interval_s=settings.interval_s, elector=elector, metrics=metrics,
        )  # fmt: skip
        if api:
            hosted = controller_api(
                settings, wiring.need("api"), store, clock, source, parts.replicas, port=api_port
            )
            await stack.enter_async_context(hosted)
        log.info("controller %s: provider %s, every %gs", identity, settings.provider, settings.interval_s)
        tasks: list[Awaitable[None]] = [
            elector.run(stop),
            ctl.run(stop),
            _track_leader(elector, metrics, stop, clock),
        ]
        if extra is not None:
            tasks.append(extra(parts, redis, clock, stop))
        await asyncio.gather(*tasks)


async def _track_leader(
    elector: LeaderElector, metrics: ControllerMetrics, stop: asyncio.Event, clock: Clock
) -> None:
    while not stop.is_set():
        metrics.leader.set(1 if elector.leading() else 0)
        await clock.sleep(1.0)
