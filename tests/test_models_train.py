"""models.names training: loss falls, reproducibility, exact resume, sampling, checkpoints."""
import math
import os
import json
import pickle

import numpy as np
import pytest

from autograd_np.functional import cross_entropy
from models.names import CheckpointError, Config, DEFAULT_DATA, Run, get_config, read_words
from models.names import checkpoint as ckpt
from safetensors import safe_open
from safetensors.numpy import save_file

WORDS = read_words(DEFAULT_DATA)


def tiny(**kw):
    base = dict(hidden=[32], steps=60, eval_every=20, batch_size=16)
    base.update(kw)
    return get_config("default", **base)


#: a configuration that exercises every stateful piece: BatchNorm buffers, dropout RNG, AdamW moments, cosine
RICH = dict(block_size=4, emb=6, hidden=[24, 24], norm="batch", dropout=0.2, optimizer="adamw", lr=3e-3,
            weight_decay=0.1, schedule="cosine", warmup=0.1)


def test_short_training_run_learns():
    run = Run.from_words(get_config("default", steps=400, eval_every=400), WORDS)
    run.train(progress=False)
    assert run.step == 400 and len(run.train_losses) == 400
    assert abs(run.train_losses[0] - math.log(27)) < 0.05  # starts at ln(27) = 3.30 thanks to the small output layer
    dev = run.evaluate("dev")
    assert dev < 2.75 < math.log(27)
    assert run.dev_steps == [400] and run.dev_losses == [pytest.approx(dev)]


def test_same_seed_same_losses_other_seed_differs():
    a = Run.from_words(tiny(), WORDS)
    b = Run.from_words(tiny(), WORDS)
    c = Run.from_words(tiny(seed=7), WORDS)
    for r in (a, b, c):
        r.train(progress=False)
    np.testing.assert_array_equal(a.train_losses, b.train_losses)
    assert a.dev_losses == b.dev_losses
    assert not np.array_equal(a.train_losses, c.train_losses)


@pytest.mark.parametrize("extra", [{}, RICH], ids=["default", "bn-dropout-adamw-cosine"])
def test_resume_equals_uninterrupted(tmp_path, extra):
    config = tiny(**extra)
    whole = Run.from_words(config, WORDS)
    whole.train(progress=False)

    first = Run.from_words(tiny(**extra), WORDS)
    first.train(until=27, progress=False)  # not a multiple of eval_every
    assert first.step == 27
    first.save(tmp_path / "half.safetensors")
    resumed = Run.load(tmp_path / "half.safetensors")
    assert resumed.step == 27
    resumed.train(progress=False)

    assert resumed.step == whole.step == 60
    np.testing.assert_array_equal(resumed.train_losses, whole.train_losses)
    assert resumed.dev_steps == whole.dev_steps == [20, 40, 60]
    assert resumed.dev_losses == whole.dev_losses
    for (name, p), (_, q) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    for (name, p), (_, q) in zip(whole.model.named_buffers(), resumed.model.named_buffers()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    assert whole.sample(5, seed=3) == resumed.sample(5, seed=3)


def test_checkpoint_round_trip(tmp_path):
    run = Run.from_words(tiny(**RICH), WORDS)
    run.train(until=10, progress=False)
    path = run.save(tmp_path / "sub" / "c.safetensors")
    assert sorted(os.listdir(tmp_path / "sub")) == ["c.safetensors"]  # no temporary file left behind
    back = Run.load(path)
    assert back.config == run.config and back.vocab == run.vocab and back.words == run.words
    assert back.rng.bit_generator.state == run.rng.bit_generator.state
    for k, v in run.optimizer.state_dict().items():
        np.testing.assert_array_equal(v, back.optimizer.state_dict()[k])
    for k, v in run.model.state_dict().items():
        np.testing.assert_array_equal(v, back.model.state_dict()[k])
    assert back.data_info == run.data_info and back.data_info["default"] is True
    with safe_open(str(path), framework="numpy") as f:  # a plain safetensors file
        assert f.metadata()["format"] == ckpt.FORMAT and json.loads(f.metadata()["step"]) == 10
        assert "model/layers.0.weight" in f.keys() and "history/train_loss" in f.keys()
    run.train(until=20, progress=False)
    run.save(path)  # overwrite in place
    assert Run.load(path).step == 20


def test_truncated_checkpoint(tmp_path):
    run = Run.from_words(tiny(), WORDS)
    good = run.save(tmp_path / "good.safetensors")
    raw = good.read_bytes()
    for cut in (len(raw) // 2, 100, len(raw) - 30):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.safetensors"):
            Run.load(bad)


def test_foreign_files(tmp_path):
    text = tmp_path / "names.txt"
    text.write_text("emma\n")
    with pytest.raises(CheckpointError, match=r"names\.txt: not a names checkpoint"):
        Run.load(text)
    other = tmp_path / "other.safetensors"
    save_file({"weights": np.ones(3)}, other)
    with pytest.raises(CheckpointError, match=r"other\.safetensors: entry '__metadata__': not a names checkpoint"):
        Run.load(other)
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(CheckpointError, match=r"array\.npy: not a names checkpoint"):
        Run.load(npy)
    tagged = tmp_path / "tagged.safetensors"
    save_file({"weights": np.ones(3)}, tagged, metadata={"format": "something-else"})
    with pytest.raises(CheckpointError, match="format tag 'something-else'"):
        Run.load(tagged)
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({"model": np.ones(3)}))
    with pytest.raises(CheckpointError, match=r"pickled\.safetensors"):
        Run.load(pickled)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Run.load(tmp_path / "missing.safetensors")


def test_checkpoint_with_missing_array(tmp_path):
    run = Run.from_words(tiny(), WORDS)
    path = run.save(tmp_path / "c.safetensors")
    checked = ckpt.load(path)
    arrays = {**checked.arrays, "data/words": ckpt.words_to_array(checked.words)}
    del arrays["model/layers.2.weight"]
    broken = ckpt.save(tmp_path / "broken.safetensors", checked.meta, arrays)
    with pytest.raises(CheckpointError, match=r"broken\.safetensors: entry 'model/layers.2.weight': missing"):
        Run.load(broken)


def test_sampling():
    run = Run.from_words(get_config("default", steps=300), WORDS)
    run.train(progress=False)
    names = run.sample(30, seed=1)
    assert len(names) == 30 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in names)
    assert names == run.sample(30, seed=1) and names != run.sample(30, seed=2)
    novel = run.sample(30, seed=1, exclude=set(run.words))
    assert len(novel) == 30 and not set(novel) & set(run.words)
    cold = run.sample(200, seed=0, temperature=0.3)
    assert len(set(cold)) < len(set(run.sample(200, seed=0, temperature=1.5)))
    with pytest.raises(ValueError):
        run.sample(1, temperature=0)


@pytest.mark.parametrize("name, extra", [
    ("large", {"hidden": [16, 16], "arch": "mlp"}),  # two hidden layers, each Linear -> BatchNorm -> tanh
    ("large", {"hidden": [16], "arch": "hier", "norm": "batch"}),
    ("default", {"dtype": "float64", "norm": "layer"}),
], ids=["mlp-batchnorm", "hier-batchnorm", "layernorm-float64"])
def test_configs_build_and_learn(name, extra):
    run = Run.from_words(get_config(name, steps=40, **extra), WORDS)
    X, Y = run.splits()["dev"]
    X, Y = X[:2000], Y[:2000]
    before = run.loss_on(X, Y)
    run.train(progress=False)
    after = run.loss_on(X, Y)
    assert np.isfinite(run.train_losses).all()
    assert after < before - 0.1, f"dev loss {before:.3f} -> {after:.3f} after 40 steps"
    assert run.model.parameters()[0].dtype == np.dtype(run.config.dtype)
    # The output layer alone can lower the loss that much; every parameter must also get a gradient.
    params = run.model.parameters()
    for param in params:
        param.grad = None
    run.model.train()
    cross_entropy(run.model(X[:256]), Y[:256]).backward()
    for index, param in enumerate(params):
        assert param.grad is not None and np.isfinite(param.grad).all(), f"parameter {index} {param.shape}"
        assert np.abs(param.grad).max() > 0, f"parameter {index} {param.shape} has an all-zero gradient"


def test_config_validation():
    with pytest.raises(ValueError, match="unknown config"):
        get_config("huge")
    with pytest.raises(ValueError, match="power of two"):
        get_config("default", arch="hier", block_size=3)
    with pytest.raises(ValueError, match="unknown keys"):
        Config.from_dict({"bogus": 1})
    assert get_config("default") == Config()
    assert Config.from_dict(get_config("large").to_dict()) == get_config("large")
