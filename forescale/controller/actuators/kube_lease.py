"""Leader election on a ``coordination.k8s.io/v1`` Lease (the client-go protocol).

Take the Lease when it is absent, ours, or not renewed within ``leaseDurationSeconds``
of ``now`` (the injected clock); every write carries the resourceVersion read, so when
two controllers race for an expired Lease the API server lets exactly one win (409 for
the other).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from forescale.controller.actuators.kube_objects import parse_time
from forescale.controller.errors import ActuatorError


def micro_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubeLease:
    def __init__(self, api: client.ApiClient, namespace: str, name: str, duration_s: float = 15.0) -> None:
        self.api = api
        self.coord = client.CoordinationV1Api(api)
        self.ns = namespace
        self.name = name
        self.duration_s = duration_s

    def _body(self, identity: str, now: float, acquired: float, transitions: int) -> Any:
        return {
            "metadata": {"name": self.name},
            "spec": {
                "holderIdentity": identity,
                "leaseDurationSeconds": max(1, round(self.duration_s)),
                "acquireTime": micro_time(acquired),
                "renewTime": micro_time(now),
                "leaseTransitions": transitions,
            },
        }

    async def acquire(self, identity: str, now: float) -> bool:
        try:
            return await self._acquire(identity, now)
        except ApiException as exc:
            if exc.status == 409:  # someone else wrote first: they lead
                return False
            raise ActuatorError(f"kube-{exc.status}", f"lease: {exc.reason}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ActuatorError("kube-connection", f"lease: {exc}") from exc

    async def _acquire(self, identity: str, now: float) -> bool:
        try:
            lease = self.api.sanitize_for_serialization(
                await self.coord.read_namespaced_lease(self.name, self.ns)
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            await self.coord.create_namespaced_lease(self.ns, self._body(identity, now, now, 0))
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_time(spec.get("renewTime")) or 0.0
        duration = float(spec.get("leaseDurationSeconds") or self.duration_s)
        if holder and holder != identity and renewed + duration > now:
            return False
        ours = holder == identity
        acquired = parse_time(spec.get("acquireTime")) if ours else now
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        body = self._body(identity, now, acquired or now, transitions)
        body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        await self.coord.replace_namespaced_lease(self.name, self.ns, body)
        return True

    async def release(self, identity: str) -> None:
        """Give the lease up at once (a clean shutdown) by dating its renewal back."""
        try:
            lease = self.api.sanitize_for_serialization(
                await self.coord.read_namespaced_lease(self.name, self.ns)
            )
            if (lease.get("spec") or {}).get("holderIdentity") != identity:
                return
            lease["spec"]["holderIdentity"] = None
            await self.coord.replace_namespaced_lease(self.name, self.ns, lease)
        except (ApiException, aiohttp.ClientError, TimeoutError):
            pass  # it expires by itself within one lease period
