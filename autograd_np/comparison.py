"""``compare``: hand-derived gradients against the engine's, one table row per name.

    table = autograd_np.compare({"dW": my_dW, "db": my_db}, {"dW": W, "db": b})
    print(table)        # a text table; in Jupyter, an HTML table
    table.ok            # True when every row is exact or close

Like the ``cmp()`` helper of Karpathy's "backprop ninja" exercise: each row says
whether the two arrays are identical, close (within a tolerance set by the
dtype), or wrong (with the largest difference and where it is).
"""
from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from .tensor_type import Tensor

#: Default relative tolerance by dtype. A row is "close" when its largest absolute difference
#: is at most ``rtol`` times the largest magnitude in the hand-computed array. Two correct
#: computations of the same gradient differ only in rounding: sums taken in another order,
#: which costs a few units of the last place (eps) times roughly the square root of the
#: number of terms. 1e-12 is about 4,500 eps of float64 and 1e-5 about 84 eps of float32,
#: far above that rounding and far below any mistake in a derivation (a wrong rule is off by
#: a large fraction of the values, not by their last digits).
DEFAULT_RTOL: dict[str, float] = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-2}

EXACT, CLOSE, WRONG = "exact", "close", "wrong"


@dataclass(frozen=True)
class Row:
    """One compared name: ``status`` is ``"exact"``, ``"close"`` or ``"wrong"``."""

    name: str
    status: str
    shape: tuple[int, ...]
    dtype: str
    max_abs_diff: float            # 0.0 for an exact row; inf where only one side is nan/inf
    tolerance: float               # the largest difference accepted as close
    worst_index: tuple[int, ...] | None  # where the largest difference is (None when exact)
    worst_values: tuple[float, float] | None  # (manual, engine) at worst_index
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status != WRONG


class Comparison:
    """The table ``compare`` returns: iterate it, index it by name, ask ``.ok``."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    @property
    def ok(self) -> bool:
        """True when every row is exact or close."""
        return all(row.ok for row in self.rows)

    @property
    def wrong(self) -> list[Row]:
        return [row for row in self.rows if not row.ok]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"compare: no row named {name!r}; rows: {[r.name for r in self.rows]}")

    # ----- display -----------------------------------------------------------
    def _cells(self) -> tuple[list[str], list[list[str]]]:
        with_worst = not self.ok
        with_notes = any(row.note for row in self.rows)
        header = ["name", "shape", "match", "max |diff|", "tolerance"]
        header += ["worst (manual vs engine)"] * with_worst + ["rule"] * with_notes
        body = []
        for row in self.rows:
            cells = [
                row.name,
                _shape_text(row.shape),
                row.status if row.ok else "WRONG",
                "0" if row.status == EXACT else f"{row.max_abs_diff:.2g}",
                f"{row.tolerance:.2g}",
            ]
            if with_worst:
                cells.append("" if row.ok or row.worst_index is None else _worst_text(row))
            body.append(cells + [row.note] * with_notes)
        return header, body

    def summary(self) -> str:
        wrong = self.wrong
        if not wrong:
            return f"all {len(self.rows)} rows match" if len(self.rows) != 1 else "the 1 row matches"
        return f"{len(wrong)} of {len(self.rows)} rows WRONG: " + ", ".join(row.name for row in wrong)

    def __str__(self) -> str:
        header, body = self._cells()
        widths = [max(_width(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(_pad(cell, w) for cell, w in zip(line, widths)).rstrip() for line in [header, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + [self.summary()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        header, body = self._cells()
        colours = {EXACT: "#1a7f37", CLOSE: "#1f6feb", WRONG: "#cf222e"}  # green, blue, red
        parts = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
        for row, cells in zip(self.rows, body):
            tds = [f"<td>{html.escape(c)}</td>" for c in cells]
            tds[2] = f'<td style="color: {colours[row.status]}; font-weight: bold">{html.escape(cells[2])}</td>'
            parts.append("<tr>" + "".join(tds) + "</tr>")
        parts += ["</tbody>", f"<caption>{html.escape(self.summary())}</caption>", "</table>"]
        return "\n".join(parts)


def compare(
    manual: Mapping[str, Any],
    tensors: Mapping[str, Any],
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    notes: Mapping[str, str] | None = None,
) -> Comparison:
    """Compare hand-computed gradients (``manual``) with the engine's (``tensors``), by name.

    ``tensors[name]`` is a Tensor, whose ``.grad`` is compared, or an array (for example
    the ``.data`` of a gradient returned by ``autograd_np.grad``, which is how an
    intermediate's gradient is reached). Rows follow the order of ``manual``.

    A row is *exact* when every element is equal (same dtype; ``0.0 == -0.0``), *close*
    when the largest absolute difference is at most ``atol + rtol * max|manual|``, and
    *wrong* otherwise, with the difference and the index of the worst element. ``rtol``
    defaults to ``DEFAULT_RTOL`` of the less precise of the two dtypes (1e-12 for float64,
    1e-5 for float32). ``notes`` adds a column of text per name (such as the rule used).

    Raises ``ValueError`` naming the names present on one side only and the names whose
    shapes differ, and when a Tensor has no ``.grad`` yet.
    """
    for label, mapping in (("manual", manual), ("tensors", tensors)):
        if not isinstance(mapping, Mapping):
            raise TypeError(f"compare: {label} must be a dict of name -> array, got {type(mapping).__name__}")
    only_manual = [k for k in manual if k not in tensors]
    only_engine = [k for k in tensors if k not in manual]
    if only_manual or only_engine:
        raise ValueError(
            "compare: the names differ: "
            + "; ".join(
                f"only in {side}: {', '.join(map(repr, names))}"
                for side, names in (("manual", only_manual), ("tensors", only_engine))
                if names
            )
        )
    pairs = {name: (_manual_array(name, value), _engine_array(name, tensors[name])) for name, value in manual.items()}
    mismatched = [
        f"{name!r}: manual {_shape_text(a.shape)}, engine {_shape_text(b.shape)}"
        for name, (a, b) in pairs.items()
        if a.shape != b.shape
    ]
    if mismatched:
        raise ValueError("compare: the shapes differ for " + "; ".join(mismatched))
    if rtol is not None and not rtol >= 0 or not atol >= 0:
        raise ValueError(f"compare: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    notes = dict(notes or {})
    return Comparison([_row(name, a, b, rtol, atol, notes.get(name, "")) for name, (a, b) in pairs.items()])


def _manual_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        raise TypeError(f"compare: manual[{name!r}] is a Tensor; pass the hand-computed array (a Tensor's .data)")
    return _numeric(f"manual[{name!r}]", value)


def _engine_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        if value.grad is None:
            raise ValueError(
                f"compare: tensors[{name!r}] has no .grad (None): call backward() first; for a gradient "
                "returned by autograd_np.grad, pass its array (.data)"
            )
        value = value.grad
    return _numeric(f"tensors[{name!r}]", value)


def _numeric(label: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"compare: {label} must hold real numbers, got dtype {array.dtype}")
    return array


def _default_rtol(a: np.ndarray, b: np.ndarray) -> float:
    floats = [x.dtype for x in (a, b) if x.dtype.kind == "f"]
    if not floats:
        return 0.0
    coarsest = max(floats, key=lambda d: np.finfo(d).eps)
    return DEFAULT_RTOL.get(coarsest.name, float(np.sqrt(np.finfo(coarsest).eps)))


def _row(name: str, a: np.ndarray, b: np.ndarray, rtol: float | None, atol: float, note: str) -> Row:
    rtol = _default_rtol(a, b) if rtol is None else rtol
    dtype = a.dtype.name if a.dtype == b.dtype else f"{a.dtype.name}/{b.dtype.name}"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    finite = a64[np.isfinite(a64)]
    tolerance = atol + rtol * (float(np.abs(finite).max()) if finite.size else 0.0)
    with np.errstate(invalid="ignore"):
        same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
        diff = np.where(same, 0.0, np.abs(a64 - b64))
    diff = np.where(np.isnan(diff), np.inf, diff)  # nan against a number, or inf against -inf
    if a.dtype == b.dtype and same.all():
        return Row(name, EXACT, a.shape, dtype, 0.0, tolerance, None, None, note)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    max_diff = float(diff[worst]) if diff.size else 0.0
    status = CLOSE if max_diff <= tolerance else WRONG
    values = (float(a64[worst]), float(b64[worst])) if diff.size else None
    return Row(name, status, a.shape, dtype, max_diff, tolerance, tuple(int(i) for i in worst), values, note)


def _worst_text(row: Row) -> str:
    index = "[" + ", ".join(map(str, row.worst_index)) + "]" if row.worst_index else ""
    if row.worst_values is None:
        return index
    values = f"{row.worst_values[0]:.6g} vs {row.worst_values[1]:.6g}"
    return f"{index}: {values}" if index else values


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _width(text: str) -> int:
    """Columns taken in a monospace terminal: combining marks (the bar of W̄) take none."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
