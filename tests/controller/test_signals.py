"""Signal sources: direct (real Redis) and Prometheus (real prometheus scraping a real exporter)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from forescale import keys
from forescale.controller.signals.direct import DirectSource
from forescale.controller.signals.prometheus import PrometheusSource
from forescale.core.metrics_spec import MetricSpec
from forescale.devstack.ports import free_port
from forescale.devstack.prometheus_server import PrometheusServer
from forescale.queue import heartbeat
from tests.controller.conftest import SPEC

NOW = 1_700_000_100.5
SPEC_W = SPEC.model_copy(update={"stable_window_s": 10, "panic_window_s": 2})


async def test_direct_sums_whole_seconds_before_now(aredis: aioredis.Redis) -> None:
    # seconds before the current one: 99 -> 10 req, 98 -> 30, 97..90 -> 5 each; 100 is in progress
    await aredis.set(keys.arrivals("m1", 1_700_000_100), 1000)
    await aredis.set(keys.arrivals("m1", 1_700_000_099), 10)
    await aredis.set(keys.arrivals("m1", 1_700_000_098), 30)
    for s in range(1_700_000_090, 1_700_000_098):
        await aredis.set(keys.arrivals("m1", s), 5)
    await aredis.xadd(keys.request_stream("m1"), {"x": "1"})
    await aredis.xadd(keys.request_stream("m1"), {"x": "2"})
    sig = await DirectSource(aredis).read(SPEC_W, NOW)
    assert sig.rps_short == 20.0  # (10 + 30) / 2
    assert sig.rps_stable == (10 + 30 + 8 * 5) / 10
    assert sig.queue_depth == 2 and sig.stale == ()


async def test_direct_no_traffic_is_zero_not_stale(aredis: aioredis.Redis) -> None:
    sig = await DirectSource(aredis).read(SPEC_W, NOW)
    assert (sig.rps_short, sig.rps_stable, sig.queue_depth, sig.stale) == (0.0, 0.0, 0, ())


async def test_direct_redis_down_is_stale() -> None:
    client = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    sig = await DirectSource(client).read(SPEC_W, NOW)
    await client.aclose()
    assert sig.rps_stable is None and set(sig.stale) == {"rps_short", "rps_stable", "queue_depth"}


async def test_heartbeats_drop_dead_and_malformed_entries(aredis: aioredis.Redis) -> None:
    """One cut-off for every reader: a beat exactly WORKER_DEAD_AFTER_S old is still alive."""
    dead = keys.WORKER_DEAD_AFTER_S
    await heartbeat.beat(aredis, "m1", heartbeat.Heartbeat("w1", "ready", NOW - 1, 1))
    await heartbeat.beat(aredis, "m1", heartbeat.Heartbeat("w2", "ready", NOW - 60, 2))
    await heartbeat.beat(aredis, "m1", heartbeat.Heartbeat("w4", "warming", NOW - dead, 4))
    await aredis.hset(keys.workers("m1"), "w3", "not json")
    await aredis.hset(keys.workers("m1"), "w5", json.dumps({"state": "bogus", "at": NOW, "pid": 5}))
    live = await heartbeat.live(aredis, "m1", NOW)
    assert [b.worker_id for b in live] == ["w1", "w4"]
    assert live.ready_pids == {1} and live.count("warming") == 1
    await heartbeat.remove(aredis, "m1", "w1")
    assert not (await heartbeat.live(aredis, "m1", NOW)).ready_pids


class Exporter:
    """A router-shaped exporter: the two metric names the controller queries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("forescale_router_requests", "", ["model", "code"], registry=self.registry)
        self.depth = Gauge("forescale_queue_depth", "", ["model"], registry=self.registry)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    yield e
    e.close()


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter) -> Iterator[PrometheusServer]:
    with PrometheusServer({"router": [f"127.0.0.1:{exporter.port}"]}, scrape_interval_s=0.2) as server:
        yield server


async def until(predicate, timeout_s: float = 20.0):  # waits for scrapes; not a timing assertion
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.2)


async def test_prometheus_rates_and_depth(exporter: Exporter, prometheus: PrometheusServer) -> None:
    source = PrometheusSource(prometheus.url, timeout_s=2, min_range_s=5)
    exporter.depth.labels("m1").set(7)

    async def busy():
        exporter.requests.labels("m1", "200").inc(50)
        sig = await source.read(SPEC_W, NOW)
        return sig if sig.rps_stable and sig.rps_stable > 0 and sig.queue_depth == 7 else None

    sig = await until(busy)
    assert sig.stale == () and sig.rps_short is not None and sig.rps_short > 0


async def test_prometheus_missing_and_nan_are_stale(exporter: Exporter, prometheus: PrometheusServer) -> None:
    source = PrometheusSource(prometheus.url, timeout_s=2, min_range_s=5)
    absent = await source.read(SPEC_W.model_copy(update={"model": "nobody"}), NOW)
    assert set(absent.stale) == {"rps_short", "rps_stable", "queue_depth"}
    exporter.depth.labels("nan-model").set(float("nan"))
    nan_spec = SPEC_W.model_copy(update={"model": "nan-model"})

    async def nan_seen():
        query = source.queries(nan_spec)["queue_depth"]
        result = await asyncio.to_thread(source.client.custom_query, query)
        return result  # scraped (value NaN)

    await until(nan_seen)
    sig = await source.read(nan_spec, NOW)
    assert "queue_depth" in sig.stale and sig.queue_depth is None


async def test_prometheus_unreachable_is_stale_not_raised() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    sig = await source.read(SPEC_W, NOW)
    assert set(sig.stale) == {"rps_short", "rps_stable", "queue_depth"}


async def test_direct_holds_for_an_engines_metrics(aredis: aioredis.Redis) -> None:
    """Redis has only forescale's counters: an engine's policy gets stale signals (hold),
    never a made-up zero demand that would scale it down."""
    metrics = (
        MetricSpec(kind="request_rate", preset="vllm"),
        MetricSpec(kind="waiting", preset="vllm", target=2),
    )
    spec = SPEC_W.model_copy(update={"metrics": metrics})
    sig = await DirectSource(aredis).read(spec, NOW)
    assert sig.rps_stable is None and set(sig.stale) == {"rps_short", "rps_stable", "queue_depth"}
