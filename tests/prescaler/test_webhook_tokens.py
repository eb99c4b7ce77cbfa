"""The signed webhook accepts token throughput in its windows and refuses bad token input
with problem+json (non-finite, negative, or beside a multiplier), changing nothing."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from tests.prescaler.test_webhook import NOW, client, headers, payload, stored

__all__ = ["client"]  # the fixture, shared with test_webhook.py


async def test_window_with_tokens_is_stored(client: TestClient, aredis: aioredis.Redis) -> None:
    body = payload(start=NOW + 60, end=NOW + 600, rps=20.0, tokens_per_s=45_000.0)
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 201
    assert (await resp.json())["windows"][0]["tokens_per_s"] == 45_000.0
    assert b"tokens_per_s" in (await stored(aredis))[b"launch-1"]


def _raw(window_text: str) -> bytes:
    """A body whose window is written by hand (Infinity/NaN are not JSON numbers)."""
    doc = json.dumps({"id": "t", "model": "m1", "source": "mkt", "windows": ["W"]})
    return doc.replace('"W"', window_text).encode()


BAD = {
    "infinite tokens": _raw(f'{{"start": {NOW}, "end": {NOW + 60}, "rps": 1, "tokens_per_s": Infinity}}'),
    "NaN tokens": _raw(f'{{"start": {NOW}, "end": {NOW + 60}, "rps": 1, "tokens_per_s": NaN}}'),
    "huge tokens": _raw(f'{{"start": {NOW}, "end": {NOW + 60}, "rps": 1, "tokens_per_s": 1e999}}'),
    "negative tokens": payload(start=NOW, end=NOW + 60, rps=1.0, tokens_per_s=-5.0),
    "tokens with a multiplier": payload(start=NOW, end=NOW + 60, multiplier=2.0, tokens_per_s=5.0),
    "tokens as text": _raw(f'{{"start": {NOW}, "end": {NOW + 60}, "rps": 1, "tokens_per_s": "many"}}'),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_token_windows_are_422(client: TestClient, aredis: aioredis.Redis, case: str) -> None:
    body = BAD[case]
    resp = await client.post("/v1/forecasts", data=body, headers=headers(body))
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert "tokens_per_s" in problem["detail"]  # the field is named
    assert await stored(aredis) == {}
