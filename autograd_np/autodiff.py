"""``grad()``: gradients as return values, optionally differentiable (grad of grad)."""
from __future__ import annotations

from typing import Any, Callable, Sequence


from . import graph
from .graph import seed_gradient
from .tensor_type import Tensor


def grad(
    output: Tensor | Callable,
    inputs: Tensor | Sequence[Tensor] | None = None,
    grad_output: Any = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    **transform: Any,
) -> Any:
    """Gradients of ``output`` with respect to each of ``inputs``, like ``torch.autograd.grad``.

    Called with a function instead, JAX and HIPS autograd style, it is ``func.grad``:
    ``grad(f)``, ``grad(f, argnums)`` or ``grad(f, argnums=..., has_aux=...)`` returns the
    gradient function.

    ``.grad`` attributes are left untouched. An input that ``output`` does not
    depend on gets a zero gradient. With ``create_graph=True`` the returned
    Tensors carry their own graph, so they can be differentiated again
    (Hessian-vector products); ``retain_graph`` then defaults to True.
    """
    if callable(output) and not isinstance(output, Tensor):
        from .func import grad as grad_transform
        return grad_transform(output, **({"argnums": inputs} if inputs is not None else {}), **transform)
    if inputs is None or transform:
        raise TypeError(
            "grad(output, inputs): give the Tensors to differentiate with respect to"
            if inputs is None else f"grad(output, inputs): unexpected keywords {sorted(transform)}"
        )
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    inputs = list(inputs)
    if not output.requires_grad:
        raise RuntimeError("grad: the output does not require grad and has no graph")
    if retain_graph is None:
        retain_graph = create_graph
    seed = seed_gradient(output, grad_output)
    if create_graph:
        seed = Tensor(seed)
    found = graph.backprop(
        [output], [seed], targets=inputs, create_graph=create_graph, retain_graph=retain_graph
    )
    return graph.gradients_for(found, inputs)

