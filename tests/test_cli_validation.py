"""Command-line validation: numbers finite and in range, counts >= 1, bounded --input, empty splits,
fresh samples unless --seed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.names.cli import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--steps", "20", "--hidden", "8", "--eval-every", "10", "--no-progress", "--no-plot", "--samples", "0"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out / "checkpoint.npz"


@pytest.mark.parametrize("argv, flag", [
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "inf"], "--lr"),
    (["train", "--weight-decay", "-1"], "--weight-decay"),
    (["train", "--weight-decay", "nan"], "--weight-decay"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "--steps", "-5"], "--steps"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--dropout", "1"], "--dropout"),
    (["train", "--momentum", "1.5"], "--momentum"),
    (["train", "--eval-every", "0"], "--eval-every"),
    (["train", "--max-bytes", "0"], "--max-bytes"),
    (["train", "--samples", "-1"], "--samples"),
    (["sample", "-n", "0"], "-n/--num"),
    (["sample", "-n", "-2"], "-n/--num"),
    (["sample", "--temperature", "nan"], "--temperature"),
    (["sample", "--temperature", "0"], "--temperature"),
    (["sample", "--temperature", "-1"], "--temperature"),
    (["sample", "--temperature", "inf"], "--temperature"),
    (["graph", "--batch-size", "0"], "--batch-size"),
    (["eval", "--max-params", "0"], "--max-params"),
])
def test_out_of_range_flags_are_usage_errors_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err


def test_input_must_be_a_regular_file_within_max_bytes(tmp_path, capsys):
    for device in ("/dev/zero", "/dev/null"):
        assert main(["train", "--input", device, "--max-bytes", "1000", *TINY, "--out", str(tmp_path / "o")]) == 1
        assert f"error: {device}: not a regular file (a character device)" in capsys.readouterr().err
    assert main(["train", "--input", str(tmp_path), *TINY, "--out", str(tmp_path / "o")]) == 1
    assert "not a regular file (a directory)" in capsys.readouterr().err
    big = tmp_path / "big.txt"
    big.write_text("anna\nbob\n" * 100)
    assert main(["train", "--input", str(big), "--max-bytes", "500", *TINY, "--out", str(tmp_path / "o")]) == 1
    assert "the file is 900 bytes, more than the limit of 500" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_fifo_without_a_writer_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "words.fifo"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "models.names", "train", "--input", str(fifo), *TINY,
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stderr == f"error: {fifo}: not a regular file (a FIFO/pipe); expected a text file of words\n"


def test_an_empty_dev_split_warns_and_metrics_get_null(tmp_path, capsys):
    words = tmp_path / "three.txt"
    words.write_text("anna\nbob\nclara\n")
    out = tmp_path / "o"
    assert main(["train", "--input", str(words), *TINY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning: the dev split is empty (3 words" in captured.err
    assert "dev n/a (empty split)" in captured.out and "nan" not in captured.out
    text = (out / "metrics.json").read_text()
    metrics = json.loads(text)
    assert metrics["dev"] is None and isinstance(metrics["train"], float) and isinstance(metrics["test"], float)
    assert "NaN" not in text
    assert main(["eval", str(out / "checkpoint.npz")]) == 0
    captured = capsys.readouterr()
    assert "  dev: n/a (empty split)" in captured.out and "warning: the dev split is empty" in captured.err


def test_sample_draws_fresh_names_unless_seeded_and_prints_the_seed(checkpoint, capsys):
    draws, seeds = [], []
    for _ in range(2):
        assert main(["sample", str(checkpoint), "-n", "15"]) == 0
        captured = capsys.readouterr()
        draws.append(captured.out.split())
        seeds.append(int(captured.err.split(" seed ")[1].split()[0]))
    assert seeds[0] != seeds[1] and draws[0] != draws[1]
    assert main(["sample", str(checkpoint), "-n", "15", "--seed", str(seeds[0])]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == draws[0] and f"seed {seeds[0]}" in captured.err


def test_config_ranges_are_checked_in_the_python_api_too():
    from models.names import get_config

    for name, value in [("lr", -0.1), ("lr", float("nan")), ("weight_decay", float("inf")), ("momentum", 1.0),
                        ("final_lr", -1.0), ("seed", -1)]:
        with pytest.raises(ValueError, match=name):
            get_config("default", **{name: value})


def test_too_many_parameters_are_refused_before_building(tmp_path, capsys):
    import time

    t0 = time.perf_counter()
    assert main(["train", *TINY, "--hidden", "20000,20000", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "error: the model would have 401,180,297 parameters, more than --max-params 20,000,000" in err
    assert time.perf_counter() - t0 < 5  # refused from the config alone: 1.6 GB of weights never allocated
    assert main(["train", *TINY, "--max-params", "100", "--out", str(tmp_path / "o")]) == 1
    assert "more than --max-params 100" in capsys.readouterr().err
