"""The prescaler service on a real 3-shard Redis Cluster: given a ``redis+cluster://``
URL it connects itself, accepts a signed webhook (its replay guard a SET NX), and its
loop publishes every model's forecast (history from the arrival counters by MGET, kept in
a per-model hash) for models whose keys live on three different shards."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from forescale import keys
from forescale.core.clock import ManualClock
from forescale.prescaler.service import create_app
from forescale.prescaler.settings import PrescalerSettings
from forescale.queue.client import connect
from tests.prescaler.test_service_loop import NOW, SECRET, headers, parked

MODELS = ("m1", "m2", "m3")  # three shards (tests/cluster/test_cluster_controller.py)
R = {"Authorization": "Bearer reader"}
W = {"Authorization": "Bearer writer"}


async def test_prescaler_service_publishes_and_takes_webhooks_on_the_cluster(cluster_url: str) -> None:
    r = connect(cluster_url, timeout_s=5.0)
    for m in MODELS:  # ten minutes of arrivals each, in the model's slot
        await r.mset({keys.arrivals(m, int(NOW) - 600 + i): 5 for i in range(600)})
    clock = ManualClock(NOW)
    settings = PrescalerSettings(
        webhook_secret=SECRET, models=MODELS, lead_time_s=240, publish_every_s=60,
        redis_url=cluster_url, tokens="read:reader,write:writer",
    )  # fmt: skip
    try:
        async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
            await parked(clock)
            body = json.dumps({"id": "p", "model": "m2", "source": "ops",
                               "windows": [{"start": NOW, "end": NOW + 600, "rps": 7}]}).encode()  # fmt: skip
            assert (await client.post("/v1/forecasts", data=body, headers=headers(body, NOW))).status == 201
            replay = await client.post("/v1/forecasts", data=body, headers=headers(body, NOW))
            assert replay.status == 401  # the id's SET NX is on the cluster too
            clock.advance(60)
            await asyncio.sleep(0)
            await parked(clock)
            for m in MODELS:
                published = json.loads(await r.get(keys.forecast(m)))
                # ten minutes of history is too little to learn from: the external one only
                assert [(f["source"], f["issued_at"]) for f in published] == (
                    [("external:ops:p", NOW + 60)] if m == "m2" else []
                )
                assert (await r.hlen(keys.prescaler_history(m, 60.0))) >= 9  # kept steps
            listed = await client.get("/v1/forecasts", headers=R)
            assert [e["id"] for e in await listed.json()] == ["p"]
            assert (await client.delete("/v1/forecasts/p", headers=W)).status == 204
            assert await (await client.get("/v1/forecasts", headers=R)).json() == []
    finally:
        await r.aclose()
