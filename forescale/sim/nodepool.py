"""The one pool state machine: nodes of each model in each pool, over (injected) time.

The simulator's cluster, the test fake (``sim/fakes.py``) and the local provider
(``controller/actuators/local.py``, which adds real worker processes) all keep their
nodes here, so they share one node timing, one lead-time report, one insufficient-capacity
rule and one choice of which node goes. What differs is passed in:

- ``launch_delay(pool)``: launch to node ready (the pool's lead time, or a distribution);
- ``preempt_delay(pool)``: launch to interruption notice (``inf``: never), drawn at launch,
  so a Poisson rate per node is exact however often the machine is looked at;
- ``notice_s(pool)``: notice to the node being gone (``inf``: only ``drop_drained`` removes it);
- ``room(pool, now)``: how many nodes the provider lets the pool hold now (a spot
  availability trace); launching past it is insufficient capacity;
- ``load_s``: what is added to node-ready for the lead time reported (model load);
  ``report_leads=False`` leaves lead times to the caller (``add_lead``).

Knobs, as on Karpenter's fake provider: ``unavailable`` pools cannot grow (insufficient
capacity), ``never_ready`` pools launch nodes that never become ready, ``interrupt()``.

Rules: a node is healthy until its notice; a pool never holds more healthy nodes than
``max_nodes``, nor a reserved pool more than its reservation, which all models share
(``ReservationExhausted`` after launching what is left of it); growth short of what was
asked launches what fits, records ``insufficient_at`` and raises ``InsufficientCapacity``;
shrinking removes starting nodes first (newest first), then ready nodes carrying the
fewest replicas (newest first): the node least likely to serve goes. Nodes under notice
are never removed by a shrink.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from forescale.core.errors import InsufficientCapacity, ReservationExhausted
from forescale.core.model import PoolObservation, PoolSpec

INF = math.inf
_ids = itertools.count(1)


@dataclass(eq=False)  # identity: two nodes launched together are still two
class Node:
    launched_at: float
    ready_at: float
    notice_at: float = INF  # interruption notice (scheduled at launch, or delivered)
    gone_at: float = INF
    replicas: list[float] = field(default_factory=list)  # simulator: ready time of each replica
    reported: bool = False  # lead time reported
    counted: bool = False  # interruption reported
    id: int = field(default_factory=lambda: next(_ids))

    def healthy(self, now: float) -> bool:
        return self.notice_at > now


@dataclass(eq=False)
class Slot:
    """One model in one pool."""

    nodes: list[Node] = field(default_factory=list)
    insufficient_at: float | None = None
    leads: list[float] = field(default_factory=list)  # reported by the caller, next observe

    def healthy(self, now: float) -> list[Node]:
        return [n for n in self.nodes if n.notice_at > now]


def _fixed_lead(pool: PoolSpec) -> float:
    return pool.lead_time_s


def _never(pool: PoolSpec) -> float:
    return INF


class NodePools:
    def __init__(
        self,
        *,
        launch_delay: Callable[[PoolSpec], float] = _fixed_lead,
        preempt_delay: Callable[[PoolSpec], float] = _never,
        notice_s: Callable[[PoolSpec], float] = _never,
        room: Callable[[PoolSpec, float], int] | None = None,
        load_s: float = 0.0,
        report_leads: bool = True,
    ) -> None:
        self.launch_delay = launch_delay
        self.preempt_delay = preempt_delay
        self.notice_s = notice_s
        self.room = room
        self.load_s = load_s
        self.report_leads = report_leads
        self.unavailable: set[str] = set()
        self.never_ready: set[str] = set()
        self.slots: dict[tuple[str, str], Slot] = {}
        self.specs: dict[str, PoolSpec] = {}

    def slot(self, model: str, pool: str) -> Slot:
        return self.slots.setdefault((model, pool), Slot())

    def items(self) -> Iterator[tuple[tuple[str, str], Slot]]:
        return iter(list(self.slots.items()))

    # ---------------------------------------------------------------- actuation

    def set_nodes(self, model: str, pool: PoolSpec, count: int, now: float, *, warm: bool = False) -> None:
        """Grow or shrink ``model``'s healthy nodes in ``pool`` to ``count``; see the module doc.

        ``warm``: new nodes are ready at once (a replay's starting capacity)."""
        self.specs[pool.name] = pool
        slot = self.slot(model, pool.name)
        healthy = slot.healthy(now)
        want = max(0, min(count, pool.max_nodes))
        if want < len(healthy):
            self.remove(slot, healthy, len(healthy) - want, now)
            return
        reserved = pool.capacity_type == "reserved"
        # a reservation is the pool's, shared by every model: others' healthy nodes use it up
        target = min(want, pool.reservation_nodes - self._others(model, pool.name, now)) if reserved else want
        allowed = len(healthy) if pool.name in self.unavailable else target
        if self.room is not None:
            allowed = min(allowed, max(len(healthy), self.room(pool, now)))
        launch = max(0, min(target, allowed) - len(healthy))
        for _ in range(launch):
            slot.nodes.append(self._launch(pool, now, warm))
        if len(healthy) + launch < target:
            slot.insufficient_at = now
            raise InsufficientCapacity(pool.name, f"{launch} of {target - len(healthy)} nodes launched")
        if target < want:  # what the reservation holds was launched; the rest is not to be had here
            raise ReservationExhausted(
                pool.name,
                f"reservation holds {pool.reservation_nodes} nodes, {target} of them free for {model}",
            )

    def _others(self, model: str, pool: str, now: float) -> int:
        """Healthy nodes other models hold in ``pool``."""
        return sum(len(s.healthy(now)) for (m, p), s in self.slots.items() if p == pool and m != model)

    def _launch(self, pool: PoolSpec, now: float, warm: bool) -> Node:
        if warm:
            ready = now
        else:
            delay = self.launch_delay(pool)  # drawn first: the simulator's random stream order
            ready = INF if pool.name in self.never_ready else now + delay
        node = Node(launched_at=now, ready_at=ready, reported=warm)
        preempt = self.preempt_delay(pool)
        if preempt < INF:
            node.notice_at = now + preempt
            node.gone_at = node.notice_at + self.notice_s(pool)
        return node

    def remove(self, slot: Slot, healthy: list[Node], count: int, now: float) -> list[Node]:
        """Starting nodes first (newest first), then ready ones with the fewest replicas."""
        order = sorted(healthy, key=lambda n: (n.ready_at <= now, len(n.replicas), -n.launched_at))
        gone = order[:count]
        ids = {n.id for n in gone}
        slot.nodes = [n for n in slot.nodes if n.id not in ids]
        return gone

    def interrupt(self, model: str, pool: str, now: float, count: int = 1) -> list[Node]:
        """Interruption notices to the ``count`` oldest healthy nodes (a test and demo knob)."""
        slot = self.slot(model, pool)
        spec = self.specs.get(pool)
        noticed = slot.healthy(now)[:count]
        for node in noticed:
            node.notice_at = now
            node.gone_at = now + (self.notice_s(spec) if spec is not None else INF)
        return noticed

    def notice_newest(self, slot: Slot, pool: PoolSpec, count: int, now: float) -> None:
        """Notices to the ``count`` newest healthy nodes (capacity taken back by the provider)."""
        for node in sorted(slot.healthy(now), key=lambda n: -n.launched_at)[: max(0, count)]:
            node.notice_at = now
            node.gone_at = now + self.notice_s(pool)

    def drop_gone(self, slot: Slot, until: float) -> list[Node]:
        """Forget nodes gone by ``until`` (their notice ran out); returns them."""
        gone = [n for n in slot.nodes if n.gone_at <= until]
        if gone:
            slot.nodes = [n for n in slot.nodes if n.gone_at > until]
        return gone

    def drop_drained(self, model: str, pool: str, notice_s: float, now: float) -> int:
        """Remove nodes whose notice is at least ``notice_s`` old; returns how many went."""
        slot = self.slot(model, pool)
        before = len(slot.nodes)
        slot.nodes = [n for n in slot.nodes if not n.notice_at <= now - notice_s]
        return before - len(slot.nodes)

    # ---------------------------------------------------------------- observing

    def observe(
        self, model: str, pool: PoolSpec, now: float, *, count_events: bool = True
    ) -> PoolObservation:
        """The pool as a provider reports it; lead times and interruptions are reported once."""
        self.specs[pool.name] = pool
        slot = self.slot(model, pool.name)
        healthy = slot.healthy(now)
        ready = sum(1 for n in healthy if n.ready_at <= now)
        leads: list[float] = []
        noticed = 0
        if count_events:
            leads, slot.leads = slot.leads, []
            for node in slot.nodes:
                if self.report_leads and not node.reported and node.ready_at + self.load_s <= now:
                    node.reported = True
                    leads.append(node.ready_at + self.load_s - node.launched_at)
                if not node.counted and node.notice_at <= now:
                    node.counted = True
                    noticed += 1
        return PoolObservation(
            name=pool.name,
            ready_nodes=ready,
            starting_nodes=len(healthy) - ready,
            draining_nodes=len(slot.nodes) - len(healthy),
            insufficient_capacity_at=slot.insufficient_at,
            interruptions=noticed,
            lead_times_s=tuple(leads),
        )
