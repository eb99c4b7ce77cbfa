"""Admin API: model registration needs write scope and is validated like the worker (items
1, 7); non-finite numbers are refused and stored entries that do not parse are visible and
deletable (item 3); a deeply nested body is a 400, not a 500 (item 9)."""

from __future__ import annotations

import json

import pytest

from forescale import keys
from tests.api.conftest import Api, R, W, policy

JSON = {"Content-Type": "application/json"}


async def test_models_need_write_scope_and_valid_engine(api: Api) -> None:
    body = {"engine": "sleep", "engine_options": {"base_ms": 5}}
    r = await api.client.put("/v1/models/m", json=body, headers=R)
    assert r.status == 403
    bad = {"engine": "transformer", "engine_options": {"threads": -1}}
    r = await api.client.put("/v1/models/m", json=bad, headers=W)
    assert r.status == 422 and "threads" in (await r.json())["detail"] + json.dumps(await r.json())
    r = await api.client.put("/v1/models/m", json={"engine": "export", "engine_options": {"path": "/etc/x"}},
                             headers=W)  # fmt: skip
    assert r.status == 422
    assert await api.redis.hget(keys.MODELS, "m") is None
    r = await api.client.put("/v1/models/m", json=body, headers=W)
    assert r.status == 201
    r = await api.client.get("/v1/models/m", headers=R)
    assert r.status == 200 and (await r.json())["engine"] == "sleep"
    assert (await api.client.delete("/v1/models/m", headers=R)).status == 403
    assert (await api.client.delete("/v1/models/m", headers=W)).status == 204
    assert await api.redis.hget(keys.MODELS, "m") is None


async def test_invalid_stored_model_is_listed_and_deletable(api: Api) -> None:
    await api.redis.hset(keys.MODELS, "bad", json.dumps({"name": "bad", "engine": "nope"}))
    r = await api.client.get("/v1/models", headers=R)
    doc = await r.json()
    assert (
        doc["items"] == []
        and doc["invalid"][0]["name"] == "bad"
        and "unknown engine" in doc["invalid"][0]["error"]
    )
    assert (await api.client.get("/v1/models/bad", headers=R)).status == 409
    assert (await api.client.delete("/v1/models/bad", headers=W)).status == 204


@pytest.mark.parametrize("raw", [
    '{"model": "chat", "target_rps_per_replica": Infinity}',
    '{"model": "chat", "target_rps_per_replica": 1e999}',
    '{"model": "chat", "target_rps_per_replica": NaN}',
    '{"model": "chat", "target_rps_per_replica": -1e400}',
])  # fmt: skip
async def test_non_finite_numbers_are_refused_and_nothing_stored(api: Api, raw: str) -> None:
    r = await api.client.post("/v1/policies", data=raw, headers={**W, **JSON})
    assert r.status == 400, await r.text()
    assert r.content_type == "application/problem+json"
    assert await api.redis.hget(keys.POLICIES, "chat") is None


async def test_stored_policy_that_does_not_parse_is_visible_and_deletable(api: Api) -> None:
    await api.redis.hset(keys.POLICIES, "chat", '{"model": "chat", "target_rps_per_replica": null}')
    listed = await (await api.client.get("/v1/policies", headers=R)).json()
    assert [i["name"] for i in listed["invalid"]] == ["chat"]
    r = await api.client.get("/v1/policies/chat", headers=R)
    assert r.status == 409 and "invalid" in (await r.json())["detail"]
    assert (await api.client.delete("/v1/policies/chat", headers=W)).status == 204
    r = await api.client.post("/v1/policies", json=policy(), headers=W)
    assert r.status == 201


async def test_deep_nesting_is_400_not_500(api: Api) -> None:
    r = await api.client.post("/v1/policies", data="[" * 30_000, headers={**W, **JSON})
    assert r.status in (400, 413)
    r = await api.client.put("/v1/models/m", data="[" * 3_000, headers={**W, **JSON})
    assert r.status == 400
