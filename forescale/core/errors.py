"""Typed errors that drive fallback (STYLE.md #5): callers branch on the type, never the text."""

from __future__ import annotations


class CapacityError(Exception):
    """Base for errors about getting capacity from a pool."""

    def __init__(self, pool: str, detail: str = "") -> None:
        super().__init__(f"{pool}: {detail}" if detail else pool)
        self.pool = pool
        self.detail = detail


class InsufficientCapacity(CapacityError):
    """The provider has no capacity of this kind now (spot ICE, on-demand stock-out)."""


class QuotaExceeded(CapacityError):
    """The account's quota for this pool is used up; retrying will not help soon."""


class ReservationExhausted(CapacityError):
    """A capacity reservation has no free instances left."""
