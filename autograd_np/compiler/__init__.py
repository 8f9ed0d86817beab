"""``autograd_np.compile``: a training step captured once, written out as NumPy source, replayed.

    step = autograd_np.compile(train_step)      # or @autograd_np.compile over the def
    for Xb, Yb in batches:
        loss = step(Xb, Yb)
    print(step.source())                        # forward, backward, update: one NumPy line per op

How it works (docs/compile.md has the user's view):

1. **Capture.** A call runs ``fn`` eagerly, as always, while a ``Tracer`` is switched on
   (``capture_hook._capture``): every op call (``Primitive.__call__``), every VJP the real
   backward walk runs (``graph.backprop`` hands the walk to the tracer, which runs it with
   recording VJPs), the gradient sums and the leaves' ``.grad``, and the update (NumPy on
   ``p.data`` / ``p.grad``, in-place operators under ``no_grad``, an ``optim`` optimizer's
   ``step()``) become a list of instructions on *values* (arrays, keyed by identity); each
   dropout mask is an instruction that draws a new one per call from the same generator.
   (``tracer.py``; the values and instructions: ``instructions.py``.)
2. **Check.** The first two calls of a shape are both captured; they must record the same
   program with the same constants (a mask drawn with NumPy in the step, or an array computed
   from the batch outside the ops, differs between them: never baked in). The program built from the second is then
   run on the state from before that call and must leave what eager left (bit for bit with
   ``strict=True``); eager's result is what the call returns and leaves, either way.
   (``CompiledFunction._capture`` in ``compiled.py``; ``check_against_eager`` in ``program.py``.)
3. **Replay.** Later calls whose arguments have the same shapes and dtypes (and the same
   Python numbers and objects), and whose parameters still hold the same arrays, run the
   program: one Python function of NumPy calls into buffers allocated once. ``source()`` is
   that function's text (written by ``emitter.py``, after the rewrites of ``passes.py``). The
   guards and the replay itself are also written out once per program
   (``Program._write_guards``, ``Program._write_replay`` in ``program.py``), so a replay costs a
   few attribute reads besides the program.

Reading a value (``.item()``, ``bool()``, ``float()``, an ``if`` on a Tensor), hooks,
``create_graph``, ``grad()``, anomaly mode, a NumPy call the tracer cannot follow: the call
that met it finishes eagerly and the compiled function runs eagerly from then on, after one
``CompileWarning`` (``fallback="error"``: a ``CompileError`` instead).

The files, in the order they import one another (each only from those above it):

    instructions.py   Value and Instr: what a capture records
    tracer.py         the Tracer, Traced arrays, the backward walk's recorders, the patches while capturing
    emitter.py        writing the program out: names for its values, NumPy lines per instruction
    passes.py         PASSES: the named rewrites of the instructions, and buffer sharing
    program.py        the Program: built, guarded, replayed; the check against eager
    compiled.py       CompiledFunction, compile, capture

The lowerings (each op as NumPy calls into buffers) are one table outside this package:
``autograd_np/lowerings.py``.
"""
from .compiled import CompiledFunction, CompileError, CompileWarning, capture, compile
from .passes import PASSES

__all__ = ["compile", "capture", "CompiledFunction", "CompileWarning", "CompileError", "PASSES"]
