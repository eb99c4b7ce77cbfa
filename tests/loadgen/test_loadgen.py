"""The load generator: arrival schedules (tables) and runs against a small aiohttp server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from forescale.devstack.ports import free_port
from forescale.loadgen.arrivals import arrival_offsets, poisson_offsets
from forescale.loadgen.runner import DROPPED, LoadGen, LoadReport, Outcome
from forescale.traces import Trace


class Server:
    """Answers /v2/models/{m}/infer: 200 after ``delay_s``, or 429 for model ``full``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.bodies: list[dict[str, object]] = []
        self.url = ""

    async def infer(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if request.match_info["model"] == "full":
            return web.json_response({"error": "queue full"}, status=429)
        await asyncio.sleep(self.delay_s)
        return web.json_response({"outputs": []})


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    srv = Server(getattr(request, "param", 0.0))
    app = web.Application()
    app.router.add_post("/v2/models/{model}/infer", srv.infer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    srv.url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


def test_rate_trace_becomes_seeded_poisson_arrivals() -> None:
    trace = Trace("t", 100.0, 160.0, rate_times=np.array([100.0, 130.0]), rate_values=np.array([10.0, 0.0]))
    a = arrival_offsets(trace, seed=3)
    assert np.array_equal(a, arrival_offsets(trace, seed=3))
    assert 200 < len(a) < 400  # 300 expected
    assert a.max() < 30.0 and np.all(np.diff(a) >= 0)


@pytest.mark.parametrize(
    ("arrivals", "duration", "expected"),
    [
        ([10.0, 10.5, 12.0], None, [0.0, 0.5, 2.0]),
        ([10.0, 10.5, 12.0], 1.0, [0.0, 0.5]),
        ([10.0], 5.0, [0.0]),
    ],
)
def test_request_trace_keeps_its_times(
    arrivals: list[float], duration: float | None, expected: list[float]
) -> None:
    trace = Trace("t", 10.0, 13.0, arrivals=np.array(arrivals))
    assert arrival_offsets(trace, duration_s=duration).tolist() == expected


def test_poisson_offsets_follow_rates_per_second() -> None:
    offsets = poisson_offsets(np.array([0.0, 50.0, 0.0]), seed=1)
    assert np.all((offsets >= 1.0) & (offsets < 2.0)) and len(offsets) > 20


def test_report_counts_statuses_and_percentiles_of_answered_only() -> None:
    outcomes = [Outcome(0, 0.1, 200)] * 98 + [Outcome(0, 5.0, 200), Outcome(0, float("nan"), DROPPED)]
    outcomes += [Outcome(0, 0.01, 429)]
    r = LoadReport.of(outcomes, 10.0)
    assert r.statuses == {"dropped": 1, "200": 99, "429": 1}
    assert r.p50_s == pytest.approx(0.1) and r.p99_s is not None and r.p99_s > 0.1
    assert r.summary()["sent_rps"] == pytest.approx(10.1)


@pytest.mark.parametrize("server", [1.0], indirect=True)
async def test_open_loop_drops_over_the_cap_instead_of_waiting(server: Server) -> None:
    # 20 arrivals in 0.2 s against a 1 s service with 5 in flight at most: a closed loop
    # would send 5 and wait; an open loop sends 5 and drops the 15 it cannot hold.
    gen = LoadGen(server.url, "m", concurrency=5, timeout_s=5)
    report = await gen.run(np.linspace(0, 0.2, 20))
    assert report.requests == 20
    assert report.statuses == {"dropped": 15, "200": 5}
    assert report.duration_s < 1.0  # sending did not wait for the 1 s answers
    assert report.p50_s is not None and report.p50_s >= 1.0


async def test_status_codes_are_reported_and_bodies_are_v2_requests(server: Server) -> None:
    report = await LoadGen(server.url, "full").run(np.zeros(3))
    assert report.statuses == {"429": 3}
    assert report.p99_s is None
    assert server.bodies[0]["inputs"][0]["datatype"] == "FP32"  # type: ignore[index]


async def test_stop_ends_sending_early(server: Server) -> None:
    stop = asyncio.Event()
    gen = LoadGen(server.url, "m")
    asyncio.get_running_loop().call_later(0.3, stop.set)
    report = await gen.run(np.arange(0, 30, 0.1), stop)
    assert 0 < report.requests < 20


async def test_cli_replays_a_trace_file_and_prints_json(server: Server, tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp\n" + "".join(f"{1_700_000_000 + i * 0.1:.1f}\n" for i in range(10)))
    cmd = [sys.executable, "-m", "forescale.loadgen", "--url", server.url, "--trace", str(trace),
           "--time-scale", "0.5", "--model", "m"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["requests"] == 10 and summary["statuses"] == {"200": 10}
    assert summary["duration_s"] < 0.9  # 0.9 s of trace at time scale 0.5


def test_cli_rejects_a_bad_url_in_one_line(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp\n1700000000\n")
    cmd = [sys.executable, "-m", "forescale.loadgen", "--url", "localhost:1", "--trace", str(trace)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "forescale loadgen: error: --url: expected http://HOST:PORT, not 'localhost:1'"
    )
