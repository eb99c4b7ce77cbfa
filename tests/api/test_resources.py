"""Policies and pools: ETags and preconditions, validation problems, races, audit, delete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.store import Store
from tests.api.conftest import Api, R, W, policy, pool, settings

pytestmark = pytest.mark.timeout(60)
MERGE = {"Content-Type": "application/merge-patch+json"}


async def create(api: Api, path: str, body: dict[str, Any]) -> str:
    r = await api.client.put(path, json=body, headers=W)
    assert r.status == 201, await r.text()
    return r.headers["ETag"]


async def test_create_read_and_list_carry_the_same_strong_etag(api: Api) -> None:
    etag = await create(api, "/v1/policies/chat", policy())
    assert etag.startswith('"') and not etag.startswith("W/")
    r = await api.client.get("/v1/policies/chat", headers=R)
    assert r.headers["ETag"] == etag
    assert (await r.json())["target_rps_per_replica"] == 10.0
    listed = await (await api.client.get("/v1/policies", headers=R)).json()
    assert [(i["etag"], i["spec"]["model"]) for i in listed["items"]] == [(etag, "chat")]
    r = await api.client.get("/v1/policies/chat", headers={**R, "If-None-Match": etag})
    assert r.status == 304


async def test_update_needs_if_match_428_and_a_stale_one_is_412(api: Api) -> None:
    etag = await create(api, "/v1/policies/chat", policy())
    r = await api.client.put("/v1/policies/chat", json=policy(min_replicas=2), headers=W)
    assert r.status == 428
    assert r.content_type == "application/problem+json"
    r = await api.client.put(
        "/v1/policies/chat", json=policy(min_replicas=2), headers={**W, "If-Match": etag}
    )
    assert r.status == 200
    new = r.headers["ETag"]
    assert new != etag
    r = await api.client.put(
        "/v1/policies/chat", json=policy(min_replicas=3), headers={**W, "If-Match": etag}
    )
    assert r.status == 412
    assert r.headers["ETag"] == new
    stored = await api.store.policies.get("chat")
    assert stored is not None and stored.value.min_replicas == 2


async def test_create_only_with_if_none_match_star(api: Api) -> None:
    await create(api, "/v1/pools/od-a", pool())
    r = await api.client.put("/v1/pools/od-a", json=pool(max_nodes=3), headers={**W, "If-None-Match": "*"})
    assert r.status == 412
    r = await api.client.post("/v1/pools", json=pool(), headers=W)
    assert r.status == 409


async def test_two_racing_puts_with_the_same_etag_exactly_one_wins(api: Api) -> None:
    etag = await create(api, "/v1/policies/chat", policy())
    # Several rounds: the race must never let both through. Both bodies differ from the
    # stored one (versions hash the content, so rewriting identical JSON keeps the ETag).
    for round_ in range(5):
        bodies = [policy(min_replicas=2 + round_ * 2), policy(min_replicas=3 + round_ * 2)]
        replies = await asyncio.gather(
            *(api.client.put("/v1/policies/chat", json=b, headers={**W, "If-Match": etag}) for b in bodies)
        )
        statuses = sorted(r.status for r in replies)
        assert statuses == [200, 412], statuses
        winner = next(r for r in replies if r.status == 200)
        etag = winner.headers["ETag"]
        stored = await api.store.policies.get("chat")
        assert stored is not None and f'"{stored.version}"' == etag


async def test_malformed_json_is_400_problem(api: Api) -> None:
    r = await api.client.put(
        "/v1/policies/chat", data=b'{"model": "chat",', headers={**W, "Content-Type": "application/json"}
    )
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    assert "malformed JSON" in (await r.json())["detail"]


async def test_oversized_body_is_413_problem(api: Api) -> None:
    big = policy(description="x" * 10_000)
    r = await api.client.put("/v1/policies/chat", json=big, headers=W)
    assert r.status == 413
    assert r.content_type == "application/problem+json"
    assert await api.store.policies.get("chat") is None


async def test_invalid_fields_are_422_naming_each_field(api: Api) -> None:
    body = policy(min_replicas=30, max_replicas=20, spot_max_fraction=1.5, stable_window_s=-1,
                  prescale={"quantile": 2}, pools=["nope"])  # fmt: skip
    r = await api.client.put("/v1/policies/chat", json=body, headers=W)
    assert r.status == 422
    problem = await r.json()
    fields = {e["field"] for e in problem["errors"]}
    assert {"spot_max_fraction", "stable_window_s", "prescale.quantile"} <= fields
    pointers = {e["pointer"] for e in problem["errors"]}
    assert "/prescale/quantile" in pointers


async def test_cross_field_and_catalog_rules_name_their_fields(api: Api) -> None:
    r = await api.client.put("/v1/policies/chat", json=policy(min_replicas=30, max_replicas=20), headers=W)
    assert {e["field"] for e in (await r.json())["errors"]} == {"min_replicas", "max_replicas"}
    bad_cron = [{"name": "am", "cron": "not cron", "duration_s": 60, "min_replicas": 2}]
    r = await api.client.put("/v1/policies/chat", json=policy(schedules=bad_cron), headers=W)
    assert [e["pointer"] for e in (await r.json())["errors"]] == ["/schedules/0/cron"]
    await create(api, "/v1/pools/od-a", pool())
    body = policy(pools=["od-a", "ghost"], policy="nosuch")
    r = await api.client.put("/v1/policies/chat", json=body, headers=W)
    assert r.status == 422
    assert {e["field"] for e in (await r.json())["errors"]} == {"policy", "pools[1]"}
    assert await api.store.policies.get("chat") is None


async def test_body_name_must_match_the_path(api: Api) -> None:
    r = await api.client.put("/v1/policies/chat", json=policy(model="other"), headers=W)
    assert r.status == 422
    assert [e["field"] for e in (await r.json())["errors"]] == ["model"]


async def test_merge_patch_changes_only_what_it_names(api: Api) -> None:
    etag = await create(api, "/v1/policies/chat", policy(max_replicas=20))
    patch = b'{"min_replicas": 4, "prescale": {"quantile": 0.5}}'
    r = await api.client.patch("/v1/policies/chat", data=patch, headers={**W, **MERGE})
    assert r.status == 428
    r = await api.client.patch("/v1/policies/chat", data=patch, headers={**W, **MERGE, "If-Match": etag})
    assert r.status == 200
    etag = r.headers["ETag"]
    stored = await api.store.policies.get("chat")
    assert stored is not None
    assert (stored.value.min_replicas, stored.value.max_replicas) == (4, 20)
    assert (stored.value.prescale.quantile, stored.value.prescale.headroom) == (0.5, 0.1)
    r = await api.client.patch("/v1/policies/chat", json={"min_replicas": 1}, headers={**W, "If-Match": etag})
    assert r.status == 415
    r = await api.client.patch("/v1/policies/ghost", data=b"{}", headers={**W, **MERGE, "If-Match": etag})
    assert r.status == 404


async def test_delete_needs_if_match_and_blocks_pools_in_use(api: Api) -> None:
    pool_etag = await create(api, "/v1/pools/od-a", pool())
    etag = await create(api, "/v1/policies/chat", policy(pools=["od-a"]))
    assert (await api.client.delete("/v1/policies/chat", headers=W)).status == 428
    assert (await api.client.delete("/v1/policies/chat", headers={**W, "If-Match": '"0"'})).status == 412
    r = await api.client.delete("/v1/pools/od-a", headers={**W, "If-Match": pool_etag})
    assert r.status == 409
    assert (await api.client.delete("/v1/policies/chat", headers={**W, "If-Match": etag})).status == 204
    assert await api.store.policies.get("chat") is None
    assert (await api.client.delete("/v1/policies/chat", headers={**W, "If-Match": etag})).status == 404
    assert (await api.client.delete("/v1/pools/od-a", headers={**W, "If-Match": pool_etag})).status == 204


async def test_every_change_leaves_an_audit_record(api: Api) -> None:
    etag = await create(api, "/v1/policies/chat", policy())
    api.clock.advance(60)
    r = await api.client.put(
        "/v1/policies/chat", json=policy(min_replicas=3), headers={**W, "If-Match": etag}
    )
    etag2 = r.headers["ETag"]
    api.clock.advance(60)
    await api.client.delete("/v1/policies/chat", headers={**W, "If-Match": etag2})
    await api.client.put("/v1/policies/chat", json=policy(min_replicas=3), headers=R)  # refused: no record
    r = await api.client.get("/v1/audit?kind=policy&name=chat", headers=R)
    delete, update, create_ = (await r.json())["items"]
    assert [create_["action"], update["action"], delete["action"]] == ["create", "update", "delete"]
    assert update["who"] == create_["who"] and update["who"].startswith("tok-")
    assert update["at"] == create_["at"] + 60
    assert update["changes"] == [{"op": "replace", "path": "/min_replicas", "old": 1, "value": 3}]
    assert (update["version_before"], update["version_after"]) == (etag.strip('"'), etag2.strip('"'))
    assert delete["changes"][0]["op"] == "remove" and delete["version_after"] is None


async def test_a_restarted_api_serves_what_was_stored(api: Api) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    etag = await create(api, "/v1/policies/chat", policy(min_replicas=2))
    app = create_app(settings(), ApiDeps(store=Store(api.redis)))
    async with TestClient(TestServer(app)) as other:
        r = await other.get("/v1/policies/chat", headers=R)
        assert (r.status, r.headers["ETag"], (await r.json())["min_replicas"]) == (200, etag, 2)


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    r = await api.client.get("/v1/nothing", headers=R)
    assert (r.status, r.content_type) == (404, "application/problem+json")
    r = await api.client.post("/v1/status", headers=W)
    assert (r.status, r.content_type) == (405, "application/problem+json")
