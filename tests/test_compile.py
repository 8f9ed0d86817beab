"""autograd_np.compile: captured steps replay what eager computes (NumPy only, no torch)."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, functional as F, nn, optim


def mlp_params(seed: int = 0, dtype=np.float32) -> dict[str, Tensor]:
    rng = np.random.default_rng(seed)
    shapes = {"C": (27, 10), "W1": (30, 64), "b1": (64,), "W2": (64, 27), "b2": (27,)}
    return {k: Tensor((rng.standard_normal(s) * 0.3).astype(dtype), requires_grad=True) for k, s in shapes.items()}


def lecture_step(p: dict[str, Tensor], lr: float = 0.1):
    """The names MLP's lecture spelling: x @ W + b, log_softmax, index, mean, backward, .data update."""
    def step(Xb, Yb):
        emb = p["C"][Xb]
        h = (emb.reshape(Xb.shape[0], -1) @ p["W1"] + p["b1"]).tanh()
        logits = h @ p["W2"] + p["b2"]
        loss = -(logits.log_softmax(axis=-1)[np.arange(Yb.shape[0]), Yb]).mean()
        loss.backward()
        with ag.no_grad():
            for t in p.values():
                t.data -= lr * t.grad
                t.grad = None
        return loss
    return step


def batches(n: int, batch: int = 32, seed: int = 1):
    rng = np.random.default_rng(seed)
    X, Y = rng.integers(0, 27, (500, 3)), rng.integers(0, 27, 500)
    for _ in range(n):
        ix = rng.integers(0, 500, batch)
        yield X[ix], Y[ix]


def run_both(make_step, n: int, strict: bool = False, batch: int = 32):
    eager_p, compiled_p = mlp_params(), mlp_params()
    eager, compiled = make_step(eager_p), ag.compile(make_step(compiled_p), strict=strict)
    losses = []
    for Xb, Yb in batches(n, batch):
        losses.append((float(eager(Xb, Yb).data), float(compiled(Xb, Yb).data)))
    return eager_p, compiled_p, compiled, losses


def test_300_sgd_steps_match_eager_and_replay() -> None:
    eager_p, compiled_p, compiled, losses = run_both(lecture_step, 300)
    assert compiled.eager_reason is None and compiled.replays == 298
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose([c for _, c in losses], [e for e, _ in losses], rtol=2e-4)


def test_strict_is_bit_identical_to_eager() -> None:
    eager_p, compiled_p, compiled, losses = run_both(lecture_step, 50, strict=True)
    assert compiled.replays == 48
    for k in eager_p:
        assert np.array_equal(compiled_p[k].data, eager_p[k].data), k
    assert all(e == c for e, c in losses)


def test_100_adam_steps_through_nn_and_optim_match_eager() -> None:
    def make(seed):
        rng = np.random.default_rng(seed)
        model = nn.Sequential(nn.Embedding(27, 10, rng=rng, dtype=np.float32), nn.Flatten(),
                              nn.Linear(30, 64, rng=rng, dtype=np.float32), nn.Tanh(),
                              nn.Linear(64, 27, rng=rng, dtype=np.float32))
        opt = optim.AdamW(model.parameters(), lr=optim.Cosine(0.01, 100, warmup_steps=10))

        def step(Xb, Yb):
            loss = F.cross_entropy(model(Xb), Yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return model, opt, step

    (m1, o1, s1), (m2, o2, s2) = make(0), make(0)
    compiled = ag.compile(s2)
    for Xb, Yb in batches(100):
        a, b = s1(Xb, Yb), compiled(Xb, Yb)
        np.testing.assert_allclose(b.data, a.data, rtol=2e-4)
    assert compiled.eager_reason is None and compiled.replays == 98
    assert o1.step_count == o2.step_count == 100
    for (name, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        np.testing.assert_allclose(p2.data, p1.data, rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(p2.grad, p1.grad, rtol=1e-3, atol=1e-6, err_msg=name)
    for s1_, s2_ in zip(o1.state, o2.state):
        np.testing.assert_allclose(s2_["exp_avg"], s1_["exp_avg"], rtol=1e-3, atol=1e-7)


def test_a_partial_last_batch_gives_eagers_result() -> None:
    eager_p, compiled_p = mlp_params(), mlp_params()
    eager, compiled = lecture_step(eager_p), ag.compile(lecture_step(compiled_p))
    for i, (Xb, Yb) in enumerate(batches(12)):
        if i in (5, 9):
            Xb, Yb = Xb[:7], Yb[:7]  # a short batch: another shape, captured (and run eagerly) on its own
        np.testing.assert_allclose(compiled(Xb, Yb).data, eager(Xb, Yb).data, rtol=2e-4)
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5)
    assert compiled.replays > 0


def test_a_branch_on_a_value_falls_back_to_eager_with_one_warning() -> None:
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)

    def step(x):
        y = (w * x).sum()
        if y > 0:  # a Python branch on a value: never frozen
            out = y * 2
        else:
            out = y * -3
        out.backward()
        with ag.no_grad():
            w.data -= 0.1 * w.grad
            w.grad = None
        return out

    compiled = ag.compile(step)
    xs = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    w_eager = Tensor(w.data.copy(), requires_grad=True)
    with pytest.warns(ag.CompileWarning, match="bool"):
        results = [float(compiled(x).data) for x in xs]
    for x, r in zip(xs, results):
        y = float((w_eager.data * x).sum())
        expected = 2 * y if y > 0 else -3 * y
        assert r == pytest.approx(expected)
        w_eager.data -= 0.1 * (2 if y > 0 else -3) * x
    assert compiled.eager_reason is not None


@pytest.mark.parametrize("reader", ["item", "float"])
def test_reading_a_value_falls_back_or_raises(reader) -> None:
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        value = loss.item() if reader == "item" else float(loss)
        loss.backward()
        w.grad = None
        return value

    with pytest.raises(ag.CompileError, match="item|float"):
        ag.compile(step, fallback="error")(np.ones(3))
    compiled = ag.compile(step)
    with pytest.warns(ag.CompileWarning):
        assert compiled(np.ones(3)) == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only
        assert compiled(np.ones(3)) == 3.0


def test_dropout_masks_are_never_frozen() -> None:
    w = Tensor(np.ones((4, 4)), requires_grad=True)
    drop = nn.Dropout(0.5, rng=np.random.default_rng(0))

    def step(x):
        loss = drop(x @ w).sum()
        loss.backward()
        w.grad = None
        return loss

    compiled = ag.compile(step, fallback="error")
    values = [float(compiled(np.ones((2, 4))).data) for _ in range(8)]
    assert compiled.replays == 6 and len(set(values[2:])) > 1  # replayed, a new mask every call
    assert "dropout_mask(" in compiled.source()


def test_a_random_array_from_numpy_inside_the_step_falls_back() -> None:
    w = Tensor(np.ones((4, 4)), requires_grad=True)
    rng = np.random.default_rng(0)

    def step(x):
        loss = (x @ w * (rng.random((2, 4)) > 0.5)).sum()  # NumPy, not an instruction: never frozen
        loss.backward()
        w.grad = None
        return loss

    compiled = ag.compile(step)
    with pytest.warns(ag.CompileWarning, match="random|changes"):
        values = [float(compiled(np.ones((2, 4))).data) for _ in range(6)]
    assert compiled.replays == 0 and len(set(values)) > 1


def test_hooks_and_create_graph_fall_back() -> None:
    w = Tensor(np.ones(3), requires_grad=True)

    def hooked(x):
        h = w * x
        h.register_hook(lambda g: g * 2)
        h.sum().backward()
        g = w.grad.copy()
        w.grad = None
        return g

    with pytest.warns(ag.CompileWarning, match="hook"):
        out = ag.compile(hooked)(np.ones(3))
    np.testing.assert_array_equal(out, 2 * np.ones(3))

    def second(x):
        (g,) = ag.grad((w * w * x).sum(), [w], create_graph=True)
        return g

    with pytest.warns(ag.CompileWarning, match="create_graph|grad"):
        ag.compile(second)(np.ones(3))


def test_anomaly_mode_runs_eagerly() -> None:
    p = mlp_params()
    compiled = ag.compile(lecture_step(p))
    with ag.detect_anomaly(), pytest.warns(ag.CompileWarning, match="anomaly"):
        for Xb, Yb in batches(3):
            compiled(Xb, Yb)
    assert compiled.replays == 0


def test_guards_a_replaced_parameter_is_captured_again() -> None:
    eager_p, compiled_p = mlp_params(), mlp_params()
    eager, compiled = lecture_step(eager_p), ag.compile(lecture_step(compiled_p))
    data = list(batches(10))
    for Xb, Yb in data[:4]:
        eager(Xb, Yb), compiled(Xb, Yb)
    replays = compiled.replays
    fresh = np.full_like(eager_p["W2"].data, 0.01)
    eager_p["W2"].data, compiled_p["W2"].data = fresh.copy(), fresh.copy()  # p.data = new: a new array
    for Xb, Yb in data[4:]:
        np.testing.assert_allclose(compiled(Xb, Yb).data, eager(Xb, Yb).data, rtol=2e-4)
    assert compiled.replays > replays and compiled.eager_reason is None
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5)


def test_guards_load_state_dict_values_are_read_live() -> None:
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    compiled = ag.compile(step)
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    for _ in range(4):
        compiled(x, y)
    saved = model.state_dict()
    compiled(x, y)
    model.load_state_dict(saved)  # copies into the same arrays
    after = float(compiled(x, y).data)
    reference = nn.Linear(3, 2)
    reference.load_state_dict(saved)
    assert after == pytest.approx(float((((reference(x)) - y) ** 2).mean().data), rel=1e-6)


def test_optimizer_state_replaced_by_load_state_dict_is_captured_again() -> None:
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=0.01)

    def step(x):
        loss = (model(x) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    compiled = ag.compile(step)
    for _ in range(4):
        compiled(np.ones((2, 3)))
    opt.load_state_dict(opt.state_dict())  # new state arrays: the program's guard fails
    program_before = compiled.programs.copy()
    compiled(np.ones((2, 3)))
    assert compiled.programs != program_before or not compiled.programs


def test_module_mode_is_guarded() -> None:
    model = nn.Sequential(nn.Linear(3, 3, rng=np.random.default_rng(0)), nn.Dropout(0.0))
    compiled = ag.compile(lambda x: model(x).sum())
    for _ in range(3):
        compiled(np.ones((2, 3)))
    model.eval()
    assert compiled.programs and all(not p.holds() for p in compiled.programs.values())


def test_source_of_the_names_mlp_reads_like_the_derivation() -> None:
    p = mlp_params()
    C, W1, b1, W2, b2 = p.values()

    def step(Xb, Yb):
        emb = C[Xb]
        h = (emb.reshape(Xb.shape[0], -1) @ W1 + b1).tanh()
        logits = h @ W2 + b2
        loss = -(logits.log_softmax(axis=-1)[np.arange(Yb.shape[0]), Yb]).mean()
        loss.backward()
        with ag.no_grad():
            for t in (C, W1, b1, W2, b2):
                t.data -= 0.1 * t.grad
                t.grad = None
        return loss

    compiled = ag.compile(step)
    data = list(batches(3))
    for Xb, Yb in data[:2]:
        compiled(Xb, Yb)
    source = compiled.source()
    for line in ("def step(Xb, Yb):", "np.tanh(z, out=h)", "np.dot(h.T, dlogits, out=dW2)", "np.dot(dlogits, W2.T, out=dh)",
                 "np.dot(x.T, dz, out=dW1)", "# tanh: dx = G (1 - y^2)", "# ---- backward ----", "# ---- update ----",
                 "np.subtract(W1, "):
        assert line in source, line
    assert source.index("np.tanh(") < source.index("dW2") < source.index("np.subtract(W1")
    # the emitted source, exec'd in the program's namespace, computes the same numbers
    namespace = dict(compiled.namespace)
    before = {k: v.data.copy() for k, v in p.items()}
    exec(source, namespace)
    Xb, Yb = data[2]
    loss = namespace["step"](Xb, Yb)[0]
    fresh = {k: Tensor(v.copy(), requires_grad=True) for k, v in before.items()}
    expected = lecture_step(fresh)(Xb, Yb)
    np.testing.assert_allclose(loss, expected.data, rtol=2e-4)
    for k in p:
        np.testing.assert_allclose(p[k].data, fresh[k].data, rtol=2e-4, atol=2e-5)


def test_capture_context_manager_gives_the_program_without_replaying() -> None:
    p = mlp_params()
    (Xb, Yb), = batches(1)
    before = p["W1"].data.copy()
    with ag.capture() as captured:
        lecture_step(p)(Xb, Yb)
    assert not np.array_equal(p["W1"].data, before)  # the step ran (eagerly), once
    source = captured.source()
    assert "np.tanh(" in source and "np.subtract(W1" not in source or "np.subtract(" in source


def test_passes_can_be_turned_off_one_by_one() -> None:
    for passes, present, absent in ((None, "np.maximum.reduce(logits", "log_softmax"),
                                    ({"cross_entropy": False}, "row_sum", "probs"),
                                    ({"linear": False}, "np.matmul(", "np.dot(x, W1")):
        p = mlp_params()
        compiled = ag.compile(lecture_step(p), passes=passes)
        for Xb, Yb in batches(2):
            compiled(Xb, Yb)
        assert present in compiled.source()
    with pytest.raises(ValueError, match="unknown passes"):
        ag.compile(lambda: None, passes={"nope": False})


def test_an_op_without_a_lowering_is_called_as_it_is() -> None:
    w = Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    w_eager = Tensor(w.data.copy(), requires_grad=True)

    def make(param):
        def step(x):
            loss = (ag.sin(param * x) ** 2).sum()
            loss.backward()
            with ag.no_grad():
                held = [param]
                held[0] -= 0.1 * param.grad  # an in-place operator on a Tensor under no_grad
                param.grad = None
            return loss
        return step

    compiled, eager = ag.compile(make(w), strict=True), make(w_eager)
    for i in range(5):
        x = np.full((2, 3), 0.5 + i)
        assert float(compiled(x).data) == float(eager(x).data)
    assert compiled.replays == 3 and "sin_forward(" in compiled.source()
    np.testing.assert_array_equal(w.data, w_eager.data)


def test_grad_left_set_is_accumulated_like_eager() -> None:
    w = Tensor(np.ones(3), requires_grad=True)
    w_eager = Tensor(np.ones(3), requires_grad=True)

    def make(param):
        def step(x):
            (param * x).sum().backward()  # no zeroing: gradients accumulate, as in eager
        return step

    compiled, eager = ag.compile(make(w)), make(w_eager)
    for i in range(6):
        compiled(np.full(3, float(i)))
        eager(np.full(3, float(i)))
        np.testing.assert_array_equal(w.grad, w_eager.grad)
    assert compiled.replays > 0


def test_a_tensor_made_inside_the_step_is_never_frozen() -> None:
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x):
        noise = ag.randn(3)  # a new random Tensor each call, made outside the ops
        loss = (w * x + noise).sum()
        loss.backward()
        with ag.no_grad():
            w.data -= 0.1 * Tensor(w.grad).data
            w.grad = None
        return loss

    compiled = ag.compile(step)
    with pytest.warns(ag.CompileWarning, match="changes from call to call"):
        values = [float(compiled(np.ones(3)).data) for _ in range(5)]
    assert compiled.replays == 0 and len(set(values)) == 5


@pytest.mark.filterwarnings("error::autograd_np.CompileWarning")
def test_another_threads_steps_are_not_captured() -> None:
    import threading

    results = {}

    def worker(name: str) -> None:
        eager_p, compiled_p = mlp_params(), mlp_params()
        eager, compiled = lecture_step(eager_p), ag.compile(lecture_step(compiled_p))
        for Xb, Yb in batches(30):
            eager(Xb, Yb), compiled(Xb, Yb)
        results[name] = all(np.allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5) for k in eager_p)

    threads = [threading.Thread(target=worker, args=(str(i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"0": True, "1": True, "2": True}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_an_infinite_embedding_gradient_takes_the_kernels_path() -> None:
    def make():
        table = Tensor(np.ones((5, 2), np.float32), requires_grad=True)

        def step(idx, scale):
            (table[idx] * Tensor(scale)).sum().backward()
            grad = table.grad.copy()
            table.grad = None
            return grad
        return step

    compiled, eager = ag.compile(make()), make()
    idx = np.array([[0, 1], [1, 3]])
    for k in range(5):
        scale = np.full((2, 2, 2), float(k), np.float32)
        if k >= 3:
            scale[0, 0, 0] = np.inf  # only in later calls: the replayed program meets it
        got, want = compiled(idx, scale), eager(idx, scale)
        np.testing.assert_array_equal(got, want)  # rows 2 and 4, never picked, stay 0 (not NaN)
    assert compiled.replays >= 2 and "math.isfinite" in compiled.source()


def test_numpy_on_the_batch_inside_the_step_is_recorded_not_frozen() -> None:
    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w_eager = Tensor(w.data.copy(), requires_grad=True)

    def make(param):
        def step(x):
            y = np.exp(x) * 2.0  # NumPy on the argument: recorded, computed again each call
            loss = (param * y).sum()
            loss.backward()
            with ag.no_grad():
                param.data -= 0.01 * param.grad
                param.grad = None
            return loss
        return step

    compiled, eager = ag.compile(make(w)), make(w_eager)
    for x in [np.ones(3), np.ones(3), np.full(3, 0.5), np.array([0.1, -2.0, 1.5])]:  # the first two alike
        np.testing.assert_allclose(compiled(x).data, eager(x).data, rtol=1e-12)
    np.testing.assert_allclose(w.data, w_eager.data, rtol=1e-12)
    assert compiled.replays == 2 and "np.exp(x" in compiled.source()


def test_buffer_sharing_reuses_a_dead_buffer_and_can_be_turned_off() -> None:
    def distinct_buffers(passes):
        p = mlp_params()
        compiled = ag.compile(lecture_step(p), passes=passes)
        for Xb, Yb in batches(3):
            compiled(Xb, Yb)
        arrays = [v for v in compiled.namespace.values() if isinstance(v, np.ndarray)]
        return len(arrays), len({id(a) for a in arrays})

    names, shared = distinct_buffers(None)
    assert shared < names  # the pre-activation's buffer holds dh later in the step
    names_off, unshared = distinct_buffers({"buffer_sharing": False})
    assert shared < unshared and names_off == names


def test_strict_is_bit_identical_at_a_large_batch() -> None:
    eager_p, compiled_p, compiled, losses = run_both(lecture_step, 6, strict=True, batch=1024)
    assert compiled.replays == 4 and compiled.eager_reason is None
    for k in eager_p:
        assert np.array_equal(compiled_p[k].data, eager_p[k].data), k


@pytest.mark.parametrize("strict", [False, True])
def test_negative_indices_pick_what_eager_picks_and_out_of_range_raises(strict: bool) -> None:
    """The program's one-hot matrices (embedding rows, cross-entropy targets) follow NumPy's
    indexing rule: -1 is the last row, an index past the end raises IndexError as eager does."""
    eager_p, compiled_p = mlp_params(), mlp_params()
    eager, compiled = lecture_step(eager_p), ag.compile(lecture_step(compiled_p), strict=strict)
    for k, (Xb, Yb) in enumerate(batches(6)):
        Xb, Yb = Xb.copy(), Yb.copy()
        Xb[::3] -= 27  # the same rows, named from the end
        Yb[::2] -= 27
        np.testing.assert_allclose(compiled(Xb, Yb).data, eager(Xb, Yb).data, rtol=1e-5)
    assert compiled.replays >= 3
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=1e-5, atol=1e-6)
    for bad in ("targets", "rows"):
        Xb, Yb = next(batches(1))
        (Yb if bad == "targets" else Xb)[0] = 27
        with pytest.raises(IndexError):
            eager(Xb, Yb)
        with pytest.raises(IndexError):
            compiled(Xb, Yb)
        assert compiled.replays >= 3 and compiled.eager_reason is None


def sgd_variant(p: dict[str, Tensor], keep_grads: bool = False, rates: dict[str, float] | None = None,
                clip: bool = False):
    """The lecture step with one change to its update, each of which must keep the multiplications by lr."""
    def step(Xb, Yb):
        emb = p["C"][Xb]
        h = (emb.reshape(Xb.shape[0], -1) @ p["W1"] + p["b1"]).tanh()
        loss = -((h @ p["W2"] + p["b2"]).log_softmax(axis=-1)[np.arange(Yb.shape[0]), Yb]).mean()
        loss.backward()
        if clip:
            nn.clip_grad_norm(list(p.values()), 0.5)
        with ag.no_grad():
            for name, t in p.items():
                t.data -= (rates or {}).get(name, 0.1) * t.grad
                if not keep_grads:
                    t.grad = None
        return loss
    return step


def test_learning_rate_pass_moves_lr_into_the_seed() -> None:
    """p -= lr * p.grad with one lr: the seed becomes lr (backprop is linear in it), each update one
    subtraction; the parameters stay equal to eager's to float32 rounding."""
    eager_p, compiled_p, compiled, losses = run_both(lecture_step, 60)
    source = compiled.source()
    assert "np.multiply(0.1" not in source and len(re.findall(r"np\.subtract\((\w+), d\1, out=\1\)", source)) == 5, source
    assert "lr_dloss" in source  # the seed, named for what it is
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5)
    off_p = mlp_params()
    off = ag.compile(lecture_step(off_p), passes={"learning_rate": False})
    for Xb, Yb in batches(3):
        off(Xb, Yb)
    assert len(re.findall(r"np\.multiply\(0\.1, d\w+, out=", off.source())) == 5


@pytest.mark.parametrize("variant", ["keep_grads", "rates", "clip"])
def test_learning_rate_pass_leaves_steps_that_could_tell(variant: str) -> None:
    """Kept .grad (the user would see lr-scaled gradients), two learning rates, gradients read by
    clipping: the multiplications by lr stay, and the results are eager's."""
    kwargs = {"keep_grads": dict(keep_grads=True), "rates": dict(rates={"C": 0.5}), "clip": dict(clip=True)}[variant]
    eager_p, compiled_p = mlp_params(), mlp_params()
    eager, compiled = sgd_variant(eager_p, **kwargs), ag.compile(sgd_variant(compiled_p, **kwargs))
    for Xb, Yb in batches(8):
        if variant == "keep_grads":
            for ps in (eager_p, compiled_p):
                for t in ps.values():
                    t.grad = None
        np.testing.assert_allclose(compiled(Xb, Yb).data, eager(Xb, Yb).data, rtol=1e-5)
    assert compiled.replays >= 4, compiled.eager_reason
    assert re.search(r"np\.multiply\(0\.1, d\w+, out=", compiled.source())
    for k in eager_p:
        np.testing.assert_allclose(compiled_p[k].data, eager_p[k].data, rtol=2e-4, atol=2e-5)
        if variant == "keep_grads":
            np.testing.assert_allclose(compiled_p[k].grad, eager_p[k].grad, rtol=2e-4, atol=2e-6)


def test_the_program_printed_in_docs_compile_md_is_what_the_engine_prints(capsys) -> None:
    """docs/compile.md shows step.source() of its own example: the text must not drift from the engine."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "compile.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", text, re.S).group(1)
    exec(compile(example, "docs/compile.md", "exec"), {})
    printed = capsys.readouterr().out.split("\n", 1)[1]  # after the "loss ..., N replays" line
    assert [line.rstrip() for line in printed.strip().splitlines()] == [line.rstrip() for line in shown.strip().splitlines()]
