"""``forescale controller`` and ``forescale policy apply|list|delete``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from forescale.cliutil import CliError


def register(sub: Any) -> None:
    p = sub.add_parser("controller", help="run the reconcile loop (observe, decide, actuate, persist)")
    p.add_argument(
        "--provider",
        choices=("kubernetes", "local"),
        default=None,
        help="where replicas run (default: FORESCALE_CONTROLLER_PROVIDER, else local)",
    )
    p.add_argument("--interval", type=float, default=None, help="seconds between ticks")
    p.add_argument("--signals", choices=("direct", "prometheus"), default=None, help="signal source")
    p.add_argument("--redis-url", default=None, help="Redis URL (default: FORESCALE_REDIS_URL)")
    p.set_defaults(func=_controller)

    pol = sub.add_parser("policy", help="write scaling policies and pools to the controller's store")
    pol.add_argument("--redis-url", default=None, help="Redis URL (default: FORESCALE_REDIS_URL)")
    psub = pol.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    apply = psub.add_parser("apply", help="validate FILE (YAML/JSON) and write its policies and pools")
    apply.add_argument("-f", "--file", required=True, type=Path)
    apply.set_defaults(func=_apply)
    ls = psub.add_parser("list", help="print policies and pools as JSON lines")
    ls.set_defaults(func=_list)
    rm = psub.add_parser("delete", help="delete a model's policy")
    rm.add_argument("model")
    rm.set_defaults(func=_delete)


def _controller(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from pydantic import ValidationError

    from forescale.cliutil import validation_message
    from forescale.controller.service import serve
    from forescale.controller.settings import ControllerSettings

    overrides = {"provider": args.provider, "interval_s": args.interval, "signals": args.signals,
                 "redis_url": args.redis_url}  # fmt: skip
    try:
        settings = ControllerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise CliError(validation_message("settings", exc)) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s controller %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    return 0


def _store_call(args: argparse.Namespace, action: Any) -> Any:
    import asyncio

    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from forescale.controller.store import Store
    from forescale.settings import ServiceSettings

    url = args.redis_url or ServiceSettings().redis_url

    async def run() -> Any:
        client = aioredis.Redis.from_url(url)
        try:
            return await action(Store(client))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as exc:
        raise CliError(f"redis at {url}: {exc}") from None


def _apply(args: argparse.Namespace) -> int:
    from forescale.controller.policyfile import load_policy_file

    policies, pools = load_policy_file(args.file)  # everything validated before any write

    async def write(store: Any) -> None:
        for pool in pools:
            await store.put_pool(pool)
        for spec in policies:
            await store.put_policy(spec)

    _store_call(args, write)
    print(f"applied {len(policies)} policies, {len(pools)} pools from {args.file}")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def read(store: Any) -> list[str]:
        pools = [p.value.model_dump_json() for p in await store.list_pools()]
        return pools + [p.value.model_dump_json() for p in await store.list_policies()]

    for line in _store_call(args, read):
        print(line)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from forescale.controller.store import NotFound

    async def delete(store: Any) -> None:
        await store.delete_policy(args.model)

    try:
        _store_call(args, delete)
    except NotFound:
        raise CliError(f"no policy for model {args.model!r}") from None
    return 0
