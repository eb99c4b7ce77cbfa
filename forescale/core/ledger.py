"""A pure ledger of capacity reservations (STYLE.md #6), after Karpenter's reservation manager.

Reserved nodes are paid for whether used or not, so the planner fills them first; the
ledger makes sure that no model is planned onto reserved nodes another one holds, and that
nobody ever plans past a reservation. It is a value: every change returns a new ledger,
and it never touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from forescale.core.errors import ReservationExhausted
from forescale.core.model import PoolSpec


@dataclass(frozen=True, slots=True)
class ReservationLedger:
    """Reserved nodes per pool and who holds them. Pure: every change returns a new ledger.

    ``reserve`` sets a holder's count (calling it twice with the same count changes
    nothing), ``release`` drops it (releasing twice is harmless). Asking for more than the
    reservation raises ``ReservationExhausted``: a caller that over-reserves has a bug.
    """

    capacity: Mapping[str, int]
    held: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # nodes held per pool: ``free`` is asked for every reserved pool of every model each
    # tick, and summing ``held`` each time grows with the number of holders
    totals: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.held and not self.totals:
            totals: dict[str, int] = {}
            for (pool, _), n in self.held.items():
                totals[pool] = totals.get(pool, 0) + n
            object.__setattr__(self, "totals", totals)  # the frozen-dataclass idiom for derived fields

    @classmethod
    def from_pools(cls, pools: Sequence[PoolSpec]) -> ReservationLedger:
        return cls({p.name: p.reservation_nodes for p in pools if p.reservation_nodes})

    def used(self, pool: str) -> int:
        return self.totals.get(pool, 0)

    def free(self, pool: str, holder: str | None = None) -> int:
        """Nodes still free in ``pool``'s reservation; ``holder``'s own count counts as free."""
        own = self.held.get((pool, holder), 0) if holder is not None else 0
        # totals read here rather than through used(): asked for every reserved pool of every model
        return self.capacity.get(pool, 0) - self.totals.get(pool, 0) + own

    def reserve(self, pool: str, holder: str, nodes: int) -> ReservationLedger:
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        if nodes > self.free(pool, holder):
            raise ReservationExhausted(pool, f"{holder} asks {nodes}, {self.free(pool, holder)} free")
        held = dict(self.held)
        before = held.get((pool, holder), 0)
        held[(pool, holder)] = nodes
        totals = dict(self.totals)
        totals[pool] = totals.get(pool, 0) - before + nodes
        return ReservationLedger(self.capacity, held, totals)

    def release(self, pool: str, holder: str) -> ReservationLedger:
        if (pool, holder) not in self.held:
            return self
        held = dict(self.held)
        n = held.pop((pool, holder))
        totals = dict(self.totals)
        totals[pool] -= n
        return ReservationLedger(self.capacity, held, totals)
