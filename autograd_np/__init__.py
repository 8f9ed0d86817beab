"""autograd_np: tape-based reverse-mode automatic differentiation on NumPy.

    from autograd_np import Tensor, no_grad, grad, gradcheck
"""
from .tensor import Tensor
from . import functional, ops
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .autodiff import grad
from .compare import Comparison, compare
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .graph import topological_order
from .gradcheck import GradcheckError, gradcheck
from .node import GraphFreedError
from .ops import concatenate, stack
from .primitive import Primitive, primitive
from . import nn, optim  # noqa: E402  (modules and optimizers, built on the above)

__all__ = [
    "Tensor", "no_grad", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad", "gradcheck",
    "GradcheckError", "GraphFreedError", "compare", "Comparison", "Primitive", "primitive", "concatenate", "stack",
    "topological_order", "functional", "ops", "nn", "optim",
]
__version__ = "0.1.0"
