"""The reservation ledger and the capacity planner: one row per branch of the fill order."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.core.capacity import PoolFacts, PoolTable, ReservationLedger, plan_capacity
from forescale.core.errors import ReservationExhausted
from tests.core.helpers import pool, spec

# ------------------------------------------------------------------------------ ledger


def test_ledger_reserve_is_idempotent_per_holder() -> None:
    ledger = ReservationLedger({"r": 4})
    once = ledger.reserve("r", "a", 3)
    assert once.reserve("r", "a", 3) == once
    assert (once.used("r"), once.free("r"), once.free("r", "a")) == (3, 1, 4)
    assert ledger.used("r") == 0  # the original is untouched: the ledger is a value


def test_ledger_release_is_idempotent() -> None:
    ledger = ReservationLedger({"r": 4}).reserve("r", "a", 3).reserve("r", "b", 1)
    released = ledger.release("r", "a")
    assert released.release("r", "a") == released
    assert (released.used("r"), released.free("r")) == (1, 3)


@pytest.mark.parametrize(
    ("steps", "pool_name", "holder", "nodes"),
    [
        ((), "r", "a", 5),  # over the reservation
        ((("r", "a", 3),), "r", "b", 2),  # over what others left
        ((), "other", "a", 1),  # no reservation in that pool
    ],
)
def test_ledger_over_reserve_raises(
    steps: tuple[tuple[str, str, int], ...], pool_name: str, holder: str, nodes: int
) -> None:
    ledger = ReservationLedger({"r": 4})
    for p, h, n in steps:
        ledger = ledger.reserve(p, h, n)
    with pytest.raises(ReservationExhausted):
        ledger.reserve(pool_name, holder, nodes)


def test_ledger_holder_may_shrink_and_regrow_its_own() -> None:
    ledger = ReservationLedger({"r": 4}).reserve("r", "a", 4)
    assert ledger.reserve("r", "a", 2).reserve("r", "a", 4).used("r") == 4


def test_ledger_from_pools_counts_reservations_only() -> None:
    pools = [pool("r", "reserved", reservation_nodes=3, max_nodes=3), pool("od")]
    assert ReservationLedger.from_pools(pools).capacity == {"r": 3}


# ----------------------------------------------------------------------------- planner

RES = pool("res", "reserved", 2.0, reservation_nodes=2, max_nodes=2)
SPOT_A = pool("spot-a", "spot", 1.0, zone="a", max_nodes=10)
SPOT_B = pool("spot-b", "spot", 1.2, zone="b", max_nodes=10)
SPOT_C = pool("spot-c", "spot", 1.3, zone="c", max_nodes=10)
OD = pool("od", "on-demand", 4.0, max_nodes=20)
OD_PRICEY = pool("od-x", "on-demand", 6.0, max_nodes=20)


def facts(
    p: Any,
    *,
    ready: int = 0,
    starting: int = 0,
    unavailable: bool = False,
    slow: bool = False,
    rate: float = 0.0,
    per_node: int = 1,
    lead: float = 300.0,
) -> PoolFacts:
    return PoolFacts(p, per_node, ready, starting, unavailable, slow, lead, rate)


def nodes_of(replicas: int, rows: list[PoolFacts], **spec_kw: Any) -> dict[str, int]:
    s = spec(**{"spot_max_fraction": 0.8, **spec_kw})
    plan = plan_capacity(
        replicas, s, PoolTable.of(rows), ReservationLedger.from_pools([f.spec for f in rows])
    )
    return {t.pool: t.nodes for t in plan.targets if t.nodes}


@pytest.mark.parametrize(
    ("name", "replicas", "rows", "spec_kw", "expected"),
    [
        ("reserved first", 2, [facts(RES), facts(SPOT_A), facts(OD)], {}, {"res": 2}),
        ("reservation never exceeded", 3, [facts(RES), facts(OD)], {}, {"res": 2, "od": 1}),
        ("on-demand base", 10, [facts(SPOT_A), facts(OD)], {"on_demand_base": 2}, {"od": 2, "spot-a": 8}),
        (
            "the base is on on-demand even with a reservation free",
            10,
            [facts(RES), facts(SPOT_A), facts(OD)],
            {"on_demand_base": 2},
            {"res": 2, "od": 2, "spot-a": 6},
        ),
        (
            "issue 16: base 2 with a reservation: on on-demand, not on the reservation",
            2,
            [facts(RES), facts(OD)],
            {"on_demand_base": 2},
            {"od": 2},
        ),
        (
            "base past on-demand's room falls back to the reservation",
            3,
            [facts(RES), facts(pool("od-small", max_nodes=1))],
            {"on_demand_base": 3},
            {"od-small": 1, "res": 2},
        ),
        ("spot capped by spot_max_fraction", 10, [facts(SPOT_A), facts(OD)], {}, {"spot-a": 8, "od": 2}),
        (
            "no spot when the fraction is 0",
            4,
            [facts(SPOT_A), facts(OD)],
            {"spot_max_fraction": 0.0},
            {"od": 4},
        ),
        (
            "spot spread over pools",
            10,
            [facts(SPOT_A), facts(SPOT_B), facts(OD)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 5, "spot-b": 5},
        ),
        (
            "spread share rounds up to the cheaper pool",
            5,
            [facts(SPOT_A), facts(SPOT_B)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 3, "spot-b": 2},
        ),
        # Third pass (fair-evaluation.md): new spot nodes spread over no more pools than
        # the nodes needed; a share of replicas per pool launched a node in each pool.
        (
            "a few replicas on big nodes: one node, in the cheapest pool",
            3,
            [facts(SPOT_A, per_node=8), facts(SPOT_B, per_node=8), facts(SPOT_C, per_node=8)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 1},
        ),
        (
            "two nodes' worth: one node in each of the two cheapest pools",
            10,
            [facts(SPOT_A, per_node=8), facts(SPOT_B, per_node=8), facts(SPOT_C, per_node=8)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 1, "spot-b": 1},
        ),
        (
            "three nodes' worth: one node in every pool",
            17,
            [facts(SPOT_A, per_node=8), facts(SPOT_B, per_node=8), facts(SPOT_C, per_node=8)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 1, "spot-b": 1, "spot-c": 1},
        ),
        (
            "the ready node is filled before a new one is spread",
            11,
            [facts(SPOT_A, per_node=8), facts(SPOT_B, per_node=8, ready=1), facts(SPOT_C, per_node=8)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 1, "spot-b": 1},
        ),
        (
            "a node starting in a pricier zone is kept, not replaced by a new one",
            11,
            [
                facts(SPOT_A, per_node=8, ready=1),
                facts(SPOT_B, per_node=8, starting=1),
                facts(SPOT_C, per_node=8),
            ],
            {"spot_max_fraction": 1.0},
            {"spot-a": 1, "spot-b": 1},
        ),
        (
            "on-demand nodes starting are kept before a cheaper new one",
            6,
            [facts(OD, ready=2), facts(OD_PRICEY, starting=3), facts(SPOT_A, unavailable=True)],
            {"spot_max_fraction": 0.0},
            {"od": 3, "od-x": 3},
        ),
        (
            "spot back from an outage: on-demand nodes starting are kept, not replaced by new spot",
            10,
            [facts(SPOT_A), facts(OD, starting=10)],
            {},
            {"od": 10},
        ),
        (
            "on-demand starting fills spot's share; spot's new nodes only for the rest",
            10,
            [facts(SPOT_A), facts(OD, starting=3)],
            {"on_demand_base": 0},
            {"od": 5, "spot-a": 5},
        ),
        (
            "full spot pool overflows to the next",
            24,
            [facts(SPOT_A), facts(SPOT_B), facts(OD)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 10, "spot-b": 10, "od": 4},
        ),
        (
            "max_nodes caps on-demand, then the pricier pool",
            25,
            [facts(OD), facts(OD_PRICEY)],
            {},
            {"od": 20, "od-x": 5},
        ),
        (
            "unavailable spot falls back to on-demand",
            10,
            [facts(SPOT_A, unavailable=True), facts(OD)],
            {},
            {"od": 10},
        ),
        (
            "unavailable pool keeps its ready nodes",
            10,
            [facts(SPOT_A, ready=3, unavailable=True), facts(OD)],
            {},
            {"spot-a": 3, "od": 7},
        ),
        (
            "slow spot waits but is covered on-demand",
            10,
            [facts(SPOT_A, starting=4, slow=True), facts(OD)],
            {},
            {"spot-a": 4, "od": 10},
        ),
        (
            "slow spot with ready nodes covers only the stuck",
            10,
            [facts(SPOT_A, ready=6, starting=2, slow=True), facts(OD)],
            {},
            {"spot-a": 8, "od": 4},
        ),
        (
            "spot buffer from interruptions",
            8,
            [facts(SPOT_A, rate=1 / 1200), facts(OD)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 10},
        ),  # 8 nodes x 300 s / 1200 s = 2 expected
        (
            "spot buffer within max_nodes",
            8,
            [facts(SPOT_A, rate=1 / 600), facts(OD)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 10},
        ),  # 4 expected, room for 2
        (
            "no buffer for a negligible rate",
            8,
            [facts(SPOT_A, rate=1e-8), facts(OD)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 8},
        ),
        (
            "back to spot: on-demand stays until spot is ready",
            10,
            [facts(SPOT_A), facts(OD, ready=10)],
            {},
            {"spot-a": 8, "od": 10},
        ),
        (
            "back to spot: on-demand goes once spot is ready",
            10,
            [facts(SPOT_A, ready=8), facts(OD, ready=10)],
            {},
            {"spot-a": 8, "od": 2},
        ),
        (
            "scale down the most expensive first",
            12,
            [facts(OD, ready=10), facts(OD_PRICEY, ready=10)],
            {},
            {"od": 10, "od-x": 2},
        ),
        (
            "reserved nodes in use are kept",
            0,
            [facts(RES, ready=2), facts(OD, ready=3)],
            {"min_replicas": 0},
            {"res": 2},
        ),
        (
            # Shrinking keeps spot spread over the pools it holds (cheapest-first alone put
            # all 4 in spot-a, where one reclaim took them all: the demo's outage).
            "scale down keeps spot spread over the pools held",
            4,
            [facts(SPOT_A, ready=4), facts(SPOT_B, ready=4)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 2, "spot-b": 2},
        ),
        (
            "an odd count: the cheaper pool keeps the extra one",
            5,
            [facts(SPOT_A, ready=4), facts(SPOT_B, ready=4)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 3, "spot-b": 2},
        ),
        (
            "a pool holding fewer than its share: the rest stays in the cheapest",
            6,
            [facts(SPOT_A, ready=6), facts(SPOT_B, ready=1)],
            {"spot_max_fraction": 1.0},
            {"spot-a": 5, "spot-b": 1},
        ),
        ("several replicas per node", 10, [facts(OD, per_node=4)], {}, {"od": 3}),
        ("nothing placeable", 5, [facts(SPOT_A, unavailable=True)], {}, {}),
    ],
)
def test_plan_rows(
    name: str, replicas: int, rows: list[PoolFacts], spec_kw: dict[str, Any], expected: dict[str, int]
) -> None:
    assert nodes_of(replicas, rows, **spec_kw) == expected


def test_plan_order_is_fixed_and_replicas_add_up() -> None:
    rows = [facts(OD), facts(SPOT_B), facts(RES), facts(SPOT_A)]
    plan = plan_capacity(
        20,
        spec(spot_max_fraction=0.5),
        PoolTable.of(rows),
        ReservationLedger.from_pools([f.spec for f in rows]),
    )
    assert [t.pool for t in plan.targets] == ["res", "spot-a", "spot-b", "od"]
    assert sum(t.replicas for t in plan.targets) == 20
    assert plan.unplaced == 0


def test_plan_reports_what_could_not_be_placed() -> None:
    rows = [facts(pool("tiny", max_nodes=2))]
    plan = plan_capacity(5, spec(), PoolTable.of(rows), ReservationLedger({}))
    assert plan.unplaced == 3
    assert any("3 replicas could not be placed" in n for n in plan.notes)


def test_plan_respects_reservations_held_by_others() -> None:
    rows = [facts(RES), facts(OD)]
    ledger = ReservationLedger.from_pools([RES]).reserve("res", "someone-else", 1)
    plan = plan_capacity(3, spec(), PoolTable.of(rows), ledger)
    assert {t.pool: t.nodes for t in plan.targets} == {"res": 1, "od": 2}
