"""The token floor on a token trace: each policy with and without it, under the LLM replica model.

Runs ``forescale``, ``clairvoyant`` and ``hpa-karpenter`` twice on one trace and scenario:
once as the scenario says, once with ``prescale.service_tokens_per_replica`` set from the
replica model at the trace's mean mix (``core.token_floor.service_tokens_per_replica``),
and prints cost (x oracle), the latency SLO and TTFT/TPOT attainment per run. The
scenario's ``llm`` section is used when it has one, else ``--replica`` defaults (a
mid-size model on one GPU; see docs/designs/fair-evaluation.md for measuring your own).

    python bench/token_floor.py --trace ../shared/traces/azure_llm_2023_conv.csv.gz \\
        --rate-scale 8 --scenario forescale/sim/scenarios/azure-conv.yaml

A trace of one hour gives ``forescale``'s learned forecasters too little history (they
need a day): there only ``clairvoyant`` shows what a token forecast buys.
"""

from __future__ import annotations

import argparse
import time

import forescale.prescaler  # noqa: F401  (registers the forecasters)
from forescale.core.token_floor import service_tokens_per_replica
from forescale.sim.llm_replica import LlmScenario, llm_summary
from forescale.sim.run import simulate
from forescale.sim.scenario import Scenario, load_scenario
from forescale.traces.tokens import TokenTrace, load_token_trace

POLICIES = ("forescale", "clairvoyant", "hpa-karpenter")
REPLICA = {
    "replica": {"prefill_tokens_per_s": 5000, "step_base_s": 0.03, "step_per_seq_s": 0.001,
                "kv_capacity_tokens": 100_000, "max_batch": 256},
    "ttft": {"quantile": 0.99, "bound_s": 2.0},
    "tpot": {"quantile": 0.99, "bound_s": 0.1},
}  # fmt: skip


def with_token_rate(sc: Scenario, per: float | None) -> Scenario:
    pre = sc.policy.prescale.model_copy(update={"service_tokens_per_replica": per})
    return sc.model_copy(update={"policy": sc.policy.model_copy(update={"prescale": pre})})


def run(tt: TokenTrace, sc: Scenario, llm: LlmScenario, label: str, forecaster: str) -> None:
    t0 = time.perf_counter()
    out = simulate(tt.requests_trace(), sc, list(POLICIES), forecaster=forecaster, token_trace=tt)
    for name in POLICIES:
        row = out.results["policies"][name]
        s = llm_summary(llm, tt, out.start, out.runs[name].ready)
        print(
            f"{label:15s} {name:14s} ${row['cost_usd']:8.0f} {row['cost_vs_oracle']:6.3f}x oracle  "
            f"latency {row['slo_attainment'] * 100:6.2f}%  TTFT {s['ttft']['attainment'] * 100:6.2f}%  "
            f"TPOT {s['tpot']['attainment'] * 100:6.2f}%  unserved {s['unserved']}"
        )
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--trace", required=True, help="Per-request token trace (Azure, Mooncake, BurstGPT).")
    p.add_argument("--scenario", required=True)
    p.add_argument("--rate-scale", type=float, default=1.0)
    p.add_argument("--forecaster", default="seasonal-naive")
    args = p.parse_args()
    tt = load_token_trace(args.trace, rate_scale=args.rate_scale)
    sc = load_scenario(args.scenario)
    llm = sc.llm or LlmScenario.model_validate(REPLICA)
    sc = sc.model_copy(update={"llm": llm})
    mp, mo = float(tt.prompt.mean()), float(tt.output.mean())
    bound = llm.tpot.bound_s if llm.tpot else None
    per = service_tokens_per_replica(llm.replica.tokens(), mp, mo, bound)
    print(f"{tt.source}: {len(tt.times)} requests, mean prompt {mp:.0f}, output {mo:.0f} tokens; "
          f"service_tokens_per_replica {per:.0f} tokens/s ({per / (mp + mo):.2f} req/s at this mix, "
          f"scenario service rate {sc.model.service_rate_rps:g} req/s)")  # fmt: skip
    run(tt, with_token_rate(sc, None), llm, "no token floor", args.forecaster)
    run(tt, with_token_rate(sc, per), llm, "token floor", args.forecaster)


if __name__ == "__main__":
    main()
