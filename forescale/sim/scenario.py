"""Scenario files: the model, the SLO, the pools and the policy a simulation runs with.

One YAML file, validated once into frozen pydantic models (STYLE.md #8). Pools are core
``PoolSpec`` fields plus what only the simulator needs (launch-delay distribution, spot
behaviour); the policy is a core ``PolicySpec`` whose model, GPUs per replica and latency
SLO default to the scenario's. Errors are one line: file, line and field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import Field, ValidationError, model_validator

from forescale.cliutil import CliError, yaml_line, yaml_reason
from forescale.core.model import NAME_PATTERN, PolicySpec, PoolSpec, Spec
from forescale.sim.llm_replica import LlmScenario


class LaunchDelay(Spec):
    """Seconds from asking for a node to the node being ready (before the model loads)."""

    kind: Literal["fixed", "uniform", "lognormal"] = "uniform"
    low_s: float = Field(default=120, ge=0, description="fixed: the delay; uniform: lower bound.")
    high_s: float = Field(default=240, ge=0, description="uniform: upper bound.")
    median_s: float = Field(default=180, gt=0, description="lognormal: the median.")
    sigma: float = Field(default=0.25, ge=0, le=3, description="lognormal: sigma of log(delay).")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.kind == "uniform" and self.high_s < self.low_s:
            raise ValueError("high_s must be >= low_s")
        return self

    @property
    def typical_s(self) -> float:
        return {"fixed": self.low_s, "uniform": (self.low_s + self.high_s) / 2}.get(self.kind, self.median_s)


class AvailabilityTrace(Spec):
    """Per-tick spot availability, like the files in ../shared/traces/spot_availability_traces.tar.gz:
    ``{"metadata": {"gap_seconds": G}, "data": [v0, v1, ...]}``; ``v / max(v)`` of the pool's
    ``max_nodes`` can be held at a tick (0: none, launches fail with insufficient capacity)."""

    path: str = Field(min_length=1, description="JSON file, or a .tar.gz holding `member`.")
    member: str | None = Field(default=None, description="Path of the JSON file inside the tarball.")
    time_scale: float = Field(default=1.0, gt=0, description="Multiply the trace's gap by this.")
    offset_s: float = Field(default=0, ge=0, description="Start this far into the trace (it wraps).")


class SpotBehaviour(Spec):
    """How spot capacity comes and goes: a preemption rate, an availability trace, or both."""

    preemption_rate_per_hour: float = Field(default=0, ge=0, description="Per node, Poisson.")
    notice_s: float = Field(default=120, ge=0, description="Interruption notice before the node goes.")
    availability: AvailabilityTrace | None = None


class PoolScenario(Spec):
    """A pool as the core sees it (``spec()``) plus its simulated behaviour."""

    name: str = Field(pattern=NAME_PATTERN)
    capacity_type: Literal["reserved", "spot", "on-demand"]
    price_per_node_hour: float = Field(ge=0, description="USD per node-hour.")
    gpus_per_node: int = Field(default=1, ge=1, le=64)
    max_nodes: int = Field(ge=0, le=100_000)
    reservation_nodes: int = Field(default=0, ge=0)
    zone: str = Field(default="zone-a", min_length=1)
    accelerator: str = Field(default="nvidia-h100", min_length=1)
    launch_delay: LaunchDelay = Field(default_factory=LaunchDelay)
    spot: SpotBehaviour | None = None

    @model_validator(mode="after")
    def _spot_only(self) -> Self:
        if self.spot is not None and self.capacity_type != "spot":
            raise ValueError("`spot` is only for capacity_type spot")
        return self

    def spec(self, load_time_s: float) -> PoolSpec:
        return PoolSpec(
            name=self.name,
            accelerator=self.accelerator,
            gpus_per_node=self.gpus_per_node,
            capacity_type=self.capacity_type,
            price_per_node_hour=self.price_per_node_hour,
            zone=self.zone,
            max_nodes=self.max_nodes,
            reservation_nodes=self.reservation_nodes,
            lead_time_s=self.launch_delay.typical_s + load_time_s,
        )


class ModelScenario(Spec):
    name: str = Field(default="model", pattern=NAME_PATTERN)
    service_rate_rps: float = Field(gt=0, description="Requests per second one replica completes.")
    service_time_s: float = Field(default=0, ge=0, description="Latency of one request on an idle replica.")
    load_time_s: float = Field(default=60, ge=0, description="Replica start to ready (model load).")
    gpus_per_replica: int = Field(default=1, ge=1, le=64)
    queue_limit: int | None = Field(default=None, ge=1, description="Requests beyond this are dropped.")


class Slo(Spec):
    latency_s: float = Field(gt=0, le=3600, description="A request slower than this is a miss.")


class Scenario(Spec):
    name: str = "scenario"
    description: str = ""
    seed: int = 0
    tick_s: float = Field(default=15, gt=0, le=300, description="Control loop period.")
    slo: Slo
    model: ModelScenario
    pools: tuple[PoolScenario, ...] = Field(min_length=1)
    policy: PolicySpec
    llm: LlmScenario | None = None  # token-level replica model and TTFT/TPOT SLOs (llm_replica.py)

    @model_validator(mode="before")
    @classmethod
    def _policy_defaults(cls, data: Any) -> Any:
        """The policy's model, GPUs per replica and SLO default to the scenario's."""
        if isinstance(data, dict) and isinstance(data.get("policy"), dict):
            model: dict[str, Any] = data["model"] if isinstance(data.get("model"), dict) else {}
            slo: dict[str, Any] = data["slo"] if isinstance(data.get("slo"), dict) else {}
            policy = dict(data["policy"])
            policy.setdefault("model", model.get("name", "model"))
            policy.setdefault("gpus_per_replica", model.get("gpus_per_replica", 1))
            if "latency_s" in slo:
                policy.setdefault("latency_slo_s", slo["latency_s"])
            data = {**data, "policy": policy}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [p.name for p in self.pools]
        if len(names) != len(set(names)):
            raise ValueError("pool names must be unique")
        if self.slo.latency_s <= self.model.service_time_s:
            raise ValueError("slo.latency_s must exceed model.service_time_s")
        for pool in self.pools:
            if pool.gpus_per_node < self.model.gpus_per_replica:
                raise ValueError(f"pool {pool.name}: gpus_per_node < model.gpus_per_replica")
        return self

    def pool_specs(self) -> tuple[PoolSpec, ...]:
        return tuple(p.spec(self.model.load_time_s) for p in self.pools)

    def replicas_per_node(self, pool: PoolScenario) -> int:
        return pool.gpus_per_node // self.model.gpus_per_replica


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario; ``CliError`` with file, line and field on bad input."""
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: {yaml_reason(exc)}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: line 1: expected a mapping of scenario fields")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(root)"
        raise CliError(f"{path}: line {yaml_line(text, loc)}: {field}: {err['msg']}") from None
    return _resolve_paths(scenario, path.parent)


def _resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    """Availability trace paths: ``$VARS`` and ``~`` expanded; a relative path is relative to
    the scenario file's folder (as in an HTML page or a kustomization), so a scenario works
    from whatever folder the command runs in."""
    pools = []
    for pool in scenario.pools:
        avail = pool.spot.availability if pool.spot else None
        if pool.spot is not None and avail is not None:
            expanded = Path(os.path.expanduser(os.path.expandvars(avail.path)))
            avail = avail.model_copy(update={"path": str(base / expanded)})
            pool = pool.model_copy(update={"spot": pool.spot.model_copy(update={"availability": avail})})
        pools.append(pool)
    return scenario.model_copy(update={"pools": tuple(pools)})
