"""Per-tick values are plain frozen dataclasses; pydantic validates them at the edges."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from forescale.core.model import Decision, PolicyState, PoolTarget, Reason


def test_round_trip_copy_and_frozen() -> None:
    d = Decision(model="m", at=1.0, desired_replicas=2, pools=(PoolTarget("od", "on-demand", 1, 2),),
                 winner="reactive", reasons=(Reason("reactive", 2, "x"),))  # fmt: skip
    assert Decision.model_validate_json(d.model_dump_json()) == d
    assert d.model_copy(update={"dry_run": True}).dry_run and not d.dry_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.winner = "panic"  # type: ignore[misc]
    s = PolicyState(last_at=1.0, lead_samples={"od": (1.0, 2.0)}, up_history=((1.0, 2),))
    assert PolicyState.model_validate_json(s.model_dump_json()) == s
    assert PolicyState.model_validate_json("{}") == PolicyState()


@pytest.mark.parametrize(
    "raw",
    [
        '{"model": "m", "at": 1, "desired_replicas": -1, "winner": "x"}',
        '{"model": "m", "at": 1, "desired_replicas": 1, "winner": "x", "pools": '
        '[{"pool": "p", "capacity_type": "spot", "nodes": -2, "replicas": 0}]}',
        '{"model": "m", "at": 1, "desired_replicas": 1, "winner": "x", "surprise": 1}',
    ],
)
def test_the_edge_rejects_what_the_fields_forbid(raw: str) -> None:
    with pytest.raises(ValidationError):
        Decision.model_validate_json(raw)
