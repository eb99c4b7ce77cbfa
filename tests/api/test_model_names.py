"""Free-text model names (slashes, dots, upper case, braces) through the admin API."""

from __future__ import annotations

from urllib.parse import quote

from yarl import URL

from tests.api.conftest import Api, R, W, policy

NAME = "meta-llama/Llama-3.1-8B-Instruct"


async def test_a_policy_named_like_a_hub_model_round_trips(api: Api) -> None:
    r = await api.client.post("/v1/policies", json=policy(NAME), headers=W)
    assert r.status == 201, await r.text()
    assert r.headers["Location"] == f"/v1/policies/{quote(NAME, safe='')}"
    r = await api.client.get(URL(r.headers["Location"], encoded=True), headers=R)
    assert r.status == 200 and (await r.json())["model"] == NAME
    braces = URL(f"/v1/policies/{quote('Org/{x}', safe='')}", encoded=True)
    r = await api.client.put(braces, json=policy("Org/{x}"), headers=W)
    assert r.status == 201, await r.text()


async def test_control_characters_and_overlong_names_are_refused(api: Api) -> None:
    for bad in ["a\tb", "x" * 257, "", "a b"]:
        r = await api.client.post("/v1/policies", json=policy(bad), headers=W)
        assert r.status == 422, (bad, await r.text())
        assert r.headers["Content-Type"].startswith("application/problem+json")
