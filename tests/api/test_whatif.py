"""``PUT /v1/policies/{model}?dry_run=true``: stores nothing and answers with a replay of
the recorded demand that equals a direct simulator run on the same demand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale import keys
from forescale.controller.api.audit import AUDIT_KEY
from forescale.core.model import PolicySpec
from forescale.sim.engine import Simulation
from forescale.sim.metrics import summarize
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import Scenario
from tests.api.conftest import NOW, Api, W, policy, pool

pytestmark = pytest.mark.timeout(120)
SECONDS = 1800


def recorded_demand() -> np.ndarray:
    """Per-second arrivals: a ramp from 20 to 80 req/s with a burst, as integers."""
    t = np.arange(SECONDS)
    rate = 20 + 60 * t / SECONDS + np.where((t > 900) & (t < 1000), 60, 0)
    return np.round(rate).astype(int)


def direct_run(spec: PolicySpec, demand: np.ndarray, start: float, service_rate: float) -> dict[str, float]:
    """The simulator driven by hand: the scenario written out, not derived by the API."""
    scenario = Scenario.model_validate({
        "tick_s": 15, "slo": {"latency_s": spec.latency_slo_s},
        "model": {"name": spec.model, "service_rate_rps": service_rate, "load_time_s": 0},
        "pools": [
            {"name": "od-a", "capacity_type": "on-demand", "price_per_node_hour": 4.0, "max_nodes": 20,
             "launch_delay": {"kind": "fixed", "low_s": 240}},
            {"name": "spot-a", "capacity_type": "spot", "price_per_node_hour": 1.5, "max_nodes": 20,
             "launch_delay": {"kind": "fixed", "low_s": 240}},
        ],
        "policy": spec.model_dump(),
    })  # fmt: skip
    run = Simulation(scenario, demand.astype(float), start).run(
        CorePolicy(spec.policy, scenario, "seasonal-naive", 3600.0)
    )
    row = summarize(scenario, demand.astype(float), run)
    return {"cost_usd": float(row["cost_usd"] or 0), "slo_attainment": float(row["slo_attainment"] or 0),
            "peak_replicas": int(run.ready.max())}  # fmt: skip


async def test_dry_run_equals_a_direct_simulator_run_and_stores_nothing(api: Api) -> None:
    demand = recorded_demand()
    first = int(NOW) - SECONDS
    await api.redis.mset({keys.arrivals("chat", first + i): int(n) for i, n in enumerate(demand)})
    for p in (pool("od-a", lead_time_s=240), pool("spot-a", capacity_type="spot", price_per_node_hour=1.5,
                                                   lead_time_s=240)):  # fmt: skip
        assert (await api.client.put(f"/v1/pools/{p['name']}", json=p, headers=W)).status == 201
    r = await api.client.put("/v1/policies/chat", json=policy(), headers=W)
    etag = r.headers["ETag"]
    audit_before = await api.redis.xlen(AUDIT_KEY)

    proposed = policy(min_replicas=4, spot_max_fraction=0.0)
    r = await api.client.put("/v1/policies/chat?dry_run=true", json=proposed, headers={**W, "If-Match": etag})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["dry_run"] is True
    assert {c["path"] for c in body["changes"]} == {"/min_replicas", "/spot_max_fraction"}
    stored = await api.store.policies.get("chat")
    assert stored is not None and f'"{stored.version}"' == etag  # nothing stored
    assert await api.redis.xlen(AUDIT_KEY) == audit_before  # and nothing audited

    answer = body["what_if"]
    assert (answer["start"], answer["duration_s"], answer["requests"]) == (first, SECONDS, int(demand.sum()))
    current_spec = PolicySpec.model_validate(policy())
    for label, spec in (("current", current_spec), ("proposed", PolicySpec.model_validate(proposed))):
        expected = direct_run(spec, demand, first, service_rate=current_spec.target_rps_per_replica)
        got = answer[label]
        assert got["peak_replicas"] == expected["peak_replicas"], label
        assert math.isclose(got["cost_usd"], expected["cost_usd"], rel_tol=1e-9), label
        assert math.isclose(got["slo_attainment"], expected["slo_attainment"], rel_tol=1e-9), label
    assert answer["proposed"]["cost_usd"] != answer["current"]["cost_usd"]  # the change matters


async def test_dry_run_without_recorded_demand_says_why(api: Api) -> None:
    r = await api.client.put("/v1/policies/chat?dry_run=true", json=policy(), headers=W)
    body = await r.json()
    assert (r.status, body["what_if"], body["current"]) == (200, None, None)
    assert "no demand recorded" in body["what_if_note"]
    assert await api.store.policies.get("chat") is None


async def test_dry_run_flag_must_be_true_or_false(api: Api) -> None:
    r = await api.client.put("/v1/policies/chat?dry_run=maybe", json=policy(), headers=W)
    assert r.status == 422
    assert [e["field"] for e in (await r.json())["errors"]] == ["dry_run"]
    assert await api.store.policies.get("chat") is None


async def test_pools_have_no_dry_run_and_are_not_written_by_one(api: Api) -> None:
    r = await api.client.put("/v1/pools/od-a?dry_run=true", json=pool(), headers=W)
    assert r.status == 422
    assert await api.store.pools.get("od-a") is None
