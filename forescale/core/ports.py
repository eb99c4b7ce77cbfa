"""The three ports the control loop talks through (STYLE.md #4): small protocols, so the
live controller, the simulator and the tests plug in different implementations.

- ``MetricsSource``: demand signals of a model (request rates, queue depth).
- ``NodePoolProvider``: nodes of a model in each pool (placeholders on Kubernetes,
  simulated nodes locally); raises ``core.errors.InsufficientCapacity`` and friends.
- ``ReplicaSetter``: serving replicas of a model in each pool.

Pure: no I/O here, only shapes. Implementations live in ``controller/`` (live) and
``sim/fakes.py`` (fakes with test knobs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from forescale.core.model import PolicySpec, PoolObservation, PoolSpec


@dataclass(frozen=True)
class Signals:
    """Demand signals of one model at ``at``; ``None`` is a missing signal.

    ``stale`` names each signal that is missing, stale, NaN or whose query failed; the
    loop copies it into ``Observation.stale`` so the core holds capacity.
    """

    at: float
    rps_short: float | None = None
    rps_stable: float | None = None
    queue_depth: int | None = None
    stale: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)  # PolicySpec.metrics values by kind


@dataclass(frozen=True)
class ReplicaCounts:
    """Replicas of one model in one pool: requested, ready, and started but not ready."""

    desired: int = 0
    ready: int = 0
    starting: int = 0


@dataclass(frozen=True)
class PoolReplicas:
    """Replica counts of one model per pool name."""

    by_pool: Mapping[str, ReplicaCounts] = field(default_factory=dict)

    @property
    def desired(self) -> int:
        return sum(c.desired for c in self.by_pool.values())

    @property
    def ready(self) -> int:
        return sum(c.ready for c in self.by_pool.values())

    @property
    def starting(self) -> int:
        return sum(c.starting for c in self.by_pool.values())


class MetricsSource(Protocol):
    async def read(self, spec: PolicySpec, now: float) -> Signals:
        """Signals for ``spec.model`` over its stable and panic windows; never raises for
        a missing or failing signal: it is named in ``Signals.stale`` instead."""
        ...

    async def close(self) -> None: ...


class NodePoolProvider(Protocol):
    async def observe(self, model: str, pools: Sequence[PoolSpec], now: float) -> tuple[PoolObservation, ...]:
        """One ``PoolObservation`` per pool, in the order given."""
        ...

    async def set_nodes(self, model: str, pool: PoolSpec, nodes: int, replicas: int) -> None:
        """Ask for ``nodes`` healthy nodes of ``pool`` for ``model``, which will carry
        ``replicas`` of its replicas (capacity beyond them is held ahead of demand). Nodes
        under an interruption notice do not count, so replacements start during the drain.
        Raises ``InsufficientCapacity`` / ``QuotaExceeded`` / ``ReservationExhausted``."""
        ...

    async def close(self) -> None: ...


class ReplicaSetter(Protocol):
    async def replicas(self, model: str, pools: Sequence[PoolSpec]) -> PoolReplicas:
        """Current replica counts of ``model`` in each pool."""
        ...

    async def set_replicas(self, model: str, pool: PoolSpec, replicas: int) -> None:
        """Scale ``model`` in ``pool`` to ``replicas`` (idempotent: an absolute count)."""
        ...

    async def close(self) -> None: ...
