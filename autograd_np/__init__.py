"""autograd_np: tape-based reverse-mode automatic differentiation on NumPy.

    from autograd_np import Tensor, no_grad, grad, gradcheck
"""
import numpy as _np

from .tensor_type import Tensor
from . import api, functional, ops  # api: the op functions (autograd_np.tanh, .sum, ...), one table line each
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .autodiff import grad
from .comparison import Comparison, compare
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .graph import topological_order
from .finite_differences import GradcheckError, gradcheck
from .node import GraphFreedError
from .creation import (
    arange, default_generator, eye, from_numpy, full, full_like, linspace, manual_seed, ones, ones_like, rand, randn, tensor,
    zeros, zeros_like,
)
from .primitives import Primitive, primitive
from . import func, linalg, nn, optim  # function transforms, modules and optimizers, built on the above
from .serialization import SerializationError, load, save
from .compiler import CompileError, CompileWarning, capture, compile  # noqa: A004 (autograd_np.compile)

# dtypes in PyTorch's names (NumPy's dtypes: usable as dtype= anywhere). float, int and bool are
# module attributes only (not in __all__), so a star import does not shadow the builtins.
float16 = half = _np.dtype(_np.float16)
float32 = float = _np.dtype(_np.float32)  # noqa: A001
float64 = double = _np.dtype(_np.float64)
uint8, int8, int16 = _np.dtype(_np.uint8), _np.dtype(_np.int8), _np.dtype(_np.int16)
int32 = int = _np.dtype(_np.int32)  # noqa: A001
int64 = long = _np.dtype(_np.int64)
bool = _np.dtype(_np.bool_)  # noqa: A001

__all__ = [
    "Tensor", "no_grad", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad", "gradcheck",
    "GradcheckError", "GraphFreedError", "compare", "Comparison", "Primitive", "primitive",
    "topological_order", "functional", "func", "linalg", "ops", "nn", "optim", "compile", "capture", "CompileWarning",
    "CompileError",
    # constructors
    "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye", "randn",
    "rand", "manual_seed", "default_generator", "from_numpy",
    # saving, and dtypes
    "save", "load", "SerializationError", "float16", "half", "float32", "float64", "double", "uint8", "int8",
    "int16", "int32", "int64", "long",
    # the op functions in PyTorch's spelling (api.py's table)
    *api.FUNCTIONS,
]
__version__ = "0.1.0"
