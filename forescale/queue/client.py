"""Redis clients for the data plane: short timeouts and no silent retries.

redis-py retries a failed command ten times with backoff by default; on the request path
that turns a dead Redis into a hung request. Here a dead Redis fails at once and the
caller decides (503, back off, retry the loop).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect(url: str, timeout_s: float = 1.0) -> aioredis.Redis:
    """A client for short commands: connect and read within ``timeout_s``."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def connect_blocking(url: str, block_s: float, timeout_s: float = 1.0) -> aioredis.Redis:
    """A client for XREAD/XREADGROUP BLOCK: its read timeout exceeds the block time."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=block_s + timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
