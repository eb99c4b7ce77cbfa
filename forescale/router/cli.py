"""``forescale router``: the Open Inference Protocol v2 front door."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("router", help="serve KServe v2 inference over HTTP, backed by the Redis queue")
    p.add_argument("--host", default=None, help="bind address (default: FORESCALE_ROUTER_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default: FORESCALE_ROUTER_PORT)")
    p.add_argument("--redis-url", default=None, help="Redis URL (default: FORESCALE_REDIS_URL)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from forescale.logs import setup_logging
    from forescale.router.app import create_app
    from forescale.router.settings import RouterSettings
    from forescale.web.limits import run_app

    overrides = {"host": args.host, "port": args.port, "redis_url": args.redis_url}
    settings = RouterSettings(**{k: v for k, v in overrides.items() if v is not None})
    setup_logging(settings.log_level, "router")
    app = create_app(settings)
    # Bounded header time and connection count (forescale/web/limits.py).
    run_app(app, settings.host, settings.port, shutdown_timeout=settings.shutdown_grace_s)
    return 0
