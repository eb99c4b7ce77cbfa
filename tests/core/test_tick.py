"""plan_tick: one ledger through every model, and the order of the commands it returns."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from forescale.core.ledger import ReservationLedger
from forescale.core.model import Decision, Observation, PolicySpec, PolicyState, PoolObservation, PoolSpec
from forescale.core.model import PoolTarget as PT
from forescale.core.tick import Command, SetNodes, SetReplicas, commands_for, plan_tick
from tests.core.helpers import NOW, obs, pool, spec

RES8 = pool("res", "reserved", 2.0, gpus_per_node=8, reservation_nodes=1, max_nodes=1)
OD8 = pool("od", "on-demand", 4.0, gpus_per_node=8, max_nodes=10)


def wants_eight(model: str) -> tuple[PolicySpec, Observation]:
    s = spec(model=model, min_replicas=8, max_replicas=8, spot_max_fraction=0.0)
    return s, obs(model=model, current_replicas=0, ready_replicas=0, rps_stable=80.0, rps_short=80.0)


def test_two_models_never_plan_more_than_the_shared_reservation() -> None:
    """One 8-GPU reserved node, two models wanting 8 one-GPU replicas each: the reserved
    node goes to one of them; the other is planned on on-demand."""
    (sa, oa), (sb, ob) = wants_eight("a"), wants_eight("b")
    plan, states = plan_tick({"a": oa, "b": ob}, [sb, sa], [RES8, OD8], {})
    placed = {d.model: {t.pool: (t.nodes, t.replicas) for t in d.pools} for d in plan.decisions}
    reserved = sum(p.get("res", (0, 0))[0] for p in placed.values())
    assert reserved == 1  # never 2: the reservation holds one node
    assert placed["a"]["res"] == (1, 8)  # fixed order: "a" first
    assert placed["b"] == {"od": (1, 8)}
    assert plan.ledger.used("res") == 1
    assert set(states) == {"a", "b"}


def test_the_model_already_on_the_reservation_keeps_it() -> None:
    """ "b" runs on the reserved node; "a" (first in order) cannot take it from under it."""
    (sa, oa), (sb, ob) = wants_eight("a"), wants_eight("b")
    on_res = (PoolObservation(name="res", ready_nodes=1, replicas=8),)
    ob = ob.model_copy(update={"current_replicas": 8, "ready_replicas": 8, "pools": on_res})
    plan, _ = plan_tick({"a": oa, "b": ob}, [sa, sb], [RES8, OD8], {})
    placed = {d.model: {t.pool: t.nodes for t in d.pools if t.nodes} for d in plan.decisions}
    assert placed == {"a": {"od": 1}, "b": {"res": 1}}


def test_unknown_policy_is_an_error_and_keeps_its_hold() -> None:
    (sa, oa), (sb, ob) = wants_eight("a"), wants_eight("b")
    sa = sa.model_copy(update={"policy": "nope"})
    oa = oa.model_copy(update={"pools": (PoolObservation(name="res", ready_nodes=1, replicas=8),)})
    plan, states = plan_tick({"a": oa, "b": ob}, [sa, sb], [RES8, OD8], {})
    assert [m for m, _ in plan.errors] == ["a"] and "nope" in plan.errors[0][1]
    assert [d.model for d in plan.decisions] == ["b"] and "a" not in states
    assert {t.pool for t in plan.decisions[0].pools if t.nodes} == {"od"}  # "a" still holds res


def test_dry_run_issues_no_commands() -> None:
    s, o = wants_eight("a")
    plan, _ = plan_tick({"a": o}, [s.model_copy(update={"mode": "dry-run"})], [RES8, OD8], {})
    assert plan.decisions[0].dry_run and plan.commands == ()


P1 = pool("p1", max_nodes=10)
P2 = pool("p2", max_nodes=10)


def decision(*targets: PT) -> Decision:
    return Decision(model="m", at=NOW, desired_replicas=sum(t.replicas for t in targets), pools=targets,
                    winner="reactive")  # fmt: skip


def seen(name: str, replicas: int, nodes: int | None = None) -> PoolObservation:
    return PoolObservation(name=name, ready_nodes=replicas if nodes is None else nodes, replicas=replicas)


def t(pool_name: str, n: int) -> PT:
    return PT(pool=pool_name, capacity_type="on-demand", nodes=n, replicas=n)


N, R = SetNodes, SetReplicas


@pytest.mark.parametrize(
    ("name", "now", "targets", "pools", "shrink", "grow"),
    [
        ("grow: nodes then replicas", [], [t("p1", 3)], [P1], [], [N("m", "p1", 3, 3), R("m", "p1", 3)]),
        ("shrink: replicas then nodes", [seen("p1", 5)], [t("p1", 2)], [P1],
         [R("m", "p1", 2), N("m", "p1", 2, 2)], []),
        ("same count counts as growing (idempotent re-assert)", [seen("p1", 2)], [t("p1", 2)], [P1],
         [], [N("m", "p1", 2, 2), R("m", "p1", 2)]),
        ("pool left out and in use: to zero, replicas first", [seen("p1", 3)], [t("p2", 3)], [P1, P2],
         [R("m", "p1", 0), N("m", "p1", 0, 0)], [N("m", "p2", 3, 3), R("m", "p2", 3)]),
        ("pool left out with idle nodes only: nodes to zero", [seen("p1", 0, nodes=2)], [], [P1],
         [], [N("m", "p1", 0, 0), R("m", "p1", 0)]),
        ("pool left out and empty: nothing", [], [], [P1, P2], [], []),
    ],
)  # fmt: skip
def test_actuation_order(
    name: str, now: list[PoolObservation], targets: list[PT], pools: Sequence[PoolSpec],
    shrink: list[Command], grow: list[Command],
) -> None:  # fmt: skip
    s, g = commands_for(decision(*targets), obs(model="m", pools=tuple(now)))
    assert (s, g) == (shrink, grow), name


def test_a_tick_releases_before_it_acquires() -> None:
    """All shrinking commands of the tick run before any growing one, across models."""

    def fixed(o: Observation, s: PolicySpec, pools: Sequence[PoolSpec], st: PolicyState,
              ledger: ReservationLedger | None) -> tuple[Decision, PolicyState]:  # fmt: skip
        n = 1 if s.model == "a" else 4
        return Decision(model=s.model, at=o.now, desired_replicas=n, pools=(t("p1", n),),
                        winner="reactive"), st  # fmt: skip

    oa = obs(model="a", pools=(seen("p1", 4),))
    ob = obs(model="b", pools=(seen("p1", 1),))
    plan, _ = plan_tick({"a": oa, "b": ob}, [spec(model="a"), spec(model="b")], [P1], {}, decide_fn=fixed)
    assert plan.commands == (R("a", "p1", 1), N("a", "p1", 1, 1), N("b", "p1", 4, 4), R("b", "p1", 4))
