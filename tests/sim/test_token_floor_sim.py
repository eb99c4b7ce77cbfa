"""The token floor in the simulator: with a token trace and the LLM replica model, the core's
policies get token forecasts too (``clairvoyant`` the true future, ``forescale`` its own
forecaster's), and a flat request rate whose prompts grow no longer starves TTFT."""

from __future__ import annotations

from typing import Any

import numpy as np

from forescale.sim.engine import Simulation
from forescale.sim.llm_replica import llm_summary
from forescale.sim.peers import run_peer
from forescale.sim.policies import CorePolicy
from forescale.sim.scenario import Scenario
from forescale.traces.tokens import TokenTrace
from tests.sim.sim_helpers import START, base_scenario

SWITCH_S = 1200  # prompts grow from 300 to 6,000 tokens here, at the same 3 req/s


def growing_prompts(
    seconds: int = 2400, rps: float = 3.0, switch_s: int = SWITCH_S, seed: int = 0
) -> TokenTrace:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rps, seconds)
    times = np.sort(np.repeat(START + np.arange(seconds), counts) + rng.random(int(counts.sum())))
    prompt = np.where(times - START < switch_s, 300, 6000)
    return TokenTrace("synthetic", times, prompt, np.full(len(times), 50))


def llm_scenario(service_tokens: float | None, **policy: Any) -> Scenario:
    doc = base_scenario()
    # 4 req/s per replica: one replica is plenty for 3 req/s of short prompts, not of long ones
    doc["model"] = {**doc["model"], "service_rate_rps": 4.0}
    doc["policy"] = {
        "target_rps_per_replica": 3.2, "max_replicas": 20, "min_replicas": 1,
        "prescale": {"headroom": 0.1, "service_tokens_per_replica": service_tokens}, **policy,
    }  # fmt: skip
    doc["llm"] = {
        "replica": {"prefill_tokens_per_s": 10_000, "step_base_s": 0.02, "step_per_seq_s": 0.0005,
                    "kv_capacity_tokens": 200_000},
        "ttft": {"quantile": 0.9, "bound_s": 2.0},
    }  # fmt: skip
    return Scenario.model_validate(doc)


def demand_of(tr: TokenTrace) -> tuple[np.ndarray, np.ndarray]:
    series = tr.requests_trace().rate_series(1.0)
    demand = series.values.astype(float)
    assert series.start == START
    return demand, tr.tokens_per_second(series.start, len(demand))


def test_clairvoyant_token_floor_keeps_ttft_when_prompts_grow() -> None:
    tr = growing_prompts()
    demand, tokens = demand_of(tr)
    with_floor = llm_scenario(7_000.0)
    without = llm_scenario(None)
    a = run_peer("clairvoyant", with_floor, demand, START, tokens=tokens)
    b = run_peer("clairvoyant", without, demand, START, tokens=tokens)
    assert with_floor.llm is not None
    got_a = llm_summary(with_floor.llm, tr, START, a.ready)["ttft"]["attainment"]
    got_b = llm_summary(with_floor.llm, tr, START, b.ready)["ttft"]["attainment"]
    assert got_a > 0.95 > 0.7 > got_b, (got_a, got_b)
    # the floor buys capacity ahead of the rise (the true future), and it costs more
    assert a.ready[SWITCH_S] >= 3 and a.ready[SWITCH_S] > b.ready[SWITCH_S]
    assert a.ready[SWITCH_S - 240 : SWITCH_S].max() >= 3  # ready before the long prompts come
    assert a.cost_usd > b.cost_usd


def test_without_a_token_rate_tokens_change_nothing() -> None:
    tr = growing_prompts(seconds=900, switch_s=450)
    demand, tokens = demand_of(tr)
    sc = llm_scenario(None)
    with_tokens = run_peer("clairvoyant", sc, demand, START, tokens=tokens)
    plain = run_peer("clairvoyant", sc, demand, START)
    assert np.array_equal(with_tokens.ready, plain.ready) and with_tokens.cost_usd == plain.cost_usd


def test_forescale_forecasts_tokens_with_its_own_forecaster() -> None:
    """Two days of a daily cycle in prompt length at a flat request rate: on day two the
    seasonal-naive forecasts (requests and tokens) see the long-prompt hours coming."""
    day = 86_400
    rng = np.random.default_rng(1)
    seconds = 2 * day
    counts = rng.poisson(1.0, seconds)
    times = np.sort(np.repeat(START + np.arange(seconds), counts) + rng.random(int(counts.sum())))
    long_hours = ((times - START) % day) // 3600 % 6 == 5  # every sixth hour: long prompts
    tr = TokenTrace("daily", times, np.where(long_hours, 8000, 200), np.full(len(times), 50))
    demand, tokens = demand_of(tr)
    runs = {}
    for name, per in (("with", 3_000.0), ("without", None)):
        sc = llm_scenario(per, target_rps_per_replica=3.2).model_copy(update={"tick_s": 60.0})
        policy = CorePolicy("forescale", sc, "seasonal-naive", 3600.0)
        runs[name] = Simulation(sc, demand, START, tokens=tokens).run(policy)
        if per is not None:
            assert policy.forecast is not None and all(p.tokens is not None for p in policy.forecast.points)
        else:
            assert policy.token_forecaster is None  # nothing forecast the floor would not read
    t = np.arange(seconds)
    day2_long = (t >= day) & ((t % day) // 3600 % 6 == 5)
    assert runs["with"].ready[day2_long].mean() >= 2 * runs["without"].ready[day2_long].mean()


def test_a_token_metric_term_reacts_to_token_throughput_in_the_simulator() -> None:
    """HPA v2 on vLLM's token throughput (issue 12's metric term), fed by the trace's tokens
    over the stable window: it scales out after the prompts grow (not ahead: reactive)."""
    tr = growing_prompts()
    demand, tokens = demand_of(tr)
    metric = {"kind": "token_throughput", "target": 7_000.0, "preset": "vllm"}
    sc = llm_scenario(None, metrics=[metric])
    reactive = Simulation(sc, demand, START, tokens=tokens).run(CorePolicy("forescale", sc, None, 0.0))
    plain = Simulation(sc, demand, START).run(CorePolicy("forescale", sc, None, 0.0))
    assert reactive.ready[SWITCH_S + 600 :].min() >= 3  # 3 req/s x 6,050 tokens / 7,000 per replica
    assert plain.ready[SWITCH_S + 600 :].max() <= 2
    assert reactive.ready[SWITCH_S - 60] <= 2  # nothing before the rise
