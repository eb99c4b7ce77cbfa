"""setup_logging: one JSON object per line with the fixed fields and every ``extra``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from forescale.core.model import Reason
from forescale.logs import setup_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("debug", "router", stream=out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_fixed_fields_and_extra(stream: io.StringIO) -> None:
    logging.getLogger("forescale.router.app").info(
        "admitted %s", "r1", extra={"request_id": "r1", "model": "chat"}
    )
    [entry] = lines(stream)
    assert entry["level"] == "info"
    assert entry["service"] == "router"
    assert entry["logger"] == "forescale.router.app"
    assert entry["msg"] == "admitted r1"
    assert entry["request_id"] == "r1" and entry["model"] == "chat"
    assert str(entry["ts"]).endswith("+00:00")


def test_decision_reasons_are_structured(stream: io.StringIO) -> None:
    reasons = (Reason(term="reactive", replicas=3, detail="30 rps / 10"),)
    logging.getLogger("forescale.controller").info("decided", extra={"reasons": reasons, "odd": object()})
    [entry] = lines(stream)
    assert entry["reasons"] == [{"term": "reactive", "replicas": 3, "detail": "30 rps / 10"}]
    assert str(entry["odd"]).startswith("<object object")


def test_exception_and_one_line_each(stream: io.StringIO) -> None:
    log = logging.getLogger("x")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("failed")
    log.debug("second")
    entries = lines(stream)
    assert [e["msg"] for e in entries] == ["failed", "second"]
    assert "ValueError: bad" in str(entries[0]["exc"])


def test_idempotent_and_level() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", "worker", stream=out)
        setup_logging("WARNING", "worker", stream=out)
        logging.getLogger("y").info("hidden")
        logging.getLogger("y").warning("shown")
        assert [e["msg"] for e in lines(out)] == ["shown"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
