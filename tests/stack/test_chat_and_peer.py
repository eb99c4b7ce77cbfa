"""The demo's chat leg (lengths, request bodies, TTFT figures, the pinned model dir) and
its ``hpa-karpenter`` replay on the same demand."""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from forescale.cliutil import CliError
from forescale.loadgen.chat import ChatOutcome, Lengths, chat_body, token_lengths, ttft_attainment
from forescale.loadgen.runner import DROPPED, NO_ANSWER
from forescale.router.openai_api import chat_prompt
from forescale.sim.peers.karpenter import CONSOLIDATE_AFTER_S, UNAVAILABLE_TTL_S
from forescale.stack import cli as stack_cli
from forescale.stack import peer, report_more
from forescale.stack.chat import (
    CHAT_MODEL,
    MODEL_DIR,
    ChatPlan,
    build_model_dir,
    chat_config,
    chat_policy,
    chat_pools,
    figures,
    offsets,
    window_quantile,
)
from forescale.stack.replay import replay, scenario
from forescale.stack.scenario import DemoPlan, policy, pools


def test_lengths_are_seeded_clipped_and_near_their_medians() -> None:
    lengths = Lengths()
    p, o = token_lengths(4000, lengths, seed=3)
    p2, _ = token_lengths(4000, lengths, seed=3)
    assert (p == p2).all()
    assert p.min() >= lengths.prompt_range[0] and p.max() <= lengths.prompt_range[1]
    assert o.min() >= lengths.output_range[0] and o.max() <= lengths.output_range[1]
    assert np.median(p) == pytest.approx(lengths.prompt_median, rel=0.1)
    assert np.median(o) == pytest.approx(lengths.output_median, rel=0.1)


@pytest.mark.parametrize("prompt_tokens", [30, 64, 200])
def test_a_chat_body_is_as_long_as_drawn_for_the_byte_model(prompt_tokens: int) -> None:
    body = chat_body("m", 5, prompt_tokens, 17)
    # The router's chat template, byte-level, plus BOS: what the worker tokenizes.
    assert len(chat_prompt(body["messages"]).encode()) + 1 == prompt_tokens
    assert body["max_tokens"] == 17 and body["stream"] and body["ignore_eos"]
    assert body["stream_options"] == {"include_usage": True}


def _out(at: float, ttft: float, status: int = 200, tokens: int = 10) -> ChatOutcome:
    return ChatOutcome(at, ttft, 0.02 if tokens > 1 else math.nan, 40, tokens, status)


def test_ttft_attainment_counts_drops_errors_and_slow_firsts_as_misses() -> None:
    plan = ChatPlan()
    outs = [
        _out(0.0, 0.1),
        _out(1.0, 0.2),
        _out(2.0, 0.9),  # over the 0.5 s bound
        _out(3.0, math.inf, NO_ANSWER, 0),
        _out(4.0, math.inf, DROPPED, 0),
    ]
    assert ttft_attainment(outs, 0.5) == pytest.approx(2 / 5)
    assert ttft_attainment([], 0.5) is None
    f = figures(plan, outs)
    assert f["chat_requests"] == 5 and f["chat_ok"] == 3
    assert f["chat_ttft_attainment"] == 0.4 and f["chat_ttft_slo_met"] is False
    assert f["chat_ttft_slo"] == "p90 <= 0.5 s" and f["chat_output_tokens"] == 30
    assert f["chat_ttft_p50_s"] == pytest.approx(0.2)
    # The live view's window quantile: requests whose first token came in (t - w, t].
    assert window_quantile(outs, 1.5, 2.0, 0.9) == pytest.approx(0.2)
    assert window_quantile(outs, 50.0, 2.0, 0.9) is None


def test_chat_offsets_are_seeded_at_the_planned_rate() -> None:
    plan = ChatPlan(rate_rps=0.5)
    a, b = offsets(plan, 2000.0), offsets(plan, 2000.0)
    assert (a == b).all() and (np.diff(a) >= 0).all() and a.min() >= 0 and a.max() < 2000
    assert len(a) == pytest.approx(1000, rel=0.1)


def test_chat_leg_has_its_own_pools_and_the_main_policy_names_its_own() -> None:
    main, chat = policy(DemoPlan()), chat_policy(policy(DemoPlan()), ChatPlan())
    assert set(main.pools) == {p.name for p in pools()}
    assert set(chat.pools) == {p.name for p in chat_pools()}
    assert not set(main.pools) & set(chat.pools)
    assert chat.model == CHAT_MODEL != main.model and chat.min_replicas == 1


def test_the_demo_writes_a_pinned_model_dir_the_llm_engine_loads(tmp_path: Path) -> None:
    from forescale.worker.engines.llm import LLMEngine, SamplingParams

    opts = build_model_dir(tmp_path)
    path = tmp_path / MODEL_DIR / opts["weights"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == opts["weights_sha256"]
    assert chat_config(opts).engine == "llm"  # registration-time validation of the options
    engine = LLMEngine(str(tmp_path / MODEL_DIR), **{k: v for k, v in opts.items()})
    engine.load()
    engine.add("0", engine.encode_prompt("hello"), SamplingParams(5, 0.8, seed=1, ignore_eos=True), [])
    tokens = 0
    while engine.scheduler.has_work():
        tokens += len(engine.step())
    assert tokens == 5


def test_demo_chat_switch_and_a_bad_value_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="forescale")
    stack_cli.register(parser.add_subparsers(dest="command", required=True))
    monkeypatch.setenv("DEMO_CHAT", "0")
    assert stack_cli.chat_from(parser.parse_args(["demo"])) is False
    monkeypatch.setenv("DEMO_CHAT", "1")
    assert stack_cli.chat_from(parser.parse_args(["demo"])) is True
    assert stack_cli.chat_from(parser.parse_args(["demo", "--no-chat"])) is False
    monkeypatch.setenv("DEMO_CHAT", "maybe")
    with pytest.raises(CliError, match=r"^DEMO_CHAT: expected 1 or 0, not 'maybe'$"):
        stack_cli.chat_from(parser.parse_args(["demo"]))


def test_hpa_karpenter_runs_in_demo_seconds_from_the_live_placement(tmp_path: Path) -> None:
    plan = DemoPlan(load_s=120)
    scen = scenario(plan, pools(), policy(plan), 1.0, tmp_path / "avail.json")
    k = peer.time_scale(scen)
    assert k == pytest.approx(10 / 180)
    p = peer.DemoHpaKarpenter(scen, {"reserved-a": 2})
    assert p.spec.scale_down.stabilization_window_s == pytest.approx(300 * k)
    assert [r.period_s for r in p.spec.scale_up.rules] == pytest.approx([15 * k, 15 * k])
    assert p.nodes.unavailable_ttl_s == pytest.approx(UNAVAILABLE_TTL_S * k)
    assert p.nodes.consolidate_after_s == pytest.approx(CONSOLIDATE_AFTER_S * k)

    demand = np.concatenate([np.full(60, 5.0), np.full(60, 30.0)])
    run, summary = peer.replay_peer(scen, demand, 1_700_000_000.0, {"reserved-a": 2})
    assert run.ready[:30].max() == 2  # started where the live run started, no warm guess
    assert run.ready[100:].min() >= 7  # followed the step within its scaled windows
    f = peer.figures(run, summary, 120, plan.compression)
    assert 0.5 < f["hpa_karpenter_slo_attainment"] <= 1.0 and f["hpa_karpenter_cost"] > 0

    fs_run, fs_sum = replay(plan, scen, demand, 1_700_000_000.0, {"reserved-a": 2}, None)
    page = report_more.comparison(
        {"cost_sim": fs_sum["cost_usd"], "slo_attainment_sim": fs_sum["slo_attainment"]} | f
    )
    assert "hpa-karpenter, simulated" in page and f"{f['hpa_karpenter_cost']:.4g}" in page
    report_more.plot_replicas(tmp_path / "r.png", [{"t": 0.0, "ready": 2}], fs_run, run, 120, [])
    assert (tmp_path / "r.png").stat().st_size > 0


def test_chat_cpu_share_is_cpu_seconds_over_the_load() -> None:
    import os

    from forescale.stack.chat import cpu_share
    from forescale.stack.recorder import cpu_seconds

    assert cpu_seconds(os.getpid()) > 0 and cpu_seconds(2**22 + 7) == 0.0  # no such pid
    samples = [{"t": 0.0}, {"t": 1.0, "chat_cpu_s": 2.0}, {"t": 11.0, "chat_cpu_s": 3.5}]
    assert cpu_share(samples) == pytest.approx(0.15)
    assert cpu_share(samples[:2]) is None


def test_live_view_and_log_line_show_the_chat_ttft_against_its_slo() -> None:
    from rich.console import Console

    from forescale.stack.view import line, render

    s = {
        "t": 42.0, "desired": 3, "ready": 3, "queue": 1, "arrived_rps": 7, "sent_rps": 7.2, "p99_s": 0.4,
        "nodes": {}, "cost_per_hour": 5.0, "spot_share": 0.0, "winner": "reactive", "panic": False,
        "reasons": [], "placed": {}, "lead_s": {}, "unavailable": [],
        "chat_ready": 1, "chat_ttft_s": 0.8, "chat_done": 9, "chat_in_flight": 1,
    }  # fmt: skip
    console = Console(width=120, record=True)
    slo = ChatPlan().ttft
    console.print(render(s, model="m", slo_s=1.5, pools=pools(), load_s=200, events=[], chat_slo=slo))
    text = console.export_text()
    assert "chat TTFT p90" in text and "800 ms (SLO 500 ms)" in text and "1 ready, 9 done" in text
    assert line(s).endswith("chat_ttft=0.80s chat_ready=1")
    assert "chat" not in line({k: v for k, v in s.items() if not k.startswith("chat")})
