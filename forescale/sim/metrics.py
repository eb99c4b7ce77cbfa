"""Per-request outcomes from a fluid FIFO run: SLO attainment and latency percentiles.

With ``A`` the cumulative admitted arrivals and ``S`` the cumulative served, a request is
served in the first second ``j`` with ``S[j] >= its place in line``. The requests of second
``t`` that meet the SLO are those with a place ``<= S[t + W]`` (``W`` = SLO less the service
time, whole seconds); dropped and never-served requests are misses.

``queueing="timed"`` (off by default) judges each request by its own arrival time instead:
arrivals spread evenly over their second, the served curve linear within each second, a
request met when served within ``SLO - service time`` of arriving (the whole-second rule
lets a request wait up to ``W + 1`` s, 0.25 s more than the SLO allows on average).
``queueing="mdc"`` (off by default) is ``timed`` plus what a fluid queue cannot see: random arrivals
on deterministic servers wait even below capacity. Each second's share meeting the SLO is
capped at ``1 - P(wait > SLO - service time)`` of an M/D/c queue (Erlang C for the chance
to wait, the Allen-Cunneen heavy-traffic tail ``exp(-2 (c mu - lam) d / (ca^2 + cs^2))``
with ``ca^2 = 1``, ``cs^2 = 0``), ``c`` the ready replicas, ``lam`` the arrival rate
(centred 5-s mean). Overload is the fluid queue's: utilisation is capped at
``MDC_MAX_RHO`` so a second at or past capacity is not counted as a total loss twice.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from forescale.sim.engine import Run
from forescale.sim.scenario import Scenario

# Each second's arrivals are followed at these places in their cohort for the percentiles.
FRACTIONS = (np.arange(20) + 0.5) / 20
Queueing = Literal["fluid", "timed", "mdc"]
MET_PLACES = 40  # places followed in each second's cohort for the in-time count
MET_CHUNK_S = 16_384  # seconds per chunk of that count
MDC_RATE_WINDOW_S = 5  # seconds averaged (centred) for the arrival rate of the M/D/c term
MDC_MAX_RHO = 0.98  # past this the backlog is the fluid queue's, not a steady-state wait
CA2, CS2 = 1.0, 0.0  # squared coefficients of variation: Poisson arrivals, fixed service


def summarize(
    scenario: Scenario, demand: np.ndarray, run: Run, *, queueing: Queueing = "fluid"
) -> dict[str, float | int | None]:
    before, admitted, served, w = _curves(scenario, demand, run)
    met = np.clip(served[np.arange(len(demand)) + w] - before, 0, admitted)
    if queueing != "fluid":
        model = scenario.model
        slack = scenario.slo.latency_s - model.service_time_s
        met = _met_in_time(before, admitted, served, slack)
        if queueing == "mdc":
            late = mdc_late(admitted, run.ready, model.service_rate_rps, slack)
            met = np.minimum(met, admitted * (1 - late))
    requests = float(demand.sum())
    p50, p99 = _latency_percentiles(before, admitted, served, scenario.model.service_time_s)
    return {
        "requests": round(requests),
        "slo_attainment": float(met.sum() / requests) if requests > 0 else 1.0,
        "dropped": round(float(run.dropped.sum())),
        "p50_latency_s": p50,
        "p99_latency_s": p99,
        "gpu_hours": run.gpu_s / 3600.0,
        "cost_usd": run.cost_usd,
        "spot_fraction": run.spot_gpu_s / run.gpu_s if run.gpu_s > 0 else 0.0,
        "preemptions": run.preemptions,
    }


def cohort_latency(scenario: Scenario, demand: np.ndarray, run: Run) -> np.ndarray:
    """Latency of the last request arriving in each second (NaN: none arrived) for plots."""
    before, admitted, served, _ = _curves(scenario, demand, run)
    out = np.full(len(demand), np.nan)
    cohorts, latency = _latencies(before, admitted, served, scenario.model.service_time_s, np.ones(1))
    out[cohorts] = latency[:, 0]
    return out


def _curves(
    scenario: Scenario, demand: np.ndarray, run: Run
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(admitted ahead of each second's cohort, admitted per second, cumulative served
    continued past the end, W)."""
    model = scenario.model
    w = max(0, math.floor(scenario.slo.latency_s - model.service_time_s))
    admitted = demand - run.dropped
    before = np.cumsum(admitted) - admitted
    served = _served_past_end(np.cumsum(run.served), run, model.service_rate_rps, float(admitted.sum()), w)
    return before, admitted, served, w


def _served_past_end(served: np.ndarray, run: Run, mu: float, total: float, w: int) -> np.ndarray:
    """Cumulative served, continued ``w + 1`` s past the trace at the last second's capacity,
    so requests that arrive near the end are judged by their own deadline, not the trace's."""
    last = float(run.ready[-1]) * mu if len(run.ready) else 0.0
    start = float(served[-1]) if len(served) else 0.0
    tail = np.minimum(start + last * np.arange(1, w + 2), total)
    return np.concatenate([served, tail])


def _latencies(
    before: np.ndarray, admitted: np.ndarray, served: np.ndarray, service_s: float, fractions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds with arrivals, and the latency of the requests at ``fractions`` of each
    second's cohort (inf: never served). Places are nudged down by 1e-6 requests so that
    float rounding between the two cumulative sums cannot leave a request unserved."""
    cohorts = np.nonzero(admitted > 0)[0]
    place = before[cohorts, None] + fractions[None, :] * admitted[cohorts, None] - 1e-6
    j = np.searchsorted(served, place.ravel(), side="left").reshape(place.shape)
    done = j < len(served)
    jc = np.minimum(j, len(served) - 1)
    prev = np.where(jc > 0, served[np.maximum(jc - 1, 0)], 0.0)
    width = np.maximum(served[jc] - prev, 1e-12)
    finish = jc + np.clip((place - prev) / width, 0.0, 1.0)
    wait = np.maximum(finish - (cohorts[:, None] + fractions[None, :]), 0)
    return cohorts, np.where(done, wait + service_s, np.inf)


def _latency_percentiles(
    before: np.ndarray, admitted: np.ndarray, served: np.ndarray, service_s: float
) -> tuple[float | None, float | None]:
    """Weighted p50/p99 over sampled places in each cohort; never-served counts as infinite."""
    cohorts, latency = _latencies(before, admitted, served, service_s, FRACTIONS)
    if len(cohorts) == 0:
        return None, None
    weights = np.repeat(admitted[cohorts] / len(FRACTIONS), len(FRACTIONS))
    order = np.argsort(latency.ravel(), kind="stable")
    lat = latency.ravel()[order]
    cum = np.cumsum(weights[order])
    out = []
    for q in (0.5, 0.99):
        value = float(lat[min(len(lat) - 1, np.searchsorted(cum, q * cum[-1]))])
        out.append(value if math.isfinite(value) else None)
    return out[0], out[1]


def _met_in_time(before: np.ndarray, admitted: np.ndarray, served: np.ndarray, slack_s: float) -> np.ndarray:
    """Requests of each second served within ``slack_s`` of their own arrival: arrivals
    spread evenly over their second, the served curve linear within each second (the
    whole-second rule lets a request wait up to ``W + 1`` s). In chunks: a week of
    seconds x 40 places would be ~200 MB per array at once."""
    curve = np.concatenate([[0.0], served])
    grid = np.arange(len(curve))
    u = (np.arange(MET_PLACES) + 0.5) / MET_PLACES
    out = np.empty(len(admitted))
    for i in range(0, len(admitted), MET_CHUNK_S):
        j = min(len(admitted), i + MET_CHUNK_S)
        t = np.arange(i, j)[:, None] + u[None, :]
        place = before[i:j, None] + u[None, :] * admitted[i:j, None] - 1e-6
        out[i:j] = (np.interp(t + slack_s, grid, curve) >= place).mean(axis=1) * admitted[i:j]
    return out


def mdc_late(arrivals: np.ndarray, ready: np.ndarray, mu: float, slack_s: float) -> np.ndarray:
    """Per second, the M/D/c chance that a request waits more than ``slack_s`` (0 where
    nothing is ready: the fluid queue already misses those)."""
    k = MDC_RATE_WINDOW_S
    lam = np.convolve(np.pad(arrivals, k // 2, mode="edge"), np.ones(k) / k, mode="valid")[: len(arrivals)]
    out = np.zeros(len(arrivals))
    for t, (rate, c) in enumerate(zip(lam.tolist(), ready.tolist(), strict=True)):
        c = int(c)
        if c <= 0 or rate <= 0:
            continue
        rate = min(rate, MDC_MAX_RHO * c * mu)
        out[t] = erlang_c(c, rate / mu) * math.exp(-2.0 * (c * mu - rate) * max(slack_s, 0.0) / (CA2 + CS2))
    return out


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in an M/M/c queue with offered load ``a < c`` (Erlang B
    recursion, stable for any ``c``)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho * (1 - b))
