"""Schemathesis over the prescaler's routes (a small OpenAPI document of them, below),
against ``forescale prescaler`` as a process on a real Redis, with a write token: no 5xx,
nothing stored by a rejected request, and the service still answers afterwards.

Generated POSTs carry no valid Standard Webhooks signature, so every one is rejected
(401 or earlier 4xx): the store must stay empty."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import RedisServer
from forescale.prescaler.external import ExternalForecast
from forescale.prescaler.webhook import EXTERNAL_KEY

TOKEN = "w-fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_hook_headers = [
    {"name": n, "in": "header", "required": False, "schema": {"type": "string"}}
    for n in ("webhook-id", "webhook-timestamp", "webhook-signature")
]
DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "forescale prescaler", "version": "1"},
    "paths": {
        "/v1/forecasts": {
            "post": {
                "parameters": _hook_headers,
                "requestBody": {
                    "content": {"application/json": {"schema": ExternalForecast.model_json_schema()}}
                },
                "responses": {"default": {"description": "any"}},
            },
            "get": {
                "parameters": [
                    {"name": "model", "in": "query", "required": False, "schema": {"type": "string"}}
                ],
                "responses": {"default": {"description": "any"}},
            },
        },
        "/v1/forecasts/{id}": {
            "delete": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"default": {"description": "any"}},
            }
        },
        "/metrics": {"get": {"responses": {"default": {"description": "any"}}}},
    },
}
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def base_url(redis_server: RedisServer) -> Iterator[str]:
    r = redis.Redis.from_url(redis_server.url)
    r.delete(EXTERNAL_KEY)
    port = free_port()
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_server.url, "FORESCALE_PRESCALER_PORT": str(port),
           "FORESCALE_PRESCALER_WEBHOOK_SECRET": "whsec_QUJDREVGR0hJSktMTU5PUA==",
           "FORESCALE_PRESCALER_TOKENS": f"write:{TOKEN}",
           "FORESCALE_PRESCALER_MODELS": '["none"]'}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "forescale.cli", "prescaler"], env=env)
    try:
        wait_port(port, 60)
        yield f"http://127.0.0.1:{port}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/forecasts", headers=AUTH)
        assert conn.getresponse().status == 200  # still serves after the fuzzing
        conn.close()
        assert r.hlen(EXTERNAL_KEY) == 0  # nothing rejected was stored
    finally:
        proc.terminate()
        proc.wait(30)
        r.close()


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_prescaler_never_answers_5xx(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
