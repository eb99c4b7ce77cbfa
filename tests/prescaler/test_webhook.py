"""POST/GET/DELETE /v1/forecasts against a real Redis: the Standard Webhooks security cases."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from forescale.core.clock import ManualClock
from forescale.prescaler.service import create_app
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.webhook import EXTERNAL_KEY, sign

SECRET = "whsec_" + base64.b64encode(b"prescaler-test-secret-0123456789").decode()
NOW = 1_700_000_000.0


def payload(forecast_id: str = "launch-1", **window: float) -> bytes:
    w = window or {"start": NOW + 3600, "end": NOW + 7200, "rps": 50.0}
    return json.dumps({"id": forecast_id, "model": "m1", "source": "marketing", "windows": [w]}).encode()


def headers(body: bytes, msg_id: str = "msg_1", ts: float = NOW, secret: str = SECRET) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(ts)),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


RD = {"Authorization": "Bearer r-tok"}
WR = {"Authorization": "Bearer w-tok"}


@pytest.fixture
async def client(aredis: aioredis.Redis) -> AsyncIterator[TestClient]:
    settings = PrescalerSettings(webhook_secret=SECRET, webhook_tolerance_s=300, redis_url="redis://unused",
                                 tokens="read:r-tok,write:w-tok")  # fmt: skip
    app = create_app(settings, clock=ManualClock(NOW), redis=aredis, run_loop=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def stored(aredis: aioredis.Redis) -> dict[bytes, bytes]:
    return await aredis.hgetall(EXTERNAL_KEY)  # type: ignore[misc]


async def test_signed_post_is_stored_listed_and_deleted(client: TestClient, aredis: aioredis.Redis) -> None:
    body = payload()
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 201
    created = await resp.json()
    assert created["received_at"] == NOW and created["windows"][0]["rps"] == 50.0
    listed = await (await client.get("/v1/forecasts", params={"model": "m1"}, headers=RD)).json()
    assert [e["id"] for e in listed] == ["launch-1"]
    assert await (await client.get("/v1/forecasts", params={"model": "other"}, headers=RD)).json() == []
    assert (await client.delete("/v1/forecasts/launch-1", headers=WR)).status == 204
    assert await stored(aredis) == {}
    missing = await client.delete("/v1/forecasts/launch-1", headers=WR)
    assert missing.status == 404 and missing.content_type == "application/problem+json"


BAD_AUTH = {
    "wrong secret": lambda b: headers(b, secret="whsec_" + base64.b64encode(b"another-secret").decode()),
    "too old": lambda b: headers(b, ts=NOW - 301),
    "too new": lambda b: headers(b, ts=NOW + 301),
    "no signature": lambda b: {k: v for k, v in headers(b).items() if k != "webhook-signature"},
    "no id": lambda b: {k: v for k, v in headers(b).items() if k != "webhook-id"},
    "signature of another body": lambda b: headers(payload("other")),
    "garbage signature": lambda b: {**headers(b), "webhook-signature": "v1,not-base64!!"},
    "only v2 signature": lambda b: {
        **headers(b),
        "webhook-signature": headers(b)["webhook-signature"].replace("v1,", "v2,"),
    },
}


@pytest.mark.parametrize("case", sorted(BAD_AUTH))
async def test_bad_signature_or_skew_is_401_and_changes_nothing(
    client: TestClient, aredis: aioredis.Redis, case: str
) -> None:
    body = payload()
    resp = await client.post("/v1/forecasts", data=body, headers=BAD_AUTH[case](body))
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["status"] == 401
    assert await stored(aredis) == {}


async def test_within_tolerance_is_accepted(client: TestClient) -> None:
    body = payload()
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body, ts=NOW - 299))
    assert resp.status == 201


async def test_replayed_id_is_401(client: TestClient, aredis: aioredis.Redis) -> None:
    body = payload()
    assert (await client.post("/v1/forecasts", data=body, headers=headers(body))).status == 201
    await aredis.delete(EXTERNAL_KEY)
    replay = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert replay.status == 401
    assert "replay" in (await replay.json())["detail"]
    assert await stored(aredis) == {}


async def test_body_over_1_mib_is_413(client: TestClient, aredis: aioredis.Redis) -> None:
    body = payload()[:-1] + b',"pad":"' + b"x" * (1 << 20) + b'"}'
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"
    assert await stored(aredis) == {}


INVALID = {
    "end before start": {"start": NOW + 100, "end": NOW + 50, "rps": 1.0},
    "rps and multiplier": {"start": NOW, "end": NOW + 60, "rps": 1.0, "multiplier": 2.0},
    "neither": {"start": NOW, "end": NOW + 60},
    "negative rps": {"start": NOW, "end": NOW + 60, "rps": -1.0},
    "zero multiplier": {"start": NOW, "end": NOW + 60, "multiplier": 0.0},
    "multiplier over limit": {"start": NOW, "end": NOW + 60, "multiplier": 1000.0},
    "rps over limit": {"start": NOW, "end": NOW + 60, "rps": 1e12},
    "longer than 31 days": {"start": NOW, "end": NOW + 40 * 86400, "rps": 1.0},
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_invalid_windows_are_422_and_change_nothing(
    client: TestClient, aredis: aioredis.Redis, case: str
) -> None:
    body = payload(**INVALID[case])
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    assert await stored(aredis) == {}
    # a rejected message does not burn its id: the corrected one may reuse it
    good = payload()
    assert (await client.post("/v1/forecasts", data=good, headers=headers(good))).status == 201


async def test_not_json_is_422(client: TestClient, aredis: aioredis.Redis) -> None:
    body = b"not json"
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 422
    assert await stored(aredis) == {}


async def test_reads_and_deletes_need_a_scoped_token(client: TestClient, aredis: aioredis.Redis) -> None:
    """Hardening item 2: reaching the port is not enough to read or delete announced events."""
    body = payload()
    assert (await client.post("/v1/forecasts", data=body, headers=headers(body))).status == 201
    assert (await client.get("/v1/forecasts")).status == 401
    assert (await client.get("/v1/forecasts", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.delete("/v1/forecasts/launch-1")).status == 401
    denied = await client.delete("/v1/forecasts/launch-1", headers=RD)
    assert denied.status == 403 and denied.content_type == "application/problem+json"
    assert len(await stored(aredis)) == 1
    assert (await client.get("/v1/forecasts", headers={"Authorization": "bearer r-tok"})).status == 200
    assert (await client.delete("/v1/forecasts/launch-1", headers=WR)).status == 204


async def test_without_tokens_reads_and_deletes_are_refused(aredis: aioredis.Redis) -> None:
    settings = PrescalerSettings(webhook_secret=SECRET, redis_url="redis://unused")
    app = create_app(settings, clock=ManualClock(NOW), redis=aredis, run_loop=False)
    async with TestClient(TestServer(app)) as c:
        assert (await c.get("/v1/forecasts")).status == 401
        assert (await c.delete("/v1/forecasts/x")).status == 401
        assert (await c.get("/metrics")).status == 200  # scrapers, until tokens are configured
