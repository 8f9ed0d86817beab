"""Command-line validation: numbers finite and in range, counts >= 1, bounded --input, empty splits,
fresh samples unless --seed; every bad command line exits 2 and speaks flags; sizes are checked before
anything is allocated."""
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
    return out / "checkpoint.safetensors"


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
    assert main(["eval", str(out / "checkpoint.safetensors")]) == 0
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
    assert main(["train", *TINY, "--hidden", "20000,20000", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: the config asks for a model with more than --max-params 20,000,000 parameters" in err
    assert time.perf_counter() - t0 < 5  # refused from the config alone: 1.6 GB of weights never allocated
    assert main(["train", *TINY, "--max-params", "100", "--out", str(tmp_path / "o")]) == 2
    assert "more than --max-params 100" in capsys.readouterr().err


# ----- every bad command line: exit status 2, in the command line's words ------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["train", "--hidden", "256x256"], "argument --hidden: expected comma-separated integers such as 256,256"),
    (["train", "--hidden", "8,0"], "argument --hidden: expected 1 to 1024 widths, each in [1,"),
    (["train", "--stpes", "10"], "unrecognized arguments: --stpes 10; did you mean --steps?"),
    (["train", "--steps=10", "--hiden", "8"], "unrecognized arguments: --hiden 8; did you mean --hidden?"),
    (["sample", "x.safetensors", "--steps", "5"], "unrecognized arguments: --steps 5; --steps is an option of train"),
    (["trian"], "invalid choice: 'trian' (choose from 'train', 'sample', 'eval', 'graph', 'derive'); did you mean 'train'?"),
    (["train", "--arch", "gur"], "did you mean 'gru'?"),
    (["train", "--out", ""], "argument --out: must not be empty"),
    (["train", "--input", " "], "argument --input: must not be empty"),
    (["train", "--resume", ""], "argument --resume: must not be empty"),
    (["sample", ""], "argument checkpoint: must not be empty"),
    (["train", "--max-bytes", "9223372036854775808"], "argument --max-bytes: must be at most 1,099,511,627,776 (1 TiB"),
    (["train", "--steps", "10000000000"], "argument --steps: must be at most 1,000,000,000"),
    (["sample", "-n", "100000000"], "argument -n/--num: must be at most 100,000"),
    (["derive", "--batch-size", "0"], "argument --batch-size: must be >= 1"),
    (["derive", "--seed", "-1"], "argument --seed: must be >= 0"),
    (["train", "--seed", str(2**63)], "argument --seed: must be at most 9,223,372,036,854,775,807"),
    (["train", "--block-size", "1000000"], "argument --block-size: must be at most 1,024"),
])
def test_bad_command_lines_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m models.names") and message in err, err


@pytest.mark.parametrize("argv, message", [
    (["--arch", "transformer", "--n-head", "3"], "error: --n-head 3 does not divide --n-embd 64"),
    (["--arch", "hier", "--block-size", "3"], "error: --arch 'hier' needs --block-size a power of two >= 2"),
    (["--norm", "batch", "--batch-size", "1"], "error: batch norm needs --batch-size >= 2"),
    (["--config", "large", "--arch", "gru"], "error: config 'large' is for arch 'hier', not 'gru'; use --config gru"),
    (["--batch-size", "100000000"], "error: --batch-size 100,000,000 is larger than the training set (171,806 "
                                    "examples); give at most 171,806"),
])
def test_flag_combinations_that_cannot_work_exit_2_naming_flags(tmp_path, argv, message, capsys):
    assert main(["train", "--steps", "20", "--no-progress", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m models.names train") and message in err, err
    assert "_" not in err.splitlines()[-1].split("error: ")[1].split(" (")[0]  # no Python names such as n_head
    assert not (tmp_path / "o").exists()


def test_usage_errors_after_parsing_exit_2(checkpoint, tmp_path, capsys):
    assert main(["train", "--resume", str(checkpoint), "--lr", "0.5"]) == 2
    assert "--resume continues the checkpoint's own data and config" in capsys.readouterr().err
    assert main(["train", "--resume", str(checkpoint), "--steps", "5"]) == 2
    assert "--steps 5 is below the checkpoint's step 20" in capsys.readouterr().err
    assert main(["graph", str(checkpoint), "--config", "default"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["graph", "--config", "default", "--layers", "1"]) == 2
    assert "--layers applies to the transformer only" in capsys.readouterr().err
    assert main(["derive", str(checkpoint), "--hidden", "8"]) == 2
    assert "--hidden is for a fresh model" in capsys.readouterr().err
    assert main(["derive", str(checkpoint), "--batch-size", "1000000"]) == 2
    assert "--batch-size 1,000,000 is larger than the training set" in capsys.readouterr().err
    assert main(["graph", str(checkpoint), "--batch-size", "1000000", "--out", str(tmp_path / "g.dot")]) == 2
    assert "--batch-size 1,000,000 is larger than the training set" in capsys.readouterr().err


def test_too_large_graph_speaks_flags(checkpoint, tmp_path, capsys):
    assert main(["graph", str(checkpoint), "--max-nodes", "3", "--out", str(tmp_path / "g.dot")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: graph: the graph has 11 nodes, more than --max-nodes 3; try --max-nodes 11, "
                          "or --max-nodes 0 (no limit)"), err
    assert "max_nodes" not in err and "None" not in err and "collapse_chains" not in err


def test_a_batch_larger_than_a_tiny_data_set_is_fine_when_it_is_the_configs_default(tmp_path):
    words = tmp_path / "w.txt"
    words.write_text("anna\nbob\nclara\ndave\nemma\n")  # 4 training words, 16 examples; default batch 32
    assert main(["train", "--input", str(words), *TINY, "--out", str(tmp_path / "o")]) == 0


# ----- sizes: checked before anything is allocated -----------------------------------------------------------
def test_a_huge_max_bytes_reads_a_small_file_in_bounded_memory(tmp_path):
    """The limit is a limit: the reader never allocates it (a 100 GB limit once raised MemoryError, 2**63
    OverflowError, for a 214 KB file)."""
    import tracemalloc

    from models.names import DEFAULT_DATA, read_words

    for limit in (10**11, 2**63, 1 << 40):
        tracemalloc.start()
        try:
            words = read_words(DEFAULT_DATA, max_bytes=limit).words
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(words) == 29_910 and peak < 64 << 20, peak


def test_size_flags_are_refused_before_allocating(tmp_path):
    """In a process limited to 2 GiB of address space, --batch-size 100,000,000 (15 GB of batches once) is a
    one-line usage error, and --max-bytes 100,000,000,000 trains on the bundled 214 KB file."""
    import resource

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "models.names", "train", *TINY, *argv],
                              capture_output=True, text=True, timeout=120, preexec_fn=limit_memory,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    big_batch = run("--batch-size", "100000000", "--out", str(tmp_path / "a"))
    assert big_batch.returncode == 2 and "Traceback" not in big_batch.stderr
    assert big_batch.stderr.splitlines()[-1].endswith("is larger than the training set (171,806 examples); "
                                                      "give at most 171,806")
    big_limit = run("--max-bytes", "100000000000", "--out", str(tmp_path / "b"))
    assert big_limit.returncode == 0, big_limit.stderr
