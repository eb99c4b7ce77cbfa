"""``controller.service.serve`` reads no settings itself: what its entry point did not pass
is a clear error at start-up, not a late read of the environment."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from forescale.controller.service import Wiring, serve
from forescale.controller.settings import ControllerSettings


@pytest.mark.parametrize(("provider", "missing"), [("local", "local"), ("kubernetes", "kube")])
async def test_settings_the_entry_point_did_not_pass_are_refused(
    provider: str, missing: str, redis_url: str
) -> None:
    settings = ControllerSettings(provider=provider, redis_url=redis_url, metrics_port=0)
    with pytest.raises(ValueError, match=f"must read and pass {missing} settings"):
        await serve(settings, asyncio.Event(), wiring=Wiring(), registry=CollectorRegistry(), api=False)
