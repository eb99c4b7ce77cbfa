"""The pools as the capacity planner reads them: parallel lists in the planner's fixed order.

``poolview`` fills a ``PoolTable`` once per tick in a single pass over what was observed;
building one value per pool per tick cost more than the planning itself at 1000 policies
x 30 pools. What a tick's pools make for a policy (their order, replicas per node, the
reservations) is a ``Layout``; a ``Catalog`` (the tick's pools, ``core/catalog.py``) works each
layout out once per tick for all the policies that share it (usually all), not once per
policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from forescale.core.ledger import ReservationLedger
from forescale.core.model import CapacityType, PoolSpec

TYPE_RANK = {"reserved": 0, "spot": 1, "on-demand": 2}


def rank(p: PoolSpec, per_node: int) -> tuple[int, float, str, str]:
    """The planner's fixed order: reserved, spot, on-demand; cheapest per replica first within
    each (then zone and name, so ties are broken the same way every tick)."""
    return TYPE_RANK[p.capacity_type], p.price_per_node_hour / per_node, p.zone, p.name


class PoolFacts(NamedTuple):
    """One pool as the planner sees it this tick (a row of ``PoolTable``)."""

    spec: PoolSpec
    per_node: int  # replicas per node
    ready: int
    starting: int
    unavailable: bool  # insufficient capacity within the TTL: launch nothing
    slow: bool  # spot nodes starting longer than the fallback timeout
    lead_s: float
    interruption_rate: float  # per node-second


@dataclass(slots=True)
class Layout:
    """What never changes between ticks for a policy's pools: in planner order, shared."""

    specs: list[PoolSpec]
    # names and capacity types of specs, index for index: read for every model, and a
    # pydantic field read costs several list lookups
    names: list[str]
    types: list[CapacityType]
    per: list[int]
    kinds: dict[str, list[int]]  # capacity type -> indexes, each cheapest first
    index: dict[str, int]  # pool name -> position
    max_nodes: list[int]
    lead_prior: tuple[float, ...]  # PoolSpec.lead_time_s
    ledger: ReservationLedger  # the reservations, none held
    hard: list[int]  # max_nodes, for reserved pools at most the reservation
    # Shared by every table of the layout with no learned lead times or interruptions (the
    # usual case), so a tick does not copy them per model: tuples, never changed.
    no_rates: tuple[float, ...]  # all zero
    lead_max: float  # max(lead_prior), the forecast horizon unless a lead time was learned


@dataclass(slots=True, init=False)
class PoolTable:
    """Per-tick facts of the layout's pools, index for index."""

    layout: Layout
    ready: list[int]
    starting: list[int]
    unavailable: list[bool]
    slow: list[bool]
    lead_s: Sequence[float]
    rate: Sequence[float]
    occupied: list[int]  # indexes with nodes ready or starting, ascending: usually a few

    # its own __init__, made once per model and tick: the one @dataclass writes is Python
    # code even when this module is compiled; this one is native (scripts/build_core.py)
    def __init__(
        self, layout: Layout, ready: list[int], starting: list[int], unavailable: list[bool],
        slow: list[bool], lead_s: Sequence[float], rate: Sequence[float], occupied: list[int],
    ) -> None:  # fmt: skip
        self.layout = layout
        self.ready = ready
        self.starting = starting
        self.unavailable = unavailable
        self.slow = slow
        self.lead_s = lead_s
        self.rate = rate
        self.occupied = occupied

    @classmethod
    def of(cls, facts: Sequence[PoolFacts]) -> PoolTable:
        """A table from rows in any order (tests, callers outside decide())."""
        rows = sorted(facts, key=lambda f: rank(f.spec, f.per_node))
        return cls(
            layout([(f.spec, f.per_node) for f in rows]),
            [f.ready for f in rows],
            [f.starting for f in rows],
            [f.unavailable for f in rows],
            [f.slow for f in rows],
            [f.lead_s for f in rows],
            [f.interruption_rate for f in rows],
            [i for i, f in enumerate(rows) if f.ready or f.starting],
        )


def layout(pools: Sequence[tuple[PoolSpec, int]]) -> Layout:
    """The layout of ``(pool, replicas per node)`` pairs given in planner order."""
    kinds: dict[str, list[int]] = {"reserved": [], "spot": [], "on-demand": []}
    for i, (p, _) in enumerate(pools):
        kinds[p.capacity_type].append(i)
    specs = [p for p, _ in pools]
    return Layout(
        specs,
        [p.name for p in specs],
        [p.capacity_type for p in specs],
        [n for _, n in pools],
        kinds,
        {p.name: i for i, p in enumerate(specs)},
        [p.max_nodes for p in specs],
        tuple(p.lead_time_s for p in specs),
        ReservationLedger.from_pools(specs),
        [
            min(p.max_nodes, p.reservation_nodes) if p.capacity_type == "reserved" else p.max_nodes
            for p in specs
        ],
        (0.0,) * len(specs),
        max((p.lead_time_s for p in specs), default=0.0),
    )
