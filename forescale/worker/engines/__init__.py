"""Engines: what a worker runs on one batch. Registered by name (STYLE.md #9).

An engine loads its model, warms up, and maps a batch of requests (each a dict of
input name -> numpy array) to a list of outputs (dict of output name -> numpy array),
one per request, in order. ``BadInput`` means "this request does not fit the model"
(answered 400 at once); any other exception is treated as an engine crash (the
request is retried and dead-lettered after the model's max deliveries).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from forescale.queue import engines as specs

Tensors = dict[str, np.ndarray]


class BadInput(ValueError):
    """The request's tensors do not fit this model (wrong names, dtypes or shapes)."""


class Engine(Protocol):
    def load(self) -> None: ...

    def warm_up(self) -> None: ...

    def infer(self, batch: list[Tensors]) -> list[Tensors]: ...


# name -> "module:factory"; modules are imported on use so that echo never imports torch.
ENGINES: dict[str, str] = {
    "echo": "forescale.worker.engines.basic:EchoEngine",
    "sleep": "forescale.worker.engines.basic:SleepEngine",
    "transformer": "forescale.worker.engines.transformer:TransformerEngine",
    "torchscript": "forescale.worker.engines.artifact:TorchScriptEngine",
    "export": "forescale.worker.engines.artifact:ExportEngine",
    "llm": "forescale.worker.engines.llm:LLMEngine",  # driven by worker/generate.py
}


def create(name: str, options: dict[str, Any], model_dir: str = "models") -> Engine:
    """Build the named engine; ``ValueError`` for unknown names or bad options.

    The options go through the same check as a registration (``queue/engines.py``) first,
    so a worker refuses exactly what ``forescale models add`` and the admin API refuse."""
    checked = specs.check(name, options)
    module, _, attr = ENGINES[name].partition(":")
    factory: Callable[..., Engine] = getattr(importlib.import_module(module), attr)
    if name in specs.ARTIFACT_ENGINES or name == "llm":  # llm: weights / tokenizer files
        checked["model_dir"] = model_dir
    return factory(**checked)
