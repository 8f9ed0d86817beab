"""python -m models.names derive: the seed derivation by hand against the engine, one row per layer quantity."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.names import handwritten_backprop as derivation
from models.names.cli import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--steps", "30", "--eval-every", "30", "--no-progress", "--samples", "0", "--no-plot"]
ONE_HIDDEN_LAYER = ["L", "∂L/∂z⁽²⁾", "∂L/∂W⁽²⁾", "∂L/∂b⁽²⁾", "∂L/∂x⁽¹⁾", "∂L/∂z⁽¹⁾", "∂L/∂W⁽¹⁾", "∂L/∂b⁽¹⁾",
                    "∂L/∂x⁽⁰⁾", "∂L/∂C"]


def table_rows(out: str) -> dict[str, list[str]]:
    """name -> the other cells of each row of the printed table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name ")) + 2
    rows = {}
    for line in lines[start:]:
        if not (line.startswith("L ") or line.startswith("∂L/∂")):
            break
        name, *cells = re.split(r"\s{2,}", line)
        rows[name] = cells
    return rows


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("derive")
    assert main(["train", *TINY, "--hidden", "24", "--dropout", "0.1", "--out", str(out / "mlp")]) == 0
    assert main(["train", *TINY, "--arch", "hier", "--block-size", "4", "--hidden", "16",
                 "--out", str(out / "hier")]) == 0
    assert main(["train", "--arch", "gru", "--steps", "2", "--n-embd", "4", "--n-embd2", "4", "--no-progress",
                 "--samples", "0", "--no-plot", "--out", str(out / "gru")]) == 0
    return {name: out / name / "checkpoint.safetensors" for name in ("mlp", "hier", "gru")}


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
def test_fresh_model_every_row_matches(dtype, tolerance, capsys) -> None:
    assert main(["derive", "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    assert f"batch: 32 examples of the train split (seed 0), {dtype}" in out
    rows = table_rows(out)
    assert list(rows) == ONE_HIDDEN_LAYER
    for name, (shape, match, diff, tol, *_rule) in rows.items():
        assert match in ("exact", "close"), name
        assert float(diff) <= float(tol)
    # the tolerance is the dtype's relative one times the largest |value| of the row; ∂L/∂z⁽²⁾ = (probs - onehot)/B
    # has its largest magnitude near 1/32 on a fresh model (probs ~ 1/27 everywhere)
    assert float(rows["∂L/∂z⁽²⁾"][3]) == pytest.approx(tolerance * (1 - 1 / 27) / 32, rel=0.05)
    assert rows["∂L/∂W⁽¹⁾"][0] == "(200, 30)" and rows["∂L/∂C"][0] == "(27, 10)"
    lines = out.rstrip().splitlines()
    assert "all 10 rows match" in lines and lines[-1] == "all 5 rows match"  # then forward mode's table
    assert "forward mode: the slope of L along each hand gradient" in out


def test_several_hidden_layers_and_another_batch(capsys) -> None:
    assert main(["derive", "--hidden", "16,12", "--batch-size", "7", "--seed", "3"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 1 + 4 * 3 + 1 and "∂L/∂z⁽³⁾" in rows and "∂L/∂x⁽²⁾" in rows
    assert rows["∂L/∂x⁽⁰⁾"][0] == "(7, 30)" and rows["∂L/∂W⁽²⁾"][0] == "(12, 16)"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trained_checkpoint_every_row_matches(checkpoints, dtype, capsys) -> None:
    assert main(["derive", str(checkpoints["mlp"]), "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    assert "(step 30)" in out and "all 10 rows match" in out
    assert "dropout is left out (as in evaluation)" in out


def test_a_run_directory_stands_for_its_checkpoint(checkpoints, capsys) -> None:
    run_dir = checkpoints["mlp"].parent
    assert main(["derive", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert f"checkpoint {checkpoints['mlp']} (step 30)" in captured.out and "all 10 rows match" in captured.out
    assert captured.err == f"{run_dir} is a directory: using its newest checkpoint, {checkpoints['mlp']}\n"


def test_a_wrong_hand_gradient_is_a_wrong_row_and_a_failing_exit(monkeypatch, capsys) -> None:
    right = derivation.backward

    def wrong_backward(*args, **kwargs):
        grads = right(*args, **kwargs)
        grads["∂L/∂b⁽¹⁾"] = 2 * grads["∂L/∂b⁽¹⁾"]  # as if the bias rule forgot nothing but doubled
        return grads

    monkeypatch.setattr(derivation, "backward", wrong_backward)
    assert main(["derive"]) == 1
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert rows["∂L/∂b⁽¹⁾"][1] == "WRONG" and re.match(r"\[\d+\]: ", rows["∂L/∂b⁽¹⁾"][4])
    assert all(cells[1] != "WRONG" for name, cells in rows.items() if name != "∂L/∂b⁽¹⁾")
    assert "1 of 10 rows WRONG: ∂L/∂b⁽¹⁾" in out


@pytest.mark.parametrize("arch, name", [("hier", "hierarchical (WaveNet-style) MLP ('hier')"), ("gru", "GRU ('gru')")])
def test_other_archs_exit_2_naming_the_arch_and_what_is_covered(checkpoints, capsys, arch, name) -> None:
    assert main(["derive", str(checkpoints[arch])]) == 2
    err = capsys.readouterr().err
    assert f"this is the {name} model" in err and "the derivation covers the flat MLP" in err


def test_norm_layers_are_not_covered(capsys) -> None:
    from models.names.derive import UnsupportedModel, flat_mlp_layers
    from models.names import build_model, get_config

    config = get_config("default", norm="layer")
    with pytest.raises(UnsupportedModel, match="layer norm layers; the derivation covers the flat MLP"):
        flat_mlp_layers(build_model(config, 27, np.random.default_rng(0)), config)


def test_bad_arguments(checkpoints, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["derive", "--batch-size", "0"])
    assert exit_info.value.code == 2 and "argument --batch-size: must be >= 1" in capsys.readouterr().err
    assert main(["derive", str(checkpoints["mlp"]), "--hidden", "8"]) == 2
    assert "--hidden is for a fresh model" in capsys.readouterr().err
    assert main(["derive", str(tmp_path / "missing.safetensors")]) == 1
    assert "missing.safetensors" in capsys.readouterr().err


def test_exit_status_from_the_command_line(checkpoints) -> None:
    run = [sys.executable, "-m", "models.names", "derive"]
    ok = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    hier = subprocess.run([*run, str(checkpoints["hier"])], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert hier.returncode == 2 and "flat MLP" in hier.stderr


def test_a_wrong_jvp_is_a_wrong_forward_mode_row(monkeypatch, capsys) -> None:
    from autograd_np.ops import OPS

    tanh = OPS["tanh"]
    monkeypatch.setattr(tanh, "jvps", (lambda dx, y, x: dx * (1 + y * y),))  # a wrong sign
    assert main(["derive"]) == 1
    out = capsys.readouterr().out
    assert "all 10 rows match" in out  # reverse mode is untouched
    assert "3 of 5 rows WRONG: ∂L/∂b⁽¹⁾ · g, ∂L/∂W⁽¹⁾ · g, ∂L/∂C · g" in out  # the rows below the tanh layer
