"""Settings of ``forescale controller`` (env prefix FORESCALE_CONTROLLER_)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from forescale.settings import ServiceSettings


class ControllerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_CONTROLLER_", extra="ignore")

    provider: Literal["kubernetes", "local"] = Field(default="local", description="Where replicas run.")
    interval_s: float = Field(default=15.0, gt=0, description="Seconds between reconcile ticks.")
    signals: Literal["direct", "prometheus"] = Field(
        default="direct", description="Signal source: Redis counters directly, or Prometheus."
    )
    prometheus_url: str = Field(default="http://127.0.0.1:9090", description="Prometheus base URL.")
    prometheus_timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one Prometheus query.")
    prometheus_min_range_s: float = Field(
        default=30.0, gt=0, description="Shortest rate() range; must span two scrapes."
    )
    decision_history: int = Field(default=1000, ge=1, description="Decisions kept per model in Redis.")
    lease_duration_s: float = Field(default=15.0, gt=0, description="Leader lease; takeover within this.")
    identity: str = Field(default="", description="Leader identity; default hostname-pid.")
    metrics_port: int = Field(default=9464, ge=0, description="Port of /metrics (0: none).")
    metrics_host: str = Field(default="127.0.0.1", description="Address /metrics listens on.")
    # The prescaler's own variable, read here too: its history hash is per step, and a
    # what-if replaying it with another step would find none (the deployment sets it once).
    history_step_s: float = Field(
        default=60,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("FORESCALE_PRESCALER_STEP_S", "history_step_s"),
        description="Step of the prescaler's history and forecasts; the controller's what-if reads "
        "the history the prescaler keeps at this step, so both read this one variable.",
    )


class KubeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_KUBE_", extra="ignore")

    namespace: str = Field(default="forescale", description="Namespace of worker Deployments and the Lease.")
    kubeconfig: str = Field(
        default="", description="Kubeconfig path; empty: in-cluster, then ~/.kube/config."
    )
    host: str = Field(default="", description="API server URL overriding the kubeconfig (tests).")
    worker_image: str = Field(default="forescale:latest", description="Image of worker pods.")
    gpu_resource: str = Field(default="nvidia.com/gpu", description="Extended resource name of a GPU.")
    gpus_per_replica: int = Field(
        default=1,
        ge=0,
        description="Fallback GPUs per replica: used only when the scale target names no GPU and "
        "no policy can be read (targets' requests/limits, then the policy's gpus_per_replica, win).",
    )
    pool_label: str = Field(default="forescale.io/pool", description="Node label naming a node's pool.")
    pool_taint: str = Field(
        default="forescale.io/pool", description="Taint key on a pool's nodes (tolerated)."
    )
    placeholder_image: str = Field(default="registry.k8s.io/pause:3.9", description="Placeholder pod image.")
    placeholder_priority_class: str = Field(
        default="forescale-placeholder", description="PriorityClass of placeholder pods."
    )
    placeholder_priority: int = Field(default=-10, lt=0, description="Its (negative) priority value.")
    lease_name: str = Field(default="forescale-controller", description="coordination.k8s.io Lease name.")
    retry_attempts: int = Field(default=6, ge=1, description="Tries per API operation before giving up.")
    retry_base_s: float = Field(default=0.5, gt=0, description="First backoff; doubles per try.")
    retry_max_s: float = Field(default=30.0, gt=0, description="Longest single wait, Retry-After included.")


class LocalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORESCALE_LOCAL_", extra="ignore")

    worker_command: str = Field(
        default="{python} -m forescale.cli worker --model {model}",
        description="Command of one replica; {python} and {model} are filled in.",
    )
    interruption_notice_s: float = Field(
        default=120.0, gt=0, description="Spot notice before SIGTERM (AWS gives two minutes)."
    )
    spot_interruptions_per_hour: float = Field(
        default=0.0, ge=0, description="Simulated spot interruption rate per node-hour (0: none)."
    )
    drain_timeout_s: float = Field(
        default=30.0, gt=0, description="SIGKILL a worker this long after SIGTERM."
    )
    unavailable_pools: str = Field(
        default="", description="Comma-separated pools that report insufficient capacity (a fault knob)."
    )
    never_ready_pools: str = Field(
        default="", description="Comma-separated pools whose nodes never become ready (a fault knob)."
    )
