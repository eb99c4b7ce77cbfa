"""``plan_tick``: one tick for every model, with one reservation ledger, as ordered commands.

The controller, the simulator and the local provider all run this tick; they differ only
in where observations come from and in the ports that carry the commands out
(``core/execute.py``). Karpenter's shape: methods compute commands, one queue runs them.

Order, and why:

- Models are decided in a fixed order (by model name), so a tick is reproducible and a
  reservation two models both want goes the same way every time.
- One ``ReservationLedger`` goes through all of them. Before anyone decides, each model
  holds the reserved nodes it already has (ready or starting, in model order, never past
  the reservation), so nobody plans onto a node another model is using; then each model in
  turn plans with what is free to it and its reserved targets become its holding. Without
  this, two models sharing a reservation each planned onto all of it.
- Commands: for each pool of each model (pools by name), shrinking means replicas first (never take a
  node from under a serving replica), growing means nodes first (capacity before the
  replicas that need it). All shrinking commands of the tick come before all growing
  ones: capacity one model releases (a reserved node) is released before another is
  asked to take it.

Dry-run decisions issue no commands. A model whose policy is unknown is reported in
``TickPlan.errors``, keeps its holdings and issues nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from forescale.core.catalog import Catalog
from forescale.core.ledger import ReservationLedger
from forescale.core.model import Decision, Observation, PolicySpec, PolicyState, PoolSpec
from forescale.core.policy import UnknownPolicy, decide
from forescale.core.poolview import allowed

TickDecideFn = Callable[
    [Observation, PolicySpec, Sequence[PoolSpec], PolicyState, ReservationLedger | None],
    tuple[Decision, PolicyState],
]


# Commands are NamedTuples: immutable, printable and comparable like frozen dataclasses,
# and several times cheaper to build (a tick at 1000 models makes ~10,000 of them).
class SetNodes(NamedTuple):
    """Ask for ``nodes`` healthy nodes of ``pool`` for ``model``, to carry ``replicas``."""

    model: str
    pool: str
    nodes: int
    replicas: int


class SetReplicas(NamedTuple):
    """Scale ``model`` in ``pool`` to ``replicas`` (an absolute count: repeating is harmless)."""

    model: str
    pool: str
    replicas: int


Command = SetNodes | SetReplicas
_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class TickPlan:
    """What one tick decided, and the commands that carry it out, in order."""

    decisions: tuple[Decision, ...]
    commands: tuple[Command, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (model, why) for models not decided
    ledger: ReservationLedger = field(default_factory=lambda: ReservationLedger({}))  # holdings after


# What a model has in a pool now: pool -> (replicas requested, nodes ready or starting), for
# the pools where it has any. One pass over the observation per model and tick serves the
# ledger's seeding and the commands (which look pools up in it by name).
Occupancy = dict[str, tuple[int, int]]


def occupancy(obs: Observation) -> Occupancy:
    """The pools where ``obs`` shows replicas or nodes (ready or starting), in observed order."""
    return {
        p.name: (p.replicas, p.ready_nodes + p.starting_nodes)
        for p in obs.pools
        if p.ready_nodes or p.starting_nodes or p.replicas
    }


def _seed(
    order: Sequence[PolicySpec], occupied: Mapping[str, Occupancy], ledger: ReservationLedger
) -> ReservationLedger:
    cap = ledger.capacity
    for spec in order:
        held = occupied.get(spec.model)
        if not held:
            continue
        for pool, (_, nodes) in held.items():
            if nodes and pool in cap:
                n = min(nodes, ledger.free(pool, spec.model))
                if n > 0:
                    ledger = ledger.reserve(pool, spec.model, n)
    return ledger


def seed_ledger(
    order: Sequence[PolicySpec], observations: Mapping[str, Observation], ledger: ReservationLedger
) -> ReservationLedger:
    """Each model holds the reserved nodes it has now, in model order, never past the reservation."""
    return _seed(order, {m: occupancy(obs) for m, obs in observations.items()}, ledger)


def commands_for(decision: Decision, obs: Observation) -> tuple[list[Command], list[Command]]:
    """(shrinking, growing) commands that move ``obs`` to ``decision``, pool by pool (by name).

    A pool the decision leaves out is to be at zero; it gets commands only if it has
    replicas or nodes now.
    """
    return _commands(decision, occupancy(obs))


def _commands(decision: Decision, occupied: Occupancy) -> tuple[list[Command], list[Command]]:
    # (pool, nodes, replicas) wanted, by pool name: the targets, and zero where the model has
    # replicas or nodes now but the decision lists no target (names are unique, so sorting
    # the rows sorts by name)
    rows = [(t.pool, t.nodes, t.replicas) for t in decision.pools]
    if occupied:
        # pools with replicas or nodes now and no target (a set difference, in C)
        gone = occupied.keys() - {row[0] for row in rows}
        if gone:
            rows += [(name, 0, 0) for name in gone]
    rows.sort()
    shrink: list[Command] = []
    grow: list[Command] = []
    model = decision.model
    now = occupied.get
    for name, nodes, replicas in rows:
        # tuple.__new__ is what a NamedTuple's constructor calls, less one Python call each
        had = now(name)  # (replicas requested, nodes) now; None: nothing there
        if had is None or replicas >= had[0]:
            grow.append(_tuple(SetNodes, (model, name, nodes, replicas)))
            grow.append(_tuple(SetReplicas, (model, name, replicas)))
        else:
            shrink.append(_tuple(SetReplicas, (model, name, replicas)))
            shrink.append(_tuple(SetNodes, (model, name, nodes, replicas)))
    return shrink, grow


def _hold(ledger: ReservationLedger, decision: Decision) -> ReservationLedger:
    """The model's reserved targets become its holdings (released where it planned none)."""
    planned = {t.pool: t.nodes for t in decision.pools if t.capacity_type == "reserved"}
    model = decision.model
    held = ledger.held
    for pool in ledger.capacity:
        n = planned.get(pool, 0)
        if held.get((pool, model)) == (n or None):
            continue  # unchanged: reserving the same count again, or releasing nothing, is a no-op
        # the planner never exceeds what is free to the model; min() guards a custom policy
        n = min(n, ledger.free(pool, model))
        ledger = ledger.reserve(pool, model, n) if n > 0 else ledger.release(pool, model)
        held = ledger.held
    return ledger


def plan_tick(
    observations: Mapping[str, Observation],
    specs: Sequence[PolicySpec],
    pools: Sequence[PoolSpec],
    states: Mapping[str, PolicyState],
    *,
    decide_fn: TickDecideFn = decide,
) -> tuple[TickPlan, dict[str, PolicyState]]:
    """Decide every model that has an observation; see the module docstring for the order.

    Returns the plan and the new state of every model decided (others keep theirs).
    """
    order = sorted(specs, key=lambda s: s.model)
    # by name: one order whatever the source's; one Catalog per allowed-pool list, so each
    # layout is worked out once a tick, not once per policy
    every = sorted(pools, key=lambda p: p.name)
    catalogs: dict[tuple[str, ...], Catalog] = {}
    occupied = {m: occupancy(obs) for m, obs in observations.items()}
    ledger = _seed(order, occupied, ReservationLedger.from_pools(every))
    decisions: list[Decision] = []
    shrink: list[Command] = []
    grow: list[Command] = []
    errors: list[tuple[str, str]] = []
    new_states: dict[str, PolicyState] = {}
    for spec in order:
        obs = observations.get(spec.model)
        if obs is None:
            continue
        catalog = catalogs.get(spec.pools)
        if catalog is None:
            catalog = catalogs[spec.pools] = Catalog(allowed(spec, every))
        try:
            decision, new_states[spec.model] = decide_fn(
                obs, spec, catalog, states.get(spec.model) or PolicyState(), ledger
            )
        except UnknownPolicy as exc:  # written past the admin API's check: skip this one
            errors.append((spec.model, str(exc)))
            continue
        if spec.mode == "dry-run" and not decision.dry_run:
            decision = decision.model_copy(update={"dry_run": True})
        decisions.append(decision)
        if not decision.dry_run:  # a dry run changes nothing: it keeps what it holds now
            ledger = _hold(ledger, decision)
            s, g = _commands(decision, occupied[spec.model])
            shrink += s
            grow += g
    plan = TickPlan(tuple(decisions), (*shrink, *grow), tuple(errors), ledger)
    return plan, new_states
