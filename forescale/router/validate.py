"""Validation of Open Inference Protocol v2 inference requests (JSON tensors).

Everything is checked before anything is enqueued: syntax and structure problems are
400, data that contradicts its declared datatype or shape is 422, a tensor whose decoded
size would pass ``max_decoded_bytes`` is 413.

Memory: the size a tensor declares (its shape times its element size) is checked before
anything is allocated, and data is inspected as an object array (one pointer per
element), never converted by numpy's type inference: ``np.asarray`` of one long string
among many empty ones makes a fixed-width unicode array of ``count * longest * 4`` bytes,
which let a 2 MB body take 2 GB of the router.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

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


ITEMSIZE = {k: (1 if v is None else np.dtype(v).itemsize) for k, v in DTYPES.items()}
_NUMBER_TYPES: dict[str, tuple[type, ...]] = {"BOOL": (bool,), "BYTES": (str,)}
_FLOAT_TYPES = (int, float)


def parse_infer(body: bytes, header_len: int | None = None, max_decoded_bytes: int = 1 << 62) -> InferRequest:
    """``header_len``: the JSON part's length when the binary tensor extension is used;
    ``max_decoded_bytes``: the most one tensor may take once decoded (413 above)."""
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
    output_names = _output_names(doc.get("outputs"))  # before anything iterates them
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise Problem(400, "parameters must be an object")
    for i, t in enumerate(inputs):
        if isinstance(t, dict):
            _check_declared(i, t, max_decoded_bytes)
    if header_len is not None:
        binary.inline_inputs(inputs, blob)
    checked = [_check_input(i, t) for i, t in enumerate(inputs)]
    if len({t["name"] for t in checked}) != len(checked):
        raise Problem(400, "input names must be unique")
    every, names = binary.wants_binary(doc)
    return InferRequest(req_id, checked, output_names, params, every, names)


def _check_declared(i: int, t: dict[str, Any], limit: int) -> None:
    """Shape, datatype and size as declared, before any data is decoded or allocated."""
    where = f"inputs[{i}]"
    dtype, shape = t.get("datatype"), t.get("shape")
    if dtype not in DTYPES:
        raise Problem(400, f"{where}.datatype {dtype!r} is not a v2 datatype ({', '.join(DTYPES)})")
    if not _is_shape(shape):
        raise Problem(400, f"{where}.shape must be a list of non-negative integers")
    params = t.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise Problem(400, f"{where}.parameters must be an object")
    need = math.prod(shape) * ITEMSIZE[dtype]
    if need > limit:
        raise Problem(413, f"{where} would take {need} bytes decoded; the limit is {limit}")


def _is_shape(shape: Any) -> TypeGuard[list[int]]:
    # ``type(d) is int``: JSON true is a Python bool, and a bool is an int.
    return isinstance(shape, list) and len(shape) <= 32 and all(type(d) is int and d >= 0 for d in shape)


def _output_names(outputs: Any) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str)
        and isinstance(o.get("parameters", {}), dict) for o in outputs
    ):  # fmt: skip
        raise Problem(400, "outputs must be a list of objects with a name (and object parameters)")
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
    if not _is_shape(shape):
        raise Problem(400, f"{where}.shape must be a list of non-negative integers")
    if "data" not in t:
        raise Problem(400, f"{where}.data is missing (and no parameters.binary_data_size)")
    _check_data(where, t["data"], dtype, shape)
    return {"name": name, "datatype": dtype, "shape": shape, "data": t["data"]}


def _check_data(where: str, data: Any, dtype: str, shape: list[int]) -> None:
    if not isinstance(data, list):
        raise Problem(422, f"{where}.data must be a list")
    try:
        # dtype=object: one pointer per element, whatever the strings in it (see the top).
        arr = np.asarray(data, dtype=object)
    except (ValueError, TypeError):
        raise Problem(422, f"{where}.data is ragged (nested lists of unequal length)") from None
    size = math.prod(shape)
    if arr.size != size:
        raise Problem(422, f"{where}.data has {arr.size} elements but shape {shape} needs {size}")
    if arr.ndim > 1 and list(arr.shape) != shape:
        raise Problem(422, f"{where}.data is nested as {list(arr.shape)}, not as shape {shape}")
    if size and not _kind_ok(arr.ravel().tolist(), dtype):
        raise Problem(422, f"{where}.data does not hold {dtype} values")


def _kind_ok(flat: list[Any], dtype: str) -> bool:
    """Every element has the JSON type of ``dtype`` (lists left in ``flat`` mean ragged data)."""
    types = set(map(type, flat))
    if dtype in _NUMBER_TYPES:
        return types <= set(_NUMBER_TYPES[dtype])
    if dtype.startswith("FP"):
        # A value beyond the type's range would become infinity in the worker.
        big = float(np.finfo(DTYPES[dtype]).max)
        return types <= set(_FLOAT_TYPES) and all(-big <= x <= big for x in flat)
    if not types <= {int}:
        return False
    info = np.iinfo(DTYPES[dtype])
    return bool(min(flat) >= info.min and max(flat) <= info.max)
