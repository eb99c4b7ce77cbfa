"""load_trace on small files written here: formats, time units, columns, and bad input."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from forescale.cliutil import CliError
from forescale.traces import Trace, add_trace_arguments, load_trace, trace_from_args
from forescale.traces.synthetic import Workload, synthetic_trace

EPOCH = 1_699_999_200  # 2023-11-14 22:00:00 UTC, a multiple of every step used here


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


REQUEST_FILES = [
    # name, content; every one holds arrivals at EPOCH+0, +0.5, +2
    ("s.csv", f"timestamp,tokens\n{EPOCH},10\n{EPOCH + 0.5},3\n{EPOCH + 2},7\n"),
    ("ms.csv", f"ts_ms,x\n{EPOCH * 1000},1\n{EPOCH * 1000 + 500},1\n{EPOCH * 1000 + 2000},1\n"),
    (
        "iso.csv",
        "TIMESTAMP,ContextTokens\n2023-11-14 22:00:00.0000000,5\n"
        "2023-11-14 22:00:00.5000000,5\n2023-11-14 22:00:02,5\n",
    ),
    ("unsorted.csv.gz", f"time\n{EPOCH + 2}\n{EPOCH}\n{EPOCH + 0.5}\n"),
    (
        "rows.jsonl",
        "\n".join(json.dumps({"arrival_time": t, "tokens": 1}) for t in (EPOCH, EPOCH + 0.5, EPOCH + 2)),
    ),
    (
        "rows.jsonl.gz",
        "\n".join(json.dumps({"when": f"2023-11-14T22:00:{s}Z"}) for s in ("00", "00.5", "02")),
    ),
]


@pytest.mark.parametrize(("name", "text"), REQUEST_FILES)
def test_request_rows_give_sorted_arrivals(tmp_path: Path, name: str, text: str) -> None:
    trace = load_trace(
        write(tmp_path / name, text), time_column="when" if "gz" in name and "jsonl" in name else None
    )
    assert trace.arrivals is not None
    np.testing.assert_allclose(trace.arrivals, [EPOCH, EPOCH + 0.5, EPOCH + 2])
    assert trace.start == EPOCH
    assert trace.requests == 3
    series = trace.rate_series(1.0)
    np.testing.assert_allclose(series.values, [2, 0, 1])
    assert series.start == EPOCH


def test_rate_rows_integrate_to_requests(tmp_path: Path) -> None:
    text = f"time,rps\n{EPOCH},2\n{EPOCH + 60},4\n{EPOCH + 120},0\n"
    trace = load_trace(write(tmp_path / "r.csv", text))
    assert trace.arrivals is None
    assert trace.requests == pytest.approx(60 * 2 + 60 * 4)
    series = trace.rate_series(30.0)
    np.testing.assert_allclose(series.values, [2, 2, 4, 4, 0, 0])
    # A step that straddles two rows averages them.
    np.testing.assert_allclose(trace.rate_series(90.0).values, [8 / 3, 4 / 3])


def test_scales(tmp_path: Path) -> None:
    text = f"time,rps\n{EPOCH},2\n{EPOCH + 60},4\n"
    trace = load_trace(write(tmp_path / "r.csv", text), time_scale=0.5, rate_scale=3.0)
    # Half the time, three times the demand: the same requests x3 in half the span.
    assert trace.duration_s == pytest.approx(60)
    assert trace.requests == pytest.approx(3 * (120 + 240))
    reqs = load_trace(
        write(tmp_path / "q.csv", "t\n" + "\n".join(str(EPOCH + i) for i in range(100))), rate_scale=2.5
    )
    assert reqs.arrivals is not None
    assert 230 <= len(reqs.arrivals) <= 270
    assert np.all(np.diff(reqs.arrivals) >= 0)


def test_format_forced_to_requests_ignores_rate_column(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"time,count\n{EPOCH},5\n{EPOCH + 1},5\n")
    assert load_trace(path).arrivals is None
    assert load_trace(path, fmt="requests").requests == 2


BAD = [
    ("no_time.csv", "foo,bar\n1,2\n", {}, "no time column"),
    ("bad_time.csv", f"time\n{EPOCH}\nyesterday\n", {}, "line 3: field 'time'"),
    ("bad_ms.csv", f"time\n{EPOCH}\nx\n", {"time_unit": "ms"}, "line 3: field 'time': not a number"),
    ("neg_rate.csv", f"time,rps\n{EPOCH},1\n{EPOCH + 1},-2\n", {}, "line 3: field 'rps'"),
    ("bad_rate.csv", f"time,rps\n{EPOCH},1\n{EPOCH + 1},lots\n", {}, "line 3: field 'rps': not a number"),
    ("dup.csv", f"time,rps\n{EPOCH},1\n{EPOCH},2\n", {}, "duplicate time"),
    ("fields.csv", f"time,a\n{EPOCH},1\n{EPOCH},1,2,3\n", {}, "line 3"),
    ("json.jsonl", f'{{"time": {EPOCH}}}\n{{"time": \n', {}, "line 2: not JSON"),
    ("json_time.jsonl", f'{{"time": {EPOCH}}}\n\n{{"time": "soon"}}\n', {}, "line 3: field 'time'"),
    ("empty.csv", "", {}, "empty file"),
    ("header.csv", "time\n", {}, "no rows"),
    ("col.csv", f"time\n{EPOCH}\n", {"time_column": "nope"}, "no column 'nope'"),
    ("s.csv", f"time\n{EPOCH}\n", {"rate_scale": -1.0}, "must be > 0"),
]


@pytest.mark.parametrize(("name", "text", "kwargs", "expected"), BAD)
def test_bad_files_name_file_line_and_field(
    tmp_path: Path, name: str, text: str, kwargs: dict[str, object], expected: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(CliError) as info:
        load_trace(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_cli_error(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="cannot read"):
        load_trace(tmp_path / "absent.csv")


def test_cli_arguments_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"when,load\n{EPOCH * 1000},3\n{EPOCH * 1000 + 10_000},3\n")
    parser = argparse.ArgumentParser()
    add_trace_arguments(parser)
    args = parser.parse_args(
        ["--trace", str(path), "--time-column", "when", "--rate-column", "load", "--time-unit", "ms"]
    )
    trace = trace_from_args(args)
    assert isinstance(trace, Trace)
    assert trace.start == EPOCH
    assert trace.requests == pytest.approx(60)


def test_synthetic_is_seeded_and_shaped() -> None:
    days = 7 * 86_400
    one = synthetic_trace(days, seed=3)
    two = synthetic_trace(days, seed=3)
    assert one.rate_values is not None and two.rate_values is not None
    np.testing.assert_array_equal(one.rate_values, two.rate_values)
    hourly = one.rate_series(3600).values
    assert hourly.max() > 2 * hourly.min()  # a daily cycle
    daily = one.rate_series(86_400).values
    assert daily[5] < 0.7 * daily[1]  # the weekly dip (days 5 and 6)
    reqs = synthetic_trace(3600, Workload(mean_rps=5, bursts_per_day=0), seed=1, kind="requests")
    assert reqs.arrivals is not None
    assert abs(reqs.requests - reqs.rate_series(3600).values[0] * 3600) < 1
