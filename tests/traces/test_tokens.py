"""Token traces: Azure, Mooncake and BurstGPT layouts by column name; named columns; errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from forescale.traces.reader import TraceError
from forescale.traces.tokens import load_token_trace


def test_azure_layout_is_found_by_name(tmp_path: Path) -> None:
    path = tmp_path / "azure.csv.gz"
    rows = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
    rows += "2023-11-16 18:15:50.9951690,396,109\n2023-11-16 18:15:46.9,10,1\n"
    path.write_bytes(gzip.compress(rows.encode()))
    tr = load_token_trace(path)
    assert tr.prompt.tolist() == [374, 10, 396]  # sorted by arrival
    assert tr.output.tolist() == [44, 1, 109]
    assert tr.times[2] - tr.times[0] == pytest.approx(4.3145, abs=1e-4)
    req, prompt, output = tr.per_second()
    assert req.tolist() == [2, 0, 0, 0, 1]
    assert prompt[0] == 384 and output[4] == 109
    assert tr.requests_trace().requests == 3


def test_mooncake_jsonl_uses_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "mooncake.jsonl"
    rows = [
        {"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [0, 1]},
        {"timestamp": 1500, "input_length": 100, "output_length": 7, "hash_ids": [2]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tr = load_token_trace(path)
    assert tr.times.tolist() == [0.0, 1.5]
    assert tr.prompt.tolist() == [6955, 100]
    assert tr.output.tolist() == [52, 7]


def test_burstgpt_layout_and_rate_scale(tmp_path: Path) -> None:
    path = tmp_path / "burst.csv"
    path.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,0,1087,Conversation log\n"
    )
    tr = load_token_trace(path, rate_scale=3)
    assert len(tr.times) == 6
    assert sorted(tr.prompt.tolist()) == [472] * 3 + [1087] * 3
    assert np.all(np.diff(tr.times) >= 0)
    assert tr.output[tr.prompt == 1087].tolist() == [0, 0, 0]


def test_columns_named_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("arrived,in,out\n1700000000,12,3\n1700000001,8,2\n")
    tr = load_token_trace(path, time_column="arrived", prompt_column="in", output_column="out")
    assert tr.prompt.tolist() == [12, 8]
    with pytest.raises(TraceError, match="no prompt column found"):
        load_token_trace(path, time_column="arrived")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("-3", "must be a whole number of tokens >= 0"),
        ("2.5", "must be a whole number"),
        ("x", "not a number"),
    ],
)
def test_bad_token_counts_name_line_and_field(tmp_path: Path, value: str, why: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"timestamp,prompt_tokens,output_tokens\n1,4,4\n2,{value},4\n")
    with pytest.raises(TraceError, match=f"line 3: field 'prompt_tokens': {why}"):
        load_token_trace(path)
