"""The publishing loop inside the service (cleanup context), driven by a ManualClock."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from forescale.cli import main
from forescale.core.clock import ManualClock
from forescale.prescaler.publisher import forecast_key
from forescale.prescaler.service import create_app
from forescale.prescaler.settings import PrescalerSettings
from forescale.prescaler.webhook import sign

NOW = 1_700_000_000.0
SECRET = "whsec_" + base64.b64encode(b"loop-test-secret").decode()


def headers(body: bytes, ts: float) -> dict[str, str]:
    return {
        "webhook-id": "msg-loop",
        "webhook-timestamp": str(int(ts)),
        "webhook-signature": sign(SECRET, "msg-loop", ts, body),
    }


async def parked(clock: ManualClock, count: int = 1) -> None:
    """Until the loop sleeps on the clock (it has finished a cycle)."""
    for _ in range(2000):
        if clock.sleepers >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the publishing loop never slept")


async def test_loop_publishes_each_period_and_picks_up_webhook_posts(aredis: aioredis.Redis) -> None:
    clock = ManualClock(NOW)
    settings = PrescalerSettings(
        webhook_secret=SECRET, models=("m1",), lead_time_s=240, publish_every_s=60, redis_url="redis://unused"
    )
    async with TestClient(TestServer(create_app(settings, clock=clock, redis=aredis))) as client:
        await parked(clock)
        assert json.loads(await aredis.get(forecast_key("m1"))) == []  # nothing known yet
        body = json.dumps(
            {
                "id": "p",
                "model": "m1",
                "source": "ops",
                "windows": [{"start": NOW, "end": NOW + 600, "rps": 7}],
            }
        ).encode()
        assert (await client.post("/v1/forecasts", data=body, headers=headers(body, ts=NOW))).status == 201
        clock.advance(60)
        await asyncio.sleep(0)
        await parked(clock)
        (published,) = json.loads(await aredis.get(forecast_key("m1")))
        assert published["issued_at"] == NOW + 60 and published["source"] == "external:ops:p"
        assert len(published["points"]) == 5  # lead time 240 s + one 60 s period, 1-min steps


def test_cli_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FORESCALE_PRESCALER_WEBHOOK_SECRET", raising=False)
    assert main(["prescaler", "--port", "0"]) == 2
    assert "WEBHOOK_SECRET" in capsys.readouterr().err


def test_cli_refuses_an_unknown_forecaster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORESCALE_PRESCALER_FORECASTER", "crystal-ball")
    assert main(["prescaler", "--port", "0"]) == 2
    assert "crystal-ball" in capsys.readouterr().err
