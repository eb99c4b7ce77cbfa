"""``forescale controller``: the reconcile loop as a service.

Policies and pools are written through the admin API (``forescale policy apply -f FILE``,
forescale/controller/api/cli.py), which validates files with ``controller.policyfile``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from forescale.cliutil import CliError

if TYPE_CHECKING:
    from forescale.controller.api.settings import ApiSettings


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
    p.add_argument(
        "--api-port", type=int, default=None, help="admin API port (default: FORESCALE_API_PORT, else 8081)"
    )
    p.set_defaults(func=_controller)


def _controller(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from pydantic import ValidationError

    from forescale.cliutil import validation_message
    from forescale.controller.service import Wiring, serve
    from forescale.controller.settings import ControllerSettings, KubeSettings, LocalSettings
    from forescale.logs import setup_logging

    overrides = {"provider": args.provider, "interval_s": args.interval, "signals": args.signals,
                 "redis_url": args.redis_url}  # fmt: skip
    try:  # every setting read here, once, and passed down (service.Wiring)
        settings = ControllerSettings(**{k: v for k, v in overrides.items() if v is not None})
        wiring = Wiring(kube=KubeSettings(), local=LocalSettings(), api=_api_settings())
    except ValidationError as exc:
        raise CliError(validation_message("settings", exc)) from None
    setup_logging(settings.log_level, "controller")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, api_port=args.api_port, wiring=wiring)

    asyncio.run(main())
    return 0


def _api_settings() -> ApiSettings:
    """The admin API's settings; malformed tokens are a start-up error of one line, not a
    traceback later."""
    from forescale.controller.api.auth import TokenError, load_tokens
    from forescale.controller.api.settings import ApiSettings

    api = ApiSettings()
    try:
        load_tokens(api.tokens, api.tokens_file)
    except TokenError as exc:
        raise CliError(f"FORESCALE_API_TOKENS: {exc}") from None
    return api
