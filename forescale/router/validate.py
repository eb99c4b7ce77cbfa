"""Validation of Open Inference Protocol v2 inference requests (JSON tensors).

Everything is checked before anything is enqueued: syntax and structure problems are
400, data that contradicts its declared datatype or shape is 422.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from forescale.router import binary
from forescale.router.problems import Problem

# v2 datatype -> numpy dtype (None: BYTES, carried as JSON strings).
DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": None,
}  # fmt: skip


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[dict[str, Any]]
    output_names: tuple[str, ...] | None
    parameters: dict[str, Any]
    binary_all: bool = False  # binary tensor extension: every output in binary
    binary_names: frozenset[str] = frozenset()  # or these outputs

    def payload(self) -> bytes:
        """What the worker receives: the validated inputs and parameters."""
        return orjson.dumps({"inputs": self.inputs, "parameters": self.parameters})


def parse_infer(body: bytes, header_len: int | None = None) -> InferRequest:
    """``header_len``: the JSON part's length when the binary tensor extension is used."""
    blob = b""
    if header_len is not None:
        body, blob = body[:header_len], body[header_len:]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, "the request body must be a JSON object")
    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise Problem(400, "id must be a string")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise Problem(400, "inputs must be a non-empty list")
    if header_len is not None:
        binary.inline_inputs(inputs, blob)
    checked = [_check_input(i, t) for i, t in enumerate(inputs)]
    if len({t["name"] for t in checked}) != len(checked):
        raise Problem(400, "input names must be unique")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise Problem(400, "parameters must be an object")
    every, names = binary.wants_binary(doc)
    return InferRequest(req_id, checked, _output_names(doc.get("outputs")), params, every, names)


def _output_names(outputs: Any) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise Problem(400, "outputs must be a list of objects with a name")
    return tuple(o["name"] for o in outputs)


def _check_input(i: int, t: Any) -> dict[str, Any]:
    where = f"inputs[{i}]"
    if not isinstance(t, dict):
        raise Problem(400, f"{where} must be an object")
    name, dtype, shape = t.get("name"), t.get("datatype"), t.get("shape")
    if not isinstance(name, str) or not name:
        raise Problem(400, f"{where}.name must be a non-empty string")
    if dtype not in DTYPES:
        raise Problem(400, f"{where}.datatype {dtype!r} is not a v2 datatype ({', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise Problem(400, f"{where}.shape must be a list of non-negative integers")
    if "data" not in t:
        raise Problem(400, f"{where}.data is missing (and no parameters.binary_data_size)")
    _check_data(where, t["data"], dtype, shape)
    return {"name": name, "datatype": dtype, "shape": shape, "data": t["data"]}


def _check_data(where: str, data: Any, dtype: str, shape: list[int]) -> None:
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):
        raise Problem(422, f"{where}.data is ragged (nested lists of unequal length)") from None
    size = math.prod(shape)
    if arr.size != size:
        raise Problem(422, f"{where}.data has {arr.size} elements but shape {shape} needs {size}")
    if arr.ndim > 1 and list(arr.shape) != shape:
        raise Problem(422, f"{where}.data is nested as {list(arr.shape)}, not as shape {shape}")
    if size and not _kind_ok(arr, dtype):
        raise Problem(422, f"{where}.data does not hold {dtype} values")


def _kind_ok(arr: np.ndarray, dtype: str) -> bool:
    kind = arr.dtype.kind
    if dtype == "BYTES":
        return kind == "U"
    if dtype == "BOOL":
        return kind == "b"
    if dtype.startswith("FP"):
        return kind in "iuf"
    if kind not in "iu":
        return False
    info = np.iinfo(DTYPES[dtype])
    return bool(arr.min() >= info.min and arr.max() <= info.max)
