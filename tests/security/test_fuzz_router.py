"""Fuzzing the v2 infer route, JSON and binary bodies (hypothesis), against a real router
and echo worker (processes) on a real Redis. Pass criteria for every example: no 5xx, a
rejected request enqueues nothing (the request stream stays empty: the worker empties it
after each answered request, and requests are sent one at a time), and the router still
serves a valid request afterwards. Bounded: a fixed number of examples, no deadline."""

from __future__ import annotations

import http.client
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forescale import keys
from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import RedisServer
from forescale.queue.config import ModelConfig
from tests.security import strategies

DTYPES = ["BOOL", "UINT8", "INT8", "INT32", "INT64", "UINT64", "FP16", "FP32", "FP64", "BYTES"]
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))


class Live:
    def __init__(self, port: int, r: redis.Redis) -> None:
        self.port = port
        self.redis = r

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/v2/models/m/infer", body=body, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(redis_server: RedisServer) -> Iterator[Live]:
    r = redis.Redis.from_url(redis_server.url)
    r.flushall()
    r.hset(keys.MODELS, "m", ModelConfig(name="m", engine="echo", default_timeout_s=10).model_dump_json())
    port = free_port()
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_server.url, "FORESCALE_ROUTER_PORT": str(port),
           "FORESCALE_WORKER_PORT": "0"}  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-m", "forescale.router"], env=env),
        subprocess.Popen([sys.executable, "-m", "forescale.worker", "--model", "m"], env=env),
    ]
    try:
        wait_port(port, 60)
        live = Live(port, r)
        _wait_ready(live)
        yield live
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        r.close()


def _wait_ready(live: Live) -> None:
    end = time.monotonic() + 90
    while time.monotonic() < end:
        if live.post(_valid()) == 200:
            return
        time.sleep(0.2)
    raise AssertionError("router + worker never answered a valid request")


def _valid() -> bytes:
    return json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}]}
    ).encode()


def _check(live: Live, status: int) -> None:
    assert status < 500, status
    assert live.redis.xlen(keys.request_stream("m")) == 0  # nothing left enqueued


json_scalar = strategies.json_scalar
json_any = strategies.json_any(max_leaves=20)
shape = st.lists(st.integers(-2, 6) | st.booleans() | st.just(10**12), max_size=4) | json_any
tensor = st.fixed_dictionaries(
    {"name": st.sampled_from(["x", "y", ""]) | json_scalar, "datatype": st.sampled_from(DTYPES) | json_scalar,
     "shape": shape, "data": json_any},
    optional={"parameters": json_any},
)  # fmt: skip
# Valid inputs, so that what follows them (outputs, parameters) is reached and fuzzed too.
valid_tensor = st.integers(0, 4).flatmap(
    lambda n: st.fixed_dictionaries({
        "name": st.just("x"), "datatype": st.sampled_from(["FP32", "FP64", "INT32"]), "shape": st.just([n]),
        "data": st.lists(st.integers(-100, 100) | st.floats(-1e300, 1e300), min_size=n, max_size=n),
    }, optional={"parameters": json_any})
)  # fmt: skip
output_spec = st.dictionaries(
    st.sampled_from(["name", "parameters"]), json_any | st.just({"binary_data": True})
)
valid_body = st.fixed_dictionaries({
    "inputs": st.lists(valid_tensor, min_size=1, max_size=1),
    "outputs": json_scalar | st.lists(output_spec, max_size=2),
    "parameters": json_any | st.dictionaries(st.just("binary_data_output"), json_scalar),
})  # fmt: skip
v2_body = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=3) | json_any},
    optional={"outputs": json_any, "parameters": json_any, "id": json_scalar},
)


@FUZZ
@given(body=v2_body | json_any)
def test_fuzz_json_infer(live: Live, body: Any) -> None:
    _check(live, live.post(json.dumps(body).encode(), {"Content-Type": "application/json"}))


@FUZZ
@given(body=valid_body)
def test_fuzz_json_infer_past_valid_inputs(live: Live, body: Any) -> None:
    _check(live, live.post(json.dumps(body).encode(), {"Content-Type": "application/json"}))


@FUZZ
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(0, 4), max_size=3),
    blob=st.binary(max_size=64),
    size_delta=st.integers(-4, 4),
    header_delta=st.integers(-2, 2),
    extra=st.binary(max_size=8),
)
def test_fuzz_binary_infer(live: Live, dtype: str, shape: list[int], blob: bytes, size_delta: int,
                           header_delta: int, extra: bytes) -> None:  # fmt: skip
    t = {
        "name": "x",
        "datatype": dtype,
        "shape": shape,
        "parameters": {"binary_data_size": len(blob) + size_delta},
    }
    head = json.dumps({"inputs": [t], "parameters": {"binary_data_output": True}}).encode()
    if dtype == "BYTES":
        blob = struct.pack("<I", len(extra)) + extra + blob
    status = live.post(head + blob, {"Inference-Header-Content-Length": str(len(head) + header_delta)})
    _check(live, status)


def test_router_still_serves_after_fuzzing(live: Live) -> None:
    assert live.post(_valid()) == 200
