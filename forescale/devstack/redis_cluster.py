"""A real Redis Cluster of ``redis-server`` processes: N primaries, no replicas.

How a user outgrows one Redis is a cluster; the queue is tested against one (three shards
by default). Each node is a ``RedisServer`` started with ``cluster-enabled yes``; the
cluster is formed from Python the way ``redis-cli --cluster create`` does it, minus the
replicas: every node takes an even share of the 16384 slots (CLUSTER ADDSLOTSRANGE), the
first node MEETs the others, then we wait until every node reports ``cluster_state:ok``
and knows all of them. (No dependency on redis-cli's interactive confirmation.)
"""

from __future__ import annotations

import contextlib
import time

import redis

from forescale.devstack.ports import free_port
from forescale.devstack.redis_server import RedisServer

SLOTS = 16384
CLUSTER_SCHEME = "redis+cluster"  # forescale.queue.client.connect's scheme for a cluster


class RedisCluster:
    def __init__(self, shards: int = 3) -> None:
        if shards < 1:
            raise ValueError("a cluster needs at least one shard")
        # The bus port is chosen too: Redis' default (port + 10000) fails above port 55535.
        self.bus_ports = [free_port() for _ in range(shards)]
        self.nodes = [
            RedisServer(extra_args=("--cluster-enabled", "yes", "--cluster-node-timeout", "5000",
                                    "--cluster-config-file", "nodes.conf", "--cluster-port", str(bus)))
            for bus in self.bus_ports
        ]  # fmt: skip

    @property
    def url(self) -> str:
        """A seed node; clients discover the others (``redis+cluster://host:port``)."""
        return f"{CLUSTER_SCHEME}://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout_s: float = 20.0) -> RedisCluster:
        try:
            for n in self.nodes:
                n.start(timeout_s)
            self._form(timeout_s)
        except BaseException:
            self.close()
            raise
        return self

    def _form(self, timeout_s: float) -> None:
        clients = [redis.Redis(port=n.port, socket_timeout=2) for n in self.nodes]
        try:
            share = SLOTS // len(clients)
            for i, c in enumerate(clients):
                hi = SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, hi)
            for n, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", n.port, bus)
            self._wait_ok(clients, timeout_s)
        finally:
            for c in clients:
                c.close()

    def _wait_ok(self, clients: list[redis.Redis], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            infos = [c.execute_command("CLUSTER", "INFO") for c in clients]
            text = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
            want = f"cluster_known_nodes:{len(clients)}"
            if all("cluster_state:ok" in t and want in t for t in text):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster not ok after {timeout_s:g}s: {text[0]}")
            time.sleep(0.05)

    def close(self) -> None:
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.close()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
