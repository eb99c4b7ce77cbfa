"""The controller's RBAC grants exactly what its code calls: no more, no less.

The list of calls is derived from the source of forescale/controller/: every call of a
kubernetes-asyncio API method is resolved to the REST path and HTTP method the client
sends (read from the generated client itself), then to the RBAC (group, resource, verb)
the API server checks. Custom objects take group and plural from the call's arguments.
A new API call in the controller without a matching rule, or a rule nobody uses, fails.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from forescale.controller.settings import KubeSettings

from .kustomize_render import render

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "forescale" / "controller"
BASE = ROOT / "deploy" / "kubernetes" / "base"
Perm = tuple[str, str, str]  # (api group, resource[/subresource], verb)
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def api_methods() -> dict[str, type]:
    """Method name -> the generated API class defining it (names are unique across them)."""
    out: dict[str, type] = {}
    for name, cls in vars(client).items():
        if name.endswith("Api") and inspect.isclass(cls):
            for method in vars(cls):
                if not method.startswith("_") and not method.endswith("_with_http_info"):
                    out[method] = cls
    return out


def rest_call(cls: type, method: str) -> tuple[str, str]:
    source = inspect.getsource(getattr(cls, f"{method}_with_http_info"))
    match = re.search(r"call_api\(\s*'([^']+)', '([A-Z]+)'", source)
    assert match, f"{cls.__name__}.{method}: no REST call found"
    return match.group(1), match.group(2)


def permission(path: str, http: str, call: ast.Call, watch: bool) -> set[Perm]:
    """The RBAC permissions one REST call needs."""
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:2] == ["namespaces", "{namespace}"]:
        rest = rest[2:]
    if rest[0] == "{plural}":  # CustomObjectsApi: (group, version, [namespace,] plural, ...)
        args = [a.value for a in call.args if isinstance(a, ast.Constant)]
        group, rest = args[0], [args[3 if "{namespace}" in path else 2], *rest[1:]]
    named = len(rest) > 1 and rest[1] == "{name}"
    resource = "/".join([rest[0], *rest[2:3]])
    if http == "GET":
        verbs = {"get"} if named else ({"list", "watch"} if watch else {"list"})
    elif http == "DELETE":
        verbs = {"delete" if named else "deletecollection"}
    else:
        verbs = {VERBS[http]}
    return {(group, resource, v) for v in verbs}


def controller_calls() -> dict[Perm, list[str]]:
    """Permissions needed -> where in forescale/controller/ each is used; the entries are
    ``Role:file:line method`` for namespaced calls, ``ClusterRole:...`` for the others."""
    methods = api_methods()
    needed: dict[Perm, list[str]] = {}
    for path in sorted(CONTROLLER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            if name not in methods:
                continue
            watch = any(k.arg == "watch" for k in node.keywords)
            rest, http = rest_call(methods[name], name)
            scope = "Role" if "{namespace}" in rest else "ClusterRole"
            for perm in permission(rest, http, node, watch):
                needed.setdefault(perm, []).append(f"{scope}:{path.relative_to(ROOT)}:{node.lineno} {name}")
    return needed


def granted() -> dict[str, set[Perm]]:
    """Role and ClusterRole of the controller -> permissions they grant."""
    out: dict[str, set[Perm]] = {}
    for doc in render(BASE):
        if doc["kind"] in ("Role", "ClusterRole") and doc["metadata"]["name"] == "forescale-controller":
            out[doc["kind"]] = {
                (g, r, v)
                for rule in doc["rules"]
                for g in rule["apiGroups"]
                for r in rule["resources"]
                for v in rule["verbs"]
            }
    return out


def test_calls_are_found_in_the_controller() -> None:
    """The derivation sees the actuator's calls (guards against it silently finding none)."""
    needed = controller_calls()
    assert ("apps", "deployments/scale", "update") in needed
    assert ("coordination.k8s.io", "leases", "create") in needed
    assert ("karpenter.sh", "nodeclaims", "list") in needed


def test_every_call_is_granted_in_the_right_scope() -> None:
    roles = granted()
    missing = []
    for (group, resource, verb), where in controller_calls().items():
        kind = where[0].split(":")[0]  # a namespaced call belongs in the namespace's Role
        if (group, resource, verb) not in roles.get(kind, set()):
            missing.append(f"{kind}: {group or 'core'}/{resource} {verb} (used at {where[0]})")
    assert missing == []


def test_nothing_is_granted_beyond_the_calls() -> None:
    needed = set(controller_calls())
    extra = {kind: sorted(perms - needed) for kind, perms in granted().items() if perms - needed}
    assert extra == {}


def test_lease_reads_and_writes_are_limited_to_the_controllers_lease() -> None:
    role = next(d for d in render(BASE) if d["kind"] == "Role")
    lease_rules: list[dict[str, Any]] = [r for r in role["rules"] if "leases" in r["resources"]]
    for rule in lease_rules:
        if set(rule["verbs"]) != {"create"}:  # create cannot be limited by name (RBAC)
            assert rule["resourceNames"] == [KubeSettings().lease_name]
