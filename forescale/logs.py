"""Structured logs: one JSON object per line, for every forescale service.

``setup_logging(level, service)`` points the root logger at stderr with a formatter
that writes ``ts``, ``level``, ``service``, ``logger``, ``msg`` and every field passed in
``extra=`` (``request_id``, ``model``, a decision's ``reasons``, ...), so a log shipper
(Loki, CloudWatch, Fluent Bit) can index them without a parse rule per message::

    log = logging.getLogger(__name__)
    log.info("decided", extra={"model": "chat", "desired": 4, "reasons": [...]})

Dependency-free on purpose (stdlib only): the router, worker, controller and the
decision core's callers all import it, and it must not pull anything into them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _plain(value: Any) -> Any:
    """JSON-able form of an ``extra`` value: pydantic models and dataclasses included."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (never raises on odd ``extra`` values)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=_plain, ensure_ascii=False, separators=(",", ":"))


def setup_logging(level: str | int, service: str, stream: IO[str] | None = None) -> logging.Handler:
    """Route all logging to ``stream`` (stderr by default) as JSON lines; idempotent.

    Replaces the root logger's handlers, so calling it twice (tests, `forescale up`
    starting several services in one process) never doubles lines. Returns the handler.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
