"""Observations are plain frozen dataclasses: what a port reports is checked where the
observation is assembled (``core/observe.py``), and pydantic checks one loaded from data."""

from __future__ import annotations

import dataclasses
import math

import pytest
from pydantic import ValidationError

from forescale.core.model import Observation, PoolObservation
from forescale.core.observe import BadObservation, assemble
from forescale.core.ports import PoolReplicas, ReplicaCounts, Signals

NOW = 1_700_000_000.0
OD = PoolObservation(name="od")
GOOD = Signals(at=NOW, rps_short=12.0, rps_stable=10.0, queue_depth=3, metrics={"in_flight": 4.0})
CURRENT = PoolReplicas({"od": ReplicaCounts(desired=2, ready=1, starting=1)})


def test_assemble_fills_replica_counts_and_keeps_the_rest() -> None:
    seen = (PoolObservation(name="od", ready_nodes=1, lead_times_s=(90.0,)), PoolObservation(name="spot"))
    obs = assemble(NOW, "m", GOOD, seen, CURRENT)
    assert obs.pools[0] == PoolObservation(name="od", ready_nodes=1, lead_times_s=(90.0,), replicas=2,
                                           ready_replicas=1)  # fmt: skip
    assert obs.pools[1] is seen[1]  # nothing to fill in: the same value
    assert (obs.current_replicas, obs.ready_replicas, obs.starting_replicas) == (2, 1, 1)
    assert obs.metric_values == {"in_flight": 4.0} and obs.rps_stable == 10.0


@pytest.mark.parametrize(
    ("signals", "pool", "field"),
    [
        (dataclasses.replace(GOOD, rps_stable=math.nan), OD, "rps_stable"),
        (dataclasses.replace(GOOD, rps_short=math.inf), OD, "rps_short"),
        (dataclasses.replace(GOOD, metrics={"waiting": -math.inf}), OD, "metric waiting"),
        (GOOD, PoolObservation(name="od", ready_nodes=-1), "pool od ready_nodes"),
        (GOOD, PoolObservation(name="od", interruptions=-2), "pool od interruptions"),
        (
            GOOD,
            PoolObservation(name="od", insufficient_capacity_at=math.nan),
            "pool od insufficient_capacity_at",
        ),
        (GOOD, PoolObservation(name="od", lead_times_s=(60.0, math.inf)), "pool od lead time"),
    ],
)
def test_assemble_refuses_negative_counts_and_non_finite_numbers(
    signals: Signals, pool: PoolObservation, field: str
) -> None:
    with pytest.raises(BadObservation, match=f"^m: {field} is "):
        assemble(NOW, "m", signals, (pool,), CURRENT)


def test_assemble_refuses_a_non_finite_now() -> None:
    with pytest.raises(BadObservation, match="now"):
        assemble(math.nan, "m", GOOD, (), CURRENT)


def test_observation_round_trips_and_is_frozen() -> None:
    obs = assemble(NOW, "m", GOOD, (PoolObservation(name="od", starting_nodes=2),), CURRENT)
    assert Observation.model_validate_json(obs.model_dump_json()) == obs
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.now = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        '{"now": 1, "model": "m", "rps_stable": NaN}',
        '{"now": 1, "model": "m", "current_replicas": -1}',
        '{"now": 1, "model": "m", "pools": [{"name": "od", "ready_nodes": -1}]}',
        '{"now": 1, "model": "m", "pools": [{"name": "od", "lead_times_s": [Infinity]}]}',
        '{"now": 1, "model": "m", "surprise": 1}',
    ],
)
def test_an_observation_loaded_from_data_is_validated(raw: str) -> None:
    with pytest.raises(ValidationError):
        Observation.model_validate_json(raw)
