"""decide(): one row per branch of the pipeline (terms, bounds, windows, rules, panic, hold)."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.core.model import Decision, PolicyState, ScheduleSpec
from forescale.core.policy import POLICIES, UnknownPolicy, decide
from tests.core.helpers import NOW, behavior, flat_forecast, obs, pobs, pool, spec

POOLS = (pool("od"),)
FAST = {"scale_up": behavior(0, ("percent", 1000, 15)), "scale_down": behavior(0, ("percent", 100, 15))}


def run(spec_kw: dict[str, Any], obs_kw: dict[str, Any], state: PolicyState | None = None) -> Decision:
    d, _ = decide(obs(**obs_kw), spec(**spec_kw), POOLS, state or PolicyState())
    return d


@pytest.mark.parametrize(
    ("name", "spec_kw", "obs_kw", "replicas", "winner"),
    [
        (
            "reactive up",
            FAST,
            {"rps_stable": 118.0, "rps_short": 118.0, "current_replicas": 10, "ready_replicas": 10},
            12,
            "reactive",
        ),
        ("within tolerance", FAST, {"rps_stable": 52.0}, 5, "reactive"),
        ("reactive down", FAST, {"rps_stable": 20.0, "rps_short": 20.0}, 2, "reactive"),
        ("backlog wins", FAST, {"queue_depth": 150}, 10, "backlog"),
        ("forecast wins", FAST, {"forecasts": (flat_forecast(100.0),)}, 22, "forecast"),  # p90 200*1.1/10
        (
            "forecast-only does not act",
            {**FAST, "prescale": {"mode": "forecast-only"}},
            {"forecasts": (flat_forecast(100.0),)},
            5,
            "reactive",
        ),
        (
            "prescale off",
            {**FAST, "prescale": {"mode": "off"}},
            {"forecasts": (flat_forecast(100.0),)},
            5,
            "reactive",
        ),
        (
            "stale forecast ignored",
            FAST,
            {"forecasts": (flat_forecast(100.0, issued_at=NOW - 3600),)},
            5,
            "reactive",
        ),
        (
            "schedule floor",
            {
                **FAST,
                "schedules": (ScheduleSpec(name="launch", start=NOW + 60, duration_s=600, min_replicas=30),),
            },
            {},
            30,
            "schedule",
        ),
        (
            "schedule too far ahead",
            {
                **FAST,
                "schedules": (ScheduleSpec(name="later", start=NOW + 3600, duration_s=600, min_replicas=30),),
            },
            {},
            5,
            "reactive",
        ),
        ("min bound", {**FAST, "min_replicas": 3}, {"rps_stable": 0.0, "rps_short": 0.0}, 3, "min_replicas"),
        (
            "max bound",
            {**FAST, "max_replicas": 8},
            {"rps_stable": 118.0, "rps_short": 118.0},
            8,
            "max_replicas",
        ),
        (
            "scale-up rule",
            {"scale_up": behavior(0, ("pods", 2, 60))},
            {"rps_stable": 90.0, "rps_short": 90.0},
            7,
            "scale-up rule",
        ),
        (
            "scale-down rule",
            {"scale_down": behavior(0, ("pods", 1, 60))},
            {"rps_stable": 10.0, "rps_short": 10.0},
            4,
            "scale-down rule",
        ),
        (
            "scale-down disabled",
            {"scale_down": behavior(0, ("pods", 1, 60), select="disabled")},
            {"rps_stable": 10.0, "rps_short": 10.0},
            5,
            "scale-down rule",
        ),
        (
            "panic skips the up rule",
            {"scale_up": behavior(0, ("pods", 1, 60)), "panic_drain_check": False},
            {"rps_stable": 60.0, "rps_short": 200.0, "ready_replicas": 5},
            20,
            "panic",
        ),
        (
            # 5 ready x 10 req/s drain 15,000 queued in 300 s = the pool's lead time: too deep
            "panic on a queue that outlasts the lead time",
            {"scale_up": behavior(0, ("pods", 1, 60)), "latency_slo_s": 3000.0, "panic_drain_check": True},
            {"rps_stable": 60.0, "rps_short": 200.0, "ready_replicas": 5, "queue_depth": 15_000},
            20,
            "panic",
        ),
        (
            # the same surge with a queue drained in 299 s: new capacity would come too late
            "no panic on a queue drained within the lead time",
            {"scale_up": behavior(0, ("pods", 1, 60)), "latency_slo_s": 3000.0, "panic_drain_check": True},
            {"rps_stable": 60.0, "rps_short": 200.0, "ready_replicas": 5, "queue_depth": 14_950},
            6,
            "reactive",
        ),
        (
            "no queue depth: KPA's rule alone",
            {"scale_up": behavior(0, ("pods", 1, 60)), "panic_drain_check": True},
            {"rps_stable": 60.0, "rps_short": 200.0, "ready_replicas": 5, "queue_depth": None},
            20,
            "panic",
        ),
        ("missing rate holds", FAST, {"rps_stable": None, "rps_short": 5.0}, 5, "reactive"),
        (
            "missing queue holds",
            FAST,
            {"rps_stable": 10.0, "rps_short": 10.0, "queue_depth": None},
            5,
            "hold",
        ),
        ("stale signal holds", FAST, {"rps_stable": 10.0, "rps_short": 10.0, "stale": ("rps",)}, 5, "hold"),
        (
            "missing data still scales up",
            FAST,
            {
                "rps_stable": 118.0,
                "rps_short": 118.0,
                "queue_depth": None,
                "current_replicas": 10,
                "ready_replicas": 10,
            },
            12,
            "reactive",
        ),
    ],
)
def test_decide_rows(
    name: str, spec_kw: dict[str, Any], obs_kw: dict[str, Any], replicas: int, winner: str
) -> None:
    d = run(spec_kw, obs_kw)
    assert (d.desired_replicas, d.winner) == (replicas, winner), [r.detail for r in d.reasons]
    assert d.reasons[-1].detail.startswith(f"decision: {replicas} replicas")


def test_reasons_name_every_term_and_the_winner() -> None:
    d = run(
        FAST,
        {
            "rps_stable": 118.0,
            "rps_short": 118.0,
            "current_replicas": 10,
            "ready_replicas": 10,
            "queue_depth": 3,
            "forecasts": (flat_forecast(10.0),),
        },
    )
    details = [r.detail for r in d.reasons]
    assert "reactive: 12 replicas = ceil(118.0 req/s / 10 per replica)" in details
    assert any(t.startswith("backlog: 1 replicas") for t in details)
    assert any(t.startswith("forecast: 3 replicas") for t in details)
    assert details[-1] == "decision: 12 replicas (from 10), set by reactive"


def test_stabilization_window_keeps_the_highest_recent_recommendation() -> None:
    s = spec(scale_down=behavior(300, ("percent", 100, 15)))
    state = PolicyState()
    _, state = decide(
        obs(rps_stable=100.0, rps_short=100.0, current_replicas=10, ready_replicas=10), s, POOLS, state
    )
    d, state = decide(
        obs(now=NOW + 60, rps_stable=20.0, rps_short=20.0, current_replicas=10, ready_replicas=10),
        s,
        POOLS,
        state,
    )
    assert (d.desired_replicas, d.winner) == (10, "stabilization")
    d, _ = decide(
        obs(now=NOW + 301, rps_stable=20.0, rps_short=20.0, current_replicas=10, ready_replicas=10),
        s,
        POOLS,
        state,
    )
    assert (d.desired_replicas, d.winner) == (2, "reactive")


def test_panic_holds_then_ends_after_a_calm_stable_window() -> None:
    s = spec(**FAST, panic_drain_check=False)
    d, state = decide(obs(rps_stable=60.0, rps_short=200.0), s, POOLS, PolicyState())
    assert d.panic and d.desired_replicas == 20
    # demand fell: still panicking within the stable window, so no scale-down
    d, state = decide(
        obs(now=NOW + 30, rps_stable=40.0, rps_short=40.0, current_replicas=20, ready_replicas=20),
        s,
        POOLS,
        state,
    )
    assert d.panic and d.desired_replicas == 20
    d, state = decide(
        obs(now=NOW + 61, rps_stable=40.0, rps_short=40.0, current_replicas=20, ready_replicas=20),
        s,
        POOLS,
        state,
    )
    assert not d.panic and d.desired_replicas == 4


@pytest.mark.parametrize(("mode", "dry"), [("active", False), ("dry-run", True)])
def test_dry_run_flag(mode: str, dry: bool) -> None:
    assert run({"mode": mode}, {}).dry_run is dry


def test_hpa_policy_ignores_backlog_forecast_and_panic() -> None:
    o = {"queue_depth": 500, "rps_short": 500.0, "forecasts": (flat_forecast(300.0),)}
    full = run({**FAST, "policy": "forescale"}, o)
    plain = run({**FAST, "policy": "hpa"}, o)
    assert full.desired_replicas > 5
    assert (plain.desired_replicas, plain.winner, plain.panic) == (5, "reactive", False)


def test_unknown_policy_is_a_typed_error() -> None:
    with pytest.raises(UnknownPolicy, match="known: forescale, hpa"):
        run({"policy": "nope"}, {})


def test_registry_names() -> None:
    assert set(POLICIES) >= {"forescale", "hpa"}


def test_decision_and_state_round_trip_as_json() -> None:
    d, state = decide(obs(forecasts=(flat_forecast(100.0),)), spec(), POOLS, PolicyState())
    assert Decision.model_validate_json(d.model_dump_json()) == d
    assert PolicyState.model_validate_json(state.model_dump_json()) == state


def test_decide_is_deterministic() -> None:
    o, s = obs(rps_stable=77.0), spec()
    assert decide(o, s, POOLS, PolicyState()) == decide(o, s, POOLS, PolicyState())


def test_hpa_default_behavior_replayed() -> None:
    """Kubernetes' defaults on a 100x spike: max(+100 %, +4 pods) per 15 s up, 300 s window down."""
    s = spec(policy="hpa", max_replicas=1000)
    state, current, seen = PolicyState(), 1, []
    for k in range(6):  # demand for 100 replicas, one sync every 15 s
        d, state = decide(
            obs(
                now=NOW + 15 * k,
                rps_stable=1000.0,
                rps_short=1000.0,
                current_replicas=current,
                ready_replicas=current,
            ),
            s,
            POOLS,
            state,
        )
        current = d.desired_replicas
        seen.append(current)
    assert seen == [5, 10, 20, 40, 80, 100]
    last_high = NOW + 75
    for k in range(1, 22):  # demand falls to 10 replicas' worth
        now = last_high + 15 * k
        d, state = decide(
            obs(now=now, rps_stable=100.0, rps_short=100.0, current_replicas=current, ready_replicas=current),
            s,
            POOLS,
            state,
        )
        current = d.desired_replicas
        assert current == (100 if now - last_high < 300 else 10), now - last_high


def test_decide_leaves_its_inputs_untouched() -> None:
    pools = (pool("od"), pool("spot", "spot", 1.0))
    o = obs(pools=(pobs("spot", starting_nodes=2, interruptions=1, insufficient_capacity_at=NOW,
                        lead_times_s=(300.0,)),))  # fmt: skip
    _, state = decide(o, spec(), pools, PolicyState(last_at=NOW - 15))
    before = (o.model_dump(), state.model_dump())
    later = o.model_copy(update={"now": NOW + 400, "pools": ()})
    decide(later, spec(), pools, state)
    assert (o.model_dump(), state.model_dump()) == before
