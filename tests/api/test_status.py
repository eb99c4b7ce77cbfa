"""``/v1/status`` and ``/v1/decisions``: what the loop persisted plus live side-effect-free reads."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from forescale import keys
from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.core.model import Decision, Forecast, PolicySpec, PolicyState, PoolSpec, PoolTarget, Reason
from forescale.sim.fakes import FakeMetricsSource, FakeReplicaSetter
from tests.api.conftest import NOW, Api, R, policy, pool, settings

pytestmark = pytest.mark.timeout(60)


def decision(at: float, desired: int, model: str = "chat") -> Decision:
    return Decision(
        model=model, at=at, desired_replicas=desired, winner="hpa",
        pools=(PoolTarget(pool="od-a", capacity_type="on-demand", nodes=desired, replicas=desired),),
        reasons=(Reason(term="hpa", replicas=desired, detail=f"{desired * 10} req/s over 10 per replica"),),
    )  # fmt: skip


async def seed(api: Api) -> None:
    await api.store.pools.put(PoolSpec.model_validate(pool()))
    await api.store.policies.put(PolicySpec.model_validate(policy(pools=["od-a"])))
    for i, n in enumerate((2, 3, 4)):
        await api.store.append_decision(decision(NOW - 30 + 10 * i, n))
    await api.store.save_state("chat", PolicyState(lead_time_s={"od-a": 222.0}))
    fresh = Forecast(issued_at=NOW - 60, step_s=60, quantiles=(0.9,))
    old = Forecast(source="ext", issued_at=NOW - 3600, step_s=60, quantiles=(0.9,))
    await api.redis.set(keys.forecast("chat"), json.dumps([fresh.model_dump(), old.model_dump()]))


async def test_status_from_redis_counters_heartbeats_and_the_last_decision(api: Api) -> None:
    await seed(api)
    last = int(NOW) - 1
    await api.redis.mset({keys.arrivals("chat", last - i): 30 for i in range(60)})
    # w3 has not beaten for a minute: dead, not counted
    beat = {"w1": {"state": "ready", "at": NOW, "pid": 1}, "w2": {"state": "warming", "at": NOW, "pid": 2},
            "w3": {"state": "ready", "at": NOW - 60, "pid": 3}}  # fmt: skip
    await api.redis.hset(keys.workers("chat"), mapping={k: json.dumps(v) for k, v in beat.items()})
    r = await api.client.get("/v1/status", headers=R)
    assert r.status == 200
    (m,) = (await r.json())["models"]
    assert (m["desired_replicas"], m["current_replicas"], m["ready_replicas"], m["starting_replicas"]) == (
        4,
        2,
        1,
        1,
    )
    assert (m["signals"]["rps_stable"], m["signals"]["stale"]) == (30.0, [])
    assert [f["stale"] for f in m["forecasts"]] == [False, True]
    row = {"pool": "od-a", "capacity_type": "on-demand", "desired_nodes": 4, "desired_replicas": 4,
           "lead_time_s": 222.0, "unavailable_since": None}  # fmt: skip
    assert m["pools"] == [row]
    assert m["last_decision"]["reasons"][0]["detail"] == "40 req/s over 10 per replica"
    assert m["last_decision_age_s"] == 10.0


async def test_status_uses_the_hosts_signal_source_and_replica_setter(api: Api) -> None:
    await seed(api)
    source, replicas = FakeMetricsSource(), FakeReplicaSetter()
    source.set("chat", 55.0, queue_depth=7, at=NOW)
    replicas.desired[("chat", "od-a")] = 5
    replicas.ready_override[("chat", "od-a")] = 3
    app = create_app(settings(), ApiDeps(store=api.store, clock=api.clock, source=source, replicas=replicas))
    async with TestClient(TestServer(app)) as client:
        (m,) = (await (await client.get("/v1/status", headers=R)).json())["models"]
    assert (m["current_replicas"], m["ready_replicas"], m["starting_replicas"]) == (5, 3, 2)
    assert (m["signals"]["rps_short"], m["signals"]["queue_depth"]) == (55.0, 7)
    assert replicas.calls == []  # status never scales


async def test_decision_history_filters_and_orders(api: Api) -> None:
    await seed(api)
    await api.store.policies.put(PolicySpec.model_validate(policy(model="code")))
    await api.store.append_decision(decision(NOW - 25, 9, model="code"))
    r = await api.client.get(f"/v1/decisions?model=chat&since={NOW - 30}&limit=5", headers=R)
    assert [d["desired_replicas"] for d in (await r.json())["items"]] == [3, 4]
    r = await api.client.get("/v1/decisions?limit=2", headers=R)
    assert [d["desired_replicas"] for d in (await r.json())["items"]] == [3, 4]
    r = await api.client.get("/v1/decisions?limit=10", headers=R)
    assert [d["model"] for d in (await r.json())["items"]] == ["chat", "code", "chat", "chat"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [("limit=0", ["limit"]), ("since=yesterday&limit=x", ["since", "limit"]), ("model=a%09b", ["model"])],
)
async def test_bad_query_parameters_are_named(api: Api, query: str, fields: list[str]) -> None:
    r = await api.client.get(f"/v1/decisions?{query}", headers=R)
    assert r.status == 422
    assert [e["field"] for e in (await r.json())["errors"]] == fields
