"""Run the chosen policies on one trace and scenario and gather ``results.json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from forescale.cliutil import CliError
from forescale.sim.defaults import DEFAULT_REFIT_S, SHIPPED_FORECASTER
from forescale.sim.engine import Run, Simulation
from forescale.sim.metrics import summarize
from forescale.sim.oracle import need, oracle_run
from forescale.sim.peers import PEERS
from forescale.sim.policies import CorePolicy, HpaPolicy, StaticPolicy
from forescale.sim.scenario import Scenario
from forescale.traces import Trace
from forescale.traces.tokens import TokenTrace

# `forescale-on-demand` is `forescale` with the spot pools taken away: the baseline for
# what spot saves.
POLICY_NAMES = ("forescale", "hpa", "static", "oracle", "forescale-on-demand", *PEERS)


@dataclass
class Outcome:
    results: dict[str, Any]
    runs: dict[str, Run]
    demand: np.ndarray
    need: np.ndarray
    start: float
    scenario: Scenario
    tokens: np.ndarray | None = None  # token demand per second (token traces with an llm section)


def parse_policies(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CliError("--policies: name at least one policy")
    for name in names:
        if name not in POLICY_NAMES:
            raise CliError(f"--policies: unknown policy {name!r}; known: {', '.join(POLICY_NAMES)}")
    return list(dict.fromkeys(names))


def on_demand_only(scenario: Scenario) -> Scenario:
    pools = tuple(p for p in scenario.pools if p.capacity_type != "spot")
    if not pools:
        raise CliError("forescale-on-demand: the scenario has only spot pools")
    allowed = {p.name for p in pools}
    spec = scenario.policy.model_copy(
        update={"pools": tuple(n for n in scenario.policy.pools if n in allowed)}
    )
    return scenario.model_copy(update={"pools": pools, "policy": spec})


Progress = Callable[[str, float], None]


class _Reporting:
    """A policy that also reports how far through the trace each tick is (for the CLI's
    progress bar); everything else is the wrapped policy's."""

    def __init__(self, inner: Any, report: Progress, duration_s: float) -> None:
        self.inner, self.report, self.duration_s = inner, report, max(duration_s, 1.0)
        self.name = inner.name

    def start(self, sim: Simulation) -> None:
        self.inner.start(sim)

    def tick(self, sim: Simulation, obs: Any) -> None:
        self.inner.tick(sim, obs)
        self.report(self.name, (obs.now - sim.start) / self.duration_s)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def run_policy(
    name: str,
    scenario: Scenario,
    demand: np.ndarray,
    start: float,
    peak: int,
    forecaster: str,
    refit_s: float,
    progress: Progress | None = None,
    tokens: np.ndarray | None = None,
) -> Run:
    if name == "oracle":
        return oracle_run(scenario, demand)
    if name == "forescale-on-demand":
        scenario = on_demand_only(scenario)
    policy: Any
    if name in PEERS:
        policy = PEERS[name](scenario, demand, start, None)
    elif name == "static":
        policy = StaticPolicy(scenario, peak)
    elif name == "hpa":
        policy = HpaPolicy(scenario)
    else:
        policy = CorePolicy(name, scenario, forecaster, refit_s)
    if progress is not None:
        policy = _Reporting(policy, progress, len(demand))
    return Simulation(scenario, demand, start, tokens=tokens).run(policy)


def simulate(
    trace: Trace,
    scenario: Scenario,
    policies: list[str],
    *,
    forecaster: str = SHIPPED_FORECASTER,
    refit_s: float = DEFAULT_REFIT_S,
    progress: Progress | None = None,
    token_trace: TokenTrace | None = None,
) -> Outcome:
    """``token_trace`` (the same requests with their token counts): forescale's policies
    forecast token throughput too, for the token floor (``core/token_floor.py``)."""
    series = trace.rate_series(1.0)
    demand = np.nan_to_num(series.values.astype(float))
    tokens = None if token_trace is None else token_trace.tokens_per_second(series.start, len(demand))
    needed = need(scenario, demand)
    peak = int(needed.max()) if len(needed) else 0
    runs: dict[str, Run] = {}
    for name in dict.fromkeys([*policies, "oracle"]):  # the oracle is the cost yardstick
        runs[name] = run_policy(
            name, scenario, demand, series.start, peak, forecaster, refit_s, progress, tokens
        )
        if progress is not None:
            progress(name, 1.0)
    oracle_cost = runs["oracle"].cost_usd
    out: dict[str, Any] = {}
    for name in policies:
        row = summarize(scenario, demand, runs[name])
        row["cost_vs_oracle"] = row["cost_usd"] / oracle_cost if oracle_cost > 0 else None  # type: ignore[operator]
        out[name] = row
    results = {
        "trace": {
            "source": trace.source,
            "start": series.start,
            "duration_s": len(demand),
            "requests": round(float(demand.sum())),
            "mean_rps": float(demand.mean()) if len(demand) else 0.0,
            "peak_rps_1s": float(demand.max()) if len(demand) else 0.0,
            "peak_need_replicas": peak,
            "scenario": scenario.name,
            "forecaster": forecaster,
        },
        "policies": out,
    }
    return Outcome(results, runs, demand, needed, series.start, scenario, tokens)
