"""A small synchronous client of the admin API for the CLI (urllib: no event loop).

Where to connect: ``FORESCALE_API_URL`` and ``FORESCALE_API_TOKEN``, else ``url`` and
``token`` in ``$XDG_CONFIG_HOME/forescale/config.yaml`` (``~/.config`` by default), else
``http://127.0.0.1:8081`` without a token. Errors become one-line ``CliError``s.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from forescale.cliutil import CliError

DEFAULT_URL = "http://127.0.0.1:8081"
TIMEOUT_S = 120.0  # a dry run replays a day of demand: seconds, not minutes


class ClientSettings(BaseSettings):
    """What the ``policy``, ``pool`` and ``status`` commands read (documented in
    docs/settings.md with the services' settings). Empty means: see the config file."""

    model_config = SettingsConfigDict(env_prefix="FORESCALE_API_", extra="ignore")

    url: str = Field(
        default="",
        description="CLI: admin API the `policy`, `pool` and `status` commands call; else `url:` "
        f"in $XDG_CONFIG_HOME/forescale/config.yaml (~/.config), else {DEFAULT_URL}.",
    )
    token: str = Field(
        default="",
        description="CLI: bearer token those commands send (one of FORESCALE_API_TOKENS, without "
        "its `read:`/`write:` scope); else `token:` in the same config file.",
    )


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forescale" / "config.yaml"


def load_config() -> tuple[str, str]:
    """(url, token) from the environment, then the config file."""
    file: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        try:
            file = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CliError(f"{path}: cannot read: {exc}") from None
        if not isinstance(file, dict):
            raise CliError(f"{path}: expected a mapping with `url` and `token`")
    env = ClientSettings()
    url = env.url or str(file.get("url") or DEFAULT_URL)
    token = env.token or str(file.get("token") or "")
    return url.rstrip("/"), token


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


def problem_line(reply: Reply) -> str:
    """One line from a problem+json body: title, detail, and each invalid field."""
    body = reply.body if isinstance(reply.body, dict) else {}
    line = f"{reply.status} {body.get('title', '')}: {body.get('detail', '')}".rstrip(": ")
    fields = [f"{e.get('field')}: {e.get('detail')}" for e in body.get("errors") or []]
    return line + (" (" + "; ".join(fields) + ")" if fields else "")


@dataclass(frozen=True)
class Client:
    url: str
    token: str

    @classmethod
    def from_env(cls) -> Client:
        return cls(*load_config())

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Accept": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                return _reply(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:
            return _reply(exc.code, exc.headers, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the admin API at {self.url}: {reason}") from None

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Reply:
        """``call``, with any error status turned into a ``CliError``."""
        reply = self.call(method, path, body, **headers)
        if reply.status == 401:
            raise CliError(f"{method} {path}: {problem_line(reply)}; {self.auth_hint()}")
        if reply.status == 403:
            raise CliError(f"{method} {path}: {problem_line(reply)}; this needs a `write:` token")
        if reply.status >= 400:
            raise CliError(f"{method} {path}: {problem_line(reply)}")
        return reply

    def auth_hint(self) -> str:
        """What to set when the API refused our (missing or wrong) token."""
        if not self.token:
            return (
                "set FORESCALE_API_TOKEN to one of the controller's FORESCALE_API_TOKENS "
                f"(or `token:` in {config_path()})"
            )
        return "FORESCALE_API_TOKEN (or `token:` in the config file) is not one the controller accepts"


def _reply(status: int, headers: Any, raw: bytes) -> Reply:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Reply(status, {k.lower(): v for k, v in headers.items()}, body)
