"""The capacity planner: replicas -> nodes and replicas per pool, in one fixed order.

``plan_capacity`` fills pools in this order (STYLE.md #7); within a capacity type, ready
nodes are kept first (cheapest first), then nodes still starting, and new ones launched
after (cheapest first), so a smaller count drops the most expensive nodes and a larger one
never moves healthy ones nor cancels a launch for another:

1. capacity reservations (already paid for, so always used first);
2. the policy's on-demand base: ``on_demand_base`` replicas always on on-demand, even
   where a reservation has room (the base is taken out before reservations are filled;
   only when on-demand cannot hold it does the rest go to the reservation);
3. spot, capped at ``spot_max_fraction`` of the replicas; new spot nodes are spread over
   the spot pools with room (an even share each before any takes more), so one pool's
   interruption or stock-out hits a part;
4. on-demand for the rest; when on-demand is full too, spot past its fraction;
5. a spot buffer: nodes for the interruptions expected within each spot pool's lead time;
6. on-demand cover for spot replicas whose nodes have been starting longer than
   ``spot_fallback_timeout_s``;
7. make before break: ready nodes the plan drops are kept (cheapest first) until the
   plan's *ready* nodes carry the replicas, so moving back to spot, or to a cheaper pool,
   never removes serving capacity before its replacement is ready. Reserved nodes in use
   are always kept.

A pool marked unavailable (insufficient capacity within its TTL) launches nothing: its cap
is its ready nodes. A pool never gets more than ``max_nodes``, a reserved pool never more
than its free reservation (``ReservationLedger``). ``Decision.pools`` lists a pool when it
has nodes planned or seen; an absent pool is to be at zero nodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

from forescale.core.ledger import ReservationLedger
from forescale.core.model import PolicySpec, PoolTarget
from forescale.core.pooltable import PoolFacts, PoolTable

# The planner's inputs are part of its interface; import them from here or their modules.
__all__ = ["Plan", "PoolFacts", "PoolTable", "ReservationLedger", "plan_capacity"]

# Below this many expected interruptions per lead time a spot pool gets no buffer: an
# exponentially weighted rate never decays to exactly zero, and one spare node per pool
# forever would cost more than the rare interruption it absorbs.
MIN_EXPECTED_INTERRUPTIONS = 0.05


@dataclass(frozen=True, slots=True, init=False)  # native when compiled, as PanicStep (panic.py)
class Plan:
    targets: tuple[PoolTarget, ...]
    notes: tuple[str, ...]
    unplaced: int  # replicas no pool could take

    def __init__(self, targets: tuple[PoolTarget, ...], notes: tuple[str, ...], unplaced: int) -> None:
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "unplaced", unplaced)


class _Fill:
    """Working state of one planning pass, local to plan_capacity."""

    __slots__ = (
        "assigned",
        "caps",
        "hard",
        "held",
        "kinds",
        "launching",
        "live",
        "names",
        "nodes",
        "per",
        "planned",
        "ready",
        "t",
        "types",
    )

    def __init__(self, t: PoolTable, ledger: ReservationLedger, holder: str) -> None:
        lay = t.layout
        self.t = t
        self.names = names = lay.names
        self.types = types = lay.types
        self.per = lay.per
        self.kinds = lay.kinds
        self.ready = ready = t.ready
        # hard: max_nodes, and the free reservation for reserved pools;
        # caps: what may be planned now, `hard` less launches where they fail.
        # Always from the ledger: in a tick it holds what the models decided before this
        # one took (core/tick.py), so two models never plan onto the same reserved node.
        self.hard = hard = list(lay.max_nodes)
        reserved = lay.kinds["reserved"]
        if reserved:
            # ledger.free() inlined: asked for every reserved pool of every model each tick
            capacity, totals, held_by = ledger.capacity, ledger.totals, ledger.held
            full = False
            for i in reserved:
                name = names[i]
                free = capacity.get(name, 0) - totals.get(name, 0) + held_by.get((name, holder), 0)
                if free < hard[i]:
                    hard[i] = free if free > 0 else 0
                    full = full or free <= 0
            if full:
                # A reserved pool with nothing free can take no node, so filling it is a
                # no-op: leave it out of the fill passes. In a tick the reservations go to
                # the first models that hold them, and most models see them all taken.
                self.kinds = {**self.kinds, "reserved": [i for i in reserved if hard[i] > 0]}
        self.caps = caps = list(hard)
        # compress(): the (few) flagged pools' indexes, without a Python loop over all of them
        n = len(caps)
        if True in t.slow:
            for i in compress(range(n), t.slow):
                caps[i] = min(caps[i], ready[i] + t.starting[i])
        if True in t.unavailable:
            for i in compress(range(n), t.unavailable):
                caps[i] = min(caps[i], ready[i])
        self.nodes = [0] * n
        self.assigned = [0] * n
        self.planned: list[int] = []  # pools given nodes by fill(); others keep what they had
        # per capacity type, the pools with ready nodes and those with nodes starting
        # (usually a few of the many); live: ready + starting nodes per pool
        self.held: dict[str, list[int]] = {"reserved": [], "spot": [], "on-demand": []}
        self.launching: dict[str, list[int]] = {"reserved": [], "spot": [], "on-demand": []}
        held, launching, starting = self.held, self.launching, t.starting
        self.live = ready
        for i in t.occupied:
            if ready[i]:
                held[types[i]].append(i)
            if starting[i]:
                launching[types[i]].append(i)
                if self.live is ready:
                    self.live = [r + s for r, s in zip(ready, starting, strict=True)]

    def fill(
        self, idx: Sequence[int], want: int, share: int | None = None, *, upto: Sequence[int] | None = None
    ) -> int:
        """Place up to ``want`` replicas on pools ``idx`` in order; returns what is left.

        ``share`` caps what one pool takes in this pass; ``upto`` caps its nodes (its ready
        nodes, or ready and starting: nodes there are kept before new ones are launched).
        """
        nodes, caps, per, assigned = self.nodes, self.caps, self.per, self.assigned
        # (conditionals rather than min()/max(): this loop runs ~10 times per model and tick)
        for i in idx:
            if want <= 0:
                break
            take = want if share is None or want < share else share
            p, n = per[i], nodes[i]
            slack = n * p - assigned[i]  # free slots on nodes already planned
            add = 0
            if take > slack:
                cap = caps[i]
                if upto is not None and upto[i] < cap:
                    cap = upto[i]
                add = -(-(take - slack) // p)
                if cap - n < add:
                    add = cap - n if cap > n else 0
            placed = slack + add * p
            if take < placed:
                placed = take
            if placed <= 0:
                continue
            if add and not n:
                self.planned.append(i)
            nodes[i] = n + add
            assigned[i] += placed
            want -= placed
        return want

    def fill_kind(self, kind: str, want: int) -> int:
        """Ready nodes of ``kind`` first, then nodes starting, then new ones (cheapest first
        each): a smaller count so drops the most expensive nodes, and a larger one keeps all."""
        if want <= 0:
            return want
        held = self.held[kind]
        if held:
            want = self.fill(held, want, upto=self.ready)
            if want <= 0:  # the ready nodes carry it (the usual case for the on-demand base)
                return want
        return self.fill(self.kinds[kind], self.fill_launching(kind, want))

    def fill_launching(self, kind: str, want: int) -> int:
        """Nodes already starting before any new launch: a node on its way is ready sooner
        than a new one and has been paid for since its launch. (Filling only ready nodes
        before new ones in the cheapest pool cancelled a pricier zone's starting node and
        launched a new one, a lead time later, on the tick the first node became ready.)"""
        launching = self.launching[kind]
        return self.fill(launching, want, upto=self.live) if launching and want > 0 else want


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
    base = min(spec.on_demand_base, replicas)
    left = w.fill_kind("reserved", replicas - base)
    base_left = w.fill_kind("on-demand", base)
    if base_left:  # on-demand is full: the reservation is the next-safest place for the base
        base_left = w.fill_kind("reserved", base_left)
    left += base_left
    left = _fill_spot(w, kinds["spot"], left, math.floor(spec.spot_max_fraction * replicas + 1e-9))
    left = w.fill_kind("on-demand", left)
    unplaced = w.fill_kind("spot", left)  # on-demand is full: spot past its fraction beats nothing
    if unplaced < left:
        notes.append(
            f"spot overflow: {left - unplaced} replicas on spot past spot_max_fraction, on-demand is full"
        )
    _spot_buffer(w, kinds["spot"], notes)
    _cover_slow_spot(w, notes)
    _keep_ready(w, replicas, notes)
    if unplaced:
        notes.append(f"capacity: {unplaced} replicas could not be placed, no usable pool has room for them")
    return Plan(_targets(w), tuple(notes), unplaced)


def _targets(w: _Fill) -> tuple[PoolTarget, ...]:
    """One target per pool with nodes planned or seen; absent pools mean zero nodes."""
    nodes, per, assigned, names, types = w.nodes, w.per, w.assigned, w.names, w.types
    out = []
    for i in sorted(set(w.t.occupied).union(w.planned)):
        n = nodes[i]
        placed = n * per[i]
        out.append(PoolTarget(names[i], types[i], n, placed if placed < assigned[i] else assigned[i]))
    return tuple(out)


def _fill_spot(w: _Fill, idx: list[int], left: int, budget: int) -> int:
    """Spot up to ``budget`` replicas: ready spot nodes first, then those starting, then new
    ones spread over the pools with room (an even share each before any takes more)."""
    want = min(left, budget)
    if want <= 0:
        return left
    held = w.held["spot"]
    if len(held) > 1:
        # Kept spot nodes spread like new ones: an even share of each pool held first, then
        # the rest cheapest first. Shrinking cheapest-first alone moved every spot replica
        # into the cheapest pool, where one reclaim took them all (the demo's outage took 4
        # of 6 replicas; hpa-karpenter, whose consolidation delay happened to hold a node
        # elsewhere, lost 4 of 7).
        rest = w.fill(held, w.fill(held, want, -(-want // len(held)), upto=w.ready), upto=w.ready)
    else:
        rest = w.fill(held, want, upto=w.ready)
    rest = w.fill_launching("spot", rest)
    # On-demand nodes already starting (launched while spot was out of capacity) before any
    # new spot node: when a spot pool's unavailable mark expired, new spot launches took
    # their place and cancelled them a tick before they were ready; spot, still short,
    # failed again and on-demand started over, ~20 min of misses per outage on the Alibaba
    # trace (fair-evaluation.md, "fourth pass"). Once they are ready, the next tick moves
    # back to spot as usual (_keep_ready holds them until spot is ready).
    rest = w.fill_launching("on-demand", rest)
    if rest:
        caps, nodes = w.caps, w.nodes
        usable = [i for i in idx if caps[i] > nodes[i]]
        if usable:
            # New nodes: an even share each first, so one pool's interruption hits a part;
            # but spread over no more pools than the nodes needed (at the cheapest pool's
            # slots per node). A share of replicas per pool would launch a node in every
            # pool for a few replicas: 3 replicas on 8-GPU nodes in 3 zones were 3 nodes,
            # 21 idle GPUs paid through their whole lead time and scale-down window
            # (docs/designs/fair-evaluation.md, "third pass").
            spread = min(len(usable), -(-rest // w.per[usable[0]]))
            rest = w.fill(usable, rest, -(-rest // spread))
            rest = w.fill(usable, rest)
    return left - (want - rest)


def _spot_buffer(w: _Fill, idx: list[int], notes: list[str]) -> None:
    """Spare spot nodes for the interruptions expected before a replacement would be ready."""
    rate, lead = w.t.rate, w.t.lead_s
    if not any(rate):
        return
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
                f"spot buffer: +{add} nodes in {w.names[i]}, {expected:.2f} interruptions expected "
                f"within its {lead[i]:.0f} s lead time"
            )


def _cover_slow_spot(w: _Fill, notes: list[str]) -> None:
    """On-demand for spot replicas whose nodes have been starting longer than the timeout."""
    if True not in w.t.slow:
        return
    for i in w.kinds["spot"]:
        if not w.t.slow[i]:
            continue
        stuck = max(0, w.nodes[i] - w.ready[i])
        cover = min(w.assigned[i], stuck * w.per[i])
        if cover <= 0:
            continue
        missing = w.fill(w.kinds["on-demand"], cover)
        notes.append(
            f"fallback: {cover - missing} replicas on on-demand while {stuck} nodes of {w.names[i]} "
            "have been starting longer than the spot fallback timeout"
        )


def _keep_ready(w: _Fill, replicas: int, notes: list[str]) -> None:
    """Keep ready nodes the plan drops until the plan's ready nodes carry ``replicas``."""
    nodes, ready, hard, per, types = w.nodes, w.ready, w.hard, w.per, w.types
    occupied = w.t.occupied  # only pools with ready nodes matter here
    short = replicas
    for i in occupied:
        if ready[i] > nodes[i] and types[i] == "reserved":  # reservations in use stay
            nodes[i] = max(nodes[i], min(ready[i], hard[i]))
        short -= (nodes[i] if nodes[i] < ready[i] else ready[i]) * per[i]
    if short <= 0:
        return
    surplus = [i for i in occupied if min(ready[i], hard[i]) > nodes[i]]
    specs = w.t.layout.specs
    surplus.sort(key=lambda i: specs[i].price_per_node_hour / per[i])
    for i in surplus:
        if short <= 0:
            break
        keep = min(min(ready[i], hard[i]) - nodes[i], -(-short // per[i]))
        nodes[i] += keep
        w.assigned[i] += keep * per[i]
        short -= keep * per[i]
        notes.append(f"keep: {keep} ready nodes in {w.names[i]} until their replacements are ready")
