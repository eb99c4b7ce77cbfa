"""``load_trace``: CSV or JSONL (gzip accepted), per-request or per-interval-rate rows.

Every problem with the file becomes a ``TraceError`` (a ``CliError``) naming the file, the
line and the field, so ``forescale simulate`` and ``forescale backtest`` print one line.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from forescale.cliutil import CliError
from forescale.traces.trace import Trace

TraceFormat = Literal["auto", "requests", "rates"]
TimeUnit = Literal["s", "ms", "iso"]

# Looked up case-insensitively, in this order, when the column is not named.
TIME_NAMES = ("timestamp", "time", "ts", "t", "arrival", "arrival_time", "gmt_create", "datetime", "date")
RATE_NAMES = ("rate", "rps", "qps", "requests_per_s", "req_per_s", "count", "requests", "value")
# Epoch values above this are milliseconds (1e11 s is the year 5138).
MS_THRESHOLD = 1e11


class TraceError(CliError):
    """A trace file that cannot be read; the message names file, line and field."""


def load_trace(
    path: str | Path,
    *,
    fmt: TraceFormat | str = "auto",
    time_column: str | None = None,
    rate_column: str | None = None,
    time_unit: TimeUnit | str | None = None,
    rate_scale: float = 1.0,
    time_scale: float = 1.0,
) -> Trace:
    """Read a trace. ``time_scale`` stretches time from the trace start (0.1 = ten times
    faster, same requests); ``rate_scale`` multiplies demand (requests are copied or thinned,
    seeded, so the same file always gives the same trace)."""
    path = Path(path)
    if fmt not in ("auto", "requests", "rates"):
        raise TraceError(f"{path}: unknown trace format {fmt!r} (auto, requests, rates)")
    if time_unit not in (None, "s", "ms", "iso"):
        raise TraceError(f"{path}: unknown time unit {time_unit!r} (s, ms, iso)")
    if not rate_scale > 0 or not time_scale > 0:
        raise TraceError(f"{path}: rate scale and time scale must be > 0")
    frame, lines = _read_rows(path)
    tcol = _pick_column(path, frame, time_column, TIME_NAMES, "time")
    if len(frame) == 0:
        raise TraceError(f"{path}: no rows")
    kind = fmt
    if kind == "auto":
        kind = "rates" if rate_column or _find(frame, RATE_NAMES) else "requests"
    times = _parse_times(path, frame[tcol], lines, tcol, time_unit)
    if kind == "requests":
        return _requests_trace(path, times, rate_scale, time_scale)
    rcol = _pick_column(path, frame, rate_column, RATE_NAMES, "rate")
    rates = _parse_rates(path, frame[rcol], lines, rcol)
    return _rates_trace(path, times, rates, lines, tcol, rate_scale, time_scale)


def _read_rows(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows as strings, and each row's line number in the file."""
    try:
        with path.open("rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        opener = gzip.open if gz else open
        with opener(path, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
            first = fh.read(4096).lstrip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    if not first:
        raise TraceError(f"{path}: line 1: empty file")
    if first.startswith("{"):
        return _read_jsonl(path, opener)
    return _read_csv(path)


def _read_jsonl(path: Path, opener: object) -> tuple[pd.DataFrame, np.ndarray]:
    rows: list[dict[str, object]] = []
    lines: list[int] = []
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{path}: line {no}: not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise TraceError(f"{path}: line {no}: expected a JSON object")
            rows.append(row)
            lines.append(no)
    frame = pd.DataFrame.from_records(rows).astype(object)
    return frame, np.asarray(lines)


def _read_csv(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        frame = pd.read_csv(path, dtype=str, compression="infer", skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+), saw (\d+)", str(exc))
        where = f"line {match.group(1)}: {match.group(2)} fields, more than the header" if match else exc
        raise TraceError(f"{path}: {where}") from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read as CSV: {exc}") from None
    lines = np.arange(len(frame)) + 2  # line 1 is the header
    keep = frame.notna().any(axis=1).to_numpy()  # blank lines
    return frame[keep].reset_index(drop=True), lines[keep]


def _find(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    by_lower = {str(c).strip().lower(): str(c) for c in frame.columns}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    return None


def _pick_column(
    path: Path, frame: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str
) -> str:
    if given is not None:
        if given not in frame.columns:
            raise TraceError(f"{path}: no column {given!r} (columns: {', '.join(map(str, frame.columns))})")
        return given
    found = _find(frame, names)
    if found is None and what == "time":
        found = next((str(c) for c in frame.columns if re.search(r"time|date|^ts_|_ts$", str(c), re.I)), None)
    if found is None:
        raise TraceError(
            f"{path}: no {what} column found (columns: {', '.join(map(str, frame.columns))}); "
            f"name it with --{what}-column"
        )
    return found


def _bad(path: Path, lines: np.ndarray, mask: np.ndarray, field: str, why: str, values: pd.Series) -> None:
    if mask.any():
        i = int(np.argmax(mask))
        raise TraceError(f"{path}: line {lines[i]}: field {field!r}: {why}: {values.iloc[i]!r}")


def _parse_times(path: Path, col: pd.Series, lines: np.ndarray, field: str, unit: str | None) -> np.ndarray:
    """Epoch seconds from epoch s, epoch ms or datetime text (naive text is UTC)."""
    numeric = pd.to_numeric(col, errors="coerce")
    # Guessing: the first row decides between epoch numbers and datetime text.
    if unit in ("s", "ms") or (unit is None and bool(numeric.notna().iloc[0])):
        _bad(path, lines, numeric.isna().to_numpy(), field, "not a number", col)
        values = numeric.to_numpy(dtype=float)
        if unit == "ms" or (unit is None and np.nanmedian(np.abs(values)) > MS_THRESHOLD):
            values = values / 1000.0
        _bad(path, lines, ~np.isfinite(values), field, "not a finite time", col)
        return values
    parsed = pd.to_datetime(col.astype(str), errors="coerce", format="ISO8601", utc=True)
    _bad(path, lines, (parsed.isna() | col.isna()).to_numpy(), field, "not a datetime", col)
    return parsed.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9


def _parse_rates(path: Path, col: pd.Series, lines: np.ndarray, field: str) -> np.ndarray:
    numeric = pd.to_numeric(col, errors="coerce")
    _bad(path, lines, numeric.isna().to_numpy(), field, "not a number", col)
    values = numeric.to_numpy(dtype=float)
    _bad(path, lines, ~np.isfinite(values) | (values < 0), field, "must be a finite rate >= 0", col)
    return values


def _requests_trace(path: Path, times: np.ndarray, rate_scale: float, time_scale: float) -> Trace:
    if len(times) == 0:
        raise TraceError(f"{path}: no rows")
    arrivals = np.sort(times)
    start = float(arrivals[0])
    arrivals = start + (arrivals - start) * time_scale
    if rate_scale != 1.0:
        arrivals = _rescale_arrivals(arrivals, rate_scale)
    # The last arrival's second is part of the trace.
    return Trace(str(path), start, float(arrivals[-1]) + 1.0, arrivals=arrivals)


def _rescale_arrivals(arrivals: np.ndarray, scale: float) -> np.ndarray:
    """``scale`` times the requests: whole copies plus a seeded fraction, each copy moved
    by under a second so that copies do not all land on the same instant."""
    rng = np.random.default_rng(0)
    copies = np.full(len(arrivals), int(scale))
    copies += rng.random(len(arrivals)) < (scale - int(scale))
    out = np.repeat(arrivals, copies)
    first = np.concatenate([[True], np.diff(np.repeat(np.arange(len(arrivals)), copies)) != 0])
    out = out + np.where(first, 0.0, rng.random(len(out)))
    return np.sort(out)


def _rates_trace(
    path: Path,
    times: np.ndarray,
    rates: np.ndarray,
    lines: np.ndarray,
    field: str,
    rate_scale: float,
    time_scale: float,
) -> Trace:
    if len(times) == 0:
        raise TraceError(f"{path}: no rows")
    order = np.argsort(times, kind="stable")
    times, rates, lines = times[order], rates[order], lines[order]
    dup = np.concatenate([[False], np.diff(times) == 0])
    if dup.any():
        raise TraceError(f"{path}: line {lines[int(np.argmax(dup))]}: field {field!r}: duplicate time")
    start = float(times[0])
    times = start + (times - start) * time_scale
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    return Trace(
        str(path),
        start,
        float(times[-1]) + step,
        rate_times=times,
        rate_values=rates * rate_scale / time_scale,
    )
