"""Spot availability files (plain JSON or a tarball member, like ../shared/traces) and the
HPA baseline's fixed Kubernetes defaults."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import base_scenario, scenario

from forescale.cliutil import CliError
from forescale.core.model import hpa_default_scale_down, hpa_default_scale_up
from forescale.sim.policies import HpaPolicy
from forescale.sim.scenario import AvailabilityTrace
from forescale.sim.spot import load_availability


def tarball(tmp_path: Path, member: str, doc: object) -> Path:
    path = tmp_path / "spot.tar.gz"
    data = json.dumps(doc).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_member_of_a_tarball_scaled_to_fractions(tmp_path: Path) -> None:
    path = tarball(tmp_path, "spot_traces/a/b.json", {"metadata": {"gap_seconds": 300}, "data": [4, 2, 0, 3]})
    avail = load_availability(
        AvailabilityTrace(path=str(path), member="spot_traces/a/b.json", time_scale=0.5)
    )
    assert avail.gap_s == 150
    np.testing.assert_allclose(avail.fraction, [1, 0.5, 0, 0.75])
    assert avail.at(0) == 1 and avail.at(160) == 0.5 and avail.at(300) == 0
    assert avail.at(600) == 1  # wraps around


BAD = [
    ({"metadata": {"gap_seconds": 60}, "data": [1, -1]}, "field data"),
    ({"metadata": {}, "data": [1]}, "metadata.gap_seconds"),
    ({"metadata": {"gap_seconds": 60}, "data": []}, "field data"),
]


@pytest.mark.parametrize(("doc", "expected"), BAD)
def test_bad_availability_files(tmp_path: Path, doc: object, expected: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CliError, match=expected):
        load_availability(AvailabilityTrace(path=str(path)))


def test_missing_member_names_it(tmp_path: Path) -> None:
    path = tarball(tmp_path, "x.json", {"metadata": {"gap_seconds": 1}, "data": [1]})
    with pytest.raises(CliError, match=r"y\.json: no such member"):
        load_availability(AvailabilityTrace(path=str(path), member="y.json"))


def test_hpa_runs_kubernetes_defaults_whatever_the_policy_says() -> None:
    doc = base_scenario()
    doc["policy"]["tolerance"] = 0.3
    doc["policy"]["scale_down"] = {
        "stabilization_window_s": 0,
        "rules": [{"type": "pods", "value": 1, "period_s": 60}],
    }
    hpa = HpaPolicy(scenario(doc))
    assert hpa.spec.policy == "hpa"
    assert hpa.spec.tolerance == 0.1
    assert hpa.spec.scale_up == hpa_default_scale_up()
    assert hpa.spec.scale_down == hpa_default_scale_down()
    assert [p.capacity_type for p in hpa.order] == ["reserved", "on-demand"]
