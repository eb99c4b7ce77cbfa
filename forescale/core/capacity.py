"""Capacity: a pure reservation ledger and the planner that turns replicas into nodes per pool.

``plan_capacity`` fills pools in one fixed order (STYLE.md #7):

1. capacity reservations, cheapest first (already paid for, so always used first);
2. the policy's on-demand base (replicas on reserved capacity count toward it: both are
   equally safe from interruption);
3. spot, cheapest first, spread over the available spot pools (each takes at most an even
   share before any takes more) and capped at ``spot_max_fraction`` of the replicas;
   each spot pool gets a buffer of nodes = expected interruptions within its lead time;
4. on-demand for the rest, cheapest first;
5. on-demand cover for spot nodes starting longer than ``spot_fallback_timeout_s``;
6. healthy ready nodes the plan would drop are kept, cheapest first, until the plan's
   *ready* nodes carry the replicas (make before break: moving back to spot or between
   pools never removes serving capacity before its replacement is ready; and scale-down
   so removes the most expensive nodes first). Reserved nodes in use are always kept.

A pool marked unavailable (insufficient capacity within its TTL) launches nothing: its
cap is its ready nodes. A pool never gets more than ``max_nodes``, a reserved pool never
more than its free reservation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from forescale.core.errors import ReservationExhausted
from forescale.core.model import PolicySpec, PoolSpec, PoolTarget
from forescale.core.trusted import build

TYPE_RANK = {"reserved": 0, "spot": 1, "on-demand": 2}
# Below this many expected interruptions per lead time a spot pool gets no buffer: an
# exponentially weighted rate never decays to exactly zero, and one spare node per pool
# forever would cost more than the rare interruption it absorbs.
MIN_EXPECTED_INTERRUPTIONS = 0.05


@dataclass(frozen=True)
class ReservationLedger:
    """Reserved nodes per pool and who holds them. Pure: every change returns a new ledger.

    ``reserve`` sets a holder's count (calling it twice with the same count changes
    nothing), ``release`` drops it (releasing twice is harmless). Asking for more than the
    reservation raises ``ReservationExhausted``: a caller that over-reserves has a bug.
    """

    capacity: Mapping[str, int]
    held: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def from_pools(cls, pools: Sequence[PoolSpec]) -> ReservationLedger:
        return cls({p.name: p.reservation_nodes for p in pools if p.reservation_nodes})

    def used(self, pool: str) -> int:
        return sum(n for (p, _), n in self.held.items() if p == pool)

    def free(self, pool: str, holder: str | None = None) -> int:
        """Nodes still free in ``pool``'s reservation; ``holder``'s own count counts as free."""
        own = self.held.get((pool, holder), 0) if holder is not None else 0
        return self.capacity.get(pool, 0) - self.used(pool) + own

    def reserve(self, pool: str, holder: str, nodes: int) -> ReservationLedger:
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        if nodes > self.free(pool, holder):
            raise ReservationExhausted(pool, f"{holder} asks {nodes}, {self.free(pool, holder)} free")
        held = dict(self.held)
        held[(pool, holder)] = nodes
        return ReservationLedger(self.capacity, held)

    def release(self, pool: str, holder: str) -> ReservationLedger:
        if (pool, holder) not in self.held:
            return self
        held = dict(self.held)
        del held[(pool, holder)]
        return ReservationLedger(self.capacity, held)


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
    per: list[int]
    kinds: dict[str, list[int]]  # capacity type -> indexes, each cheapest first
    index: dict[str, int]  # pool name -> position
    max_nodes: list[int]
    lead_prior: list[float]  # PoolSpec.lead_time_s
    ledger: ReservationLedger  # the reservations, none held


@dataclass(slots=True)
class PoolTable:
    """The pools as parallel lists in planner order (``order``): poolview fills one per tick
    in a single pass, which costs a fraction of building a value per pool."""

    layout: Layout
    ready: list[int]
    starting: list[int]
    unavailable: list[bool]
    slow: list[bool]
    lead_s: list[float]
    rate: list[float]
    occupied: list[int]  # indexes with nodes ready or starting, ascending: usually a few

    @classmethod
    def of(cls, facts: Sequence[PoolFacts]) -> PoolTable:
        """A table from rows in any order (tests, callers outside decide())."""
        rows = sorted(facts, key=lambda f: _rank(f.spec))
        return cls(layout(tuple((f.spec, f.per_node) for f in rows)), [f.ready for f in rows],
                   [f.starting for f in rows], [f.unavailable for f in rows], [f.slow for f in rows],
                   [f.lead_s for f in rows], [f.interruption_rate for f in rows],
                   [i for i, f in enumerate(rows) if f.ready or f.starting])


def layout(pools: Sequence[tuple[PoolSpec, int]]) -> Layout:
    """The layout of ``(pool, replicas per node)`` pairs given in planner order."""
    kinds: dict[str, list[int]] = {"reserved": [], "spot": [], "on-demand": []}
    for i, (p, _) in enumerate(pools):
        kinds[p.capacity_type].append(i)
    specs = [p for p, _ in pools]
    return Layout(specs, [n for _, n in pools], kinds, {p.name: i for i, p in enumerate(specs)},
                  [p.max_nodes for p in specs], [p.lead_time_s for p in specs],
                  ReservationLedger.from_pools(specs))


@dataclass(frozen=True, slots=True)
class Plan:
    targets: tuple[PoolTarget, ...]
    notes: tuple[str, ...]
    unplaced: int  # replicas no pool could take


def _rank(p: PoolSpec) -> tuple[int, float, str, str]:
    return TYPE_RANK[p.capacity_type], p.price_per_node_hour, p.zone, p.name


def order(pools: Sequence[PoolSpec]) -> list[PoolSpec]:
    """The planner's fixed order: reserved, spot, on-demand; cheapest first within each."""
    return sorted(pools, key=_rank)


class _Fill:
    """Working state of one planning pass, local to plan_capacity."""

    def __init__(self, t: PoolTable, ledger: ReservationLedger, holder: str) -> None:
        lay = t.layout
        self.t = t
        self.specs = lay.specs
        self.per = lay.per
        self.kinds = lay.kinds
        self.ready = t.ready
        # hard: max_nodes, and the free reservation for reserved pools;
        # caps: what may be planned now, `hard` less launches where they fail.
        self.hard = list(lay.max_nodes)
        for i in lay.kinds["reserved"]:
            self.hard[i] = min(self.hard[i], max(0, ledger.free(lay.specs[i].name, holder)))
        self.caps = list(self.hard)
        if True in t.slow:
            for i, slow in enumerate(t.slow):
                if slow:
                    self.caps[i] = min(self.caps[i], t.ready[i] + t.starting[i])
        if True in t.unavailable:
            for i, bad in enumerate(t.unavailable):
                if bad:
                    self.caps[i] = min(self.caps[i], t.ready[i])
        self.nodes = [0] * len(lay.specs)
        self.assigned = [0] * len(lay.specs)
        self.planned: list[int] = []  # pools given nodes by fill(); others keep what they had

    def fill(self, idx: Sequence[int], want: int, share: int | None = None) -> int:
        """Place up to ``want`` replicas on pools ``idx`` in order; returns what is left."""
        nodes, caps, per = self.nodes, self.caps, self.per
        for i in idx:
            if want <= 0:
                break
            take = want if share is None else min(want, share)
            add = min(caps[i] - nodes[i], -(-take // per[i]))
            if add <= 0:
                continue
            if not nodes[i]:
                self.planned.append(i)
            nodes[i] += add
            placed = min(take, add * per[i])
            self.assigned[i] += placed
            want -= placed
        return want


def plan_capacity(
    replicas: int,
    spec: PolicySpec,
    pools: PoolTable,
    ledger: ReservationLedger,
) -> Plan:
    """Nodes and replicas per pool for ``replicas`` replicas of ``spec.model``; see module doc."""
    w = _Fill(pools, ledger, spec.model)
    kinds = w.kinds
    notes: list[str] = []
    left = w.fill(kinds["reserved"], replicas)
    base = max(0, min(spec.on_demand_base, replicas) - (replicas - left))
    left -= base - w.fill(kinds["on-demand"], base)
    left = _fill_spot(w, kinds["spot"], left, math.floor(spec.spot_max_fraction * replicas + 1e-9))
    unplaced = w.fill(kinds["on-demand"], left)
    _spot_buffer(w, kinds["spot"], notes)
    _cover_slow_spot(w, notes)
    _keep_ready(w, replicas, notes)
    if unplaced:
        notes.append(f"capacity: {unplaced} replicas could not be placed, every usable pool is full")
    return Plan(_targets(w), tuple(notes), unplaced)


# PoolTargets are immutable values and the same ones recur tick after tick, so they are
# shared rather than rebuilt (building them was a third of decide()'s time).
_TARGETS: dict[tuple[str, str, int, int], PoolTarget] = {}
_TARGETS_MAX = 200_000


def _targets(w: _Fill) -> tuple[PoolTarget, ...]:
    """One target per pool with nodes planned or seen; absent pools mean zero nodes."""
    out = []
    nodes = w.nodes
    for i in sorted(set(w.t.occupied).union(w.planned)):
        n = nodes[i]
        p = w.specs[i]
        key = (p.name, p.capacity_type, n, min(n * w.per[i], w.assigned[i]))
        t = _TARGETS.get(key)
        if t is None:
            if len(_TARGETS) >= _TARGETS_MAX:
                _TARGETS.clear()
            t = _TARGETS[key] = build(
                PoolTarget, {"pool": key[0], "capacity_type": key[1], "nodes": key[2], "replicas": key[3]}
            )
        out.append(t)
    return tuple(out)


def _fill_spot(w: _Fill, idx: list[int], left: int, budget: int) -> int:
    """Spot up to ``budget`` replicas: an even share per pool first, then whatever room is left."""
    want = min(left, budget)
    usable = [i for i in idx if w.caps[i] > w.nodes[i]]
    if want <= 0 or not usable:
        return left
    share = -(-want // len(usable))
    rest = w.fill(usable, want, share)
    rest = w.fill(usable, rest)
    return left - (want - rest)


def _spot_buffer(w: _Fill, idx: list[int], notes: list[str]) -> None:
    """Spare spot nodes for the interruptions expected before a replacement would be ready."""
    rate, lead = w.t.rate, w.t.lead_s
    for i in idx:
        if not rate[i] or not w.nodes[i]:
            continue
        expected = w.nodes[i] * rate[i] * lead[i]
        if expected < MIN_EXPECTED_INTERRUPTIONS:
            continue
        add = min(math.ceil(expected), w.caps[i] - w.nodes[i])
        if add > 0:
            w.nodes[i] += add
            w.assigned[i] += add * w.per[i]
            notes.append(
                f"spot buffer: +{add} nodes in {w.specs[i].name}, {expected:.2f} interruptions expected "
                f"within its {lead[i]:.0f} s lead time"
            )


def _cover_slow_spot(w: _Fill, notes: list[str]) -> None:
    """On-demand for spot replicas whose nodes have been starting longer than the timeout."""
    for i in w.kinds["spot"]:
        if not w.t.slow[i]:
            continue
        stuck = max(0, w.nodes[i] - w.ready[i])
        cover = min(w.assigned[i], stuck * w.per[i])
        if cover <= 0:
            continue
        missing = w.fill(w.kinds["on-demand"], cover)
        notes.append(
            f"fallback: {cover - missing} replicas on on-demand while {stuck} nodes of {w.specs[i].name} "
            "have been starting longer than the spot fallback timeout"
        )


def _keep_ready(w: _Fill, replicas: int, notes: list[str]) -> None:
    """Keep ready nodes the plan drops until the plan's ready nodes carry ``replicas``."""
    nodes, ready, hard, per, specs = w.nodes, w.ready, w.hard, w.per, w.specs
    occupied = w.t.occupied  # only pools with ready nodes matter here
    short = replicas
    for i in occupied:
        if ready[i] > nodes[i] and specs[i].capacity_type == "reserved":  # reservations in use stay
            nodes[i] = max(nodes[i], min(ready[i], hard[i]))
        short -= (nodes[i] if nodes[i] < ready[i] else ready[i]) * per[i]
    if short <= 0:
        return
    surplus = [i for i in occupied if min(ready[i], hard[i]) > nodes[i]]
    surplus.sort(key=lambda i: w.specs[i].price_per_node_hour / per[i])
    for i in surplus:
        if short <= 0:
            break
        keep = min(min(ready[i], hard[i]) - nodes[i], -(-short // per[i]))
        nodes[i] += keep
        w.assigned[i] += keep * per[i]
        short -= keep * per[i]
        notes.append(f"keep: {keep} ready nodes in {w.specs[i].name} until their replacements are ready")
