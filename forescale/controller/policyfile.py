"""Policy files for ``forescale policy apply -f FILE`` (YAML or JSON).

Shapes: one policy (a mapping with ``model``), a list of policies, or a mapping with
``policies:`` and/or ``pools:`` lists. Every entry is validated before anything is
written; the first error is one line naming the file, the entry's line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from forescale.cliutil import CliError
from forescale.core.model import PolicySpec, PoolSpec


def _lines(text: str) -> dict[tuple[str, int], int]:
    """(section, index) -> 1-based line where that entry starts."""
    node = yaml.compose(text)
    out: dict[tuple[str, int], int] = {}
    if isinstance(node, yaml.SequenceNode):
        out.update({("policies", i): n.start_mark.line + 1 for i, n in enumerate(node.value)})
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(value, yaml.SequenceNode):
                out.update({(key.value, i): n.start_mark.line + 1 for i, n in enumerate(value.value)})
        out.setdefault(("policies", 0), node.start_mark.line + 1)
    return out


def _sections(data: Any) -> dict[str, list[Any]]:
    if isinstance(data, list):
        return {"policies": data, "pools": []}
    if isinstance(data, dict) and ("policies" in data or "pools" in data):
        extra = set(data) - {"policies", "pools"}
        if extra:
            raise ValueError(f"unknown top-level keys {sorted(extra)}")
        return {"policies": list(data.get("policies") or []), "pools": list(data.get("pools") or [])}
    if isinstance(data, dict):
        return {"policies": [data], "pools": []}
    raise ValueError("expected a policy, a list of policies, or `policies:`/`pools:` lists")


def load_policy_file(path: Path) -> tuple[list[PolicySpec], list[PoolSpec]]:
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
        lines = _lines(text)
        sections = _sections(data)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CliError(f"{path}: {where}not valid YAML/JSON") from None
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from None
    out: dict[str, list[Any]] = {"policies": [], "pools": []}
    for section, model in (("policies", PolicySpec), ("pools", PoolSpec)):
        for i, entry in enumerate(sections[section]):
            try:
                out[section].append(model.model_validate(entry))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "(entry)"
                line = lines.get((section, i))
                at = f"line {line}: " if line else ""
                raise CliError(f"{path}: {at}{section}[{i}].{field}: {err['msg']}") from None
    return out["policies"], out["pools"]
