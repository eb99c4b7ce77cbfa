"""``decide(obs, spec, pools, state) -> (Decision, PolicyState)``: one tick of a policy.

Pure and deterministic: the same inputs give the same outputs, time is ``obs.now``, and
everything carried between ticks is in the returned ``PolicyState`` (STYLE.md #1).

The pipeline, in order (each step names itself in ``Decision.reasons`` when it changes
the count; ``Decision.winner`` is the last step that did):

1. terms, each in replicas: reactive (HPA v2), backlog, forecast floor, schedule floor;
   the recommendation is their max, so floors and the backlog only ever raise it;
2. bounds: min_replicas / max_replicas;
3. HPA stabilization windows over the history of recommendations;
4. HPA behavior rules (rate of change per period);
5. KPA panic: over the threshold, the panic count applies at once and nothing shrinks;
6. hold: a missing or stale signal never lets the count go down;
7. the capacity planner places the replicas on pools.

Policies are registered by name in ``POLICIES``: ``forescale`` runs every step, ``hpa``
only the reactive term (what a Kubernetes HPA on the same RPS target would do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from forescale.core import backlog, capacity, coverage, forecast, hpa, panic, poolview, schedule, token_floor
from forescale.core.ledger import ReservationLedger
from forescale.core.metric_terms import metric_terms
from forescale.core.model import Decision, Observation, PolicySpec, PolicyState, PoolSpec, Reason

PolicyFn = Callable[
    [Observation, PolicySpec, Sequence[PoolSpec], PolicyState, ReservationLedger | None],
    tuple[Decision, PolicyState],
]


@dataclass(frozen=True, slots=True)
class Terms:
    """Which terms a registered policy uses beyond the reactive one."""

    backlog: bool
    panic: bool
    forecast: bool
    schedule: bool


FULL = Terms(backlog=True, panic=True, forecast=True, schedule=True)
REACTIVE_ONLY = Terms(backlog=False, panic=False, forecast=False, schedule=False)


def _missing(obs: Observation, terms: Terms) -> list[str]:
    """Signals whose absence or staleness forbids a scale-down this tick."""
    gone = []
    if obs.rps_stable is None:
        gone.append("request rate")
    if terms.backlog and obs.queue_depth is None:
        gone.append("queue depth")
    if terms.panic and obs.rps_short is None:
        gone.append("short-window request rate")
    if obs.stale:  # usually none: no generator to make then
        gone.extend(f"fresh {name} (stale)" for name in obs.stale)
    return gone


def _terms(
    obs: Observation, spec: PolicySpec, terms: Terms, lead_s: float, reasons: list[Reason],
    scale: float = 1.0, in_flight: Sequence[tuple[int, float]] = (),
) -> tuple[int, str, float | None]:  # fmt: skip
    """The recommendation (max of the terms), the term that set it, and the req/s the
    forecast floor's replicas serve over the next lead time (None: no floor in it)."""
    current = obs.current_replicas
    target = spec.target_rps_per_replica
    if obs.rps_stable is None:
        best, winner = current, "reactive"
        reasons.append(Reason("reactive", current, f"reactive: request rate missing, holding {current}"))
    else:
        best, detail = hpa.reactive(obs.rps_stable, target, current, spec.tolerance)
        winner = "reactive"
        reasons.append(Reason("reactive", best, detail))
    candidates: list[tuple[str, int, str]] = []
    if terms.backlog and obs.queue_depth is not None:
        n, detail = backlog.term(obs, spec, lead_s, in_flight)  # the queue left when new capacity is ready
        candidates.append(("backlog", n, detail))
    # HPA v2 over the policy's listed metrics: each one's count competes, the largest wins
    if spec.metrics:
        candidates.extend(metric_terms(obs.metric_values, spec.metrics, current, spec.tolerance))
    on = terms.forecast and spec.prescale.mode != "off"
    floor, planned = _forecast(obs, spec, lead_s, reasons, scale) if on else ([], None)
    candidates.extend(floor)
    if on:  # the same floor in tokens/s (core/token_floor.py); the larger of the two wins
        candidates.extend(token_floor.term(obs, spec, lead_s, reasons))
    if terms.schedule and spec.schedules:
        n, names = schedule.floor(spec.schedules, obs.now, lead_s)
        if names:
            candidates.append(("schedule", n, f"schedule: {n} replicas, floor of {', '.join(names)}"))
    for term, n, detail in candidates:
        reasons.append(Reason(term, n, detail))
        if n > best:
            best, winner = n, term
    return best, winner, planned if floor else None


def _forecast(
    obs: Observation, spec: PolicySpec, lead_s: float, reasons: list[Reason], scale: float = 1.0
) -> tuple[list[tuple[str, int, str]], float | None]:
    """The floor term, and the req/s its replicas serve (what coverage checks)."""
    pre = spec.prescale
    smooth_s = spec.latency_slo_s if pre.smooth_over_slo else 0.0
    pooled = pre.quantile_of_window_mean
    held = _down_window(spec, True)  # how long a recommendation is held (forecast.py, window)
    start, end = forecast.window(lead_s, held, smooth_s, pre.horizon)
    peak, used = forecast.peak(
        obs.forecasts, obs.now, end, pre.quantile, pre.max_forecast_age_s, smooth_s, pooled, start
    )
    if peak is None:
        if obs.forecasts:
            reasons.append(
                Reason("forecast", None, "forecast: none fresh enough or covering the next lead time")
            )
        return [], None
    # The floor is a forecast of demand plus its margin (quantile, headroom); dividing it by
    # the utilisation target as well would stack a second margin (service_rps_per_replica).
    per = pre.service_rps_per_replica or spec.target_rps_per_replica
    peak *= scale  # the online recalibration (coverage.calibrate); 1 when off
    n = hpa.ceil_div(peak * (1 + pre.headroom), per)
    mean = f", {'quantile of the mean' if pooled else 'mean'} over {smooth_s:g} s windows" if smooth_s else ""
    detail = (
        f"forecast: {n} replicas = ceil(p{pre.quantile * 100:g} peak {peak:.1f} req/s x "
        f"(1 + {pre.headroom:g} headroom) / {per:g} per replica) "
        f"over {start:.0f}-{end:.0f} s ahead (lead time {lead_s:.0f} s){mean} ({used} forecasts)"
        + (f", recalibrated x{scale:.2f}" if scale != 1.0 else "")
    )
    if pre.mode == "forecast-only":
        reasons.append(Reason("forecast", n, detail + "; forecast-only mode, not acted on"))
        return [], None
    return [("forecast", n, detail)], n * per


def _bound(value: int, winner: str, spec: PolicySpec, reasons: list[Reason]) -> tuple[int, str]:
    if value < spec.min_replicas:
        reasons.append(
            Reason("min_replicas", spec.min_replicas, f"bounds: raised to min_replicas {spec.min_replicas}")
        )
        return spec.min_replicas, "min_replicas"
    if value > spec.max_replicas:
        reasons.append(
            Reason("max_replicas", spec.max_replicas, f"bounds: capped at max_replicas {spec.max_replicas}")
        )
        return spec.max_replicas, "max_replicas"
    return value, winner


def _down_window(spec: PolicySpec, forecast_on: bool, covered: bool = True) -> float:
    """The scale-down stabilization window this tick.

    The window holds capacity in case demand comes back. While a fresh forecast floor
    covers the next lead time, capacity needed within that lead time is in the floor
    already and capacity needed later can be launched in time again, so holding the
    window's peak only guards against what the forecast misses: the prescale window
    (shorter) applies. That is what pre-scaling buys on the way down, and only while the
    floor's recent checks against real demand show it does cover it (``covered``,
    core/coverage.py).
    """
    window = spec.scale_down.stabilization_window_s
    short = spec.prescale.scale_down_window_s
    if forecast_on and covered and short is not None:
        return min(window, short)
    return window


def _limit(
    obs: Observation, spec: PolicySpec, state: PolicyState, rec: int, winner: str, reasons: list[Reason],
    forecast_on: bool = False, covered: bool = True,
) -> tuple[int, str, hpa.History, hpa.History]:  # fmt: skip
    """HPA stabilization windows, then behavior rules."""
    now, current = obs.now, obs.current_replicas
    up_h = hpa.push_window(state.up_history, now, rec, spec.scale_up.stabilization_window_s, keep_max=False)
    down_h = hpa.push_window(
        state.down_history, now, rec, spec.scale_down.stabilization_window_s, keep_max=True
    )
    down_window = _down_window(spec, forecast_on, covered)
    if down_window < spec.scale_down.stabilization_window_s:
        value = hpa.stabilize(current, up_h, hpa.recent(down_h, now, down_window))
    else:  # the usual case: the whole window
        value = hpa.stabilize(current, up_h, down_h)
    if value != rec:
        held_up = value > rec
        window = down_window if held_up else spec.scale_up.stabilization_window_s
        detail = (
            f"stabilization: {value} replicas, the {'highest' if held_up else 'lowest'} recommendation in "
            f"the {window:g} s {'scale-down' if held_up else 'scale-up'} window (current {current})"
        )
        reasons.append(Reason("stabilization", value, detail))
        winner = "stabilization"
    if value > current:
        limit = hpa.scale_up_limit(current, state.scale_events, now, spec.scale_up)
        if value > limit:
            detail = (
                f"scale-up rule: at most {limit} replicas now (select {spec.scale_up.select}, from {current})"
            )
            reasons.append(Reason("scale-up rule", limit, detail))
            value, winner = limit, "scale-up rule"
    elif value < current:
        limit = max(
            hpa.scale_down_limit(current, state.scale_events, now, spec.scale_down), spec.min_replicas
        )
        if value < limit:
            rule = spec.scale_down.select
            detail = f"scale-down rule: at least {limit} replicas now (select {rule}, from {current})"
            reasons.append(Reason("scale-down rule", limit, detail))
            value, winner = limit, "scale-down rule"
    return value, winner, up_h, down_h


def _deep(obs: Observation, spec: PolicySpec, lead_s: float) -> bool:
    """Whether the queue outlasts the lead time at the ready replicas' target rate.

    Only then can capacity asked for now still help the surge (see panic.py). A missing
    queue depth counts as deep (KPA's behaviour); ``panic_drain_check`` off does too.
    """
    if not spec.panic_drain_check or obs.queue_depth is None:
        return True
    return obs.queue_depth >= max(1, obs.ready_replicas) * spec.target_rps_per_replica * lead_s


def _panic(
    obs: Observation, spec: PolicySpec, state: PolicyState, value: int, winner: str, reasons: list[Reason],
    lead_s: float = 0.0,
) -> tuple[int, str, panic.PanicStep]:  # fmt: skip
    """KPA panic: the panic count at once (past the scale-up rules) and nothing below current."""
    step = panic.panic_step(
        obs.rps_short, spec.target_rps_per_replica, obs.ready_replicas, spec.panic_threshold,
        spec.stable_window_s, obs.now, state.panic_at, state.panic_max, _deep(obs, spec, lead_s),
    )  # fmt: skip
    reasons.append(Reason("panic", step.replicas if step.panicking else None, step.detail))
    if step.panicking:
        floor = min(max(step.replicas, obs.current_replicas), spec.max_replicas)
        if floor > value:
            value, winner = floor, "panic"
    return value, winner, step


def _decide(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState, terms: Terms,
    ledger: ReservationLedger | None,
) -> tuple[Decision, PolicyState]:  # fmt: skip
    reasons: list[Reason] = []
    pv = poolview.view(obs, spec, pools, state)
    # the forecast horizon: the slowest usable pool's lead time (capacity must be ready there too)
    lead_s = pv.lead_s
    in_flight = backlog.starting(pv.table, pv.starting_since, obs.now)
    rec, winner, planned = _terms(obs, spec, terms, lead_s, reasons, state.floor_scale, in_flight)
    rec, winner = _bound(rec, winner, spec, reasons)
    # a floor is checked at the end of the window it planned for
    smooth_s = spec.latency_slo_s if spec.prescale.smooth_over_slo else 0.0
    due = forecast.window(lead_s, 0.0, smooth_s, spec.prescale.horizon)[1]
    cov, covered = coverage.step(obs, spec, state, planned, due)
    value, winner, up_h, down_h = _limit(obs, spec, state, rec, winner, reasons, planned is not None, covered)
    step = None
    if terms.panic:
        value, winner, step = _panic(obs, spec, state, value, winner, reasons, lead_s)
    current = obs.current_replicas
    missing = _missing(obs, terms)
    if missing and value < current:
        value, winner = min(current, spec.max_replicas), "hold"
        reasons.append(Reason("hold", value, f"hold: no scale-down without {', '.join(missing)}"))
    value, winner = _bound(value, winner, spec, reasons)
    # no ledger: this model alone, nothing held by others (plan_tick passes the tick's ledger)
    plan = capacity.plan_capacity(value, spec, pv.table, pv.table.layout.ledger if ledger is None else ledger)
    if pv.notes or plan.notes:  # one reason for all of them: usually none, at times several
        reasons.append(Reason("capacity", None, "capacity: " + "; ".join(pv.notes + list(plan.notes))))
    reasons.append(Reason("decision", value, f"decision: {value} replicas (from {current}), set by {winner}"))
    decision = Decision(
        model=spec.model, at=obs.now, desired_replicas=value, pools=plan.targets,
        winner=winner, reasons=tuple(reasons), panic=step is not None and step.panicking,
        dry_run=spec.mode == "dry-run",
    )  # fmt: skip
    return decision, _next_state(obs, spec, state, value, up_h, down_h, step, pv, cov)


def _next_state(
    obs: Observation, spec: PolicySpec, state: PolicyState, value: int, up_h: hpa.History,
    down_h: hpa.History, step: panic.PanicStep | None, pv: poolview.PoolView, cov: coverage.Coverage,
) -> PolicyState:  # fmt: skip
    events, delta = state.scale_events, value - obs.current_replicas
    if events or delta:  # no events kept and no change: nothing to record or expire
        events = hpa.record_event(events, obs.now, delta, hpa.longest_period(spec.scale_up, spec.scale_down))
    return PolicyState(
        last_at=obs.now, last_desired=value, up_history=up_h, down_history=down_h, scale_events=events,
        panic_at=step.panic_at if step else None,
        panic_max=max(step.panic_max, value) if step and step.panicking else 0,
        lead_samples=pv.lead_samples, lead_time_s=pv.lead_time_s,
        interruption_rate=pv.interruption_rate, starting_since=pv.starting_since,
        unavailable_at=pv.unavailable_at,
        # coverage.state_fields(cov), spelled out: a ** call cannot use the compiled
        # constructor's direct path (the keywords are matched at run time)
        floor_pending=cov.pending, floor_coverage=cov.coverage, floor_checked_at=cov.checked_at,
        floor_missed_at=cov.missed_at, floor_rates=cov.rates, floor_scale=cov.scale,
    )  # fmt: skip


def forescale_policy(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState,
    ledger: ReservationLedger | None = None,
) -> tuple[Decision, PolicyState]:  # fmt: skip
    """The full policy: reactive, backlog, panic, forecast and schedule terms."""
    return _decide(obs, spec, pools, state, FULL, ledger)


def hpa_policy(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState,
    ledger: ReservationLedger | None = None,
) -> tuple[Decision, PolicyState]:  # fmt: skip
    """Kubernetes HPA v2 on the RPS target: the reactive term with its windows and rules only."""
    return _decide(obs, spec, pools, state, REACTIVE_ONLY, ledger)


# Registered policies by name (STYLE.md #9); PolicySpec.policy picks one.
POLICIES: dict[str, PolicyFn] = {
    "forescale": forescale_policy,  # every term
    "hpa": hpa_policy,  # the reactive term only: the baseline forescale is compared with
}


class UnknownPolicy(ValueError):
    """``PolicySpec.policy`` names no registered policy."""


def decide(
    obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState,
    ledger: ReservationLedger | None = None,
) -> tuple[Decision, PolicyState]:  # fmt: skip
    """One tick of the policy ``spec.policy``; see the module docstring for the steps.

    ``ledger``: the reservations others hold this tick (``core/tick.py`` threads one ledger
    through every model); ``None`` plans this model as if it were alone.
    """
    fn = POLICIES.get(spec.policy)
    if fn is None:
        raise UnknownPolicy(f"unknown policy {spec.policy!r}; known: {', '.join(sorted(POLICIES))}")
    return fn(obs, spec, pools, state, ledger)
