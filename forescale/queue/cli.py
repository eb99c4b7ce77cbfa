"""``forescale models add|list|remove``: the model registry in Redis."""

from __future__ import annotations

import argparse
import json
from typing import Any

from forescale.cliutil import CliError
from forescale.redact import redact_url


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="register, list and remove served models (Redis fs:models)")
    p.add_argument("--redis-url", default=None, help="Redis URL (default: FORESCALE_REDIS_URL)")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    # `--redis-url` also after the action (`models list --redis-url URL`), where users type it;
    # SUPPRESS keeps a value given before the action when none is given after.
    url_after = argparse.ArgumentParser(add_help=False)
    url_after.add_argument(
        "--redis-url", default=argparse.SUPPRESS, help="Redis URL (default: FORESCALE_REDIS_URL)"
    )

    add = msub.add_parser("add", help="register or replace a model", parents=[url_after])
    add.add_argument("name")
    add.add_argument("--engine", required=True, help="echo, sleep, transformer, torchscript, export, llm")
    add.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                     help="engine option; VALUE is parsed as JSON when it can be (repeatable)")  # fmt: skip
    add.add_argument("--max-batch", type=int, default=None)
    add.add_argument("--max-wait-ms", type=float, default=None)
    add.add_argument("--queue-limit", type=int, default=None)
    add.add_argument("--timeout-s", type=float, default=None, help="default request deadline")
    add.add_argument("--min-idle-ms", type=int, default=None, help="lease length before reclaim")
    add.add_argument("--max-deliveries", type=int, default=None, help="deliveries before dead letter")
    add.set_defaults(func=_add)

    ls = msub.add_parser("list", help="list registered models as JSON lines", parents=[url_after])
    ls.set_defaults(func=_list)

    rm = msub.add_parser("remove", help="unregister a model (its queue is kept)", parents=[url_after])
    rm.add_argument("name")
    rm.set_defaults(func=_remove)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def build_config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from forescale.cliutil import validation_message
    from forescale.queue.config import ModelConfig

    fields = {
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "queue_limit": args.queue_limit,
        "default_timeout_s": args.timeout_s,
        "min_idle_ms": args.min_idle_ms,
        "max_deliveries": args.max_deliveries,
    }
    from forescale.queue.engines import OPTIONS

    if args.engine not in OPTIONS:  # at once, not when a worker first tries to load it
        raise CliError(f"--engine: unknown engine {args.engine!r}; expected one of: {', '.join(OPTIONS)}")
    data = {k: v for k, v in fields.items() if v is not None}
    data |= {"name": args.name, "engine": args.engine, "engine_options": parse_options(args.option)}
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise CliError(validation_message(f"model {args.name!r}", exc)) from None


def _run(args: argparse.Namespace, action: Any) -> int:
    import asyncio

    from redis.exceptions import RedisError

    from forescale.queue.client import connect
    from forescale.settings import ServiceSettings

    url = args.redis_url or ServiceSettings().redis_url

    async def main() -> int:
        r = connect(url, timeout_s=3.0)
        try:
            return int(await action(r))
        except RedisError as exc:
            raise CliError(f"redis at {redact_url(url)}: {exc}") from None
        finally:
            await r.aclose()

    return asyncio.run(main())


def _add(args: argparse.Namespace) -> int:
    from forescale.queue import registry

    cfg = build_config(args)

    async def action(r: Any) -> int:
        await registry.add(r, cfg)
        print(cfg.model_dump_json())
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    from forescale.queue import registry

    async def action(r: Any) -> int:
        good, bad = await registry.scan(r)
        for cfg in good.values():
            print(cfg.model_dump_json())
        for name, exc in bad.items():  # never skipped silently: shown, and removable
            print(json.dumps({"name": name, "invalid": exc.reason}))
        return 0

    return _run(args, action)


def _remove(args: argparse.Namespace) -> int:
    from forescale.queue import registry

    async def action(r: Any) -> int:
        if not await registry.remove(r, args.name):
            raise CliError(f"no model named {args.name!r}")
        return 0

    return _run(args, action)
