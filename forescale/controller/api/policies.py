"""The policy and pool resources' own rules, and the policy dry run (what-if).

Beyond ``PolicySpec``'s own validation: the policy name must be registered
(``core.policy.POLICIES``) and every pool it names must exist in the catalog. A pool
still named by a policy cannot be deleted (409).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from forescale.controller.api.demand import RedisDemand
from forescale.controller.api.deps import DEPS, SETTINGS, WHATIF_LOCK
from forescale.controller.api.jsondiff import diff
from forescale.controller.api.problem import FieldError
from forescale.controller.api.resources import Kind, Resource
from forescale.controller.api.schemas import DryRun
from forescale.controller.store import Store, Versioned
from forescale.core.model import PolicySpec, PoolSpec
from forescale.core.policy import POLICIES
from forescale.sim import whatif


async def check_policy(store: Store, spec: PolicySpec) -> list[FieldError]:
    errors = []
    if spec.policy not in POLICIES:
        known = ", ".join(sorted(POLICIES))
        errors.append(FieldError(pointer="/policy", field="policy", detail=f"unknown policy; known: {known}"))
    names = {p.value.name for p in await store.pools.list()}
    for i, pool in enumerate(spec.pools):
        if pool not in names:
            errors.append(FieldError(pointer=f"/pools/{i}", field=f"pools[{i}]", detail=f"no pool {pool!r}"))
    return errors


async def check_pool(store: Store, spec: PoolSpec) -> list[FieldError]:
    return []


async def no_blocker(store: Store, name: str) -> str | None:
    return None


async def pool_in_use(store: Store, name: str) -> str | None:
    users = [p.value.model for p in await store.policies.list() if name in p.value.pools]
    if users:
        return f"pool {name!r} is named by the policies of {', '.join(users)}: change them first"
    return None


async def dry_run(request: web.Request, current: Versioned[Any] | None, proposed: PolicySpec) -> web.Response:
    """Nothing is stored: the diff and the replay of recorded demand under both policies."""
    deps, settings = request.app[DEPS], request.app[SETTINGS]
    old = current.value if current is not None else None
    changes = diff(old.model_dump(mode="json") if old else None, proposed.model_dump(mode="json"))
    demand_source = deps.demand or RedisDemand(deps.store.redis)  # the controller always passes one
    seconds = round(settings.whatif_hours * 3600)
    demand = await demand_source.recorded(proposed.model, deps.clock.now(), seconds, proposed.metrics)
    pools = [p.value for p in await deps.store.pools.list()]
    answer, note = None, None
    if demand is None:
        note = f"no demand recorded for {proposed.model} in the last {settings.whatif_hours:g} h"
    else:
        try:
            async with request.app[WHATIF_LOCK]:  # replays queue up rather than share the CPU
                answer = await asyncio.to_thread(
                    whatif.what_if,
                    old,
                    proposed,
                    pools,
                    demand,
                    tick_s=settings.whatif_tick_s,
                    forecaster=settings.whatif_forecaster or None,
                )
        except ValueError as exc:  # e.g. no pool can host the model
            note = str(exc)
    body = DryRun(current=old, proposed=proposed, changes=changes, what_if=answer, what_if_note=note)
    return web.json_response(text=body.model_dump_json())


POLICY = Resource(Kind("policy", "policies", PolicySpec, "model", check_policy, no_blocker, dry_run))
POOL = Resource(Kind("pool", "pools", PoolSpec, "name", check_pool, pool_in_use))
