"""``forescale simulate``: replay a trace through the policies and report cost and SLO."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from forescale.cliutil import CliError, publish_mode, reject_archive
from forescale.sim.defaults import DEFAULT_REFIT_S, SHIPPED_FORECASTER
from forescale.traces import add_trace_arguments


def _duration(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (e.g. 3600, 60m, 1h)")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="Replay a trace through policies: SLO attainment and cost.")
    add_trace_arguments(p)
    p.add_argument("--scenario", required=True, help="Scenario YAML (see forescale/sim/scenarios/).")
    p.add_argument(
        "--policies",
        default="forescale,hpa,static,oracle",
        help="Comma-separated: forescale, hpa, static, oracle, forescale-on-demand, hpa-karpenter, "
        "keda-queue, keda-concurrency, clairvoyant, hpa-ondemand.",
    )
    p.add_argument("--sweep", action="store_true", help="Also run each policy over its main knob: frontier.")
    p.add_argument("--out", required=True, help="Folder for results.json, report.html and PNGs.")
    p.add_argument(
        "--forecaster",
        default=SHIPPED_FORECASTER,
        help=f"Forecaster for `forescale` (default {SHIPPED_FORECASTER}, what `forescale prescaler` ships).",
    )
    p.add_argument(
        "--refit",
        type=_duration,
        default=DEFAULT_REFIT_S,
        help="Refit the forecaster this often (default 1d; the prescaler refits hourly, but a gbq fit "
        "costs ~2 s and the simulation refits on its one CPU).",
    )
    p.add_argument(
        "--quiet", action="store_true", help="No progress bar on stderr (there is none off a terminal)."
    )
    p.set_defaults(func=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    import forescale.prescaler  # noqa: F401  (registers the forecasters)
    from forescale.prescaler.base import FORECASTERS
    from forescale.progress import progress
    from forescale.sim.frontier_plot import write_frontier_plot
    from forescale.sim.llm_replica import add_llm_results, slo_attainments
    from forescale.sim.report import summary_table, write_html, write_plots
    from forescale.sim.run import parse_policies, simulate
    from forescale.sim.scenario import load_scenario
    from forescale.sim.sweep import run_sweep
    from forescale.sim.sweep import summary_table as sweep_table
    from forescale.traces import trace_from_args
    from forescale.traces.tokens import token_trace_from_args

    # Everything is read and checked before anything is written.
    policies = parse_policies(args.policies)
    if args.forecaster not in FORECASTERS:
        raise CliError(f"--forecaster: unknown forecaster {args.forecaster!r}; known: {sorted(FORECASTERS)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out: {out} exists and is not a folder")
    scenario = load_scenario(args.scenario)
    reject_archive(args.trace)
    trace = trace_from_args(args)
    # the trace's token counts: TTFT/TPOT per policy, and token forecasts for the token floor
    tokens = token_trace_from_args(args) if scenario.llm is not None else None
    with progress(not args.quiet) as report:
        outcome = simulate(
            trace, scenario, policies, forecaster=args.forecaster, refit_s=args.refit, progress=report,
            token_trace=tokens,
        )  # fmt: skip
    outcome.results["trace"]["scenario_file"] = str(args.scenario)
    more_slos = None
    if scenario.llm is not None and tokens is not None:  # TTFT/TPOT per policy
        add_llm_results(outcome, scenario.llm, tokens)
        more_slos = slo_attainments(scenario.llm, tokens, outcome.start)
    sweep = run_sweep(outcome, policies, args.forecaster, args.refit, more_slos) if args.sweep else None
    if sweep is not None:
        outcome.results["sweep"] = sweep
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    publish_mode(tmp)  # mkdtemp makes 0700; --out is a folder like any other the user makes
    try:
        images = write_plots(outcome, tmp)
        if sweep is not None:
            images.append(write_frontier_plot(sweep, tmp))
        write_html(outcome.results, images, tmp / "report.html")
        (tmp / "results.json").write_text(json.dumps(outcome.results, indent=2) + "\n")
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(summary_table(outcome.results))
    if sweep is not None:
        print(sweep_table(sweep))
    print(f"wrote {out / 'results.json'} and {out / 'report.html'}")
    return 0


def _publish(tmp: Path, out: Path) -> None:
    """A new folder appears whole (one rename); into an existing one each file is replaced
    atomically, results.json last, so a reader never sees a mix without it being complete."""
    if not out.exists():
        os.rename(tmp, out)
        tmp.mkdir()  # so the caller's cleanup has something to remove
        return
    for item in sorted(tmp.iterdir(), key=lambda p: p.name == "results.json"):
        os.replace(item, out / item.name)
