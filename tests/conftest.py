"""Shared fixtures: a real redis-server per test session, flushed before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from forescale.devstack.redis_cluster import RedisCluster
from forescale.devstack.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server (AOF on) for the whole session; fault tests make their own."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, with the database emptied first."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A real 3-shard Redis Cluster (redis-server processes), started on first use."""
    with RedisCluster(shards=3) as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """The cluster's ``redis+cluster://`` URL, with every shard emptied first."""
    for node in redis_cluster.nodes:
        client = redis.Redis(port=node.port)
        client.flushall()
        client.close()
    return redis_cluster.url
