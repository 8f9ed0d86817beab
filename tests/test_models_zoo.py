"""The model zoo (models/names/models.py): every sequence arch trains, samples, evaluates,
resumes exactly and draws; whole-word data; bad flags and mismatched checkpoints."""
import json
import math

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import gradcheck
from models.names import DEFAULT_DATA, Run, get_config, read_words
from models.names.config import SEQUENCE_ARCHS
from models.names.data import build_sequences, sequence_length, trim_padding
from models.names.models import sequence_loss
from models.names.cli import main
from models.names.data import Vocab, split

WORDS = read_words(DEFAULT_DATA).words[:3000]
ARCHS = SEQUENCE_ARCHS
#: small widths so that every arch trains in well under a second
SMALL = {"bigram": {}, "bow": dict(n_embd=16, n_embd2=16), "rnn": dict(n_embd=16, n_embd2=16),
         "gru": dict(n_embd=16, n_embd2=16), "transformer": dict(n_layer=2, n_embd=16, n_head=2)}


def small_run(arch, **kw):
    options = dict(batch_size=16, steps=40, eval_every=20, lr=1e-2, **SMALL[arch])
    return Run(get_config("default", arch=arch, **{**options, **kw}), WORDS)


def test_build_sequences_pads_and_ignores():
    vocab = Vocab.from_words(["ab", "c"])
    X, Y = build_sequences(["ab", "c"], vocab, block_size=4)
    np.testing.assert_array_equal(X, [[0, 1, 2, 0], [0, 3, 0, 0]])
    np.testing.assert_array_equal(Y, [[1, 2, 0, -1], [3, 0, -1, -1]])
    assert sequence_length(["ab", "c"]) == 3
    with pytest.raises(ValueError, match="'abc' .3 characters. is longer than this model reads: its block size is 3"):
        build_sequences(["abc"], Vocab.from_words(["abc"]), block_size=3)
    Xt, Yt = trim_padding(X, Y)
    assert Xt.shape == (2, 3) and (Yt == Y[:, :3]).all()


def test_makemore_parameter_counts():
    vocab_size, words = 27, ["a" * 15]  # the longest name of names.txt has 15 letters: block size 16
    counts = {arch: Run(get_config(arch), words, Vocab(".abcdefghijklmnopqrstuvwxyz")).model.num_parameters()
              for arch in ARCHS}
    assert vocab_size == 27
    assert counts == {"bigram": 729, "bow": 12_827, "rnn": 11_803, "gru": 28_315, "transformer": 204_544}


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_learns_samples_and_evaluates(arch):
    run = small_run(arch)
    assert run.config.block_size == sequence_length(WORDS)
    first = run.evaluate("dev")
    run.train(progress=False)
    assert run.step == 40 and run.dev_steps == [20, 40]
    assert run.dev_losses[-1] < first - 0.15  # dev loss falls from its start
    names = run.sample(5, seed=1)
    assert len(names) == 5 and all(set(n) <= set(run.vocab.chars[1:]) for n in names)
    assert run.sample(5, seed=1) == names
    # the metric is the mean over every real target: the end token counts, padding does not
    X, Y = run.splits()["test"]
    n_targets = sum(len(w) + 1 for w in split(run.words)[2])
    assert (Y != -1).sum() == n_targets


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_sequence_loss_equals_per_word_losses(arch):
    """Padding and batch trimming change nothing: the batch loss is the mean over the words' characters."""
    run = small_run(arch)
    X, Y = run.examples(["emma", "olivia", "al"])
    total = sum(run.batch_loss(X[i:i + 1], Y[i:i + 1]).item() * (Y[i] != -1).sum() for i in range(3))
    assert run.batch_loss(X, Y).item() == pytest.approx(total / (Y != -1).sum(), rel=1e-5)
    # cutting the batch to its longest word (what training does) leaves loss and gradients alone
    params = run.model.parameters()
    full = sequence_loss(run.model, X, Y)
    full_grads = ag.grad(full, params)
    trimmed = sequence_loss(run.model, *trim_padding(X, Y))
    assert trim_padding(X, Y)[0].shape[1] == 7 < X.shape[1]  # "olivia" + the end token
    assert trimmed.item() == pytest.approx(full.item(), rel=1e-6)
    for p, a, b in zip(params, full_grads, ag.grad(trimmed, params)):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-6)


def test_transformer_loss_gradient_in_float64():
    run = small_run("transformer", dtype="float64", n_layer=1, n_embd=4, n_head=2)
    X, Y = run.examples(["ava", "eli"])
    model = run.model

    def loss(wte, c_attn, c_fc):
        model.wte.weight, model.blocks[0].attn.c_attn.weight, model.blocks[0].c_fc.weight = wte, c_attn, c_fc
        return run.batch_loss(X, Y)

    gradcheck(loss, [model.wte.weight.data.copy(), model.blocks[0].attn.c_attn.weight.data.copy(),
                     model.blocks[0].c_fc.weight.data.copy()])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_resumes_exactly(tmp_path, arch):
    extra = {"dropout": 0.1, "grad_clip": 0.5} if arch == "transformer" else {}
    full = small_run(arch, **extra)
    full.train(progress=False)
    part = small_run(arch, **extra)
    part.train(until=23, progress=False)
    part.save(tmp_path / "c.safetensors")
    resumed = Run.load(tmp_path / "c.safetensors")
    resumed.train(progress=False)
    np.testing.assert_array_equal(resumed.train_losses, full.train_losses)
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_graph_command_draws(tmp_path, capsys, arch):
    out = tmp_path / "g.dot"
    layers = ["--layers", "1"] if arch == "transformer" else []
    assert main(["graph", "--arch", arch, *layers, "--batch-size", "2", "--no-group-modules", "--out", str(out)]) == 0
    source = out.read_text()
    assert "cross_entropy" in source and ("attn.c_attn.weight" in source if arch == "transformer" else
                                          "cell.xh_to_rz.weight" in source)
    assert main(["graph", "--arch", arch, *layers, "--batch-size", "2", "--out", str(out)]) == 0  # grouped
    source = out.read_text()
    assert "cross_entropy" in source and ("blocks.0 (Block)" in source if arch == "transformer" else
                                          "cell (GRUCell)" in source and "cell.xh_to_rz parameters" in source)


@pytest.fixture(scope="module")
def words_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "words.txt"
    path.write_text("\n".join(WORDS[:800]) + "\n")
    return path


@pytest.fixture(scope="module")
def transformer_ckpt(tmp_path_factory, words_file):
    out = tmp_path_factory.mktemp("zoo")
    assert main(["train", "--arch", "transformer", "--n-layer", "1", "--n-embd", "16", "--steps", "20",
                 "--lr", "0.01", "--eval-every", "10", "--no-progress", "--samples", "3", "--no-plot", "--out", str(out),
                 "--input", str(words_file)]) == 0
    return out / "checkpoint.safetensors"


def test_cli_transformer_sample_eval(transformer_ckpt, tmp_path, capsys):
    capsys.readouterr()
    assert main(["sample", str(transformer_ckpt), "-n", "4", "--exclude-train"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert main(["eval", str(transformer_ckpt), "--split", "dev"]) == 0
    dev = float(capsys.readouterr().out.split("dev: loss ")[1].split()[0])
    metrics = json.loads((transformer_ckpt.parent / "metrics.json").read_text())
    assert dev == pytest.approx(metrics["dev"], abs=1e-4) and dev < math.log(27)
    longer = tmp_path / "long.txt"
    longer.write_text("anna\n" + "a" * 20 + "\n")
    assert main(["eval", str(transformer_ckpt), "--input", str(longer), "--split", "whole"]) == 1
    block = sequence_length(WORDS[:800])
    assert f"longer than this model reads: its block size is {block}" in capsys.readouterr().err


def test_recurrent_models_read_words_longer_than_their_training_words():
    run = small_run("gru")
    X, Y = run.examples(["a" * 30])
    assert X.shape == (1, 31) and run.loss_on(X, Y) > 0
    with pytest.raises(ValueError, match="longer than this model reads"):
        small_run("bow").examples(["a" * 30])


@pytest.mark.parametrize("argv, message", [
    (["--arch", "transformer", "--n-head", "3"], "--n-head 3 does not divide --n-embd 64"),
    (["--arch", "gru", "--block-size", "8"], "--block-size does not apply to arch 'gru' (a sequence model reads whole"),
    (["--arch", "rnn", "--hidden", "32"], "--hidden does not apply to arch 'rnn'"),
    (["--arch", "mlp", "--n-layer", "2"], "--n-layer does not apply to arch 'mlp'"),
    (["--arch", "gru", "--n-head", "2", "--dropout", "0.1"], "--dropout, --n-head do not apply to arch 'gru'"),
    (["--arch", "bigram", "--n-embd", "8"], "--n-embd does not apply to arch 'bigram'"),
    (["--config", "large", "--arch", "gru"], "config 'large' is for arch 'hier', not 'gru'"),
    (["--config", "transformer", "--arch", "mlp"], "config 'transformer' is for arch 'transformer', not 'mlp'"),
])
def test_incompatible_flags_are_clear_errors(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--steps", "1", "--out", str(tmp_path), "--no-progress"]) == 2  # usage errors
    err = capsys.readouterr().err
    assert "train: error: " in err and message in err


def test_checkpoint_of_one_arch_with_another_arch(transformer_ckpt, capsys):
    assert main(["train", "--resume", str(transformer_ckpt), "--arch", "gru"]) == 2
    assert f"{transformer_ckpt} holds a 'transformer' model, but --arch gru was given" in capsys.readouterr().err
    assert main(["graph", str(transformer_ckpt), "--config", "large"]) == 2
    assert "holds a 'transformer' model, but --config large (arch hier) was given" in capsys.readouterr().err
    assert main(["graph", str(transformer_ckpt), "--layers", "1"]) == 2
    assert "a checkpoint keeps its own layers" in capsys.readouterr().err


def test_keep_best_writes_the_best_dev_checkpoint(tmp_path, capsys, words_file):
    assert main(["train", "--config", "transformer-reg", "--n-layer", "1", "--n-embd", "16", "--steps", "30",
                 "--eval-every", "10", "--no-progress", "--samples", "0", "--no-plot", "--out", str(tmp_path),
                 "--input", str(words_file)]) == 0
    assert "best dev loss" in capsys.readouterr().out
    final, best = Run.load(tmp_path / "checkpoint.safetensors"), Run.load(tmp_path / "best.safetensors")
    i = int(np.argmin(final.dev_losses))
    assert best.step == final.dev_steps[i] and best.evaluate("dev") == pytest.approx(final.dev_losses[i], rel=1e-6)
    assert final.config.dropout == 0.1 and final.config.grad_clip == 1.0


def test_bigram_table_learns_counts():
    """The bigram model's optimum is the table of bigram frequencies of the training words."""
    words = ["ab", "ab", "b", "ab", "ba"] * 4
    run = Run(get_config("bigram", lr=0.1, optimizer="adam", weight_decay=0.0, steps=1), words)
    X, Y = run.splits()["train"]
    for _ in range(500):
        loss = run.batch_loss(X, Y)
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
    logits = run.model.logits.data
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    train = split(words)[0]
    starts_with_a = sum(w[0] == "a" for w in train) / len(train)
    assert probs[0, run.vocab.stoi["a"]] == pytest.approx(starts_with_a, abs=0.01)


@pytest.mark.parametrize("arch", ARCHS)
def test_sigterm_saves_a_resumable_checkpoint_for_every_arch(tmp_path, words_file, arch):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    small = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL[arch].items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "models.names", "train", "--arch", arch, *small, "--steps", "10000000",
         "--eval-every", "1000000", "--input", str(words_file), "--out", str(tmp_path), "--no-progress",
         "--no-plot", "--samples", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.time() + 60
    while time.time() < deadline and "run directory:" not in proc.stdout.readline():
        assert proc.poll() is None, proc.stderr.read()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"continue with: python -m models.names train --resume {tmp_path / 'checkpoint.safetensors'}" in out
    run = Run.load(tmp_path / "checkpoint.safetensors")
    assert run.config.arch == arch and 0 < run.step == len(run.train_losses) == run.optimizer.step_count
    before = {k: v.copy() for k, v in run.model.state_dict().items()}
    run.train(until=run.step + 2, progress=False)
    assert any(not np.array_equal(before[k], v) for k, v in run.model.state_dict().items())


def test_keep_best_never_saves_a_non_finite_state(tmp_path):
    from models.names.train import DivergedError

    run = small_run("gru", optimizer="adam", weight_decay=0.0, eval_every=10, steps=200)
    best = tmp_path / "best.safetensors"
    run.train(until=10, progress=False, best_path=best)
    saved = best.read_bytes()
    # a broken second moment: Adam's update for it becomes 0, so the loss stays finite and dev improves
    run.optimizer.state[0]["exp_avg_sq"][...] = np.inf
    with pytest.raises(DivergedError, match=r"optimizer state .* is not finite.*best\.safetensors keeps the last good"):
        run.train(progress=False, best_path=best)
    assert best.read_bytes() == saved
