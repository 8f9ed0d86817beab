"""The trainer never loses a run: numbered run directories, refusals, the lock, writability,
temporary files, signals, kill -9 during checkpoint writes, save errors, divergence.

Nothing here depends on how a BLAS kernel rounds or overflows: divergence is injected through
``Run.batch_loss`` (the trainer's loss seam), signals arrive at named pauses (``interrupt.pause``),
and runs compared bit for bit run in the same kind of process."""
from __future__ import annotations

import atexit
import errno
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from models.names import DEFAULT_DATA, Run, get_config
from models.names import checkpoint as ckpt
from models.names.cli import main
from models.names.data import Words
from models.names.interrupt import PAUSE_ENV
from models.names.rundir import RunDirError, RunLock
from models.names.train import DivergedError

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WORDS = Words(["anna", "bob", "clara", "dave", "emma", "fred", "gina", "hugo", "ida", "jon"] * 3, list(range(1, 31)), "t")
# a small data file keeps the final evaluation of every run short
WORDS_DIR = tempfile.mkdtemp(prefix="names-words-")
atexit.register(shutil.rmtree, WORDS_DIR, ignore_errors=True)
WORDS_FILE = Path(WORDS_DIR) / "words.txt"
WORDS_FILE.write_text("\n".join(DEFAULT_DATA.read_text().split()[:400]) + "\n")
TINY = ["--input", str(WORDS_FILE), "--steps", "30", "--hidden", "8", "--eval-every", "10", "--no-progress",
        "--no-plot", "--samples", "0"]


def _step(path: Path) -> int:
    return Run.load(path).step


def _train_cli(*argv: str, pause: str | None = None) -> subprocess.Popen:
    env = {**ENV, PAUSE_ENV: pause} if pause else ENV
    return subprocess.Popen([sys.executable, "-m", "models.names", "train", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_pause(proc: subprocess.Popen, phase: str) -> None:
    line = proc.stderr.readline()  # the seam writes this line, then waits for a signal
    assert line == f"paused at {phase}\n", line + (proc.stderr.read() if proc.poll() is not None else "")


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} never printed: {proc.stderr.read() if proc.poll() is not None else ''}")


# ----- numbered runs and the newest run --------------------------------------------------------------------
def test_quick_start_twice_keeps_both_runs_and_the_newest_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "-n", "2"]) == 1
    assert "no run under runs/names holds one" in capsys.readouterr().err
    assert main(["train", *TINY]) == 0
    assert "run directory: runs/names/1" in capsys.readouterr().out
    assert main(["train", *TINY, "--seed", "7"]) == 0
    assert "run directory: runs/names/2" in capsys.readouterr().out
    first, second = (tmp_path / "runs/names" / n / "checkpoint.safetensors" for n in ("1", "2"))
    assert Run.load(first).config.seed == 42 and Run.load(second).config.seed == 7
    assert (tmp_path / "runs/names/1/metrics.json").exists() and (tmp_path / "runs/names/2/metrics.json").exists()
    assert main(["sample", "-n", "2"]) == 0
    assert capsys.readouterr().err.startswith("runs/names/2/checkpoint.safetensors: seed ")
    assert main(["eval", "--split", "train"]) == 0
    assert "checkpoint: runs/names/2/checkpoint.safetensors" in capsys.readouterr().out
    assert main(["graph", "--out", "g.dot"]) == 0
    assert "from runs/names/2/checkpoint.safetensors" in capsys.readouterr().out
    assert not list((tmp_path / "runs/names").glob("*/.lock"))


def test_a_run_directory_is_accepted_wherever_a_checkpoint_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--stop-at", "10"]) == 0
    run_dir, checkpoint = Path("runs/names/1"), Path("runs/names/1/checkpoint.safetensors")
    capsys.readouterr()
    note = f"{run_dir} is a directory: using its newest checkpoint, {checkpoint}\n"
    for argv in (["sample", str(run_dir), "-n", "2"], ["eval", str(run_dir), "--split", "dev"],
                 ["graph", str(run_dir), "--out", "g.dot"], ["derive", str(run_dir)]):
        assert main(argv) == 0, argv
        assert capsys.readouterr().err.startswith(note), argv
    assert main(["sample", "runs/names", "-n", "1"]) == 0  # a directory of numbered runs: the newest run's
    assert capsys.readouterr().err.startswith(f"runs/names is a directory: using its newest checkpoint, {checkpoint}")
    (run_dir / "best.safetensors").write_bytes(checkpoint.read_bytes())  # newer, but training continues checkpoint.safetensors
    assert main(["train", "--resume", str(run_dir), "--no-progress", "--no-plot", "--samples", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{run_dir} is a directory: using its run's checkpoint, {checkpoint}\n")
    assert f"resuming {checkpoint} at step 10 of 30" in captured.out
    assert _step(checkpoint) == 30 and (run_dir / "metrics.json").exists()
    best = run_dir / "best.safetensors"  # written later than checkpoint.safetensors: the newest
    os.utime(checkpoint, ns=(1, 1))
    assert main(["eval", str(run_dir), "--split", "dev"]) == 0
    assert capsys.readouterr().err == f"{run_dir} is a directory: using its newest checkpoint, {best}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sample", str(empty)]) == 1
    assert capsys.readouterr().err == (f"error: {empty} is a directory holding no checkpoint (checkpoint.safetensors or "
                                       "best.safetensors) and no numbered run with one; give a checkpoint file or a run "
                                       "directory\n")


# ----- explicit --out, --force, --resume ---------------------------------------------------------------------
def test_out_holding_a_checkpoint_is_refused_unless_resume_or_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    checkpoint = out / "checkpoint.safetensors"
    before = checkpoint.read_bytes()
    capsys.readouterr()
    assert main(["train", *TINY, "--out", str(out), "--seed", "3"]) == 1
    err = capsys.readouterr().err
    assert f"--resume {checkpoint}" in err and "--force" in err and str(out) in err
    assert checkpoint.read_bytes() == before
    assert main(["train", "--resume", str(checkpoint), "--out", str(out), "--steps", "40", "--no-progress",
                 "--no-plot", "--samples", "0"]) == 0
    assert _step(checkpoint) == 40
    assert main(["train", *TINY, "--out", str(out), "--seed", "3", "--force"]) == 0
    assert Run.load(checkpoint).config.seed == 3 and _step(checkpoint) == 30


def test_resume_into_another_run_directory_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *TINY, "--out", str(a), "--stop-at", "10"]) == 0
    assert main(["train", *TINY, "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(a / "checkpoint.safetensors"), "--out", str(b), "--no-progress"]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert _step(b / "checkpoint.safetensors") == 30


def test_resume_writes_next_to_its_checkpoint_and_the_hint_is_the_exact_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "elsewhere" / "my run"
    assert main(["train", *TINY, "--out", str(out), "--stop-at", "10"]) == 0
    hint = capsys.readouterr().out.split("continue with: ")[1].strip()
    argv = shlex.split(hint)
    assert argv[:4] == ["python", "-m", "models.names", "train"]
    assert main([*argv[3:], "--no-progress", "--no-plot", "--samples", "0"]) == 0
    assert _step(out / "checkpoint.safetensors") == 30
    assert (out / "metrics.json").exists()
    assert not (tmp_path / "runs").exists()  # the default root was left alone


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert main(["train", *TINY, "--out", str(target)]) == 1
    assert "is an existing file" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_force_clears_the_replaced_runs_metrics(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert main(["train", *TINY, "--out", str(out), "--force", "--stop-at", "5"]) == 0
    assert not (out / "metrics.json").exists()  # a metrics.json would describe the replaced run


# ----- the lock ----------------------------------------------------------------------------------------------
def test_a_second_process_on_the_directory_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = _train_cli("--steps", "10000000", "--hidden", "8", "--eval-every", "1000000", "--out", str(out),
                        "--no-progress", "--no-plot", "--samples", "0")
    try:
        _wait_for(holder, "run directory:")
        assert (out / ".lock").read_text().split("\n")[0] == str(holder.pid)
        assert main(["train", *TINY, "--out", str(out), "--force"]) == 1
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err and ".lock" in err
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=60)
    assert holder.returncode == 130
    assert not (out / ".lock").exists()


def test_a_stale_lock_is_detected_and_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(f"{dead.pid}\nsomehost\nold command\n")
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert f"took over the stale lock of process {dead.pid}" in capsys.readouterr().err
    assert not (out / ".lock").exists()


def test_lock_without_flock(tmp_path, monkeypatch):
    """Where fcntl is missing, the lock is an exclusive-create file checked for a live pid."""
    from models.names import rundir

    monkeypatch.setattr(rundir, "fcntl", None)
    with RunLock(tmp_path):
        with pytest.raises(RunDirError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(f"{dead.pid}\n")
    with RunLock(tmp_path) as lock:
        assert lock.stale_pid == dead.pid
        assert (tmp_path / ".lock").read_text().split("\n")[0] == str(os.getpid())


def test_lock_in_process(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.stale_pid is None
        with pytest.raises(RunDirError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released: can be taken again
        pass


# ----- writability, temporary files, save errors ---------------------------------------------------------------
def test_unwritable_out_fails_before_the_first_step(tmp_path):
    """A read-only --out is refused with one line before any training (a 1M-step run is never started)."""
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        # root writes anywhere through CAP_DAC_OVERRIDE: the child runs without it
        drop = _drop_dac_override if os.geteuid() == 0 else None
        result = subprocess.run([sys.executable, "-m", "models.names", "train", "--steps", "1000000",
                                 "--hidden", "8", "--no-progress", "--out", str(readonly)],
                                capture_output=True, text=True, env=ENV, timeout=120, preexec_fn=drop)
    finally:
        readonly.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: cannot write to {readonly}: Permission denied"
    assert "run directory:" not in result.stdout and not list(readonly.iterdir())


def _drop_dac_override() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_DAC_OVERRIDE: gone from the exec'd child
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_temporary_files_of_dead_processes_are_removed_on_load_and_save(tmp_path):
    run = Run.from_words(get_config("default", steps=5, hidden=[8]), WORDS)
    path = run.save(tmp_path / "checkpoint.safetensors")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".checkpoint.safetensors.{dead.pid}-x1y2.tmp"
    legacy = tmp_path / ".checkpoint.safetensors.k3j4h5g6.tmp"  # an earlier version's name, without a pid
    live = tmp_path / f".checkpoint.safetensors.{os.getpid()}-busy.tmp"  # a save in progress in a live process
    for f in (leftover, legacy, live):
        f.write_bytes(b"partial")
    Run.load(path)
    assert not leftover.exists() and not legacy.exists() and live.exists()
    leftover.write_bytes(b"partial")
    run.save(path)
    assert not leftover.exists() and live.exists()


def test_a_failing_save_is_one_line_naming_the_path_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--stop-at", "10"]) == 0
    checkpoint = out / "checkpoint.safetensors"
    before = checkpoint.read_bytes()
    capsys.readouterr()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.tempfile, "mkstemp", disk_full)
    assert main(["train", "--resume", str(checkpoint), "--no-progress", "--no-plot", "--samples", "0"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: cannot write checkpoint {checkpoint}: No space left on device; "
                   "the previous checkpoint there (if any) is unchanged\n")
    assert checkpoint.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / ".lock").exists()


# ----- signals and kill -9 ----------------------------------------------------------------------------------
#: where train is stopped (interrupt.PHASES), with which signal, and what it must leave behind
SIGNAL_CASES = [
    ("imports", signal.SIGINT, "nothing"), ("setup", signal.SIGTERM, "nothing"),
    ("train", signal.SIGINT, "checkpoint"), ("train", signal.SIGTERM, "checkpoint"),
    ("save", signal.SIGTERM, "final checkpoint"),
    ("evaluate", signal.SIGINT, "final checkpoint"), ("evaluate", signal.SIGTERM, "final checkpoint"),
    ("plot", signal.SIGINT, "metrics"), ("samples", signal.SIGTERM, "metrics"),
]


@pytest.mark.parametrize("phase, sig, leaves", SIGNAL_CASES, ids=[f"{p}-{s.name}" for p, s, _ in SIGNAL_CASES])
def test_a_signal_at_any_moment_of_train_is_one_line_and_leaves_metrics_or_a_resumable_checkpoint(
        tmp_path, phase, sig, leaves):
    out = tmp_path / "run"
    checkpoint = out / "checkpoint.safetensors"
    proc = _train_cli(*TINY, "--samples", "3", "--out", str(out), pause=phase)
    _wait_for_pause(proc, phase)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert stderr == "", stderr  # no traceback, no warning
    said = [line for line in stdout.splitlines() if "interrupted" in line]
    assert len(said) == 1 and f"interrupted by {sig.name}" in said[0], stdout
    assert not (out / ".lock").exists() and not [p for p in tmp_path.rglob("*.tmp")]
    if leaves == "nothing":
        assert "before training started: nothing was saved" in said[0] and not checkpoint.exists()
        return
    assert f"checkpoint: {checkpoint}" in said[0]
    step = _step(checkpoint)
    if leaves == "metrics":
        assert json.loads((out / "metrics.json").read_text())["steps"] == step == 30
        assert "sampled names" not in stdout
        return
    assert not (out / "metrics.json").exists()
    assert step == 30 if leaves == "final checkpoint" else 0 < step < 30
    resume = said[0].split("continue with: ")[1] if "continue with: " in said[0] else said[0].split(": ")[-1]
    assert shlex.split(resume)[:6] == ["python", "-m", "models.names", "train", "--resume", str(checkpoint)]
    assert main(["train", "--resume", str(out), "--no-progress", "--no-plot", "--samples", "0"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == _step(checkpoint) == 30


def test_a_second_signal_aborts_at_once_in_one_line(tmp_path):
    out = tmp_path / "run"
    proc = _train_cli(*TINY, "--out", str(out), "--stop-at", "10", pause="save:2")  # waits for both signals
    _wait_for_pause(proc, "save")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)  # another signal number: two pending SIGINTs could merge into one
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr == "aborted by a second signal; the last checkpoint saved before it (if any) is intact\n"
    assert not (out / "checkpoint.safetensors").exists() and not list(out.glob("*.tmp")) and not (out / ".lock").exists()


def test_kill_9_during_checkpoint_writes_never_loses_the_previous_checkpoint(tmp_path):
    """Saving after every step, so most kills land inside a save. Each time the checkpoint on disk loads,
    and resuming from it to the end gives exactly the parameters of an uninterrupted run."""
    common = ["--input", str(WORDS_FILE), "--steps", "3000", "--hidden", "8", "--eval-every", "500", "--no-progress", "--no-plot",
              "--samples", "0", "--dropout", "0.1"]
    reference = tmp_path / "reference"
    # a subprocess like the runs it is compared with: the same BLAS threads and kernels
    ref = _train_cli(*common, "--out", str(reference))
    assert ref.wait(timeout=120) == 0, ref.stderr.read()
    victim = tmp_path / "victim"
    checkpoint = victim / "checkpoint.safetensors"
    rng = random.Random(0)
    steps, interrupted_saves, attempt = [], 0, 0
    while attempt < 4 or (interrupted_saves == 0 and attempt < 12):  # until a kill has hit a save mid-write
        args = ["--out", str(victim), *common] if attempt == 0 else ["--resume", str(checkpoint), "--no-progress"]
        proc = _train_cli(*args, "--checkpoint-every", "1")
        _wait_for(proc, "run directory:")
        deadline = time.time() + 30
        while not checkpoint.exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        interrupted_saves += any(p.name.endswith(".tmp") for p in victim.iterdir())
        steps.append(_step(checkpoint))  # loads, and removes the killed process's temporary file
        assert not [p for p in victim.iterdir() if p.name.endswith(".tmp")]
        attempt += 1
    assert interrupted_saves > 0
    assert all(0 < s < 3000 for s in steps) and steps == sorted(steps), steps
    assert main(["train", "--resume", str(checkpoint), "--no-progress", "--no-plot", "--samples", "0"]) == 0
    done, expected = Run.load(checkpoint), Run.load(reference / "checkpoint.safetensors")
    assert done.step == expected.step == 3000
    for (name, a), (_, b) in zip(sorted(done.model.state_dict().items()), sorted(expected.model.state_dict().items())):
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(done.train_losses, expected.train_losses)


# ----- never checkpoint a broken model ------------------------------------------------------------------------
def test_a_non_finite_model_is_never_saved(tmp_path):
    run = Run.from_words(get_config("default", steps=20, hidden=[8]), WORDS)
    run.train(until=10, progress=False)
    path = run.save(tmp_path / "checkpoint.safetensors")
    before = path.read_bytes()
    run.model.parameters()[1].data[0] = np.inf  # what a learning-rate spike at a checkpoint step does
    with pytest.raises(DivergedError, match=rf"step 10: model state layers\.2\.weight is not finite.*{path.name} keeps"):
        run.save(path)
    assert path.read_bytes() == before


def _inject(monkeypatch, from_step: int, value: float) -> None:
    """From training step ``from_step`` on, the training loss is multiplied by ``value`` (NaN, infinity)
    or, when finite, raised by it (a constant: the gradients, and so training, stay as they were)."""
    original = Run.batch_loss

    def batch_loss(self, X, Y):
        loss = original(self, X, Y)
        if not self.model.training or self.step < from_step:
            return loss
        return loss + value if math.isfinite(value) else loss * value

    monkeypatch.setattr(Run, "batch_loss", batch_loss)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys, value):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--stop-at", "10"]) == 0
    capsys.readouterr()
    _inject(monkeypatch, 12, value)
    assert main(["train", "--resume", str(out), "--checkpoint-every", "1", "--no-progress", "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert f"error: training diverged at step 13: loss {value}" in err and "keeps the last good checkpoint" in err
    assert _step(out / "checkpoint.safetensors") == 12  # loads: the loader refuses non-finite arrays
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("eval_every, steps, warned_at", [("10", "60", 30), ("1000000", "400", 300)])
def test_a_huge_finite_loss_warns_and_stop_on_divergence_makes_it_an_error(
        tmp_path, monkeypatch, capsys, eval_every, steps, warned_at):
    """4e29 is what --lr 1e30 gives with some BLAS kernels (others overflow to infinity). Windows are
    min(eval_every, 100) steps, so the warning never waits for a distant evaluation."""
    _inject(monkeypatch, 5, 4e29)
    blow_up = ["--input", str(WORDS_FILE), "--steps", steps, "--hidden", "8", "--eval-every", eval_every,
               "--no-progress", "--no-plot", "--samples", "0"]
    assert main(["train", *blow_up, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and f"warning: step {warned_at}: the mean training loss (" in err
    assert "above 10x its starting value" in err and "--stop-on-divergence makes this an error" in err
    assert main(["train", *blow_up, "--out", str(tmp_path / "b"), "--stop-on-divergence"]) == 1
    err = capsys.readouterr().err
    assert f"error: training diverged at step {warned_at}" in err and "(--stop-on-divergence)" in err
    assert not (tmp_path / "b" / "checkpoint.safetensors").exists()


def test_a_loss_that_stays_near_its_start_never_warns(tmp_path, monkeypatch, capsys):
    _inject(monkeypatch, 5, 25.0)  # about 8x the starting 3.3: high, but not 10x
    assert main(["train", *TINY, "--out", str(tmp_path / "a")]) == 0
    assert "warning" not in capsys.readouterr().err
