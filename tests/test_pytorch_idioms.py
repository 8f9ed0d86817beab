"""A PyTorch user's first lines run: conversions, max/min with a dim, zero_grad, save/load.

1. Conversions ``float() double() half() long() int() bool() to() clone() numel()`` and dtype names.
2. ``max``/``min`` with a dim: ``(values, indices)``; ``axis=``: values only.
3. ``zero_grad(set_to_none=)``, ``Module.to``, ``train()``/``eval()``.
4. ``save``/``load`` in safetensors, with hostile files.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import SerializationError, Tensor, gradcheck, nn


def _x(*shape: int, seed: int = 0, dtype: Any = np.float64) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


# ----------------------------------------------------------------------------
# 1. Conversions
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("method, dtype", [("float", np.float32), ("double", np.float64), ("half", np.float16),
                                           ("long", np.int64), ("int", np.int32), ("bool", np.bool_)])
def test_conversion_methods_give_pytorchs_dtypes(method: str, dtype: Any) -> None:
    x = Tensor(np.array([[0.0, 1.5], [-2.0, 3.0]]))
    y = getattr(x, method)()
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y.data, x.data.astype(dtype))
    assert getattr(y, method)() is y  # already that dtype: the tensor itself, as PyTorch


def test_a_float64_to_float32_conversion_is_recorded_and_the_gradient_comes_back_in_float64() -> None:
    x = _x(3, 4)
    y = x.float()
    assert y.op == "astype" and y.requires_grad
    loss = (y * y).sum()
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, 2 * x.data.astype(np.float32), rtol=1e-6)
    gradcheck(lambda t: (t.to(np.longdouble) ** 2).double().sum(), [x.data])  # float64 precision both ways


def test_integer_and_boolean_results_do_not_require_grad() -> None:
    x = _x(5)
    for y in (x.long(), x.int(), x.bool(), x.to(ag.int64), (x > 0).float()):
        assert not y.requires_grad and y.is_leaf


def test_to_accepts_a_dtype_a_device_or_a_tensor() -> None:
    x = _x(2, 3)
    assert x.to("cpu") is x and x.cpu() is x and x.device == "cpu" and x.to(x) is x
    assert x.to(ag.float32).dtype == np.float32 and x.to(np.float32).dtype == np.float32
    assert x.to("cpu", ag.float32).dtype == np.float32
    assert x.to(device="cpu", dtype=ag.int32).dtype == np.int32
    assert x.to(Tensor(np.zeros(1, np.float16))).dtype == np.float16
    copy = x.to(copy=True)
    assert copy is not x and not np.shares_memory(copy.data, x.data) and copy.requires_grad


@pytest.mark.parametrize("args, kwargs, error, message", [
    (("cuda",), {}, ValueError, "to: device 'cuda' is not available; autograd_np runs on NumPy, on the CPU only"),
    (("cuda:0",), {}, ValueError, "device 'cuda:0' is not available"),
    ((), {"device": "mps"}, ValueError, "device 'mps' is not available"),
    (("float32",), {}, ValueError, "for a dtype pass autograd_np.float32, not a string"),
    ((ag.float32, ag.float64), {}, TypeError, "to: dtype given twice"),
    (("cpu",), {"device": "cpu"}, TypeError, "to: device given twice"),
    ((object(),), {}, TypeError, "to: expected a dtype"),
    ((np.complex128,), {}, TypeError, "to: dtype complex128 is not supported"),
    ((object,), {}, TypeError, "to: dtype object is not supported"),
])
def test_to_errors(args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace(".", r"\.").replace("(", r"\(")):
        _x(2).to(*args, **kwargs)


def test_clone_is_a_recorded_copy() -> None:
    x = _x(2, 3)
    y = x.clone()
    assert not np.shares_memory(y.data, x.data) and y.requires_grad and y.dtype == x.dtype
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 3.0))
    gradcheck(lambda t: (t.clone() * t).sum(), [x.data])
    c = Tensor(np.arange(3)).clone()  # an integer constant
    assert not c.requires_grad and c.dtype == np.int64


def test_numel_and_dtype_names() -> None:
    assert _x(2, 3, 4).numel() == 24 and Tensor(1.0).numel() == 1
    assert (ag.float32, ag.float64, ag.int64, ag.int32, ag.bool, ag.float16) == \
        (np.float32, np.float64, np.int64, np.int32, np.bool_, np.float16)
    assert (ag.float, ag.double, ag.long, ag.int, ag.half) == (ag.float32, ag.float64, ag.int64, ag.int32, ag.float16)
    assert Tensor([1, 2], dtype=ag.float32).dtype == np.float32
    assert ag.zeros(2, dtype=ag.long).dtype == np.int64 and ag.randn(2, dtype=ag.float32).dtype == np.float32
    assert ag.tensor([1, 0], dtype=ag.bool).dtype == np.bool_ and _x(2).astype(ag.int32).dtype == np.int32
    assert nn.Linear(2, 3, dtype=ag.float64).weight.dtype == np.float64
    assert _x(2).dtype == ag.float64 and str(ag.float32) == "float32"


def test_from_numpy_shares_the_array() -> None:
    a = np.arange(3.0)
    t = ag.from_numpy(a)
    assert np.shares_memory(t.data, a) and not t.requires_grad
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        ag.from_numpy([1.0])


def test_a_star_import_does_not_shadow_builtins() -> None:
    namespace: dict[str, Any] = {}
    exec("from autograd_np import *", namespace)
    assert not {"float", "int", "bool"} & set(namespace) and "float32" in namespace


# ----------------------------------------------------------------------------
# 2. max/min: (values, indices) with a dim, values only with axis=
# ----------------------------------------------------------------------------
X = np.array([[1.0, 5.0, 5.0, 0.0], [7.0, 2.0, 9.0, 9.0], [3.0, 3.0, 1.0, 4.0]])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("call", ["positional", "dim=", "function"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_a_dim_return_values_and_indices(name: str, call: str, dim: int, keepdim: bool) -> None:
    x = Tensor(X, requires_grad=True)
    if call == "positional":
        result = getattr(x, name)(dim, keepdim)
    elif call == "dim=":
        result = getattr(x, name)(dim=dim, keepdim=keepdim)
    else:
        result = getattr(ag, name)(x, dim, keepdim=keepdim)
    values, indices = result
    assert type(result).__name__ == "ValuesIndices" and result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.data, getattr(np, name)(X, axis=dim, keepdims=keepdim))
    expected = getattr(np, "arg" + name)(X, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(indices.data, expected)  # the first of tied values, as PyTorch
    assert indices.dtype == np.int64 and not indices.requires_grad and values.requires_grad
    values.sum().backward()
    picked = np.zeros_like(X)
    np.put_along_axis(picked, getattr(np, "arg" + name)(X, axis=dim, keepdims=True), 1.0, axis=dim)
    np.testing.assert_array_equal(x.grad, picked)  # the gradient goes to the returned index


def test_max_values_with_a_dim_pass_gradcheck() -> None:
    x = np.random.default_rng(1).permutation(12).reshape(3, 4) * 0.3
    gradcheck(lambda t: (t.max(1).values ** 2).sum() + t.min(dim=0, keepdim=True).values.sum(), [x])


def test_axis_gives_numpys_values_only_and_no_argument_the_overall_max() -> None:
    x = Tensor(X, requires_grad=True)
    v = x.max(axis=1)
    assert isinstance(v, Tensor) and v.op == "max"
    np.testing.assert_array_equal(v.data, X.max(axis=1))
    np.testing.assert_array_equal(x.min(axis=(0, 1), keepdims=True).data, [[0.0]])
    np.testing.assert_array_equal(x.max(axis=0, keepdim=True).data, X.max(axis=0, keepdims=True))
    assert isinstance(x.max(), Tensor) and x.max().item() == 9.0 and x.min(None).item() == 0.0
    np.testing.assert_array_equal(np.max(x, 1).data, X.max(axis=1))  # NumPy's functions keep NumPy's meaning
    np.testing.assert_array_equal(np.amin(x, 0).data, X.min(axis=0))
    v.sum().backward()
    np.testing.assert_array_equal(x.grad[1], [0, 0, 0.5, 0.5])  # axis=: ties share, as before


def test_max_with_a_dim_edge_cases() -> None:
    values, indices = Tensor(2.5, requires_grad=True).max(0)
    assert values.item() == 2.5 and values.requires_grad and indices.item() == 0 and indices.dtype == np.int64
    values, indices = Tensor(np.array([[1, 3], [4, 2]])).max(1)  # integers: no gradient anywhere
    assert values.tolist() == [3, 4] and indices.tolist() == [1, 0]
    v, i = Tensor(np.array([1.0, np.nan, 2.0])).max(0)
    assert np.isnan(v.item()) and i.item() == 1  # NaN wins, as in PyTorch


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.max((0, 1)), TypeError, r"max: dim must be one integer .*pass axis=\(0, 1\)"),
    (lambda x: x.min(dim=1, axis=1), TypeError, "min: got both axis=1 and dim=1"),
    (lambda x: x.max(1, keepdim=True, keepdims=True), TypeError, "max: got both keepdims=True and keepdim=True"),
    (lambda x: x.max(2), IndexError, "max: input shape .*axis 2 is out of bounds"),
    (lambda x: x[:, :0].max(1), IndexError, r"max: input shape \(3, 0\): dim 1 has size 0"),
    (lambda x: x.max(x), TypeError, "the elementwise maximum of two tensors is maximum"),
])
def test_max_min_errors(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(Tensor(X[:, :2]))


# ----------------------------------------------------------------------------
# 3. zero_grad, Module.to, train/eval
# ----------------------------------------------------------------------------
def _model(dtype: Any = np.float32) -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4, rng=0, dtype=dtype), nn.BatchNorm1d(4, dtype=dtype), nn.Dropout(0.5),
                         nn.Linear(4, 2, rng=1, dtype=dtype))


def _backward(model: nn.Module) -> None:
    model(Tensor(np.random.default_rng(0).standard_normal((5, 3)))).sum().backward()


@pytest.mark.parametrize("owner", ["optimizer", "module"])
def test_zero_grad_set_to_none(owner: str) -> None:
    model = _model()
    opt = ag.optim.SGD(model.parameters(), lr=0.1)
    target = opt if owner == "optimizer" else model
    _backward(model)
    grads = [p.grad for p in model.parameters()]
    target.zero_grad(set_to_none=False)
    for p, before in zip(model.parameters(), grads):
        assert p.grad is not None and p.grad.dtype == p.dtype and not p.grad.any()
        assert p.grad is not before  # fresh zeros: an array the caller kept is not overwritten
    _backward(model)
    target.zero_grad()  # set_to_none=True is the default, as in PyTorch 2
    assert all(p.grad is None for p in model.parameters())
    target.zero_grad(set_to_none=False)  # no gradient yet: stays None
    assert all(p.grad is None for p in model.parameters())


def test_module_to_converts_floating_parameters_and_buffers_in_place() -> None:
    model = _model()
    weight = model.layers[0].weight
    _backward(model)
    assert model.to("cpu") is model and model.cpu() is model
    assert model.to(ag.float64) is model and model.layers[0].weight is weight  # the same Tensors: in place
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert {p.grad.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert model.layers[1].running_mean.dtype == np.float64
    assert model.float() is model and weight.dtype == np.float32 and model.double() is model
    with pytest.raises(TypeError, match="Module.to: only floating-point dtypes, got int64"):
        model.to(ag.int64)
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        model.to("cuda")


def test_train_and_eval_switch_every_submodule_and_return_the_module() -> None:
    model = _model()
    assert model.training and model.eval() is model
    assert not any(m.training for m in model.modules())
    x = Tensor(np.ones((5, 3)))
    np.testing.assert_array_equal(model(x).data, model(x).data)  # eval: no dropout, running statistics
    assert model.train() is model and all(m.training for m in model.modules())
    assert model.train(False) is model and not model.layers[2].training


# ----------------------------------------------------------------------------
# 4. save / load
# ----------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path: Path) -> None:
    state = {
        "w": _x(2, 3, dtype=np.float32), "b": np.arange(3.0), "step": np.array(7), "mask": np.array([True, False]),
        "h": np.ones(2, np.float16), "u8": np.arange(4, dtype=np.uint8), "t": np.arange(6.0).reshape(2, 3).T,
        "be": np.arange(3, dtype=">f4"), "empty": np.zeros((0, 2)),
    }
    path = tmp_path / "state.safetensors"
    ag.save(state, path)
    assert [p.name for p in tmp_path.iterdir()] == ["state.safetensors"]  # no temporary file left
    loaded = ag.load(str(path))
    assert set(loaded) == set(state)
    for name, value in state.items():
        expected = np.asarray(value.data if isinstance(value, Tensor) else value)
        assert loaded[name].shape == expected.shape and loaded[name].dtype == expected.dtype.newbyteorder("=")
        np.testing.assert_array_equal(loaded[name], expected)
        assert loaded[name].flags.writeable
    with open(path, "rb") as f:
        assert f.read(9)[8:9] == b"{"  # safetensors: 8-byte length, JSON header


def test_a_saved_model_and_optimizer_load_back(tmp_path: Path) -> None:
    model, fresh = _model(), _model()
    fresh.layers[0].weight.data = fresh.layers[0].weight.data + 1
    opt = ag.optim.Adam(model.parameters())
    _backward(model)
    opt.step()
    ag.save(model.state_dict(), tmp_path / "m.safetensors")
    ag.save(opt.state_dict(), tmp_path / "o.safetensors")
    fresh.load_state_dict(ag.load(tmp_path / "m.safetensors"))
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    opt2 = ag.optim.Adam(fresh.parameters())
    opt2.load_state_dict(ag.load(tmp_path / "o.safetensors"))
    assert opt2.step_count == 1


def test_save_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "m.safetensors"
    ag.save({"a": np.zeros(2)}, path)
    ag.save({"a": np.ones(2)}, path)
    np.testing.assert_array_equal(ag.load(path)["a"], [1, 1])

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        ag.save({"a": np.full(2, 5.0)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(ag.load(path)["a"], [1, 1])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@pytest.mark.parametrize("state, error, message", [
    ({"a": np.array([1 + 2j])}, SerializationError, "cannot save 'a': dtype complex128 is not one of"),
    ({"a": np.array(["x"])}, SerializationError, "cannot save 'a': dtype <U1"),
    ({"a": np.array([None])}, SerializationError, "cannot save 'a': dtype object"),
    ({1: np.zeros(1)}, TypeError, "save: keys must be strings"),
    ([np.zeros(1)], TypeError, "save: expected a dict"),
])
def test_save_refuses_what_safetensors_cannot_hold(tmp_path: Path, state: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ag.save(state, tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())


def _file(header: Any, data: bytes = b"") -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


_F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
_GOOD = _file({"w": _F32x2}, bytes(8))
HOSTILE = {
    "empty": (b"", "0 bytes, shorter than the 8-byte header length"),
    "truncated length": (b"\x10\x00", "2 bytes, shorter than the 8-byte header length"),
    "truncated header": (_GOOD[:30], "the header claims 61 bytes in a file of 30"),
    "truncated data": (_GOOD[:-3], r"data_offsets \[0, 8\] outside the 5 data bytes \(truncated\?\)"),
    "garbage": (bytes(range(256)) * 4, "not a safetensors file: the header claims 506097522914230528 bytes"),
    "huge header length": (struct.pack("<Q", 2**64 - 1) + b"{}", "the header claims 18446744073709551615 bytes"),
    "header over 100 MB": (struct.pack("<Q", 100_000_001) + b"{" + b" " * 64, "the header claims 100000001 bytes"),
    "not JSON": (_file(b"{nope"), "bad JSON header"),
    "not UTF-8": (_file(b'{"\xff": 1}'), "bad JSON header .*utf-8"),
    "JSON array": (_file([1, 2]), "the header is not a JSON object"),
    "deep nesting": (_file(b"[" * 100_000 + b"]" * 100_000), "bad JSON header .*recursion"),
    "repeated name": (_file(b'{"w": {}, "w": {}}'), "a name appears twice: 'w'"),
    "no dtype": (_file({"w": {"shape": [2]}}), "entry 'w': no dtype"),
    "wrong dtype": (_file({"w": {**_F32x2, "dtype": "F33"}}, bytes(8)), "entry 'w': dtype 'F33' is not one of BOOL"),
    "bfloat16": (_file({"w": {**_F32x2, "dtype": "BF16"}}, bytes(8)), "dtype 'BF16' is not one of"),
    "offsets out of range": (_file({"w": {**_F32x2, "data_offsets": [0, 800]}}, bytes(8)), r"\[0, 800\] outside the 8"),
    "negative offset": (_file({"w": {**_F32x2, "data_offsets": [-8, 0]}}, bytes(8)), r"\[-8, 0\] outside"),
    "offsets reversed": (_file({"w": {**_F32x2, "data_offsets": [8, 0]}}, bytes(8)), r"\[8, 0\] outside"),
    "float offsets": (_file({"w": {**_F32x2, "data_offsets": [0.0, 8]}}, bytes(8)), r"\[0.0, 8\] outside"),
    "gap in the data": (_file({"w": {**_F32x2, "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "invalid offset"),
    "shape and offsets disagree": (_file({"w": {**_F32x2, "shape": [3]}}, bytes(8)), "not a valid safetensors file"),
    "absurd shape": (_file({"w": {**_F32x2, "shape": [2**62, 2**62]}}, bytes(8)), "not a valid safetensors file"),
    "negative shape": (_file({"w": {**_F32x2, "shape": [-2]}}, bytes(8)), "not a valid safetensors file"),
    "trailing bytes": (_file({"w": _F32x2}, bytes(12)), "not a valid safetensors file.*not fully covered"),
    "bad metadata": (_file({"__metadata__": {"a": 1}, "w": _F32x2}, bytes(8)), "not a valid safetensors file"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_load_refuses_hostile_files_with_one_line_naming_the_path(tmp_path: Path, name: str) -> None:
    content, message = HOSTILE[name]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(content)
    with pytest.raises(SerializationError, match=message) as info:
        ag.load(path)
    assert isinstance(info.value, ValueError) and str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_load_refuses_a_file_over_the_size_limit_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    ag.save({"w": np.zeros(1000)}, path)
    with pytest.raises(SerializationError, match=r"8\d+ bytes is larger than the limit max_bytes=1000"):
        ag.load(path, max_bytes=1000)
    assert ag.load(path)["w"].shape == (1000,)


def test_importing_autograd_np_does_not_import_safetensors() -> None:
    code = "import sys, autograd_np; assert 'safetensors' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_safetensors_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="autograd_np.save needs the safetensors package: pip install safetensors"):
        ag.save({"a": np.zeros(1)}, tmp_path / "a.safetensors")
    with pytest.raises(ImportError, match="autograd_np.load needs the safetensors package: pip install safetensors"):
        ag.load(tmp_path / "a.safetensors")
