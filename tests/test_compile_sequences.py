"""compile on what sequence models do: dropout (a new mask every call, the stream eager draws),
cross_entropy with ignore_index (padding rows left out at fixed shapes), a zoo arch end to end."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, nn
from autograd_np import functional as F
from models.names.config import get_config, make_optimizer
from models.names.data import IGNORE
from models.names.models import build_model, sequence_loss


def _dropout_step(seed: int):
    ag.manual_seed(seed)
    layer, drop = nn.Linear(6, 5), nn.Dropout(0.3)
    opt = ag.optim.SGD(layer.parameters(), lr=0.1)

    def step(x):
        loss = drop(layer(Tensor(x))).tanh().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return layer, drop, step


def test_dropout_draws_a_new_mask_per_call_from_eagers_stream() -> None:
    x = np.random.default_rng(1).standard_normal((8, 6)).astype(np.float32)
    eager_layer, _, eager_step = _dropout_step(0)
    eager = [float(eager_step(x).data) for _ in range(10)]
    layer, _, step = _dropout_step(0)
    compiled = ag.compile(step, fallback="error")
    losses = [float(compiled(x).data) for _ in range(10)]
    assert compiled.replays == 8
    assert len(set(losses[2:])) == 8  # a new mask every replay, never a frozen one
    np.testing.assert_allclose(losses, eager, rtol=1e-5)  # the same generator, the same draws
    np.testing.assert_allclose(layer.weight.data, eager_layer.weight.data, rtol=1e-5, atol=1e-6)


def test_dropout_in_eval_mode_replays_a_program_without_a_mask() -> None:
    _, drop, step = _dropout_step(0)
    compiled = ag.compile(step, fallback="error")
    x = np.ones((4, 6), dtype=np.float32)
    for _ in range(3):
        compiled(x)
    assert "dropout_mask(" in compiled.source()
    drop.eval()  # the modules' modes are guarded: another program, with no mask
    for _ in range(3):
        compiled(x)
    assert "dropout_mask(" not in compiled.source() and compiled.replays == 2


@pytest.mark.parametrize("padded", [0, 3, 8])
def test_ignore_index_matches_the_mean_over_the_kept_rows(padded) -> None:
    rng = np.random.default_rng(padded)
    logits = rng.standard_normal((8, 5)).astype(np.float32)
    targets = rng.integers(0, 5, 8)
    targets[:padded] = -1
    kept = targets != -1
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, targets, ignore_index=-1)
    loss.backward()
    if kept.any():
        shifted = logits[kept] - logits[kept].max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        expected = -log_probs[np.arange(kept.sum()), targets[kept]].mean()
        np.testing.assert_allclose(float(loss.data), expected, rtol=1e-6)
        assert np.all(x.grad[~kept] == 0)
        np.testing.assert_allclose(x.grad.sum(axis=1), 0, atol=1e-6)  # each kept row: probs - onehot
    else:
        assert np.isnan(loss.data) and np.all(x.grad == 0)


def test_ignore_index_compiles_at_one_shape_for_any_padding() -> None:
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    w_eager = Tensor(w.data.copy(), requires_grad=True)

    def make(w):
        def step(x, y):
            loss = F.cross_entropy(Tensor(x) @ w, y, ignore_index=IGNORE)
            loss.backward()
            with ag.no_grad():
                w.data -= 0.5 * w.grad
            w.grad = None
            return loss
        return step

    compiled, eager = ag.compile(make(w), fallback="error"), make(w_eager)
    for i in range(8):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        y = rng.integers(0, 5, 6)
        y[: i % 5] = IGNORE  # a different number of padding rows every call
        np.testing.assert_allclose(float(compiled(x, y).data), float(eager(x, y).data), rtol=1e-5)
    assert compiled.replays == 6
    np.testing.assert_allclose(w.data, w_eager.data, rtol=1e-5, atol=1e-6)


def small_zoo_step(arch: str, clip: bool = True):
    """A small zoo model (block 6, vocabulary 10) and its training step: loss, backward, clipping, optimizer."""
    small = {"n_layer": 1, "n_head": 2, "dropout": 0.1} if arch == "transformer" else {"n_embd2": 16}
    config = get_config(arch, n_embd=16, **small)
    config.block_size = 6
    model = build_model(config, 10, np.random.default_rng(0))
    optimizer = make_optimizer(config, model)

    def step(xb, yb):
        loss = sequence_loss(model, xb, yb)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            nn.clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        return loss
    return model, step


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_a_zoo_arch_compiles_and_gives_eagers_losses(arch) -> None:
    ag.manual_seed(3)
    model, step = small_zoo_step(arch)
    compiled = ag.compile(step, fallback="error")
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(12):
        x = rng.integers(0, 10, (4, 6))
        y = rng.integers(0, 10, (4, 6))
        y[:, 4:] = IGNORE
        batches.append((x, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ag.CompileWarning)
        losses = [float(compiled(x, y).data) for x, y in batches]
    ag.manual_seed(3)
    eager_model, eager_step = small_zoo_step(arch)
    eager = [float(eager_step(x, y).data) for x, y in batches]
    assert compiled.replays == 10
    np.testing.assert_allclose(losses, eager, rtol=1e-4)
    for (name, a), (_, b) in zip(model.named_parameters(), eager_model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_transformer_step_compiled_strict_is_bit_identical_with_its_layers_lowered() -> None:
    """Dense layers on (batch, time, channels) and elementwise products' gradients are NumPy lines
    into buffers (not calls of the ops), computed as the ops compute them: strict=True stays bit for bit."""
    rng = np.random.default_rng(1)
    batches = [(rng.integers(0, 10, (4, 6)), rng.integers(0, 10, (4, 6))) for _ in range(8)]
    ag.manual_seed(3)
    model, step = small_zoo_step("transformer", clip=False)
    compiled = ag.compile(step, strict=True, fallback="error")
    losses = [float(compiled(x, y).data) for x, y in batches]
    ag.manual_seed(3)
    eager_model, eager_step = small_zoo_step("transformer", clip=False)
    assert losses == [float(eager_step(x, y).data) for x, y in batches]
    assert compiled.replays == 6
    for (name, a), (_, b) in zip(model.named_parameters(), eager_model.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    source = compiled.source()
    assert not re.search(r"\b(linear_forward|linear_vjp0|linear_vjp1|mul_vjp0)\(", source)
    assert re.search(r"np\.dot\(\w+\.reshape\(\d+, 16\), \w+, out=\w+_rows\)", source)
