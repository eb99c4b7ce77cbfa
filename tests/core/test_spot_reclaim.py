"""A spot pool reclaimed at once (notices to most of its nodes) is out of capacity: its
replacements go to the next pool in the same tick, as Karpenter's interruption controller
does, instead of failing there first and moving a tick later (core/poolview.py)."""

from __future__ import annotations

from typing import Any

from forescale.core.model import Decision, PolicyState
from forescale.core.policy import decide
from tests.core.helpers import NOW, obs, pobs, pool, spec

POOLS = (
    pool("res", "reserved", 2.5, max_nodes=2, reservation_nodes=2),
    pool("spot-a", "spot", 1.1, max_nodes=4),
    pool("spot-b", "spot", 1.3, max_nodes=4),
    pool("od", "on-demand", 3.9, max_nodes=12),
)


def tick(*pool_obs: Any, state: PolicyState | None = None, at: float = NOW) -> tuple[Decision, PolicyState]:
    s = spec(min_replicas=2, max_replicas=12, spot_max_fraction=1.0, unavailable_pool_ttl_s=10)
    o = obs(now=at, pools=pool_obs, rps_stable=60.0, rps_short=60.0, current_replicas=6, ready_replicas=6)
    return decide(o, s, POOLS, state or PolicyState(last_at=at - 1))


def nodes(d: Decision) -> dict[str, int]:
    return {t.pool: t.nodes for t in d.pools if t.nodes}


def test_a_pool_reclaimed_at_once_gets_no_replacements_in_the_same_tick() -> None:
    # The demo's outage: all four spot-a nodes get their notice in one tick.
    d, state = tick(
        pobs("res", ready_nodes=2), pobs("spot-a", ready_nodes=0, draining_nodes=4, interruptions=4)
    )
    assert d.desired_replicas == 6
    # Before: the even spread put two of the four on spot-a, refused there (ICE), moved a tick later.
    assert nodes(d) == {"res": 2, "spot-b": 4}
    assert state.unavailable_at == {"spot-a": NOW}
    assert any("unavailable for 10 s after insufficient capacity: spot-a" in r.detail for r in d.reasons)
    # The mark lasts the pool-unavailable TTL, then spot-a is tried again.
    later = (pobs("res", ready_nodes=2), pobs("spot-b", ready_nodes=4))
    d, state = tick(*later, state=state, at=NOW + 9)
    assert "spot-a" in state.unavailable_at
    d, state = tick(*later, state=state, at=NOW + 10)
    assert "spot-a" not in state.unavailable_at


def test_routine_notices_in_a_big_pool_do_not_mark_it() -> None:
    # One notice of four nodes (or exactly half): churn; the replacement stays on the cheapest spot.
    for noticed in (1, 2):
        d, state = tick(
            pobs("res", ready_nodes=2),
            pobs("spot-a", ready_nodes=4 - noticed, draining_nodes=noticed, interruptions=noticed),
        )
        assert "spot-a" not in state.unavailable_at
        assert nodes(d)["spot-a"] == 4


def test_notices_on_demand_never_mark_a_pool() -> None:
    # Only spot is reclaimed by its provider; an on-demand node going is not a capacity signal.
    _, state = tick(pobs("res", ready_nodes=2), pobs("od", ready_nodes=0, draining_nodes=4, interruptions=4))
    assert state.unavailable_at == {}


def test_one_notice_in_a_one_node_pool_does_not_mark_it() -> None:
    """One reclaimed node is routine churn, not the pool running dry: with a single pool the
    replacement must still be asked for there (tests/controller/test_local_actuator.py)."""
    d, state = tick(
        pobs("res", ready_nodes=2), pobs("spot-a", ready_nodes=0, draining_nodes=1, interruptions=1)
    )
    assert "spot-a" not in state.unavailable_at
    assert nodes(d)["spot-a"] >= 1  # replacements are still asked for there
