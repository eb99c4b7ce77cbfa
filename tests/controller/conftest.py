"""Fixtures for the controller's tests: a store on the session redis, pools, a policy."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from forescale.controller.metrics import ControllerMetrics
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.model import Decision, Observation, PolicySpec, PolicyState, PoolSpec, PoolTarget, Reason
from tests.fakekube.conftest import fake_kube, kube_api

__all__ = ["fake_kube", "kube_api"]  # fixtures shared with the fake API server's tests


@pytest.fixture
def store(aredis: aioredis.Redis) -> Store:
    return Store(aredis, decision_history=20)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ControllerMetrics:
    return ControllerMetrics(registry)


SPOT = PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1.0, max_nodes=10, lead_time_s=120)
ON_DEMAND = PoolSpec(
    name="od-a", capacity_type="on-demand", price_per_node_hour=3.0, max_nodes=10, lead_time_s=90
)
SPEC = PolicySpec(model="m1", target_rps_per_replica=10, min_replicas=1, max_replicas=8)


def simple_decide(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState, ledger: object = None
) -> tuple[Decision, PolicyState]:
    """A stand-in policy for loop tests: ceil(rps/target) in the first pool; holds on stale data.

    Loop tests are about the loop (order, persistence, dry-run, errors), not the policy.
    """
    if obs.stale or obs.rps_stable is None:
        want = max(obs.current_replicas, spec.min_replicas)
    else:
        want = min(
            spec.max_replicas, max(spec.min_replicas, math.ceil(obs.rps_stable / spec.target_rps_per_replica))
        )
    pool = pools[0]
    decision = Decision(
        model=spec.model,
        at=obs.now,
        desired_replicas=want,
        pools=(PoolTarget(pool=pool.name, capacity_type=pool.capacity_type, nodes=want, replicas=want),),
        winner="reactive",
        reasons=(Reason(term="reactive", replicas=want, detail="test policy"),),
    )
    return decision, PolicyState(last_at=obs.now, last_desired=want)


class SteppingClock(ManualClock):
    """A manual clock whose ``sleep`` moves time forward at once and records the wait:
    retry and backoff code runs at full speed and the test reads what it waited."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        super().__init__(start)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
