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
