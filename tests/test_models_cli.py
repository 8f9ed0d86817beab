"""python -m models.names: train / sample / eval / graph, exercised with tiny step counts."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from models.names import Run
from models.names.cli import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--steps", "40", "--hidden", "16", "--eval-every", "20", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--out", str(out), "--samples", "5"]) == 0
    return out


def test_train_outputs(trained, capsys):
    for name in ("checkpoint.safetensors", "loss.png", "metrics.json"):
        assert (trained / name).stat().st_size > 0
    assert (trained / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["steps"] == 40 and set(metrics) >= {"train", "dev", "test", "train_seconds"}
    run = Run.load(trained / "checkpoint.safetensors")
    assert run.step == 40 and run.config.hidden == [16]


def test_train_prints_losses_and_samples(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), "--samples", "7", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "loss: train " in out and " dev " in out and " test " in out
    names = out.split("7 sampled names:\n")[1].split()
    assert len(names) == 7
    assert not (tmp_path / "loss.png").exists()


def test_cli_resume_equals_uninterrupted(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--steps", "50", "--hidden", "16", "--eval-every", "20", "--no-progress", "--samples", "0",
              "--no-plot", "--dropout", "0.1", "--norm", "batch"]
    assert main(["train", *common, "--out", str(a)]) == 0
    assert main(["train", *common, "--out", str(b), "--stop-at", "23"]) == 0
    assert Run.load(b / "checkpoint.safetensors").step == 23
    assert main(["train", "--resume", str(b / "checkpoint.safetensors"), "--out", str(b), "--no-progress",
                 "--samples", "0", "--no-plot"]) == 0
    x, y = (load_file(d / "checkpoint.safetensors") for d in (a, b))
    assert sorted(x) == sorted(y)
    for key in x:
        np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert (ma["train"], ma["dev"], ma["test"]) == (mb["train"], mb["dev"], mb["test"])


def test_resume_rejects_config_changes(trained, capsys):
    assert main(["train", "--resume", str(trained / "checkpoint.safetensors"), "--lr", "0.5"]) == 2
    assert "--resume continues" in capsys.readouterr().err


def test_sample(trained, capsys):
    assert main(["sample", str(trained / "checkpoint.safetensors"), "-n", "12", "--seed", "3", "--exclude-train"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 12
    words = set(Run.load(trained / "checkpoint.safetensors").words)
    assert not set(names) & words
    assert main(["sample", str(trained / "checkpoint.safetensors"), "-n", "12", "--seed", "3", "--exclude-train"]) == 0
    assert capsys.readouterr().out.split() == names
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(trained / "checkpoint.safetensors"), "--temperature", "0"])
    assert exit_info.value.code == 2


def test_eval(trained, tmp_path, capsys):
    assert main(["eval", str(trained / "checkpoint.safetensors")]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("train", "dev", "test"):
        assert f"{split}: loss {metrics[split]:.4f}" in out
    other = tmp_path / "other.txt"
    other.write_text("anna\nbob\n\nclara\n")
    assert main(["eval", str(trained / "checkpoint.safetensors"), "--input", str(other), "--split", "whole"]) == 0
    assert "whole: loss" in capsys.readouterr().out
    other.write_text("anna\n\nbjörn\n")
    assert main(["eval", str(trained / "checkpoint.safetensors"), "--input", str(other)]) == 1
    err = capsys.readouterr().err
    assert "other.txt, line 3: character 'ö'" in err and "not in the model's vocabulary" in err


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\n\n", "no words"),
    (b"ok\n\xff\xfe\n", "line 2: not valid UTF-8"),
    (b"ok\n" + b"a" * 200 + b"\n", "line 2: line is 200 characters long"),
])
def test_train_bad_input_files(tmp_path, capsys, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    assert main(["train", "--input", str(f), "--out", str(tmp_path / "o"), *TINY]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.txt" in err and message in err


def test_train_on_custom_file_with_own_vocabulary(tmp_path, capsys):
    f = tmp_path / "w.txt"
    f.write_text("\n".join(["Åsa", "Olle", "Björn", "Märta", "Per", "Eva", "Nils", "Ida", "Karin", "Sven"] * 3) + "\n")
    assert main(["train", "--input", str(f), "--out", str(tmp_path / "o"), *TINY, "--samples", "3", "--no-plot"]) == 0
    run = Run.load(tmp_path / "o" / "checkpoint.safetensors")
    assert run.vocab.chars == "." + "".join(sorted(set("ÅsaOlleBjörnMärtaPerEvaNilsIdaKarinSven")))


def test_truncated_checkpoint_cli_error(trained, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((trained / "checkpoint.safetensors").read_bytes()[:500])
    assert main(["sample", str(bad)]) == 1
    assert f"error: {bad}: not a names checkpoint (a header of" in capsys.readouterr().err


def test_graph(trained, tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["graph", str(trained / "checkpoint.safetensors"), "--out", str(out)]) == 0
    source = out.read_text()
    assert "layers.0.weight" in source and "cross_entropy" in source and "tanh" in source
    svg = tmp_path / "g.svg"
    assert main(["graph", "--config", "default", "--out", str(svg), "--batch-size", "2"]) == 0
    assert "<svg" in svg.read_text()


def test_module_entry_point(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "models.names", "train", "--steps", "30", "--hidden", "8", "--out", str(tmp_path),
         "--samples", "3", "--no-plot"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "3 sampled names:" in result.stdout
    assert "30/30" in result.stderr  # the tqdm progress bar
    help_text = subprocess.run([sys.executable, "-m", "models.names", "--help"], capture_output=True, text=True,
                               env=env, cwd=tmp_path, timeout=60).stdout
    for command in ("train", "sample", "eval", "graph"):
        assert command in help_text


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path):
    """Ctrl-C while training (delivered at the trainer's named pause, not after a sleep)."""
    import signal

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELS_NAMES_PAUSE": "train"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "models.names", "train", "--steps", "10000000", "--hidden", "8", "--out", str(tmp_path),
         "--no-progress", "--eval-every", "1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    assert proc.stderr.readline() == "paused at train\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT at step 1 of 10,000,000" in out and "--resume" in out
    run = Run.load(tmp_path / "checkpoint.safetensors")
    assert run.step == 1 and len(run.train_losses) == run.step
    assert run.optimizer.step_count == run.step


def test_train_large_config_tiny(tmp_path, capsys):
    assert main(["train", "--config", "large", "--steps", "20", "--hidden", "8", "--emb", "4", "--out", str(tmp_path),
                 "--no-progress", "--samples", "2", "--no-plot"]) == 0
    run = Run.load(tmp_path / "checkpoint.safetensors")
    assert (run.config.arch, run.config.norm, run.config.optimizer, run.config.block_size) == ("hier", "batch", "adamw", 8)
    assert "2 sampled names:" in capsys.readouterr().out


def test_the_python_blocks_of_the_models_readme_run(tmp_path, monkeypatch):
    """models/names/README.md's ```python blocks run as written, in order, in one namespace."""
    readme = Path(__file__).resolve().parent.parent / "models" / "names" / "README.md"
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", readme.read_text(encoding="utf-8"), re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, str(readme), "exec"), namespace)
    assert namespace["run"].step == 200
