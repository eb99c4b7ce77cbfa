"""Bearer tokens: 401 with WWW-Authenticate, 403 for a missing scope, hashed storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from forescale.controller.api.auth import TokenError, load_tokens, match, parse_tokens
from tests.api.conftest import READ, WRITE, Api, R, W, bearer, policy

pytestmark = pytest.mark.timeout(60)


async def test_no_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    r = await api.client.get("/v1/policies")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="forescale"')
    assert r.content_type == "application/problem+json"
    assert (await r.json())["status"] == 401


@pytest.mark.parametrize("header", ["Bearer nope", f"Bearer {READ}x", f"Basic {WRITE}", "Bearer "])
async def test_bad_tokens_are_401(api: Api, header: str) -> None:
    r = await api.client.get("/v1/status", headers={"Authorization": header})
    assert r.status == 401
    assert "WWW-Authenticate" in r.headers


async def test_unknown_token_challenge_says_invalid_token(api: Api) -> None:
    r = await api.client.get("/v1/status", headers=bearer("wrong"))
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/v1/policies/chat"), ("POST", "/v1/policies"), ("DELETE", "/v1/pools/a"),
     ("PATCH", "/v1/policies/chat")],
)  # fmt: skip
async def test_read_token_cannot_write(api: Api, method: str, path: str) -> None:
    r = await api.client.request(method, path, json=policy(), headers=R)
    assert r.status == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert await api.store.policies.get("chat") is None


async def test_read_token_reads_and_write_token_reads_too(api: Api) -> None:
    assert (await api.client.get("/v1/policies", headers=R)).status == 200
    assert (await api.client.get("/v1/policies", headers=W)).status == 200


async def test_openapi_document_needs_no_token(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status == 200
    assert (await r.json())["openapi"].startswith("3.")


def test_tokens_are_kept_hashed_and_matched_by_digest() -> None:
    tokens = parse_tokens("read:alpha, write:beta")
    assert [t.scope for t in tokens] == ["read", "write"]
    assert all(b"alpha" not in t.digest and b"beta" not in t.digest for t in tokens)
    assert match(tokens, "beta") is tokens[1]
    assert match(tokens, "gamma") is None
    assert tokens[0].id.startswith("tok-") and "alpha" not in tokens[0].id


def test_token_file_adds_entries_and_bad_entries_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text("# admins\nwrite:one\nread:two, read:three\n")
    assert [t.scope for t in load_tokens("read:zero", str(f))] == ["read", "write", "read", "read"]
    f.write_text("read:ok\nadmin:bad\n")
    with pytest.raises(TokenError, match="line 2"):
        load_tokens("", str(f))
