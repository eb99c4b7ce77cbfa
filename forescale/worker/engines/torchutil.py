"""Device and precision choices shared by the torch engines."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(device: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_autocast(autocast: str | None) -> None:
    if autocast is not None and autocast not in AUTOCAST:
        raise ValueError(f"autocast must be one of {sorted(AUTOCAST)} or null, not {autocast!r}")


def precision(device: torch.device, autocast: str | None) -> Any:
    """Autocast to bf16/fp16 on GPU when asked; CPU runs in fp32 (autocast there is slower)."""
    if autocast is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=AUTOCAST[autocast])


def set_threads(threads: int | None) -> None:
    """Intra-op CPU threads (process-wide). On a small, shared CPU one thread per worker
    avoids the threads of several processes spinning against each other."""
    if threads is not None:
        torch.set_num_threads(threads)
