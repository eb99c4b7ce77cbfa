"""After the live run: the simulator replays (forescale's policy and ``hpa-karpenter`` on
the same demand), the chat leg's TTFT figures, the plots, report.html, the JSON figures."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from forescale.stack import chat as chat_leg
from forescale.stack import peer, report, report_more
from forescale.stack.replay import demand_per_second, fidelity, replay, scenario, tick_phase, worker_start_s
from forescale.stack.scenario import announced, policy, pools

if TYPE_CHECKING:
    from forescale.stack.run import DemoOptions, LiveRun


def finish(opts: DemoOptions, live: LiveRun) -> dict[str, Any]:
    """Everything after the live run; returns the figures of the demo's last JSON line."""
    plan, n = opts.plan, int(opts.plan.load_s)
    demand = demand_per_second(live.gen.outcomes, n)
    start_s = worker_start_s(live.worker_starts, live.load_time_s)
    phase_s = tick_phase(live.samples, live.t0, plan.interval_s)
    scen = scenario(plan, pools(), policy(plan), start_s, opts.out / "spot-availability.json", phase_s)
    first = live.samples[0] if live.samples else {"placed": {}}
    initial = {k: v for k, v in first["placed"].items() if v > 0} or {"reserved-a": policy(plan).min_replicas}
    event = announced(plan, live.t0) if opts.announce else None
    run, sim = replay(plan, scen, demand, live.t0, initial, event)
    peer_run, peer_sum = peer.replay_peer(scen, demand, live.t0, initial)
    figures = fidelity(plan, live.samples, live.gen.outcomes, run, sim, n)
    figures |= {
        "p99_latency_live_s": live.load.p99_s,
        "p99_latency_sim_s": sim["p99_latency_s"],
        "worker_start_s": round(start_s, 2),
        "tick_phase_s": round(phase_s, 3),
    }
    figures |= peer.figures(peer_run, peer_sum, n, plan.compression)
    if live.chat is not None and opts.chat is not None:
        figures |= chat_leg.figures(opts.chat, live.chat.outcomes)
        figures["chat_worker_cpu_cores"] = chat_leg.cpu_share(live.samples)
    figures["report"] = str(opts.out / "report.html")

    images = ["demand.png", "latency.png", "cost.png", "replicas.png"]
    report.plot_demand(opts.out / images[0], plan, demand, live.samples, run.ready, live.events)
    report.plot_latency(opts.out / images[1], plan, live.samples, live.events)
    report.plot_cost(opts.out / images[2], live.samples, pools(), live.events)
    report_more.plot_replicas(opts.out / images[3], live.samples, run, peer_run, n, live.events)
    if live.chat is not None and opts.chat is not None:
        images.append("ttft.png")
        report_more.plot_ttft(opts.out / images[-1], opts.chat, live.chat.outcomes, live.events)
    notes = [
        f"one day compressed into {plan.load_s:g} s (x{plan.compression:.0f});"
        " costs are USD of the replayed day",
        f"per-replica capacity {plan.capacity_rps:g} req/s (sleep engine, {plan.service_s * 1000:g} ms)",
        f"worker start measured live ({start_s:.1f} s behind its node), the simulator's load time",
        "hpa-karpenter: HPA v2 defaults on req/s per replica (same target), Karpenter nodes (spot first,"
        f" on-demand fallback); its durations scaled to demo seconds by {peer.time_scale(scen):.3g}"
        " (the demo's pool-unavailable TTL over Karpenter's 180 s)",
    ]
    if opts.chat is not None:
        notes.append(
            f"chat leg: model {chat_leg.CHAT_MODEL!r} on the llm engine (2 layers, d=64, CPU),"
            f" {opts.chat.rate_rps:g} req/s of streamed chat completions; TTFT and TPOT measured"
            " by the client; not part of the fidelity figures (its own pools)"
        )
    comparison = report_more.comparison(figures)
    report.write_html(
        opts.out / "report.html", figures, live.load.summary(), live.events, images, notes, comparison
    )
    (opts.out / "timeline.json").write_text(
        json.dumps(
            {
                "t0": live.t0,
                "samples": live.samples,
                "events": live.events,
                "worker_starts": live.worker_starts,
            }
        )
    )
    rows = "".join(f"{o.at:.4f},{o.latency_s:.4f},{o.status}\n" for o in live.gen.outcomes)
    (opts.out / "requests.csv").write_text("at_s,latency_s,status\n" + rows)
    if live.chat is not None:
        rows = "".join(
            f"{o.at:.4f},{o.ttft_s:.4f},{o.tpot_s:.5f},{o.prompt_tokens},{o.completion_tokens},{o.status}\n"
            for o in live.chat.outcomes
        )
        (opts.out / "chat.csv").write_text(
            "at_s,ttft_s,tpot_s,prompt_tokens,completion_tokens,status\n" + rows
        )
    return figures
