"""Values built without validation behave exactly like validated ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forescale.core.model import Decision, PoolTarget, Reason
from forescale.core.trusted import build


def test_built_equals_validated_and_round_trips() -> None:
    values = {"pool": "od", "capacity_type": "on-demand", "nodes": 3, "replicas": 5}
    built = build(PoolTarget, dict(values))
    assert built == PoolTarget(**values)
    assert PoolTarget.model_validate_json(built.model_dump_json()) == built
    assert built.model_fields_set == set(values)


def test_built_values_copy_and_stay_frozen() -> None:
    r = build(Reason, {"term": "reactive", "replicas": 2, "detail": "x"})
    assert r.model_copy(update={"replicas": 3}).replicas == 3
    assert r.replicas == 2
    with pytest.raises(ValidationError, match="frozen"):
        r.replicas = 9  # type: ignore[misc]


def test_built_decision_summary() -> None:
    t = build(PoolTarget, {"pool": "od", "capacity_type": "on-demand", "nodes": 1, "replicas": 2})
    d = build(
        Decision,
        {
            "model": "m",
            "at": 1.0,
            "desired_replicas": 2,
            "pools": (t,),
            "winner": "reactive",
            "reasons": (),
            "panic": False,
            "dry_run": False,
        },
    )
    assert d.summary() == "m: 2 replicas (reactive) [od=1n/2r]"
