"""Read-only views: ``/v1/status``, ``/v1/decisions`` and ``/v1/audit``.

Status combines what the loop persisted (last decision with its reasons, policy state,
forecasts) with live reads that have no side effects: signals from the metrics source
and replica counts from the replica setter (or the workers' heartbeats). It never calls
the node provider's ``observe``, which consumes interruption events meant for the loop.
What the loop could not do is shown as the loop stored it: ``errors`` (why its last tick
skipped the model, e.g. ``unregistered-model``) and ``target_problems``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aiohttp import web

from forescale.controller.api import audit
from forescale.controller.api.deps import DEPS, ApiDeps
from forescale.controller.api.problem import FieldError, invalid
from forescale.controller.api.schemas import (
    AuditList,
    DecisionList,
    ForecastStatus,
    ModelStatus,
    PoolStatus,
    SignalStatus,
    Status,
)
from forescale.controller.signals.direct import DirectSource
from forescale.controller.store import ModelError
from forescale.core.model import MODEL_NAME_PATTERN, Decision, PolicySpec, PolicyState, PoolSpec
from forescale.core.ports import PoolReplicas, ReplicaCounts
from forescale.queue import heartbeat

MAX_LIMIT = 1000


@runtime_checkable
class _TargetReports(Protocol):
    """A replica setter that knows what is wrong with a model's scale targets (Kubernetes)."""

    def target_problems(self, model: str) -> list[str]: ...


async def _replicas(deps: ApiDeps, spec: PolicySpec, pools: list[PoolSpec], now: float) -> PoolReplicas:
    if deps.replicas is not None:
        return await deps.replicas.replicas(spec.model, pools)
    live = await heartbeat.live(deps.store.redis, spec.model, now)
    ready, warming = live.count("ready"), live.count("warming")
    return PoolReplicas({"": ReplicaCounts(desired=ready + warming, ready=ready, starting=warming)})


def _pool_rows(decision: Decision | None, state: PolicyState, all_pools: list[PoolSpec]) -> list[PoolStatus]:
    """Desired nodes and replicas per pool from the last decision, with what the state learnt."""
    kinds = {p.name: p.capacity_type for p in all_pools}
    return [
        PoolStatus(
            pool=t.pool,
            capacity_type=kinds.get(t.pool, t.capacity_type),
            desired_nodes=t.nodes,
            desired_replicas=t.replicas,
            lead_time_s=state.lead_time_s.get(t.pool),
            unavailable_since=state.unavailable_at.get(t.pool),
        )
        for t in (decision.pools if decision else ())
    ]


async def model_status(
    deps: ApiDeps,
    spec: PolicySpec,
    all_pools: list[PoolSpec],
    now: float,
    errors: list[ModelError] | None = None,
) -> ModelStatus:
    store = deps.store
    pools = [p for p in all_pools if not spec.pools or p.name in spec.pools]
    signals = await (deps.source or DirectSource(store.redis)).read(spec, now)
    counts = await _replicas(deps, spec, pools, now)
    state = await store.load_state(spec.model)
    last = await store.list_decisions(spec.model, limit=1)
    decision = last[-1] if last else None
    forecasts = [
        ForecastStatus(
            forecast=f, age_s=now - f.issued_at, stale=now - f.issued_at > spec.prescale.max_forecast_age_s
        )
        for f in await store.load_forecasts(spec.model)
    ]
    pool_rows = _pool_rows(decision, state, all_pools)
    return ModelStatus(
        model=spec.model,
        mode=spec.mode,
        policy=spec.policy,
        desired_replicas=decision.desired_replicas if decision else None,
        current_replicas=counts.desired,
        ready_replicas=counts.ready,
        starting_replicas=counts.starting,
        signals=SignalStatus(
            at=signals.at,
            rps_short=signals.rps_short,
            rps_stable=signals.rps_stable,
            queue_depth=signals.queue_depth,
            stale=list(signals.stale),
        ),
        forecasts=forecasts,
        pools=pool_rows,
        last_decision=decision,
        last_decision_age_s=now - decision.at if decision else None,
        target_problems=(
            deps.replicas.target_problems(spec.model) if isinstance(deps.replicas, _TargetReports) else []
        ),
        errors=errors or [],
    )


async def status(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    now = deps.clock.now()
    pools = [p.value for p in await deps.store.pools.list()]
    errors = await deps.store.model_errors()
    models = [
        await model_status(
            deps, p.value, pools, now, [errors[p.value.model]] if p.value.model in errors else []
        )
        for p in await deps.store.policies.list()
    ]
    return web.json_response(text=Status(at=now, models=models).model_dump_json())


def _number(request: web.Request, name: str, errors: list[FieldError], lo: float, hi: float) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # NaN fails too
        errors.append(
            FieldError(pointer=f"query/{name}", field=name, detail=f"must be a number in [{lo:g}, {hi:g}]")
        )
        return None
    return value


def _limit(request: web.Request, errors: list[FieldError]) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        errors.append(
            FieldError(pointer="query/limit", field="limit", detail=f"must be an integer in [1, {MAX_LIMIT}]")
        )
        return 0
    return int(raw)


async def decisions(request: web.Request) -> web.Response:
    """Decision history, oldest first; all models merged when ``model`` is not given."""
    import re

    errors: list[FieldError] = []
    model = request.query.get("model")
    if model is not None and not re.match(MODEL_NAME_PATTERN, model):
        errors.append(FieldError(pointer="query/model", field="model", detail="not a valid model name"))
    since = _number(request, "since", errors, 0, 1e11)
    limit = _limit(request, errors)
    if errors:
        return invalid(errors, "invalid query parameters")
    store = request.app[DEPS].store
    models = [model] if model else [p.value.model for p in await store.policies.list()]
    items = [d for m in models for d in await store.list_decisions(m, since, limit)]
    items = sorted(items, key=lambda d: (d.at, d.model))[-limit:]
    return web.json_response(text=DecisionList(items=items).model_dump_json())


async def audit_log(request: web.Request) -> web.Response:
    """Audit records, newest first, optionally of one kind and name."""
    errors: list[FieldError] = []
    limit = _limit(request, errors)
    kind = request.query.get("kind")
    if kind is not None and kind not in ("policy", "pool"):
        errors.append(FieldError(pointer="query/kind", field="kind", detail="must be policy or pool"))
    if errors:
        return invalid(errors, "invalid query parameters")
    records = await audit.recent(request.app[DEPS].store.redis, limit, kind, request.query.get("name"))
    return web.json_response(text=AuditList(items=records).model_dump_json())
