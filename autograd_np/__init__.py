"""autograd_np: tape-based reverse-mode automatic differentiation on NumPy.

    from autograd_np import Tensor, no_grad, grad, gradcheck
"""
from . import functional, ops
from .autodiff import grad
from .compare import compare
from .graph import enable_grad, is_grad_enabled, no_grad, topological_order
from .gradcheck import GradcheckError, gradcheck
from .ops import concatenate, stack
from .tensor import Tensor
from . import nn, optim  # noqa: E402  (modules and optimizers, built on the above)

__all__ = [
    "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad", "gradcheck", "GradcheckError",
    "concatenate", "stack", "topological_order", "functional", "ops", "nn", "optim",
]
__version__ = "0.1.0"
