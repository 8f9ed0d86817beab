"""The core's layout promises: a table of ops, short functions, a light import, user ops via the public API."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, gradcheck, grad, no_grad

PACKAGE = Path(ag.__file__).parent


def test_no_function_in_the_engine_is_longer_than_60_lines() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):  # the compiler's package (compiler/) too
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []


def test_ops_py_is_only_the_table() -> None:
    """No class and no module-level cache in ops.py: just ops, their VJPs and helpers."""
    tree = ast.parse((PACKAGE / "ops.py").read_text())
    assert not [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    mutable = [
        t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)
        if isinstance(n.value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp))
    ]
    assert mutable == []
    assert len(ag.ops.OPS) >= 25 and all(op.rule for op in ag.ops.OPS.values())


def test_import_autograd_np_imports_only_numpy() -> None:
    code = "import sys, autograd_np; print(sorted(m for m in ('matplotlib', 'tqdm', 'graphviz', 'scipy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# ----------------------------------------------------------------------------
# A user-defined op through the public API (the README's "Adding an op")
# ----------------------------------------------------------------------------
@ag.primitive("my_sin")
def my_sin(x: np.ndarray) -> np.ndarray:
    """y = sin(x)   VJP: x̄ = ȳ cos(x)"""
    return np.sin(x)


@ag.primitive("my_cos")
def my_cos(x: np.ndarray) -> np.ndarray:
    """y = cos(x)   VJP: x̄ = -ȳ sin(x)"""
    return np.cos(x)


my_sin.defvjp(lambda g, y, x: g * my_cos(x), rule="dx = G cos(x)")
my_cos.defvjp(lambda g, y, x: -g * my_sin(x), rule="dx = -G sin(x)")


def test_a_user_op_backpropagates_and_passes_gradcheck() -> None:
    x = Tensor(np.array([0.1, 1.0, 2.5]), requires_grad=True)
    my_sin(x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.cos(2 * x.data), rtol=1e-12)
    assert gradcheck(lambda t: my_sin(t), [np.array([0.3, -1.2])], rtol=1e-6, atol=1e-8)
    assert "my_sin" not in ag.ops.OPS  # the engine's table lists only its own ops


def test_a_user_op_has_second_derivatives_when_its_vjp_uses_ops() -> None:
    x = Tensor(np.array([0.4, 1.3]), requires_grad=True)
    (dx,) = grad(my_sin(x).sum(), [x], create_graph=True)
    (ddx,) = grad(dx.sum(), [x])
    np.testing.assert_allclose(ddx.data, -np.sin(x.data), rtol=1e-12)
    assert gradcheck(lambda t: grad(my_sin(t).sum(), [t], create_graph=True)[0], [np.array([0.2, 0.9])], rtol=1e-6, atol=1e-8)


def test_a_user_op_respects_no_grad_and_draws() -> None:
    viz = pytest.importorskip("viz")  # part of this repository: always importable
    x = Tensor(np.array([0.5]), requires_grad=True)
    with no_grad():
        assert not my_sin(x).requires_grad
    y = my_sin(x)
    assert y.op == "my_sin" and y.op_rule == "dx = G cos(x)" and y.parents == (x,)
    assert "my_sin" in viz.draw(y, show_rule=True).source


def test_integer_results_never_require_grad() -> None:
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    as_int = Tensor(np.array([0.0, 1.0]), requires_grad=True).astype(np.int64)
    assert not as_int.requires_grad and as_int.is_leaf
    ag.ops.cross_entropy(logits, as_int).backward()
    assert logits.grad.shape == (2, 3)


def test_an_input_without_a_gradient_is_a_clear_error() -> None:
    from autograd_np.primitives import not_differentiable

    scale = ag.primitive("scale_by")(lambda x, s: x * s)
    scale.defvjp(lambda g, y, x, s: g * s, not_differentiable("the scale is a setting"), rule="dx = G s")
    x, s = Tensor(np.ones(2), requires_grad=True), Tensor(np.full(2, 3.0), requires_grad=True)
    with pytest.raises(TypeError, match="no gradient flows to this input: the scale is a setting"):
        scale(x, s).sum().backward()


def test_an_op_without_a_vjp_says_so_at_backward() -> None:
    half = ag.primitive("half")(lambda x: x / 2)
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"backward through half: it has no VJP yet; register one with half.defvjp"):
        half(x).sum().backward()


# ----------------------------------------------------------------------------
# Imports run one way; no module hides behind a function of its name
# ----------------------------------------------------------------------------
def module_name(path: Path) -> str:
    """``ops.py`` -> ``ops``; in a subpackage, ``compiler/tracer.py`` -> ``compiler.tracer`` and
    ``compiler/__init__.py`` -> ``compiler`` (the package's own ``__init__.py`` stays ``__init__``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in it), from the source; a subpackage's
    modules by dotted name (``compiler.tracer``)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = [] if module == "__init__" else module.split(".")[: None if path.name == "__init__.py" else -1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = package[: len(package) - (node.level - 1)]
                for name in [node.module] if node.module else [alias.name for alias in node.names]:
                    parts = base + name.split(".")
                    within = [".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in paths]
                    imported |= set(within[:1])  # the module itself (the longest prefix that is one)
        graph[module] = imported - {module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups



def test_the_engine_imports_run_one_way() -> None:
    """No import circle, except ops.py importing the op modules (convolution.py, linalg.py) on its last
    line so their ops join ops.OPS: without those edges the imports have no circle at all."""
    graph = import_graph()
    assert graph["tensor_type"] <= {"grad_mode", "node"}  # the Tensor imports nothing above it
    assert {"ops", "compiler.instructions"} <= graph["compiler.passes"]  # the compiler's files are in the graph
    op_modules = {"convolution", "linalg"}
    assert op_modules <= graph["ops"] and all("ops" in graph[m] for m in op_modules)
    without_table = {m: (imports - op_modules if m == "ops" else imports) for m, imports in graph.items()}
    assert import_cycles(without_table) == []


def test_an_import_circle_is_found() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_module_is_shadowed_by_a_function_of_its_name() -> None:
    import types

    shadowed = {
        name for name in {module_name(p).split(".")[0] for p in PACKAGE.rglob("*.py")}  # compiler/ is "compiler"
        if not name.startswith("_") and hasattr(ag, name) and not isinstance(getattr(ag, name), types.ModuleType)
    }
    assert not shadowed, f"modules hidden behind a function of the same name: {sorted(shadowed)}"
    assert callable(ag.tensor) and ag.Tensor.__module__ == "autograd_np.tensor_type"


def test_ops_py_comes_by_kind_with_each_kind_once() -> None:
    headings = re.findall(r"^# -{20,}\n# (.+)\n# -{20,}$", (PACKAGE / "ops.py").read_text(), re.M)
    assert headings == [
        "Broadcasting and its adjoint", "Elementwise arithmetic (all broadcast like NumPy)", "Elementwise functions",
        "Reductions", "Shape", "Indexing", "Matrix products", "More elementwise functions",
        "Products and rolls along axes", "Contractions", "Softmax and losses",
    ]
