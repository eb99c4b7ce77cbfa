"""What the docs promise: docs/settings.md generated from the code, the README's example loads."""

from __future__ import annotations

from pathlib import Path

from forescale import settingsdoc

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_settings_doc_is_current() -> None:
    assert DOC.read_text() == settingsdoc.markdown(), "run: forescale settings --markdown > docs/settings.md"


def test_every_setting_is_described() -> None:
    undocumented = [env for _, env, _, desc in settingsdoc.rows() if not desc.strip()]
    assert undocumented == []


def test_env_names_carry_the_prefix() -> None:
    assert all(env.startswith("FORESCALE_") for _, env, _, _ in settingsdoc.rows())


def test_readme_example_policy_loads() -> None:
    from forescale.controller.policyfile import load_policy_file

    policies, pools = load_policy_file(DOC.parents[1] / "examples" / "policy.yaml")
    assert [p.model for p in policies] == ["chat"]
    assert {p.name for p in pools} >= set(policies[0].pools or {p.name for p in pools})
    assert len(pools) == 4
