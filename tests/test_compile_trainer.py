"""The names trainer through autograd_np.compile: the same losses as eager, --no-compile, and the
configs it does not compile (with the reason)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_np as ag
from models.names import DEFAULT_DATA, Run, get_config, read_words
from models.names.cli import main
from models.names.train import compile_blocker

WORDS = read_words(DEFAULT_DATA)


def tiny(**kw):
    base = dict(hidden=[32], steps=60, eval_every=20, batch_size=16)
    base.update(kw)
    return get_config("default", **base)


@pytest.mark.parametrize("extra", [{}, {"optimizer": "adamw", "lr": 0.01, "schedule": "constant"}, {"norm": "layer"},
                                   {"grad_clip": 0.5}, {"dropout": 0.2}])
def test_compiled_training_gives_eagers_losses(extra) -> None:
    compiled, eager = Run.from_words(tiny(**extra), WORDS), Run.from_words(tiny(**extra), WORDS)
    eager.use_compile = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", ag.CompileWarning)  # these configs compile: no fallback
        compiled.train(progress=False)
    eager.train(progress=False)
    assert compiled._compiled.replays > 40 and compiled._compiled.eager_reason is None
    np.testing.assert_allclose(compiled.train_losses, eager.train_losses, rtol=1e-4)
    for (name, a), (_, b) in zip(compiled.model.named_parameters(), eager.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("arch, extra", [("rnn", {}), ("transformer", {"dropout": 0.1, "grad_clip": 1.0,
                                                                        "schedule": "cosine", "warmup": 0.1})])
def test_compiled_sequence_training_gives_eagers_losses(arch, extra) -> None:
    """The zoo's sequence archs (padded targets left out with ignore_index, batches trimmed to their
    longest name, so several shapes) and transformer-reg's dropout, clipping and schedule, small."""
    def config():
        small = {"n_layer": 1, "n_head": 2, "n_embd": 16} if arch == "transformer" else {"n_embd": 16, "n_embd2": 16}
        return get_config(arch, steps=120, eval_every=60, batch_size=8, **small, **extra)
    compiled, eager = Run.from_words(config(), WORDS), Run.from_words(config(), WORDS)
    eager.use_compile = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", ag.CompileWarning)
        compiled.train(progress=False)
    eager.train(progress=False)
    assert compiled._compiled.replays > 30 and compiled._compiled.eager_reason is None
    np.testing.assert_allclose(compiled.train_losses, eager.train_losses, rtol=1e-4)
    for (name, a), (_, b) in zip(compiled.model.named_parameters(), eager.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(compiled.train_losses, eager.train_losses, rtol=1e-4)
    for (name, a), (_, b) in zip(compiled.model.named_parameters(), eager.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("extra, why", [({"norm": "batch"}, "BatchNorm")])
def test_configs_the_trainer_does_not_compile_say_why(extra, why) -> None:
    config = tiny(**extra, steps=5)
    assert why in compile_blocker(config)
    run = Run.from_words(config, WORDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ag.CompileWarning)
        run.train(progress=False)
    assert not isinstance(run._compiled, ag.compiler.CompiledFunction)


def test_cli_prints_whether_the_step_is_compiled(tmp_path, capsys) -> None:
    flags = ["--steps", "6", "--hidden", "8", "--eval-every", "3", "--no-progress", "--no-plot", "--samples", "0"]
    assert main(["train", *flags, "--out", str(tmp_path / "a")]) == 0
    assert "compile: on" in capsys.readouterr().out
    assert main(["train", *flags, "--no-compile", "--out", str(tmp_path / "b")]) == 0
    assert "compile: off (--no-compile)" in capsys.readouterr().out
