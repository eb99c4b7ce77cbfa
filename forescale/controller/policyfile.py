"""Policy files for ``forescale policy apply -f FILE`` (YAML or JSON).

Shapes: one policy (a mapping with ``model``), a list of policies, or a mapping with
``policies:`` and/or ``pools:`` lists. Every entry is validated before anything is
written; the first error is one line naming the file, the line of the field at fault
(of the entry when the field is missing) and the field; invalid YAML carries the
parser's own reason. A misspelt top-level key (``policy:`` for ``policies:``) is named
as such rather than read as a policy without a model.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from forescale.cliutil import CliError, yaml_line, yaml_reason
from forescale.core.model import PolicySpec, PoolSpec

SECTIONS = ("policies", "pools")


def _misspelt_sections(data: dict[str, Any]) -> str | None:
    """A mapping that is neither a policy nor ``policies:``/``pools:``, whose keys look
    like the section names: say which key was meant."""
    if "model" in data:
        return None
    for key in data:
        close = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.6)
        if close:
            return f"unknown top-level key {key!r}: did you mean `{close[0]}:`? (top level: policies, pools)"
    return None


def _sections(data: Any) -> tuple[dict[str, list[Any]], tuple[Any, ...]]:
    """The entries per section, and the YAML path to the policies' list."""
    if isinstance(data, list):
        return {"policies": data, "pools": []}, ()
    if isinstance(data, dict) and ("policies" in data or "pools" in data):
        extra = set(data) - set(SECTIONS)
        if extra:
            raise ValueError(f"unknown top-level keys {sorted(extra)} (top level: policies, pools)")
        for name in SECTIONS:
            if data.get(name) is not None and not isinstance(data[name], list):
                raise ValueError(f"`{name}:` must be a list of entries (`- ...`)")
        return {"policies": list(data.get("policies") or []), "pools": list(data.get("pools") or [])}, (
            "policies",
        )
    if isinstance(data, dict):
        typo = _misspelt_sections(data)
        if typo:
            raise ValueError(typo)
        return {"policies": [data], "pools": []}, ("single",)
    raise ValueError("expected a policy, a list of policies, or `policies:`/`pools:` lists")


def _path(shape: tuple[Any, ...], section: str, index: int, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The YAML path of ``loc`` inside entry ``index`` of ``section``."""
    if shape == ("single",):
        return loc
    if shape == ():
        return (index, *loc)
    return (section, index, *loc)


def load_policy_file(path: Path) -> tuple[list[PolicySpec], list[PoolSpec]]:
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
        sections, shape = _sections(data)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: {yaml_reason(exc)}") from None
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from None
    out: dict[str, list[Any]] = {"policies": [], "pools": []}
    for section, model in (("policies", PolicySpec), ("pools", PoolSpec)):
        for i, entry in enumerate(sections[section]):
            try:
                out[section].append(model.model_validate(entry))
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = tuple(err["loc"])
                field = ".".join(str(p) for p in loc) or "(entry)"
                line = yaml_line(text, _path(shape, section, i, loc))
                raise CliError(f"{path}: line {line}: {section}[{i}].{field}: {err['msg']}") from None
    return out["policies"], out["pools"]
