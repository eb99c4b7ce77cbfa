"""The binary tensor extension of the v2 protocol (what tritonclient sends by default).

Request: the body is a JSON header of ``Inference-Header-Content-Length`` bytes followed
by raw tensors; an input with ``parameters.binary_data_size`` has its data there, in
order (little-endian, row-major; BYTES as 4-byte length + bytes per element). Response:
outputs asked for in binary (``parameters.binary_data`` on an output, or
``binary_data_output`` on the request) go the same way. Inside forescale tensors stay
JSON: the router converts at the edge, so workers see one format.

What goes in binary comes out byte-identical, or is refused here (422): non-finite
floats (JSON has no NaN or infinity), BYTES that are not UTF-8 (JSON strings are text),
BOOL bytes other than 0 and 1, and BYTES length prefixes that run past the data.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from forescale.router.problems import Problem

HEADER = "Inference-Header-Content-Length"

# v2 datatype -> little-endian numpy dtype for raw bytes (BYTES handled apart).
RAW: dict[str, str] = {
    "BOOL": "|b1", "UINT8": "|u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "|i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip


def header_length(raw: str, body_len: int) -> int:
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if not 0 <= n <= body_len:
        raise Problem(400, f"{HEADER} must be an integer in [0, {body_len}], not {raw!r}")
    return n


def inline_inputs(inputs: Any, blob: bytes) -> None:
    """Replace each binary input's raw bytes by a JSON ``data`` list, in place."""
    if not isinstance(inputs, list):
        return  # the JSON validation reports it
    at = 0
    for i, t in enumerate(inputs):
        params = t.get("parameters") if isinstance(t, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            continue
        if type(size) is not int or size < 0 or at + size > len(blob):
            raise Problem(400, f"inputs[{i}].parameters.binary_data_size {size!r} exceeds the binary data")
        t["data"] = _decode(f"inputs[{i}]", t.get("datatype"), t.get("shape"), blob[at : at + size])
        at += size
    if at != len(blob):
        raise Problem(400, f"{len(blob) - at} bytes of binary data belong to no input")


def _decode(where: str, dtype: Any, shape: Any, raw: bytes) -> list[Any]:
    if dtype == "BYTES":
        out, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise Problem(422, f"{where}: truncated BYTES element")
            (n,) = struct.unpack_from("<I", raw, at)
            if at + 4 + n > len(raw):
                raise Problem(422, f"{where}: a BYTES element says {n} bytes, {len(raw) - at - 4} are left")
            try:
                out.append(raw[at + 4 : at + 4 + n].decode("utf-8"))
            except UnicodeDecodeError:
                raise Problem(
                    422, f"{where}: BYTES element {len(out)} is not UTF-8 (not representable)"
                ) from None
            at += 4 + n
        return out
    if dtype not in RAW:
        raise Problem(400, f"{where}.datatype {dtype!r} is not a v2 datatype")
    itemsize = np.dtype(RAW[dtype]).itemsize
    count = math.prod(shape) if isinstance(shape, list) and all(isinstance(d, int) for d in shape) else -1
    if len(raw) != count * itemsize:
        raise Problem(422, f"{where}: {len(raw)} bytes of binary data do not hold shape {shape} of {dtype}")
    if dtype == "BOOL":
        arr = np.frombuffer(raw, dtype=np.uint8)
        if arr.size and arr.max() > 1:
            raise Problem(422, f"{where}: BOOL bytes must be 0 or 1")
        return arr.astype(bool).tolist()
    arr = np.frombuffer(raw, dtype=RAW[dtype])
    if dtype.startswith("FP") and not np.isfinite(arr).all():
        raise Problem(422, f"{where}: NaN or infinity cannot be carried (JSON inside forescale)")
    return arr.tolist()


def wants_binary(doc: dict[str, Any]) -> tuple[bool, frozenset[str]]:
    """(all outputs in binary, names of outputs asked for in binary)."""
    params = doc.get("parameters") or {}
    every = bool(isinstance(params, dict) and params.get("binary_data_output"))
    names = frozenset(o["name"] for o in doc.get("outputs") or [] if _binary_output(o))
    return every, names


def _binary_output(o: Any) -> bool:
    return (
        isinstance(o, dict)
        and isinstance(o.get("parameters"), dict)
        and bool(o["parameters"].get("binary_data"))
    )


def encode_response(doc: dict[str, Any], every: bool, names: frozenset[str]) -> tuple[bytes, int | None]:
    """(body, JSON header length or None when nothing is binary)."""
    blobs = []
    for out in doc["outputs"]:
        if every or out.get("name") in names:
            raw = _encode(out["datatype"], out.pop("data"))
            out["parameters"] = {**out.get("parameters", {}), "binary_data_size": len(raw)}
            blobs.append(raw)
    head = orjson.dumps(doc)
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)


def _encode(dtype: str, data: list[Any]) -> bytes:
    if dtype == "BYTES":
        parts = [str(x).encode() for x in data]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.asarray(data, dtype=RAW[dtype]).tobytes()
