"""The decision core's vocabulary: what a policy says, what is observed, what is decided.

What people write (policies, pools) and forecasts are frozen pydantic models, validated
once, here, at the edge (STYLE.md #8): nothing downstream checks for ``None`` defaults it
did not ask for. What the core reads or makes every tick (``Observation``,
``PoolObservation``, ``Decision``, ``PoolTarget``, ``Reason``, ``PolicyState``) is a frozen
slotted dataclass (``core/natives.py``: native classes when the core is compiled),
validated and serialised by pydantic only where it crosses an edge (``core/values.py``;
observations are checked by ``core/observe.py``). Both kinds can
be logged, compared in a test, persisted (``model_dump_json``) and loaded back
(``model_validate_json``) by the controller, the admin API and the simulator alike.

Times are epoch seconds (floats); ``Observation.now`` is the only clock the core sees.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal, Self

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from forescale.core.metrics_spec import MetricList
from forescale.core.names import MODEL_NAME_PATTERN as MODEL_NAME_PATTERN
from forescale.core.names import NAME_PATTERN as NAME_PATTERN
from forescale.core.targets import ScaleTargets

# The per-tick values the core makes live in values.py; imported here so that
# ``forescale.core.model`` stays the one place to import the core's vocabulary from.
from forescale.core.values import CapacityType as CapacityType
from forescale.core.values import Decision as Decision
from forescale.core.values import JsonValue, slot_init
from forescale.core.values import PolicyState as PolicyState
from forescale.core.values import PoolObservation as PoolObservation
from forescale.core.values import PoolTarget as PoolTarget
from forescale.core.values import Reason as Reason


class Frozen(BaseModel):
    """Base for all core values: immutable, and unknown fields are an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Spec(Frozen):
    """Base for what people write (policies, pools, scenarios, external forecasts): a
    non-finite number there is an input error, never a value (``Infinity`` would be
    stored as ``null`` and the entry could no longer be read back)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# --------------------------------------------------------------------------- policy


class ScalingRule(Spec):
    """One HPA v2 ``behavior`` policy: change by at most ``value`` pods or percent per period."""

    type: Literal["pods", "percent"] = Field(description="Unit of `value`.")
    value: int = Field(gt=0, description="Pods, or percent of current replicas, per period.")
    period_s: float = Field(gt=0, le=1800, description="Length of the look-back period.")


class ScalingBehavior(Spec):
    """HPA v2 ``behavior.scaleUp`` / ``behavior.scaleDown`` for one direction."""

    stabilization_window_s: float = Field(
        ge=0, le=3600, description="Look-back window over recommendations (HPA semantics)."
    )
    rules: tuple[ScalingRule, ...] = Field(description="Rate limits; see `select`.")
    select: Literal["max", "min", "disabled"] = Field(
        default="max", description="Which rule wins when several apply; `disabled` forbids it."
    )


def hpa_default_scale_up() -> ScalingBehavior:
    """Kubernetes' default scale-up: no window, max(100 %, 4 pods) per 15 s."""
    return ScalingBehavior(
        stabilization_window_s=0,
        rules=(
            ScalingRule(type="percent", value=100, period_s=15),
            ScalingRule(type="pods", value=4, period_s=15),
        ),
        select="max",
    )


def hpa_default_scale_down() -> ScalingBehavior:
    """Kubernetes' default scale-down: 300 s window, up to 100 % per 15 s."""
    return ScalingBehavior(
        stabilization_window_s=300,
        rules=(ScalingRule(type="percent", value=100, period_s=15),),
        select="max",
    )


class PrescaleSpec(Spec):
    """How forecasts raise the floor ahead of demand."""

    mode: Literal["on", "off", "forecast-only"] = Field(
        default="on",
        description="`on` acts on forecasts; `forecast-only` records what it would do; `off` ignores them.",
    )
    quantile: float = Field(default=0.9, gt=0, lt=1, description="Forecast quantile to plan for.")
    headroom: float = Field(
        default=0.1, ge=0, le=2, description="Extra fraction on top of the forecast quantile."
    )
    max_forecast_age_s: float = Field(
        default=900, gt=0, description="Forecasts issued longer ago than this are ignored."
    )
    smooth_over_slo: bool = Field(
        default=True,
        description=(
            "Plan for the forecast's peak mean over latency-SLO-long windows (a request may wait "
            "that long) rather than its raw peak; no effect when the SLO is under two forecast steps."
        ),
    )
    scale_down_window_s: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description=(
            "Scale-down stabilization window while a fresh forecast covers the next lead time "
            "(the shorter of this and scale_down's); null keeps scale_down's window always."
        ),
    )
    # Floor fixes (docs/designs/fair-evaluation.md): each measured on two traces; defaults
    # keep what measured better.
    quantile_of_window_mean: bool = Field(
        default=True,
        description=(
            "With smooth_over_slo: plan for the quantile of each SLO window's mean (the median "
            "plus the per-point spread over sqrt(points), needs a 0.5 column) instead of the "
            "mean of per-point quantiles, which stacks the margin of every point."
        ),
    )
    horizon: Literal["lead", "arrival"] = Field(
        default="lead",
        description=(
            "Window the floor plans for: `lead`, the peak over [now, now + lead time]; "
            "`arrival`, the demand when capacity ordered now arrives, [now + lead time - the "
            "scale-down window (which holds earlier orders), now + lead time + the SLO window]."
        ),
    )
    service_rps_per_replica: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Req/s one replica serves within the latency SLO; the floor divides by it (its "
            "quantile and headroom are the margin, the reactive term carries the utilisation "
            "target). Null: target_rps_per_replica, which stacks both margins."
        ),
    )
    service_tokens_per_replica: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Tokens/s (prompt + generated) one replica sustains within its TTFT/TPOT SLOs at the "
            "model's usual request mix (core/tokens.py token_throughput, or bench/generation.py); "
            "the floor is then the larger of the request floor and the token forecast's peak over "
            "it (core/token_floor.py). Null: the floor is in requests only."
        ),
    )
    min_coverage: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description=(
            "scale_down_window_s applies only while the floor has covered at least this "
            "fraction of realised demand recently (and missed none within scale_down's "
            "window); 0 applies it whenever a fresh forecast covers the lead time."
        ),
    )
    calibration_step: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Online recalibration of the floor (adaptive conformal): each check of a floor "
            "against realised demand multiplies the next floors by exp(step x (quantile - "
            "covered)), so that about a `quantile` share of them cover it; 0 is off."
        ),
    )
    coverage_window_s: float = Field(
        default=1800, gt=0, le=86400, description="Time constant of the floor's coverage average."
    )


class ScheduleSpec(Spec):
    """A replica floor in a window: recurring (cron) or one-off (start epoch seconds)."""

    name: str = Field(min_length=1, max_length=63)
    cron: str | None = Field(default=None, description="Window start, 5-field cron, UTC.")
    start: float | None = Field(default=None, description="One-off window start, epoch s.")
    duration_s: float = Field(gt=0, le=7 * 86400, description="Window length.")
    min_replicas: int = Field(ge=0, description="Replica floor inside the window.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.cron is None) == (self.start is None):
            raise ValueError("exactly one of `cron` and `start` must be given")
        if self.cron is not None and (len(self.cron.split()) != 5 or not croniter.is_valid(self.cron)):
            raise ValueError(f"`cron` is not a valid 5-field cron expression: {self.cron!r}")
        return self


class PolicySpec(Spec):
    """A model's scaling policy; loaded by the admin API, the controller and the simulator."""

    model: str = Field(pattern=MODEL_NAME_PATTERN, description="Model name (as served by the router).")
    policy: str = Field(default="forescale", description="Registered policy name.")
    mode: Literal["active", "dry-run"] = Field(
        default="active", description="`dry-run` decides and records but never actuates."
    )
    min_replicas: int = Field(default=1, ge=0, le=10_000)
    max_replicas: int = Field(default=10, ge=1, le=10_000)
    target_rps_per_replica: float = Field(gt=0, description="Sustainable req/s of one replica.")
    latency_slo_s: float = Field(default=1.5, gt=0, le=3600, description="Latency objective.")
    # Objectives of a text-generation model, for its alerts (deploy/prometheus: p99 against
    # them); the controller exports them beside latency_slo_s. Null: no such objective.
    ttft_slo_s: float | None = Field(
        default=None, gt=0, le=3600, description="Time-to-first-token objective (p99), seconds."
    )
    tpot_slo_s: float | None = Field(
        default=None, gt=0, le=60, description="Time-per-output-token objective (p99 gap), seconds."
    )
    tolerance: float = Field(default=0.1, ge=0, lt=1, description="HPA tolerance around 1.0.")
    scale_up: ScalingBehavior = Field(default_factory=hpa_default_scale_up)
    scale_down: ScalingBehavior = Field(default_factory=hpa_default_scale_down)
    stable_window_s: float = Field(default=60, gt=0, le=3600, description="KPA stable window.")
    panic_window_s: float = Field(default=6, gt=0, le=3600, description="KPA panic window.")
    panic_threshold: float = Field(
        default=2.0, gt=1, le=100, description="Panic when short-window demand / ready capacity exceeds this."
    )
    panic_drain_check: bool = Field(
        default=False,
        description=(
            "Panic only when the queue outlasts the lead time at the ready replicas' target rate "
            "(capacity asked for later than that arrives after the surge); false: KPA's rule alone."
        ),
    )
    prescale: PrescaleSpec = Field(default_factory=PrescaleSpec)
    schedules: tuple[ScheduleSpec, ...] = ()
    gpus_per_replica: int = Field(default=1, ge=1, le=64)
    pools: tuple[str, ...] = Field(default=(), description="Allowed pools; empty means all.")
    targets: ScaleTargets = Field(
        default=(), description="Objects with /scale to set (core.targets); empty: the driver's default."
    )
    spot_max_fraction: float = Field(default=0.8, ge=0, le=1)
    on_demand_base: int = Field(default=0, ge=0, description="Replicas always on on-demand.")
    spot_fallback_timeout_s: float = Field(
        default=300, gt=0, description="Spot nodes not ready after this are covered on-demand."
    )
    unavailable_pool_ttl_s: float = Field(
        default=180, gt=0, description="A pool that reported insufficient capacity is skipped this long."
    )
    metrics: MetricList = Field(default=(), description="Signals with HPA v2 semantics (metrics_spec.py).")

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must be <= max_replicas")
        if self.panic_window_s > self.stable_window_s:
            raise ValueError("panic_window_s must be <= stable_window_s")
        if self.on_demand_base > self.max_replicas:
            raise ValueError("on_demand_base must be <= max_replicas")
        names = [s.name for s in self.schedules]
        if len(names) != len(set(names)):
            raise ValueError("schedule names must be unique")
        return self


class PoolSpec(Spec):
    """A GPU node pool: one capacity type, one accelerator, one zone."""

    name: str = Field(pattern=NAME_PATTERN)
    accelerator: str = Field(default="nvidia-h100", min_length=1)
    gpus_per_node: int = Field(default=1, ge=1, le=64)
    capacity_type: CapacityType
    price_per_node_hour: float = Field(ge=0, description="USD per node-hour.")
    zone: str = Field(default="zone-a", min_length=1)
    max_nodes: int = Field(ge=0, le=100_000)
    reservation_nodes: int = Field(
        default=0, ge=0, description="Nodes reserved and paid for (capacity type `reserved`)."
    )
    lead_time_s: float = Field(
        default=300, gt=0, description="Prior launch-to-ready time until one is measured."
    )

    @model_validator(mode="after")
    def _reservation(self) -> Self:
        if self.reservation_nodes and self.capacity_type != "reserved":
            raise ValueError("reservation_nodes is only for capacity_type `reserved`")
        if self.reservation_nodes > self.max_nodes:
            raise ValueError("reservation_nodes must be <= max_nodes")
        return self


# ---------------------------------------------------------------------- observation


class ForecastPoint(Frozen):
    """Forecast demand for ``[t, t + step_s)``: one value per quantile of the forecast,
    in requests/s and, where the source forecasts it, in tokens/s (prompt + generated)."""

    t: float
    rps: tuple[float, ...] = Field(description="Aligned with Forecast.quantiles.")
    # finite and >= 0, checked by pydantic-core (no Python validator on the controller's
    # per-tick parse): a token floor of inf or NaN would buy every replica allowed, or none
    tokens: tuple[Annotated[float, Field(ge=0, allow_inf_nan=False)], ...] | None = Field(
        default=None, description="Token throughput (tokens/s) per quantile; None: not forecast."
    )


class Forecast(Frozen):
    """A quantile forecast of request rate (and token throughput, where its points carry
    it), from the prescaler or an external source."""

    source: str = Field(default="learned")
    issued_at: float
    step_s: float = Field(gt=0)
    quantiles: tuple[float, ...] = Field(min_length=1)
    points: tuple[ForecastPoint, ...] = ()

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        n = len(self.quantiles)
        if any(len(p.rps) != n for p in self.points):
            raise ValueError("each point needs one value per quantile")
        if any(p.tokens is not None and len(p.tokens) != n for p in self.points):
            raise ValueError("each point's tokens need one value per quantile")
        return self

    @field_validator("points")
    @classmethod
    def _in_time_order(cls, points: tuple[ForecastPoint, ...]) -> tuple[ForecastPoint, ...]:
        # the core reads points in time order; external sources may send them in any order
        if any(a.t > b.t for a, b in itertools.pairwise(points)):
            return tuple(sorted(points, key=lambda p: p.t))
        return points


# The observations are made fresh for every model every tick (1000 models x 30 pools:
# 30,000 pool observations a tick) and read many times by the core. As pydantic models,
# every attribute read cost 3-4x a slot's and each one was two objects for the garbage
# collector to walk; as frozen slotted dataclasses they are one. They are built by our
# own code (the ports' implementations) and checked where they come in from outside the
# core: ``core/observe.py`` (``assemble``, what the controller and the simulator use)
# rejects negative counts and non-finite numbers. Pydantic still validates them where
# they are loaded from data (``model_validate``), with the constraints declared here.
_Count = Annotated[int, Field(ge=0)]


@slot_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Observation(JsonValue):
    """Everything one tick of a policy may use. ``None`` means the signal is missing."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid", allow_inf_nan=False)

    now: float
    model: str
    rps_short: Annotated[float | None, Field(description="Request rate, panic window.")] = None
    rps_stable: Annotated[float | None, Field(description="Request rate, stable window.")] = None
    queue_depth: Annotated[int | None, Field(description="Backlog + in flight (XLEN).")] = None
    current_replicas: Annotated[int, Field(ge=0, description="Replicas currently requested.")] = 0
    ready_replicas: _Count = 0
    starting_replicas: _Count = 0
    pools: tuple[PoolObservation, ...] = ()
    forecasts: tuple[Forecast, ...] = ()
    stale: Annotated[tuple[str, ...], Field(description="Names of stale or failing signals.")] = ()
    metric_values: Annotated[dict[str, float], Field(description="PolicySpec.metrics by kind.")] = field(
        default_factory=dict
    )


# ------------------------------------------------------------------------- decision
