"""Pool state across ticks: insufficient capacity TTL, slow spot, interruptions, lead times."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.core import poolview
from forescale.core.model import Decision, PolicyState, PoolTarget
from forescale.core.policy import decide
from tests.core.helpers import NOW, obs, pobs, pool, spec

SPOT = pool("spot", "spot", 1.0, lead_time_s=200)
OD = pool("od", "on-demand", 4.0, lead_time_s=100)
POOLS = (SPOT, OD)


def tick(state: PolicyState, at: float, *pool_obs: Any, **kw: Any) -> tuple[Decision, PolicyState]:
    s = spec(
        spot_max_fraction=1.0,
        spot_fallback_timeout_s=300,
        unavailable_pool_ttl_s=180,
        **kw.pop("spec_kw", {}),
    )
    o = obs(
        now=at,
        pools=pool_obs,
        rps_stable=100.0,
        rps_short=100.0,
        current_replicas=10,
        ready_replicas=10,
        **kw,
    )
    return decide(o, s, POOLS, state)


def nodes(d: Decision) -> dict[str, int]:
    return {t.pool: t.nodes for t in d.pools if t.nodes}


@pytest.mark.parametrize(
    ("ice_ago", "unavailable"),
    [(0.0, True), (179.0, True), (180.0, False), (1000.0, False)],
)
def test_insufficient_capacity_marks_the_pool_for_the_ttl(ice_ago: float, unavailable: bool) -> None:
    d, state = tick(PolicyState(), NOW, pobs("spot", insufficient_capacity_at=NOW - ice_ago))
    assert nodes(d) == ({"od": 10} if unavailable else {"spot": 10})
    assert ("spot" in state.unavailable_at) is unavailable
    assert any("after insufficient capacity: spot 0 s ago" in r.detail or "spot 179 s ago" in r.detail
               for r in d.reasons) is unavailable  # fmt: skip


def test_unavailable_is_remembered_then_spot_returns() -> None:
    _, state = tick(PolicyState(), NOW, pobs("spot", insufficient_capacity_at=NOW))
    d, state = tick(state, NOW + 60, pobs("od", ready_nodes=10))  # no longer reported, still within TTL
    assert nodes(d) == {"od": 10}
    d, state = tick(state, NOW + 181, pobs("od", ready_nodes=10))  # TTL over: back to spot, od kept meanwhile
    assert nodes(d) == {"spot": 10, "od": 10}
    d, _ = tick(state, NOW + 500, pobs("spot", ready_nodes=10), pobs("od", ready_nodes=10))
    assert nodes(d) == {"spot": 10}


def test_slow_spot_falls_back_after_the_timeout_and_progress_resets_it() -> None:
    d, state = tick(PolicyState(), NOW, pobs("spot", starting_nodes=10))
    assert nodes(d) == {"spot": 10} and state.starting_since == {"spot": NOW}
    d, state = tick(state, NOW + 299, pobs("spot", starting_nodes=10))
    assert nodes(d) == {"spot": 10}
    d, state = tick(state, NOW + 300, pobs("spot", starting_nodes=10))
    assert nodes(d) == {"spot": 10, "od": 10}
    assert any("fallback: 10 replicas on on-demand" in r.detail for r in d.reasons)
    # a node became ready: progress, the clock restarts
    d, state = tick(
        state,
        NOW + 320,
        pobs("spot", ready_nodes=1, starting_nodes=9, lead_times_s=(310.0,)),
        pobs("od", starting_nodes=10),
    )
    assert state.starting_since["spot"] == NOW + 320
    d, state = tick(state, NOW + 400, pobs("spot", ready_nodes=10), pobs("od", starting_nodes=10))
    assert "spot" not in state.starting_since and nodes(d) == {"spot": 10}


def test_interruptions_raise_the_rate_and_a_buffer() -> None:
    state = PolicyState(last_at=NOW - 15)
    d, state = tick(state, NOW, pobs("spot", ready_nodes=10, interruptions=5))
    rate = state.interruption_rate["spot"]
    assert rate > 0
    assert nodes(d)["spot"] > 10
    assert any("spot buffer: +" in r.detail for r in d.reasons)
    # calm ticks bring it down again
    for k in range(1, 40):
        _, state = tick(state, NOW + 600 * k, pobs("spot", ready_nodes=10))
    assert state.interruption_rate.get("spot", 0.0) < rate / 100


def test_lead_time_is_learned_per_pool_and_widens_the_forecast_horizon() -> None:
    _, state = tick(PolicyState(), NOW, pobs("spot", lead_times_s=(400.0, 420.0)))
    assert state.lead_time_s == {"spot": 420.0}
    assert state.lead_samples == {"spot": (400.0, 420.0)}
    pv = poolview.view(obs(now=NOW + 15), spec(), POOLS, state)
    assert sorted(pv.table.lead_s) == [100.0, 420.0]  # od keeps its prior


def test_pools_outside_the_policy_or_too_small_are_skipped() -> None:
    big = pool("big", gpus_per_node=8)
    small = pool("small", gpus_per_node=2)
    pv = poolview.view(
        obs(), spec(pools=("big", "small"), gpus_per_replica=4), (big, small, OD), PolicyState()
    )
    assert [p.name for p in pv.table.layout.specs] == ["big"]
    assert pv.table.layout.per == [2]
    assert pv.notes == ["skip: small has 2 GPUs per node, a replica needs 4"]


def test_a_pool_seen_with_nodes_but_planned_empty_is_listed_at_zero() -> None:
    d, _ = tick(PolicyState(), NOW, pobs("od", ready_nodes=3), pobs("spot", ready_nodes=10))
    assert PoolTarget(pool="od", capacity_type="on-demand", nodes=0, replicas=0) in d.pools
