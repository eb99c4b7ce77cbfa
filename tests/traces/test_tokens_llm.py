"""The LLM replica model on token traces: TTFT/TPOT per SLO, KV preemption, capacity loss,
and ``forescale simulate`` reporting them per policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from forescale.cli import main
from forescale.sim.llm_replica import LlmReplica, LlmScenario, TokenSlo, llm_summary, serve_tokens
from forescale.traces.tokens import TokenTrace

sys.path.insert(0, str(Path(__file__).parents[1] / "sim"))
from sim_helpers import START, base_scenario, write_scenario

REP = LlmReplica(
    prefill_tokens_per_s=10_000, step_base_s=0.02, step_per_seq_s=0.0005, kv_capacity_tokens=50_000
)
SLO = LlmScenario(
    replica=REP, ttft=TokenSlo(quantile=0.9, bound_s=1.0), tpot=TokenSlo(quantile=0.9, bound_s=0.1)
)


def chat(seconds: int, rps: float, prompt: int = 1000, output: int = 100, seed: int = 0) -> TokenTrace:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rps, seconds)
    times = np.repeat(START + np.arange(seconds), counts) + rng.random(int(counts.sum()))
    times.sort()
    n = len(times)
    return TokenTrace("chat", times, np.full(n, prompt), np.full(n, output))


def test_enough_replicas_meet_ttft_and_tpot_too_few_do_not() -> None:
    tr = chat(300, 10)
    ok = llm_summary(SLO, tr, START, np.full(400, 4.0))
    assert ok["ttft"]["attainment"] == 1.0 and ok["ttft"]["met"]
    assert ok["tpot"]["met"] and ok["tpot"]["p50_s"] == pytest.approx(0.02 + 0.0005 * 20, rel=0.6)
    assert ok["unserved"] == 0
    short = llm_summary(SLO, tr, START, np.full(400, 1.0))
    assert short["ttft"]["attainment"] < 0.5
    assert not short["ttft"]["met"]


def test_long_prompts_cost_prefill_time() -> None:
    short = serve_tokens(chat(120, 2, prompt=200), START, np.full(200, 1.0), REP)
    long = serve_tokens(chat(120, 2, prompt=4000), START, np.full(200, 1.0), REP)
    assert np.median(long["ttft"]) > 5 * np.median(short["ttft"])
    assert np.all(short["ttft"] >= 0)


def test_a_full_kv_cache_preempts_and_a_prompt_bigger_than_it_is_never_served() -> None:
    small = REP.model_copy(update={"kv_capacity_tokens": 3000})
    got = serve_tokens(chat(60, 1, prompt=1000, output=1500), START, np.full(3000, 1.0), small)
    assert np.all(np.isfinite(got["e2e"]))  # preempted requests recompute and finish
    roomy = serve_tokens(chat(60, 1, prompt=1000, output=1500), START, np.full(3000, 1.0), REP)
    assert got["e2e"].mean() > roomy["e2e"].mean()
    huge = serve_tokens(chat(10, 1, prompt=4000), START, np.full(100, 2.0), small)
    assert not np.any(np.isfinite(huge["e2e"]))


def test_lost_replicas_send_their_requests_back_to_the_queue() -> None:
    ready = np.concatenate([np.full(30, 3.0), np.full(200, 1.0)])
    got = serve_tokens(chat(60, 5, output=400), START, ready, REP)
    assert np.all(np.isfinite(got["e2e"]))


def test_simulate_reports_ttft_and_tpot_per_policy(tmp_path: Path) -> None:
    doc = base_scenario()
    doc["llm"] = {
        "replica": {"prefill_tokens_per_s": 10000, "step_base_s": 0.02, "step_per_seq_s": 0.0005,
                    "kv_capacity_tokens": 50000},
        "ttft": {"quantile": 0.99, "bound_s": 2},
        "tpot": {"quantile": 0.99, "bound_s": 0.1},
    }  # fmt: skip
    sc = write_scenario(tmp_path / "sc.yaml", doc)
    tr = chat(900, 3)
    trace = tmp_path / "azure.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + "".join(f"{t:.3f},{p},{o}\n" for t, p, o in zip(tr.times, tr.prompt, tr.output, strict=True))
    )
    out = tmp_path / "out"
    args = ["simulate", "--trace", str(trace), "--scenario", str(sc), "--out", str(out)]
    assert main([*args, "--policies", "hpa-karpenter,oracle", "--sweep"]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["policies"]
    for p in results["sweep"]["points"]["hpa-karpenter"]:  # the frontier counts every SLO
        assert set(p["per_slo"]) == {"latency", "ttft", "tpot"}
        assert p["slo_attainment"] == min(p["per_slo"].values())
    for row in rows.values():
        assert set(row["llm"]) == {"ttft", "tpot", "unserved"}
        assert 0 <= row["llm"]["ttft"]["attainment"] <= 1
        assert row["llm"]["tpot"]["bound_s"] == 0.1
    assert main([*args, "--prompt-column", "nope"]) == 2
