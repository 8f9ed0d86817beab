"""autograd_np.optim: each optimizer against its update formula, computed by hand for two steps."""
import math

import numpy as np
import pytest

from autograd_np import Tensor, optim

P0 = np.array([1.0, -2.0])
G1 = np.array([0.5, 1.0])
G2 = np.array([-1.0, 2.0])


def run_two_steps(opt_factory):
    p = Tensor(P0.copy(), requires_grad=True)
    opt = opt_factory([p])
    out = []
    for g in (G1, G2):
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out, opt, p


def test_sgd_plain_and_weight_decay():
    (p1, p2), _, _ = run_two_steps(lambda ps: optim.SGD(ps, lr=0.1))
    np.testing.assert_allclose(p1, [1 - 0.05, -2 - 0.1])
    np.testing.assert_allclose(p2, [0.95 + 0.1, -2.1 - 0.2])
    (p1, p2), _, _ = run_two_steps(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.5))
    # g <- g + 0.5 p
    q1 = [1 - 0.1 * (0.5 + 0.5), -2 - 0.1 * (1.0 - 1.0)]
    np.testing.assert_allclose(p1, q1)
    np.testing.assert_allclose(p2, [q1[0] - 0.1 * (-1 + 0.5 * q1[0]), q1[1] - 0.1 * (2 + 0.5 * q1[1])])


def test_sgd_momentum():
    (p1, p2), opt, _ = run_two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    # buf1 = g1 = [0.5, 1];  buf2 = 0.9*buf1 + g2 = [-0.55, 2.9]
    np.testing.assert_allclose(p1, [0.95, -2.1])
    np.testing.assert_allclose(p2, [0.95 + 0.055, -2.1 - 0.29])
    np.testing.assert_allclose(opt.state_dict()["state.0.momentum_buffer"], [-0.55, 2.9])


def adam_by_hand(lr, b1, b2, eps, wd, decoupled):
    p = P0.copy()
    m = np.zeros(2)
    v = np.zeros(2)
    out = []
    for t, g in enumerate((G1, G2), start=1):
        if decoupled:
            p = p - lr * wd * p
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(p.copy())
    return out


def test_adam_first_step_is_lr_times_sign():
    (p1, _), _, _ = run_two_steps(lambda ps: optim.Adam(ps, lr=0.01, eps=0.0))
    np.testing.assert_allclose(p1, P0 - 0.01 * np.sign(G1))


def test_adam_two_steps_explicit_numbers():
    (p1, p2), _, _ = run_two_steps(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.5, 0.5), eps=0.0))
    # step 2, coordinate 0: m = .5*.25 + .5*(-1) = -.375, mhat = -.375/.75 = -.5
    #                       v = .5*.125 + .5*1 = .5625, vhat = .5625/.75 = .75
    expected0 = (1 - 0.1) - 0.1 * (-0.5) / math.sqrt(0.75)
    # coordinate 1: m = .25 + 1 = 1.25 -> 1.25/.75; v = .25 + 2 = 2.25 -> 3
    expected1 = (-2 - 0.1) - 0.1 * (1.25 / 0.75) / math.sqrt(3.0)
    np.testing.assert_allclose(p2, [expected0, expected1], rtol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_adam_matches_formula(wd):
    got, _, _ = run_two_steps(lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=wd))
    for a, b in zip(got, adam_by_hand(0.05, 0.8, 0.99, 1e-3, wd, decoupled=False)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adamw_matches_formula_and_differs_from_adam_l2():
    got, _, _ = run_two_steps(lambda ps: optim.AdamW(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.3))
    for a, b in zip(got, adam_by_hand(0.05, 0.8, 0.99, 1e-3, 0.3, decoupled=True)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    l2, _, _ = run_two_steps(lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.3))
    assert not np.allclose(got[1], l2[1])


def test_param_groups_override_weight_decay():
    w = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    opt = optim.AdamW([{"params": [w], "weight_decay": 0.5}, {"params": [b], "weight_decay": 0.0}], lr=0.1)
    w.grad = np.zeros(2)
    b.grad = np.zeros(2)
    opt.step()  # zero gradient: only decoupled decay moves a parameter
    np.testing.assert_allclose(w.data, 1 - 0.1 * 0.5)
    np.testing.assert_allclose(b.data, 1.0)
    with pytest.raises(ValueError, match="unknown group options"):
        optim.SGD([{"params": [w], "betas": 1}], lr=0.1)


def test_parameter_without_grad_is_skipped_and_zero_grad():
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(a.data, 0)
    np.testing.assert_array_equal(b.data, 1)
    opt.zero_grad()
    assert a.grad is None
    with pytest.raises(TypeError):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)


def test_float32_stays_float32():
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.AdamW([p], lr=1e-2)
    p.grad = np.ones(3, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32 and opt.state[0]["exp_avg"].dtype == np.float32


def test_schedules():
    s = optim.StepDecay([100_000], [0.1, 0.01])
    assert s(0) == 0.1 and s(99_999) == 0.1 and s(100_000) == 0.01 and s(10**7) == 0.01
    c = optim.Cosine(1.0, total_steps=110, warmup_steps=10, final_lr=0.1)
    assert c(0) == pytest.approx(0.1) and c(4) == pytest.approx(0.5) and c(9) == pytest.approx(1.0)
    assert c(10) == pytest.approx(1.0)
    assert c(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert c(110) == pytest.approx(0.1) and c(500) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        optim.StepDecay([1, 2], [0.1])


def test_optimizer_uses_schedule_per_step():
    p = Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=optim.StepDecay([2], [1.0, 0.1]))
    lrs = []
    for _ in range(4):
        lrs.append(opt.lr)
        p.grad = np.ones(1)
        opt.step()
    assert lrs == [1.0, 1.0, 0.1, 0.1]
    np.testing.assert_allclose(p.data, [-2.2])
    assert opt.step_count == 4


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.AdamW(ps, lr=optim.Cosine(0.01, 10, 2), weight_decay=0.1),
])
def test_state_dict_resume_is_exact(make):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(6)]

    def train(p, opt, gs):
        for g in gs:
            p.grad = g.copy()
            opt.step()

    p = Tensor(np.ones(3), requires_grad=True)
    opt = make([p])
    train(p, opt, grads)

    q = Tensor(np.ones(3), requires_grad=True)
    first = make([q])
    train(q, first, grads[:3])
    state = {k: np.array(v) for k, v in first.state_dict().items()}  # plain arrays only
    assert all(isinstance(v, np.ndarray) for v in state.values())
    r = Tensor(q.data.copy(), requires_grad=True)
    second = make([r])
    second.load_state_dict(state)
    train(r, second, grads[3:])
    np.testing.assert_array_equal(p.data, r.data)

    with pytest.raises(ValueError, match="shape"):
        make([Tensor(np.ones(4), requires_grad=True)]).load_state_dict(state)
    with pytest.raises(KeyError):
        make([Tensor(np.ones(3), requires_grad=True)]).load_state_dict({"step": np.array(1), "bogus": np.ones(3)})
