"""autograd_np.compare: exact / close / wrong rows, tolerances by dtype, bad input, text and HTML."""
from __future__ import annotations

import unicodedata

import numpy as np
import pytest

import autograd_np
from autograd_np import Tensor, compare


def layer_with_grads(dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5)).astype(dtype)
    W = Tensor(rng.standard_normal((5, 3)).astype(dtype), requires_grad=True)
    b = Tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    z = x @ W + b
    loss = (z.tanh() ** 2).sum()
    (dz,) = autograd_np.grad(loss, [z], retain_graph=True)
    loss.backward()
    G = 2 * np.tanh(z.data) * (1 - np.tanh(z.data) ** 2)   # by hand: d(tanh²)/dz
    return x, W, b, dz, G


def test_rows_exact_close_and_wrong() -> None:
    x, W, b, dz, G = layer_with_grads()
    manual = {
        "dz": dz.data.copy(),                      # identical values: exact
        "dW": x.T @ G + 1e-15,                     # rounding-sized difference: close
        "db": G.sum(axis=0) + np.array([0, 0.5, 0]),  # a real mistake in one element: wrong
    }
    table = compare(manual, {"dz": dz.data, "dW": W, "db": b})
    assert [row.name for row in table] == ["dz", "dW", "db"]
    assert [row.status for row in table] == ["exact", "close", "wrong"]
    assert table["dz"].max_abs_diff == 0 and table["dz"].worst_index is None
    close = table["dW"]
    assert 0 < close.max_abs_diff <= close.tolerance
    assert close.tolerance == pytest.approx(1e-12 * np.abs(manual["dW"]).max())
    wrong = table["db"]
    assert wrong.worst_index == (1,) and wrong.max_abs_diff == pytest.approx(0.5)
    assert wrong.worst_values == pytest.approx((manual["db"][1], b.grad[1]))
    assert wrong.shape == (3,) and not table.ok and table.wrong == [wrong]
    assert compare({"dz": manual["dz"], "dW": x.T @ G}, {"dz": dz.data, "dW": W}).ok


def test_the_text_table_names_each_row_and_the_verdict() -> None:
    x, W, b, dz, G = layer_with_grads()
    bad = G.sum(axis=0)
    bad[2] += 1.0
    text = str(compare({"∂L/∂W̄": x.T @ G, "∂L/∂b": bad}, {"∂L/∂W̄": W, "∂L/∂b": b}, notes={"∂L/∂b": "Σ_rows G"}))
    lines = text.splitlines()
    assert lines[0].split() == ["name", "shape", "match", "max", "|diff|", "tolerance", "worst", "(manual",
                                "vs", "engine)", "rule"]
    wrong_line = next(line for line in lines if line.startswith("∂L/∂b"))
    assert "WRONG" in wrong_line and "(3,)" in wrong_line and "[2]:" in wrong_line and "Σ_rows G" in wrong_line
    assert lines[-1] == "1 of 2 rows WRONG: ∂L/∂b"
    # columns line up although W̄ has a combining bar (two code points, one column)
    def column(line: str, text: str) -> int:
        return sum(not unicodedata.combining(ch) for ch in line[: line.index(text)])

    assert column(lines[2], "(5, 3)") == column(lines[3], "(3,)") == column(lines[0], "shape")
    assert str(compare({"dz": dz.data}, {"dz": dz.data})).splitlines()[-1] == "the 1 row matches"


def test_html_table_for_jupyter() -> None:
    x, W, b, dz, G = layer_with_grads()
    html = compare({"<dW>": x.T @ G, "db": G.sum(axis=0) + 1}, {"<dW>": W, "db": b})._repr_html_()
    assert html.startswith("<table>") and html.endswith("</table>")
    assert html.count("<tr>") == 3                     # header + two rows
    assert "&lt;dW&gt;" in html and "<dW>" not in html  # names are escaped
    assert "WRONG" in html and "#cf222e" in html


def test_float32_gets_a_looser_tolerance_and_mixed_dtypes_use_the_coarser() -> None:
    x, W, b, dz, G = layer_with_grads(np.float32)
    hand = (x.astype(np.float64).T @ G.astype(np.float64))
    table = compare({"dW32": hand.astype(np.float32), "dW64": hand}, {"dW32": W, "dW64": W})
    assert table.ok
    assert table["dW32"].tolerance == pytest.approx(1e-5 * np.abs(hand).max(), rel=1e-6)
    assert table["dW64"].tolerance == pytest.approx(1e-5 * np.abs(hand).max())   # float64 vs float32: float32's
    assert table["dW64"].status == "close" and table["dW64"].dtype == "float64/float32"
    # the same float32-sized error is wrong at float64's tolerance
    off = hand * (1 + 1e-7)
    assert compare({"d": off}, {"d": hand}).wrong and compare({"d": off}, {"d": hand}, rtol=1e-6).ok


def test_nan_is_wrong_unless_both_sides_have_it() -> None:
    a = np.array([1.0, np.nan, 3.0])
    assert compare({"a": a}, {"a": a.copy()})["a"].status == "exact"
    row = compare({"a": a}, {"a": np.array([1.0, 2.0, 3.0])})["a"]
    assert row.status == "wrong" and row.worst_index == (1,) and row.max_abs_diff == np.inf


def test_mismatched_names_say_which() -> None:
    with pytest.raises(ValueError, match=r"only in manual: 'dW'; only in tensors: 'W'"):
        compare({"dW": np.zeros(2), "db": np.zeros(2)}, {"W": np.zeros(2), "db": np.zeros(2)})


def test_mismatched_shapes_say_which() -> None:
    x, W, b, dz, G = layer_with_grads()
    with pytest.raises(ValueError, match=r"'dW': manual \(3, 5\), engine \(5, 3\); 'db': manual \(1, 3\)"):
        compare({"dW": G.T @ x, "db": G.sum(axis=0, keepdims=True), "dz": G}, {"dW": W, "db": b, "dz": dz.data})


def test_a_tensor_without_grad_and_other_bad_input() -> None:
    t = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"tensors\['t'\] has no .grad"):
        compare({"t": np.zeros(3)}, {"t": t})
    with pytest.raises(TypeError, match=r"manual\['t'\] is a Tensor"):
        compare({"t": t}, {"t": np.zeros(3)})
    with pytest.raises(TypeError, match="manual must be a dict"):
        compare([np.zeros(3)], {"t": np.zeros(3)})
    with pytest.raises(TypeError, match=r"tensors\['t'\] must hold real numbers"):
        compare({"t": np.zeros(3)}, {"t": np.array(["a", "b", "c"])})
    with pytest.raises(ValueError, match="rtol and atol must be >= 0"):
        compare({"t": np.zeros(3)}, {"t": np.zeros(3)}, rtol=-1)
    with pytest.raises(KeyError, match="no row named 'u'"):
        compare({"t": np.zeros(3)}, {"t": np.zeros(3)})["u"]
