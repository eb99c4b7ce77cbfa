"""Conversion between v2 JSON tensors and numpy arrays on the worker side."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from forescale.worker.engines import BadInput, Tensors

DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip
NAMES = {np.dtype(v).str: k for k, v in DTYPES.items() if k != "BYTES"}


def decode(payload: bytes) -> Tensors:
    """The request's inputs as arrays of their declared dtype and shape."""
    try:
        doc = orjson.loads(payload)
        return {
            t["name"]: np.asarray(t["data"], dtype=DTYPES[t["datatype"]]).reshape(t["shape"])
            for t in doc["inputs"]
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"undecodable request: {exc}") from None


def encode(outputs: Tensors) -> list[dict[str, Any]]:
    """v2 output tensors; numeric data stays a flat numpy array (see ``ok_reply``)."""
    out = []
    for name, arr in outputs.items():
        data: Any
        if arr.dtype.kind in "OUS":
            datatype = "BYTES"
            data = [str(x) for x in arr.ravel().tolist()]
        else:
            known = NAMES.get(arr.dtype.str)
            if known is None:  # e.g. float types numpy lacks: report as FP32
                arr, known = arr.astype(np.float32), "FP32"
            datatype, data = known, np.ascontiguousarray(arr).ravel()
        out.append({"name": name, "datatype": datatype, "shape": list(arr.shape), "data": data})
    return out
