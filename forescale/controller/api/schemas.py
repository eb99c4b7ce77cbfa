"""Response bodies of the API as pydantic models: the handlers build them and
``openapi.py`` derives the document's schemas from them, so the two cannot drift."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from forescale.controller.api.audit import AuditRecord
from forescale.controller.store import ModelError
from forescale.core.model import Decision, Forecast, PolicySpec, PoolSpec
from forescale.sim.whatif import WhatIf


class PolicyItem(BaseModel):
    etag: str = Field(description="Strong ETag of the stored policy (send it as If-Match).")
    spec: PolicySpec


class InvalidItem(BaseModel):
    """A stored entry that does not validate (written by hand or by an older version):
    listed so that it can be seen, and deletable (DELETE needs no If-Match for it)."""

    name: str
    error: str = Field(description="Why it does not validate.")


class PolicyList(BaseModel):
    items: list[PolicyItem]
    invalid: list[InvalidItem] = Field(default_factory=list)


class PoolItem(BaseModel):
    etag: str = Field(description="Strong ETag of the stored pool (send it as If-Match).")
    spec: PoolSpec


class PoolList(BaseModel):
    items: list[PoolItem]
    invalid: list[InvalidItem] = Field(default_factory=list)


class DryRun(BaseModel):
    """Answer of a write with ``dry_run=true``: nothing was stored."""

    dry_run: bool = True
    current: PolicySpec | None = Field(description="The stored policy; null when none.")
    proposed: PolicySpec
    changes: list[dict[str, Any]] = Field(description="JSON diff from current to proposed.")
    what_if: WhatIf | None = Field(description="Replay of recorded demand; null when impossible.")
    what_if_note: str | None = Field(default=None, description="Why what_if is null.")


class SignalStatus(BaseModel):
    at: float = Field(description="When the signals were read, epoch s.")
    rps_short: float | None
    rps_stable: float | None
    queue_depth: int | None
    stale: list[str] = Field(description="Signals missing, stale or failing.")


class ForecastStatus(BaseModel):
    forecast: Forecast
    age_s: float
    stale: bool = Field(description="Older than the policy's prescale.max_forecast_age_s.")


class PoolStatus(BaseModel):
    pool: str
    capacity_type: str
    desired_nodes: int
    desired_replicas: int
    lead_time_s: float | None = Field(description="Measured lead time; null until one is measured.")
    unavailable_since: float | None = Field(description="Last insufficient-capacity error, epoch s.")


class ModelStatus(BaseModel):
    model: str
    mode: str
    policy: str
    desired_replicas: int | None = Field(description="From the last decision; null before the first.")
    current_replicas: int
    ready_replicas: int
    starting_replicas: int
    signals: SignalStatus
    forecasts: list[ForecastStatus]
    pools: list[PoolStatus]
    last_decision: Decision | None
    last_decision_age_s: float | None
    target_problems: list[str] = Field(
        default_factory=list, description="Scale targets missing, without /scale, or scaled by an HPA/KEDA."
    )
    errors: list[ModelError] = Field(
        default_factory=list,
        description="Why the controller's last tick skipped this model (the error it counted in "
        "forescale_controller_errors_total); empty when it decided.",
    )


class Status(BaseModel):
    at: float
    models: list[ModelStatus]


class DecisionList(BaseModel):
    items: list[Decision] = Field(description="Oldest first.")


class AuditList(BaseModel):
    items: list[AuditRecord] = Field(description="Newest first.")
