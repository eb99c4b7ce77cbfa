"""The backlog term sizes for the queue left when capacity asked now can be ready: what the
replicas already asked for (ready, loading, starting) serve before then is not asked twice."""

from __future__ import annotations

import pytest

from forescale.core.backlog import queue_at_lead
from forescale.core.model import PolicyState, PrescaleSpec
from forescale.core.policy import decide
from tests.core.helpers import NOW, obs, pobs, pool, spec


@pytest.mark.parametrize(
    ("ready", "asked", "in_flight", "expected"),
    [
        (2, 6, [(4, 0.0)], 0.0),  # replacements due now: 6 x 4 x 12 = 288 served > 60 + 180
        (2, 6, [], 0.0),  # the 4 past the ready ones load on ready nodes: count from now
        (2, 6, [(4, 12.0)], 60.0),  # due at the lead time: nothing before, the queue as it is
        (2, 6, [(4, 9.0)], 60.0),  # 96 + 48 = 144 served: 96 left, never more than today's 60
        (2, 6, [(4, 6.0)], 48.0),  # 96 + 96 = 192 served: 60 + 180 - 192
        (6, 2, [], 0.0),  # more ready than asked (scaling down): the ready ones serve
        (0, 0, [], 60.0),  # nothing asked: nothing drains it
    ],
)
def test_queue_at_lead(ready: int, asked: int, in_flight: list[tuple[int, float]], expected: float) -> None:
    left = queue_at_lead(60, 15.0, ready, asked, 4.0, 12.0, in_flight)
    assert left == pytest.approx(expected)
    assert 0.0 <= left <= 60.0


def test_in_flight_past_what_was_asked_is_not_counted() -> None:
    # 10 replicas' worth of nodes starting but only 2 asked past the ready ones (a spot buffer):
    # 4 serve 10 s at 1 req/s, against 100 queued + 20 arriving.
    assert queue_at_lead(100, 2.0, 2, 4, 1.0, 10.0, [(10, 0.0)]) == pytest.approx(80.0)


POOLS = (
    pool("res", "reserved", 2.5, max_nodes=2, reservation_nodes=2, lead_time_s=4),
    pool("spot-b", "spot", 1.3, max_nodes=4, lead_time_s=12),
    pool("od", "on-demand", 3.9, max_nodes=12, lead_time_s=10),
)


def _after_reclaim(starting_for_s: float) -> tuple[int, str]:
    """The demo's outage eight seconds in: 2 ready, 4 replacements starting on spot-b, a
    queue of 60 at 15 req/s; the policy knows the replica's 4 req/s service rate."""
    s = spec(
        min_replicas=2,
        max_replicas=12,
        target_rps_per_replica=2.8,
        latency_slo_s=1.5,
        spot_max_fraction=1.0,
        prescale=PrescaleSpec(service_rps_per_replica=4.0),
    )
    o = obs(
        now=NOW,
        pools=(pobs("res", ready_nodes=2), pobs("spot-b", starting_nodes=4)),
        rps_stable=15.0,
        rps_short=15.0,
        queue_depth=60,
        current_replicas=6,
        ready_replicas=2,
    )
    state = PolicyState(last_at=NOW - 1, starting_since={"spot-b": NOW - starting_for_s})
    d, _ = decide(o, s, POOLS, state)
    backlog = next(r for r in d.reasons if r.term == "backlog")
    return d.desired_replicas, backlog.detail


def test_replacements_about_ready_drain_the_queue_no_on_demand_is_asked() -> None:
    desired, detail = _after_reclaim(starting_for_s=11.0)  # due in 1 s of a 12 s lead
    assert desired == 6  # before: ceil(60 / (2.8 x 1.5)) = 15, capped at 12, six on-demand nodes
    assert "60 queued now, 0 left when capacity asked now is ready in 12 s" in detail


def test_replacements_just_launched_leave_the_queue_to_the_backlog_term() -> None:
    desired, detail = _after_reclaim(starting_for_s=0.0)  # due at the lead time itself
    assert desired == 12  # new capacity is as early as the replacements: sized for today's queue
    assert detail.startswith("backlog: 15 replicas = ceil(60 queued")
