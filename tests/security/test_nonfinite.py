"""Item 3 of the hardening review: a non-finite number is an input error in every file and
body people write (policy files, scenario files, the prescaler's webhook), and item 9's
overflowing webhook timestamp is a 401, not a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from forescale.cliutil import CliError
from forescale.controller.policyfile import load_policy_file
from forescale.prescaler import webhook
from forescale.prescaler.external import ExternalForecast
from forescale.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e999"])
def test_policy_file_refuses_non_finite(tmp_path: Path, value: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"model: chat\ntarget_rps_per_replica: {value}\n")
    with pytest.raises(CliError, match="target_rps_per_replica"):
        load_policy_file(path)


def test_scenario_file_refuses_non_finite(tmp_path: Path) -> None:
    text = (REPO / "forescale/sim/scenarios/spot-vanishes.yaml").read_text()
    path = tmp_path / "s.yaml"
    assert "slo: {latency_s: 10}" in text
    path.write_text(text.replace("slo: {latency_s: 10}", "slo: {latency_s: .inf}"))
    with pytest.raises(CliError, match="latency_s"):
        load_scenario(path)


@pytest.mark.parametrize("rps", ["Infinity", "1e999", "NaN"])
def test_external_forecast_refuses_non_finite(rps: str) -> None:
    raw = ('{"id": "a", "model": "chat", "source": "mkt", "windows": '
           f'[{{"start": 1700000000, "end": 1700003600, "rps": {rps}}}]}}')  # fmt: skip
    with pytest.raises(ValidationError):
        ExternalForecast.model_validate_json(raw)
    with pytest.raises((ValidationError, ValueError)):
        ExternalForecast.model_validate(json.loads(raw))


def test_overflowing_webhook_timestamp_is_a_signature_error() -> None:
    headers = {"webhook-id": "a", "webhook-timestamp": "1" + "0" * 400, "webhook-signature": "v1,AAAA"}
    with pytest.raises(webhook.SignatureError, match="integer epoch seconds"):
        webhook.verify("whsec_" + "A" * 32, headers, b"{}", 1_700_000_000.0, 300)
