"""``forescale worker --model NAME``: consume one model's queue with its engine."""

from __future__ import annotations

import argparse
from typing import Any

from forescale.cliutil import CliError
from forescale.redact import redact_url


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a model's engine on batches from its Redis queue")
    p.add_argument("--model", required=True, help="model name (registered with `forescale models add`)")
    p.add_argument("--port", type=int, default=None, help="/metrics port (default: FORESCALE_WORKER_PORT)")
    p.add_argument("--host", default=None, help="/metrics bind address")
    p.add_argument("--redis-url", default=None, help="Redis URL (default: FORESCALE_REDIS_URL)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from forescale.logs import setup_logging
    from forescale.worker.settings import WorkerSettings

    # The engine runs in a thread; with the default 5 ms GIL switch interval the event
    # loop (replies, lease renewal) waits up to 5 ms for each turn while it computes.
    sys.setswitchinterval(0.001)

    overrides = {"model": args.model, "port": args.port, "host": args.host, "redis_url": args.redis_url}
    settings = WorkerSettings(**{k: v for k, v in overrides.items() if v is not None})
    setup_logging(settings.log_level, "worker")
    return asyncio.run(_main(settings))


async def _main(settings: Any) -> int:
    """Serve /metrics and consume until SIGTERM/SIGINT (then drain) or the loop fails."""
    import asyncio
    import logging
    import signal

    from aiohttp import web
    from redis.exceptions import RedisError

    from forescale.worker.app import TASK, EngineLoadFailed, ModelMissing, create_app

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()
    except (ModelMissing, KeyError, ValueError, TypeError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    except (RedisError, OSError) as exc:
        raise CliError(f"redis at {redact_url(settings.redis_url)}: {exc}") from None
    await web.TCPSite(runner, settings.host, settings.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = app[TASK]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    await runner.cleanup()  # drains: finish the batch, ack, leave
    if task.done() and not task.cancelled() and task.exception() is not None:
        failure = task.exception()
        if isinstance(failure, EngineLoadFailed):
            raise CliError(str(failure)) from None  # one line, exit 2: the registration cannot be served
        logging.getLogger(__name__).error("worker failed: %r", failure)
        return 1
    return 0
