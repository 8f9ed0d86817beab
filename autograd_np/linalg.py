"""Linear algebra: ``autograd_np.linalg`` (and ``np.linalg.*`` on Tensors), with the
matrix-calculus rules in the docstrings.

Every function works on a matrix or a stack of them (leading batch axes, as NumPy), in
float64 or float32. Notation: A is the input, G (or Ȳ) the incoming gradient of the output,
``A^-T`` the inverse transposed, ``sym(X) = (X + X^T) / 2``, and for eigen- and singular
values the matrix ``F`` with ``F_ij = 1 / (λ_j - λ_i)`` off the diagonal, 0 on it.

Functions with several results (``eigh``, ``svd``, ``qr``; ``slogdet``'s sign is a constant) are one op each with
``part=`` naming the result: the parts' VJPs add up to the VJP of the whole, since the VJP
is linear in the outputs' gradients, and each part recomputes the decomposition.

The decompositions read the lower triangle only (``cholesky``, ``eigh``, as NumPy): their
gradients are those of a symmetric input, symmetrised (PyTorch's convention); check them
through a symmetric construction such as ``A = X X^T + n I``.
"""
from __future__ import annotations

import builtins
from typing import Any, NamedTuple

import numpy as np

from .ops import (  # noqa: A004 (the ops' names)
    abs, einsum, getitem, matmul, max, min, pow, reshape, sum, sum_to, swap_last, tril, where,
)
from .primitives import Primitive, array_of, normalize_axis, primitive, shape_of
from .tensor_type import Tensor

LinAlgError = np.linalg.LinAlgError


def _square(name: str, a: Any) -> None:
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise LinAlgError(f"{name}: needs a square matrix (or a stack of them) in the last two axes, got shape {shape}")


def _singular(name: str, shape: tuple[int, ...]) -> LinAlgError:
    return LinAlgError(f"{name}: the matrix of shape {shape} is singular (not invertible)")


def _t(x: Any) -> Any:
    """The matrix transpose (last two axes) of a matrix or a stack of them."""
    return swap_last(x)


def _diag_embed(v: Any) -> Any:
    """(..., n) -> (..., n, n) with v on the diagonal (written with ops)."""
    n = shape_of(v)[-1]
    return einsum(v, _eye(n, v), subscripts=_batch(v, "i") + ",ij->" + _batch(v, "ij"))


def _batch(x: Any, tail: str, skip: int = 1) -> str:
    """Letters for an operand: one per leading axis (before the last ``skip``) then ``tail``."""
    lead = len(shape_of(x)) - skip
    return "ABCDEFGHKLMNOPQRSTUVW"[:lead] + tail


def _diagonal(x: Any) -> Any:
    """(..., n, n) -> (..., n): the diagonal."""
    return einsum(x, subscripts=_batch(x, "ii", 2) + "->" + _batch(x, "i", 2))


def _trace(x: Any) -> Any:
    return einsum(x, subscripts=_batch(x, "ii", 2) + "->" + _batch(x, "", 2))


def _mat(x: Any, n: int = 2) -> Any:
    """x with ``n`` size-1 axes added at the end (a stack of scalars against a stack of matrices)."""
    return reshape(x, shape=shape_of(x) + (1,) * n)


def _eye(n: int, like: Any) -> np.ndarray:
    return np.eye(n, dtype=array_of(like).dtype)


def _off_diagonal_inverse(w: Any) -> Any:
    """F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it (a stack of matrices from a stack of vectors).
    Equal eigenvalues off the diagonal give inf: the derivative of their vectors is undefined."""
    n = shape_of(w)[-1]
    gaps = reshape(w, shape=shape_of(w)[:-1] + (1, n)) - reshape(w, shape=shape_of(w) + (1,))
    eye = _eye(n, w).astype(bool)
    return where(eye, 0.0, 1.0 / where(eye, 1.0, gaps))


# ----------------------------------------------------------------------------
# solve, inv, det, slogdet
# ----------------------------------------------------------------------------
@primitive("solve")
def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X = A^-1 B   (A (..., n, n), B (..., n, k); ``linalg.solve`` spells a vector b as a column)

    VJP: dB = A^-T G, dA = -dB X^T
    JVP: dX = A^-1 (dB - dA X)
    From A X = B: dA X + A dX = dB, so dX = A⁻¹(dB - dA X); then
    ⟨Ḡ, A⁻¹ dB⟩ = ⟨A⁻ᵀ Ḡ, dB⟩ gives B̄ = A⁻ᵀ Ḡ, and ⟨Ḡ, -A⁻¹ dA X⟩ = ⟨-B̄ Xᵀ, dA⟩ gives Ā.
    Each is summed over broadcast batch axes.
    """
    _square("solve", a)
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"solve: A of shape {a.shape} and B of shape {b.shape} do not align (B needs (..., {a.shape[-1]}, k))")
    try:
        return np.linalg.solve(a, b)
    except LinAlgError:
        raise _singular("solve", a.shape) from None


def _solve_vjp_b(g: Any, y: Any, a: Any, b: Any) -> Any:
    return sum_to(_solve(_t(a), g), shape_of(b))


def _solve_vjp_a(g: Any, y: Any, a: Any, b: Any) -> Any:
    return sum_to(-matmul(_solve(_t(a), g), _t(y)), shape_of(a))


_solve.defvjp(_solve_vjp_a, _solve_vjp_b, reads=("a y", "a"))
_solve.defjvp(lambda da, y, a, b: -_solve(a, matmul(da, y)), lambda db, y, a, b: _solve(a, db))


def solve(a: Any, b: Any) -> Any:
    """x with ``a @ x = b``: ``b`` a vector (n,) or matrices (..., n, k), as NumPy 2's ``linalg.solve``.
    A singular ``a`` raises ``LinAlgError`` (a ``ValueError``) naming its shape."""
    if len(shape_of(b)) == 1:
        return reshape(_solve(a, reshape(b, shape=shape_of(b) + (1,))), shape=shape_of(a)[:-2] + shape_of(b))
    return _solve(a, b)


@primitive("inv")
def inv(a: np.ndarray) -> np.ndarray:
    """Y = A^-1

    VJP: dA = -Y^T G Y^T
    JVP: dY = -Y dA Y
    (from A Y = I: dA Y + A dY = 0)
    """
    _square("inv", a)
    try:
        return np.linalg.inv(a)
    except LinAlgError:
        raise _singular("inv", a.shape) from None


inv.defvjp(lambda g, y, a: -matmul(matmul(_t(y), g), _t(y)), reads=("y",))
inv.defjvp(lambda da, y, a: -matmul(matmul(y, da), y))


@primitive("det")
def det(a: np.ndarray) -> np.ndarray:
    """y = det A

    VJP: dA = G y A^-T
    JVP: dy = y tr(A^-1 dA)
    (Jacobi's formula: y A⁻ᵀ is the cofactor matrix of A. Where a matrix of the batch is
    singular, A⁻ᵀ does not exist but the cofactors do: from A = U S Vh they are
    det(U) det(Vh) U diag(Π_{j≠i} s_j) Vh, the exact derivative (finite differences agree;
    PyTorch 2.13 returns 0 for some singular matrices). The JVP solves with A: forward mode at
    a singular A is not supported.)
    """
    _square("det", a)
    return np.linalg.det(a)


def _det_vjp(g: Any, y: Any, a: Any) -> Any:
    if np.all(array_of(y) != 0):
        return _mat(g * y) * _t(inv(a))
    return _mat(g) * _cofactors(a)


def _cofactors(a: Any) -> Any:
    """The cofactor matrix of A (singular or not), from its SVD: no inverse."""
    from .ops import product_of_others
    u, s, vh = _svd(a, part=0), _svd(a, part=1), _svd(a, part=2)
    signs = np.linalg.det(array_of(u)) * np.linalg.det(array_of(vh))
    others = product_of_others(s, (len(shape_of(s)) - 1,))
    return _mat(signs) * matmul(u * _row(others), vh)


det.defvjp(_det_vjp, reads=("a y",))
det.defjvp(lambda da, y, a: y * _trace(_solve(a, da)))


@primitive("slogdet")
def _slogdet(a: np.ndarray) -> np.ndarray:
    """y = log |det A|   (the second result of NumPy's ``slogdet``; the sign has no gradient)

    VJP: dA = G A^-T
    JVP: dy = tr(A^-1 dA)
    """
    _square("slogdet", a)
    return np.linalg.slogdet(a)[1]


_slogdet.defvjp(lambda g, y, a: _mat(g) * _t(inv(a)), reads=("a",))
_slogdet.defjvp(lambda da, y, a: _trace(_solve(a, da)))


class SlogdetResult(NamedTuple):
    """What ``slogdet`` returns, as NumPy: the sign (a constant) and log |det|."""

    sign: Any
    logabsdet: Any


def slogdet(a: Any) -> SlogdetResult:
    """(sign, log |det a|): log |det| differentiable, the sign a constant Tensor."""
    _square("slogdet", a)
    sign = np.linalg.slogdet(array_of(a))[0]
    return SlogdetResult(Tensor._of(np.asarray(sign)) if isinstance(a, Tensor) else sign, _slogdet(a))


# ----------------------------------------------------------------------------
# Decompositions: cholesky, eigh, svd, qr
# ----------------------------------------------------------------------------
@primitive("cholesky")
def cholesky(a: np.ndarray) -> np.ndarray:
    """L lower triangular with A = L L^T   (A symmetric positive definite; its lower triangle is read)

    VJP: dA = sym(L^-T Phi(L^T tril(G)) L^-1)
    JVP: dL = L Phi(L^-1 sym(dA) L^-T)
    Phi(X) is the lower triangle of X with its diagonal halved. From dA = dL Lᵀ + L dLᵀ:
    L⁻¹ dA L⁻ᵀ = L⁻¹dL + (L⁻¹dL)ᵀ, a lower triangle plus its transpose, so L⁻¹ dL = Phi(L⁻¹ dA L⁻ᵀ).
    """
    _square("cholesky", a)
    try:
        return np.linalg.cholesky(a)
    except LinAlgError:
        raise LinAlgError(f"cholesky: the matrix of shape {a.shape} is not positive definite") from None


def _phi(x: Any) -> Any:
    return tril(x, k=-1) + 0.5 * _diag_embed(_diagonal(x))


def _sym(x: Any) -> Any:
    return 0.5 * (x + _t(x))


def _cholesky_vjp(g: Any, y: Any, a: Any) -> Any:
    left = _solve(_t(y), _phi(matmul(_t(y), tril(g, k=0))))  # L^-T P
    return _sym(_t(_solve(_t(y), _t(left))))  # (L^-T P) L^-1


def _cholesky_jvp(da: Any, y: Any, a: Any) -> Any:
    inner = _solve(y, _t(_solve(y, _sym(da))))  # L^-1 (L^-1 sym(dA))^T = L^-1 sym(dA) L^-T
    return matmul(y, _phi(inner))


cholesky.defvjp(_cholesky_vjp, reads=("y",))
cholesky.defjvp(_cholesky_jvp)


@primitive("eigh")
def _eigh(a: np.ndarray, part: int) -> np.ndarray:
    """w (part 0, ascending eigenvalues) or V (part 1, eigenvectors in columns) of A = V diag(w) V^T

    VJP: dA = V (diag(Gw) + F o (V^T GV)) V^T
    JVP: dw = diag(V^T dA V), dV = V (F o (V^T dA V))
    with Gw, GV the gradients of w and V, F_ij = 1/(w_j - w_i) off the diagonal, 0 on it (``o``: elementwise). Each part gives its
    term. Degenerate (equal) eigenvalues make F infinite: the eigenvectors are not unique there,
    and their gradient is undefined (inf/NaN), as in PyTorch; w's gradient stays defined.
    An eigenvector's sign is arbitrary: only functions that do not depend on it have a gradient.
    A is taken symmetric (its lower triangle is read, as NumPy).
    """
    _square("eigh", a)
    return np.linalg.eigh(a)[part]


def _eigh_vjp(g: Any, y: Any, a: Any, part: int) -> Any:
    if part == 0:
        v = _eigh(a, part=1)
        return matmul(v * reshape(g, shape=shape_of(g)[:-1] + (1, shape_of(g)[-1])), _t(v))
    w, v = _eigh(a, part=0), y
    return matmul(matmul(v, _off_diagonal_inverse(w) * matmul(_t(v), g)), _t(v))


def _eigh_jvp(da: Any, y: Any, a: Any, part: int) -> Any:
    v = _eigh(a, part=1)
    rotated = matmul(matmul(_t(v), da), v)
    if part == 0:
        return _diagonal(rotated)
    return matmul(v, _off_diagonal_inverse(_eigh(a, part=0)) * rotated)


_eigh.defvjp(_eigh_vjp, reads=("a y",))
_eigh.defjvp(_eigh_jvp)


class EighResult(NamedTuple):
    """What ``eigh`` returns, as NumPy: eigenvalues (ascending) and eigenvectors (columns)."""

    eigenvalues: Any
    eigenvectors: Any


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 (NumPy's name)
    """Eigenvalues and eigenvectors of a symmetric matrix (or a stack): see the op ``eigh``."""
    if UPLO != "L":
        raise ValueError(f"eigh: only UPLO='L' (the lower triangle) is supported, got {UPLO!r}")
    return EighResult(_eigh(a, part=0), _eigh(a, part=1))


def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    """The eigenvalues of a symmetric matrix, ascending."""
    return eigh(a, UPLO).eigenvalues


@primitive("svd")
def _svd(a: np.ndarray, part: int, full_matrices: bool = False) -> np.ndarray:
    """U (part 0), s (part 1, descending) or Vh (part 2) of A = U diag(s) Vh  (A (..., m, n), k = min(m, n))

    VJP: dA = U (diag(Gs) + F-terms of GU, GV) V^T + projections
    JVP: ds = diag(U^T dA V), dU = U (F o (P S + S P^T)) + (I - U U^T) dA V S^-1, dV likewise with P^T
    In full, with the gradients Ū = GU, s̄ = Gs, V̄ = (GVh)ᵀ (Townsend's form of the F-matrix rule):
        Ā = U [(F ∘ (UᵀŪ − ŪᵀU)) S + diag(s̄) + S (F ∘ (VᵀV̄ − V̄ᵀV))] Vᵀ
            + (I − UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ)
    Here V = Vhᵀ (k columns), S = diag(s), P = Uᵀ dA V, F_ij = 1/(s_j² - s_i²) off the diagonal.
    Undefined where it divides by zero: equal singular values (U, V not unique), and a zero
    singular value for U and V when m ≠ n. With ``full_matrices`` the columns of U (rows of
    Vh) beyond k are an arbitrary basis: their gradient is ignored, as in PyTorch.
    Each part gives its term; the signs of a pair (u_i, v_i) are arbitrary.
    """
    return np.linalg.svd(a, full_matrices=full_matrices)[part]


def _svd_reduced(a: Any) -> tuple[Any, Any, Any]:
    return _svd(a, part=0), _svd(a, part=1), _t(_svd(a, part=2))  # U, s, V


def _row(s: Any) -> Any:
    """(..., k) -> (..., 1, k): scales the columns of a matrix."""
    return reshape(s, shape=shape_of(s)[:-1] + (1, shape_of(s)[-1]))


def _svd_vjp(g: Any, y: Any, a: Any, part: int, full_matrices: bool = False) -> Any:
    u, s, v = _svd_reduced(a)
    m, n = shape_of(a)[-2:]
    k = builtins.min(m, n)
    if part == 1:
        return matmul(u * _row(g), _t(v))
    f = _off_diagonal_inverse(s * s)
    if part == 0:
        gu = getitem(g, index=(Ellipsis, slice(0, k)))
        x = matmul(_t(u), gu)
        core = matmul(f * (x - _t(x)) * _row(s), _t(v))
        rest = (gu - matmul(u, matmul(_t(u), gu))) / _row(s)  # (I - U Uᵀ) Ū S⁻¹, zero when m ≤ n
        return matmul(u, core) + matmul(rest, _t(v)) if m > n else matmul(u, core)
    gv = _t(getitem(g, index=(Ellipsis, slice(0, k), slice(None))))  # V̄ = (Vh̄)ᵀ
    x = matmul(_t(v), gv)
    core = matmul(_t(_row(s)) * (f * (x - _t(x))), _t(v))
    rest = (gv - matmul(v, matmul(_t(v), gv))) / _row(s)  # (I - V Vᵀ) V̄ S⁻¹, zero when n ≤ m
    return matmul(u, core) + matmul(u, _t(rest)) if n > m else matmul(u, core)


def _svd_jvp(da: Any, y: Any, a: Any, part: int, full_matrices: bool = False) -> Any:
    u, s, v = _svd_reduced(a)
    m, n = shape_of(a)[-2:]
    p = matmul(matmul(_t(u), da), v)  # Uᵀ dA V
    if part == 1:
        return _diagonal(p)
    f = _off_diagonal_inverse(s * s)
    if part == 0:
        du = matmul(u, f * (p * _row(s) + _t(_row(s)) * _t(p)))
        if m > n:
            du = du + (matmul(da, v) - matmul(u, p)) / _row(s)
        return _pad_columns(du, m) if full_matrices and m > n else du
    dv = matmul(v, f * (_t(_row(s)) * p + _t(p) * _row(s)))
    if n > m:
        dv = dv + (matmul(_t(da), u) - matmul(v, _t(p))) / _row(s)
    dvh = _t(dv)
    return _t(_pad_columns(dv, n)) if full_matrices and n > m else dvh


def _pad_columns(x: Any, width: int) -> Any:
    """x (..., r, k) with zero columns up to ``width`` (the tangent of the arbitrary extra basis)."""
    from .ops import pad
    k = shape_of(x)[-1]
    return pad(x, widths=((0, 0),) * (len(shape_of(x)) - 1) + ((0, width - k),))


_svd.defvjp(_svd_vjp, reads=("a",))
_svd.defjvp(_svd_jvp)


class SVDResult(NamedTuple):
    """What ``svd`` returns, as NumPy: U, the singular values (descending), Vh."""

    U: Any
    S: Any
    Vh: Any


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """A = U diag(S) Vh, as NumPy (``full_matrices=True`` by default: U is (m, m), Vh (n, n));
    ``compute_uv=False``: the singular values only. See the op ``svd`` for the gradient."""
    if len(shape_of(a)) < 2:
        raise LinAlgError(f"svd: needs a matrix (or a stack of them), got shape {shape_of(a)}")
    if not compute_uv:
        return _svd(a, part=1)
    full = bool(full_matrices)
    return SVDResult(_svd(a, part=0, full_matrices=full), _svd(a, part=1), _svd(a, part=2, full_matrices=full))


def svdvals(a: Any) -> Any:
    """The singular values, descending (PyTorch's ``linalg.svdvals``)."""
    return svd(a, compute_uv=False)


@primitive("qr")
def _qr(a: np.ndarray, part: int) -> np.ndarray:
    """Q (part 0, orthonormal columns) or R (part 1, upper triangular) of A = Q R, reduced (A (..., m, n), m >= n)

    VJP: dA = (GQ + Q copyltu(M)) R^-T, M = R GR^T - GQ^T Q
    JVP: dR = (C - W) R, dQ = dA R^-1 - Q (C - W), C = Q^T dA R^-1
    copyltu(M) is the symmetric matrix whose lower triangle is M's; W = tril(C, -1) - tril(C, -1)ᵀ
    (Qᵀ dQ is skew, dR R⁻¹ upper triangular: C splits into the two). Each part gives its terms.
    Wide matrices (m < n) have no gradient here; a zero on R's diagonal (rank deficiency) none either.
    """
    if a.ndim < 2:
        raise LinAlgError(f"qr: needs a matrix (or a stack of them), got shape {a.shape}")
    return np.linalg.qr(a, mode="reduced")[part]


def _qr_factors(a: Any) -> tuple[Any, Any]:
    m, n = shape_of(a)[-2:]
    if m < n:
        raise NotImplementedError(f"qr: no gradient for a wide matrix (shape {shape_of(a)}, m < n)")
    return _qr(a, part=0), _qr(a, part=1)


def _copyltu(m: Any) -> Any:
    lower = tril(m, k=-1)
    return lower + _t(lower) + _diag_embed(_diagonal(m))


def _qr_vjp(g: Any, y: Any, a: Any, part: int) -> Any:
    q, r = _qr_factors(a)
    if part == 0:
        inner = g + matmul(q, _copyltu(-matmul(_t(g), q)))
    else:
        inner = matmul(q, _copyltu(matmul(r, _t(g))))
    return _t(_solve(r, _t(inner)))  # inner R^-T


def _qr_jvp(da: Any, y: Any, a: Any, part: int) -> Any:
    q, r = _qr_factors(a)
    da_rinv = _t(_solve(_t(r), _t(da)))  # dA R^-1
    c = matmul(_t(q), da_rinv)
    lower = tril(c, k=-1)
    upper_part = c - (lower - _t(lower))  # C - W = dR R^-1
    return da_rinv - matmul(q, upper_part) if part == 0 else matmul(upper_part, r)


_qr.defvjp(_qr_vjp, reads=("a",))
_qr.defjvp(_qr_jvp)


class QRResult(NamedTuple):
    """What ``qr`` returns, as NumPy: Q and R."""

    Q: Any
    R: Any


def qr(a: Any, mode: str = "reduced") -> QRResult:
    """A = Q R, reduced (NumPy's default mode); the gradient needs m >= n. See the op ``qr``."""
    if mode != "reduced":
        raise ValueError(f"qr: only mode='reduced' is supported, got {mode!r}")
    return QRResult(_qr(a, part=0), _qr(a, part=1))


# ----------------------------------------------------------------------------
# Norms
# ----------------------------------------------------------------------------
@primitive("vector_norm")
def _vector_norm(x: np.ndarray, ord: float = 2.0, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A002
    """y = (sum |x|^p)^(1/p) over ``axis`` (p = ``ord``, finite and not 0 or 1)

    VJP: dx = G sign(x) |x|^(p-1) / y^(p-1)
    JVP: dy = sum(dx sign(x) |x|^(p-1)) / y^(p-1)
    (p = 2: dx = G x / y.) At y = 0 the gradient is 0, PyTorch's choice (the 2-norm has no
    derivative there; 0 is its smallest subgradient). ord 1, inf, -inf and 0 are composites
    (``sum(abs(x))``, ``max(abs(x))``, ...) in ``vector_norm``.
    """
    if ord == 2.0:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _norm_ratio(x: Any, y: Any, ord: float, axis: Any, keepdims: bool) -> Any:  # noqa: A002
    """sign(x) |x|^(p-1) / y^(p-1) in x's shape, 0 where y = 0."""
    from .ops import keep_reduced, sign
    y = keep_reduced(y, shape_of(x), axis, keepdims)
    zero = array_of(y) == 0
    safe = where(zero, 1.0, y)
    ratio = x / safe if ord == 2.0 else sign(x) * pow(abs(x), ord - 1) / pow(safe, ord - 1)
    return where(zero, 0.0, ratio)


def _vector_norm_vjp(g: Any, y: Any, x: Any, ord: float = 2.0, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    from .ops import unreduce
    return unreduce(g, shape_of(x), axis, keepdims) * _norm_ratio(x, y, ord, axis, keepdims)


_vector_norm.defvjp(_vector_norm_vjp, reads=("x y",))
_vector_norm.defjvp(lambda dx, y, x, ord=2.0, axis=None, keepdims=False: sum(
    dx * _norm_ratio(x, y, ord, axis, keepdims), axis=axis, keepdims=keepdims))


def vector_norm(x: Any, ord: Any = 2, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
                keepdim: Any = None) -> Any:  # noqa: A002
    """The vector ``ord``-norm over ``axis`` (all axes when None): (Σ|x|^ord)^(1/ord); ord inf: max |x|,
    -inf: min |x|, 0: the number of nonzeros (no gradient). PyTorch's ``linalg.vector_norm``."""
    axis, keep = _torch_spelling("vector_norm", axis, dim, keepdims, keepdim)
    axes = normalize_axis(axis, len(shape_of(x)))
    ord = float(ord)  # noqa: A001
    if ord == np.inf:
        return max(abs(x), axis=axes, keepdims=keep)
    if ord == -np.inf:
        return min(abs(x), axis=axes, keepdims=keep)
    if ord == 0:
        count = np.sum(array_of(x) != 0, axis=axes, keepdims=keep).astype(array_of(x).dtype)
        return Tensor._of(np.asarray(count)) if isinstance(x, Tensor) else count
    if ord == 1:
        return sum(abs(x), axis=axes, keepdims=keep)
    return _vector_norm(x, ord=ord, axis=axes, keepdims=keep)


def matrix_norm(x: Any, ord: Any = "fro", axis: Any = (-2, -1), keepdims: bool = False, *, dim: Any = None,
                keepdim: Any = None) -> Any:  # noqa: A002
    """A matrix norm over the two axes ``axis``: 'fro' (Frobenius), 'nuc' (sum of singular values),
    2 / -2 (largest / smallest singular value), 1 / -1 (max / min column sum of |x|), inf / -inf
    (max / min row sum). PyTorch's ``linalg.matrix_norm``; NumPy's ``norm`` with a 2-tuple axis."""
    axis, keep = _torch_spelling("matrix_norm", None if axis == (-2, -1) else axis, dim, keepdims, keepdim)
    axis = (-2, -1) if axis is None else axis
    ndim = len(shape_of(x))
    if len(tuple(axis)) != 2:
        raise ValueError(f"matrix_norm: axis must name two axes, got {axis!r}")
    row, col = (normalize_axis(a, ndim)[0] for a in axis)
    if row == col:
        raise ValueError(f"matrix_norm: the two axes must differ, got {axis!r}")
    if ord in ("fro", "nuc", 2, -2):
        if ord == "fro":
            out = _vector_norm(x, ord=2.0, axis=tuple(sorted((row, col))), keepdims=False)
        else:
            moved = _move_to_end(x, row, col)
            s = _svd(moved, part=1)
            out = sum(s, axis=(len(shape_of(s)) - 1,)) if ord == "nuc" else (
                max(s, axis=(len(shape_of(s)) - 1,)) if ord == 2 else min(s, axis=(len(shape_of(s)) - 1,)))
    elif ord in (1, -1, np.inf, -np.inf):
        over, then = (row, col) if ord in (1, -1) else (col, row)
        sums = sum(abs(x), axis=(over,), keepdims=True)
        pick = max if ord in (1, np.inf) else min
        out = reshape(pick(sums, axis=(then,), keepdims=True), shape=tuple(
            n for i, n in enumerate(shape_of(x)) if i not in (row, col)))
    else:
        raise ValueError(f"matrix_norm: ord {ord!r} is not one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf")
    if keep:
        out = reshape(out, shape=tuple(1 if i in (row, col) else n for i, n in enumerate(shape_of(x))))
    return out


def _move_to_end(x: Any, row: int, col: int) -> Any:
    from .ops import transpose
    ndim = len(shape_of(x))
    rest = tuple(i for i in range(ndim) if i not in (row, col))
    return transpose(x, axes=rest + (row, col))


def _torch_spelling(name: str, axis: Any, dim: Any, keepdims: Any, keepdim: Any) -> tuple[Any, bool]:
    """``axis`` or PyTorch's ``dim``, ``keepdims`` or ``keepdim`` (giving both of a pair is an error)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; pass one of them")
    if keepdim is not None and keepdims:
        raise TypeError(f"{name}: got both keepdims and keepdim; pass one of them")
    return (dim if dim is not None else axis), bool(keepdims or keepdim)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """NumPy's ``linalg.norm``: ord None is the 2-norm of the flattened x (Frobenius for a matrix);
    an int axis (or a 1-D x) gives vector norms, a 2-tuple axis (or a 2-D x) matrix norms.
    The gradient of the 2-norm at 0 is 0 (PyTorch's choice)."""
    ndim = len(shape_of(x))
    if axis is None:
        if ord is None:
            return _vector_norm(x, ord=2.0, axis=None, keepdims=bool(keepdims))
        if ndim == 1:
            return vector_norm(x, ord, 0, keepdims)
        if ndim == 2:
            return matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError(f"norm: an ord for an input of shape {shape_of(x)} needs a 1-D or 2-D input, or axis")
    if isinstance(axis, (int, np.integer)) or len(tuple(axis)) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord {ord!r} is a matrix norm; a vector norm (one axis) takes a number")
        return vector_norm(x, 2 if ord is None else ord, axis, keepdims)
    if len(tuple(axis)) == 2:
        return matrix_norm(x, "fro" if ord is None else ord, tuple(axis), keepdims)
    raise ValueError(f"norm: axis must be an int or a pair of ints, got {axis!r}")


#: The linear-algebra ops of this module (they are also in ``ops.OPS``).
LINALG_OPS: tuple[Primitive, ...] = (_solve, inv, det, _slogdet, cholesky, _eigh, _svd, _qr, _vector_norm)

__all__ = [
    "solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "norm", "vector_norm",
    "matrix_norm", "LinAlgError",
]
