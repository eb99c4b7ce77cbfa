"""Scale targets: the objects a policy's replicas are set on.

Any object with a ``/scale`` subresource (Deployment, StatefulSet, LeaderWorkerSet, Argo
Rollout, a custom resource) named by apiVersion, kind, name and namespace. A policy names
either one target per pool (``pool`` set on each), or one target for all its pools
(``pool`` unset: node placement is left to Karpenter / Cluster Autoscaler, while
forescale still pre-provisions nodes per pool). No targets: the driver's default (the
Kubernetes driver uses its own ``fs-{model}-{pool}`` Deployments, which it never creates).

Pure values; validation happens here, once (STYLE.md #8).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ScaleTarget(BaseModel):
    """One object whose ``/scale`` replicas forescale sets (and never creates or edits otherwise)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_version: str = Field(
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$",
        description="`group/version` (e.g. `apps/v1`, `leaderworkerset.x-k8s.io/v1`) or `v1`.",
    )
    kind: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{0,62}$", description="Kind, e.g. `StatefulSet`.")
    name: str = Field(pattern=_DNS_SUBDOMAIN, description="Object name.")
    namespace: str | None = Field(
        default=None, pattern=_DNS_LABEL, description="Namespace; unset: the controller's namespace."
    )
    pool: str | None = Field(
        default=None,
        max_length=63,
        description="The pool this target's replicas run in; unset: one target for all pools.",
    )

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def ref(self, default_namespace: str) -> str:
        """``Kind ns/name``, for messages."""
        return f"{self.kind} {self.namespace or default_namespace}/{self.name}"


def check_targets(targets: tuple[ScaleTarget, ...]) -> tuple[ScaleTarget, ...]:
    """One target for all pools, or at most one target per pool."""
    if any(t.pool is None for t in targets) and len(targets) > 1:
        raise ValueError("a target without `pool` serves all pools: it must be the only target")
    pools = [t.pool for t in targets]
    if len(pools) != len(set(pools)):
        raise ValueError("at most one target per pool")
    return targets


ScaleTargets = Annotated[tuple[ScaleTarget, ...], AfterValidator(check_targets)]
