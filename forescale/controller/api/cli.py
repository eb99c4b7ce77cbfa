"""``forescale policy get|apply|diff|delete``, ``forescale pool get|apply|delete`` and
``forescale status``: kubectl-like commands that talk to the admin API over HTTP.

Every change sends the ETag it read as ``If-Match`` (or ``If-None-Match: *`` to create),
so a concurrent edit makes the command fail instead of overwriting it. ``apply`` and
``diff`` validate the whole file locally first (one line naming file, line and field),
so a bad file changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from forescale.cliutil import CliError

KINDS = {"policy": ("policies", "model"), "pool": ("pools", "name")}

CONNECTION = (
    "connects to FORESCALE_API_URL (default http://127.0.0.1:8081) with the bearer token "
    "FORESCALE_API_TOKEN; where unset, `url:` and `token:` in "
    "$XDG_CONFIG_HOME/forescale/config.yaml (~/.config/forescale/config.yaml). See docs/settings.md."
)


def register(sub: Any) -> None:
    for kind, what in (("policy", "scaling policies"), ("pool", "GPU node pools")):
        p = sub.add_parser(kind, help=f"{what} through the controller's admin API", epilog=CONNECTION)
        actions = p.add_subparsers(dest=f"{kind}_command", required=True, metavar="ACTION")
        get = actions.add_parser("get", help=f"list {what}, or show one")
        get.add_argument("name", nargs="?", metavar="NAME")
        get.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
        get.set_defaults(func=_get, kind=kind)
        also = "the pools and policies" if kind == "policy" else "the pools"
        apply = actions.add_parser("apply", help=f"create or update {also} in FILE (YAML/JSON)")
        apply.add_argument("-f", "--file", required=True, type=Path)
        apply.add_argument("--dry-run", action="store_true", help="store nothing; show changes and what-if")
        apply.set_defaults(func=_apply, kind=kind)
        if kind == "policy":
            diff = actions.add_parser("diff", help="show what `apply -f FILE` would change (exit 1 if any)")
            diff.add_argument("-f", "--file", required=True, type=Path)
            diff.set_defaults(func=_diff, kind=kind)
        rm = actions.add_parser("delete", help=f"delete one of the {what}")
        rm.add_argument("name", metavar="NAME")
        rm.set_defaults(func=_delete, kind=kind)
    st = sub.add_parser(
        "status", help="per model: replicas, signals, last decision (admin API)", epilog=CONNECTION
    )
    st.add_argument("model", nargs="?", metavar="MODEL")
    st.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    st.set_defaults(func=_status)


def _client() -> Any:
    from forescale.controller.api.client import Client

    return Client.from_env()


def _get(args: argparse.Namespace) -> int:
    from forescale.controller.api import render

    plural, _ = KINDS[args.kind]
    client = _client()
    if args.name:
        items = [client.ok("GET", f"/{_v1(plural)}/{args.name}").body]
    else:
        items = [i["spec"] for i in client.ok("GET", f"/{_v1(plural)}").body["items"]]
    if args.output != "table":
        print(render.dump(items[0] if args.name else items, args.output))
    elif not items:
        print(f"No {plural} found.")
    else:
        print(render.policies(items) if args.kind == "policy" else render.pools(items))
    return 0


def _v1(plural: str) -> str:
    return f"v1/{plural}"


def _entries(path: Path, kind: str = "policy") -> list[tuple[str, Any]]:
    """(kind, spec) for the entries of FILE, pools first (policies name them); all of them
    validated before anything is sent. ``pool`` commands take only the pools."""
    from forescale.controller.policyfile import load_policy_file

    policies, pools = load_policy_file(path)
    return [("pool", p) for p in pools] + ([("policy", s) for s in policies] if kind == "policy" else [])


def _apply(args: argparse.Namespace) -> int:
    from forescale.controller.api import render

    client = _client()
    for kind, spec in _entries(args.file, args.kind):
        plural, key = KINDS[kind]
        path = f"/{_v1(plural)}/{getattr(spec, key)}"
        body = spec.model_dump(mode="json")
        current = client.call("GET", path)
        if current.status not in (200, 404):
            client.ok("GET", path)  # raises with the problem's line
        exists = current.status == 200
        if exists and current.body == body:
            print(f"{kind}/{getattr(spec, key)} unchanged")
            continue
        pre = {"If_Match": current.etag} if exists else {"If_None_Match": "*"}
        if args.dry_run and kind == "policy":
            reply = client.ok("PUT", path + "?dry_run=true", body, **pre).body
            print(f"{kind}/{spec.model} would be {'configured' if exists else 'created'} (dry run)")
            print("\n".join(render.changes(reply["changes"])))
            print(render.what_if(reply.get("what_if"), reply.get("what_if_note")))
            continue
        if args.dry_run:
            print(f"{kind}/{getattr(spec, key)} would be {'configured' if exists else 'created'} (dry run)")
            continue
        client.ok("PUT", path, body, **pre)
        print(f"{kind}/{getattr(spec, key)} {'configured' if exists else 'created'}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from forescale.controller.api import render
    from forescale.controller.api.jsondiff import diff

    client = _client()
    differs = False
    for kind, spec in _entries(args.file):
        plural, key = KINDS[kind]
        current = client.call("GET", f"/{_v1(plural)}/{getattr(spec, key)}")
        if current.status not in (200, 404):
            raise CliError(f"GET {kind}/{getattr(spec, key)}: {current.status}")
        before = current.body if current.status == 200 else None
        changes = diff(before, spec.model_dump(mode="json"))
        if changes:
            differs = True
            print(f"{kind}/{getattr(spec, key)}{'' if before else ' (new)'}:")
            print("\n".join(render.changes(changes)) if before else "  + (the whole entry)")
    return 1 if differs else 0


def _delete(args: argparse.Namespace) -> int:
    plural, _ = KINDS[args.kind]
    client = _client()
    path = f"/{_v1(plural)}/{args.name}"
    current = client.ok("GET", path)
    client.ok("DELETE", path, If_Match=current.etag)
    print(f"{args.kind}/{args.name} deleted")
    return 0


def _status(args: argparse.Namespace) -> int:
    from forescale.controller.api import render

    body = _client().ok("GET", "/v1/status").body
    models = [m for m in body["models"] if not args.model or m["model"] == args.model]
    if args.model and not models:
        raise CliError(f"no policy for model {args.model!r}")
    if args.output != "table":
        print(render.dump(models, args.output))
    elif not models:
        print("No policies found.")
    else:
        print(render.status(models))
    return 0
