"""What the loop counts, /v1/status shows: a policy for a model the local provider does
not know (``unregistered-model``) is an error of that model in the status, with the
counter's kind and the actuator's sentence, and it goes away once a tick decides it."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient, TestServer

from forescale.controller.actuators.local import LocalProvider
from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.loop import Controller
from forescale.controller.settings import LocalSettings
from forescale.controller.store import ModelError
from forescale.core.clock import ManualClock
from forescale.core.model import Decision, PolicySpec
from forescale.sim.fakes import FakeMetricsSource
from tests.api.conftest import R
from tests.api.conftest import settings as api_settings
from tests.controller.conftest import SPOT


async def test_unregistered_model_is_a_status_error(aredis, redis_url: str, store, metrics, registry) -> None:
    await store.pools.put(SPOT)
    await store.policies.put(PolicySpec(model="ghost", target_rps_per_replica=10, pools=("spot-a",)))
    clock = ManualClock(1_700_000_000.0)
    p = LocalProvider(aredis, redis_url, LocalSettings(drain_timeout_s=10), clock)
    source = FakeMetricsSource()
    source.set("ghost", rps=10.0)
    try:
        ctl = Controller(store, source, p, p, clock, metrics=metrics)
        assert await ctl.tick() == []
        assert (
            registry.get_sample_value("forescale_controller_errors_total", {"kind": "unregistered-model"})
            == 1
        )
        app = create_app(api_settings(), ApiDeps(store=store, clock=clock, source=source, replicas=p))
        async with TestClient(TestServer(app)) as http:
            r = await http.get("/v1/status", headers=R)
            assert r.status == 200
            (m,) = (await r.json())["models"]
        assert m["model"] == "ghost" and m["desired_replicas"] is None
        assert m["errors"] == [{
            "kind": "unregistered-model",
            "detail": "no model 'ghost' in fs:models; register it (`forescale models add`) "
                      "or remove its policy",
            "at": 1_700_000_000.0,
        }]  # fmt: skip
    finally:
        await p.close()


async def test_a_tick_replaces_the_last_ticks_errors(store) -> None:
    err = ModelError(kind="target-missing", detail="gone", at=1.0)
    await store.save_tick([], {"a": err, "b": err})
    assert await store.model_errors() == {"a": err, "b": err}
    await store.save_tick(
        [(Decision(model="a", at=2.0, desired_replicas=1, winner="reactive"), None)], {"b": err}
    )
    assert await store.model_errors() == {"b": err}
    await store.save_tick([], {})
    assert await store.model_errors() == {}
    await store.redis.hset("fs:controller:errors", "c", json.dumps({"kind": 1}))  # another version's
    assert await store.model_errors() == {}
