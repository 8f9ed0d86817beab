"""The trainer never loses a run: numbered run directories, refusals, the lock, writability,
temporary files, signals, kill -9 during checkpoint writes, save errors, divergence."""
from __future__ import annotations

import atexit
import errno
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


def _train_cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "models.names", "train", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


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
    first, second = (tmp_path / "runs/names" / n / "checkpoint.npz" for n in ("1", "2"))
    assert Run.load(first).config.seed == 42 and Run.load(second).config.seed == 7
    assert (tmp_path / "runs/names/1/metrics.json").exists() and (tmp_path / "runs/names/2/metrics.json").exists()
    assert main(["sample", "-n", "2"]) == 0
    assert capsys.readouterr().err.startswith("runs/names/2/checkpoint.npz: seed ")
    assert main(["eval", "--split", "train"]) == 0
    assert "checkpoint: runs/names/2/checkpoint.npz" in capsys.readouterr().out
    assert main(["graph", "--out", "g.dot"]) == 0
    assert "from runs/names/2/checkpoint.npz" in capsys.readouterr().out
    assert not list((tmp_path / "runs/names").glob("*/.lock"))


# ----- explicit --out, --force, --resume ---------------------------------------------------------------------
def test_out_holding_a_checkpoint_is_refused_unless_resume_or_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    checkpoint = out / "checkpoint.npz"
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
    assert main(["train", "--resume", str(a / "checkpoint.npz"), "--out", str(b), "--no-progress"]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert _step(b / "checkpoint.npz") == 30


def test_resume_writes_next_to_its_checkpoint_and_the_hint_is_the_exact_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "elsewhere" / "my run"
    assert main(["train", *TINY, "--out", str(out), "--stop-at", "10"]) == 0
    hint = capsys.readouterr().out.split("continue with: ")[1].strip()
    argv = shlex.split(hint)
    assert argv[:4] == ["python", "-m", "models.names", "train"]
    assert main([*argv[3:], "--no-progress", "--no-plot", "--samples", "0"]) == 0
    assert _step(out / "checkpoint.npz") == 30
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
    path = run.save(tmp_path / "checkpoint.npz")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".checkpoint.npz.{dead.pid}-x1y2.tmp"
    legacy = tmp_path / ".checkpoint.npz.k3j4h5g6.tmp"  # an earlier version's name, without a pid
    live = tmp_path / f".checkpoint.npz.{os.getpid()}-busy.tmp"  # a save in progress in a live process
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
    checkpoint = out / "checkpoint.npz"
    before = checkpoint.read_bytes()
    capsys.readouterr()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.np, "savez", disk_full)
    assert main(["train", "--resume", str(checkpoint), "--no-progress", "--no-plot", "--samples", "0"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: cannot write checkpoint {checkpoint}: No space left on device; "
                   "the previous checkpoint there (if any) is unchanged\n")
    assert checkpoint.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / ".lock").exists()


# ----- signals and kill -9 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_save_a_resumable_checkpoint(tmp_path, sig, code):
    proc = _train_cli("--steps", "10000000", "--hidden", "8", "--eval-every", "1000000", "--out", str(tmp_path),
                      "--no-progress", "--no-plot", "--samples", "0")
    _wait_for(proc, "run directory:")
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted at step" in out
    assert f"continue with: python -m models.names train --resume {tmp_path / 'checkpoint.npz'}" in out
    run = Run.load(tmp_path / "checkpoint.npz")
    assert 0 < run.step < 10_000_000 and len(run.train_losses) == run.step == run.optimizer.step_count


def test_kill_9_during_checkpoint_writes_never_loses_the_previous_checkpoint(tmp_path):
    """Saving after every step, so most kills land inside a save. Each time the checkpoint on disk loads,
    and resuming from it to the end gives exactly the parameters of an uninterrupted run."""
    common = ["--input", str(WORDS_FILE), "--steps", "3000", "--hidden", "8", "--eval-every", "500", "--no-progress", "--no-plot",
              "--samples", "0", "--dropout", "0.1"]
    reference = tmp_path / "reference"
    assert main(["train", *common, "--out", str(reference)]) == 0
    victim = tmp_path / "victim"
    checkpoint = victim / "checkpoint.npz"
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
    done, expected = Run.load(checkpoint), Run.load(reference / "checkpoint.npz")
    assert done.step == expected.step == 3000
    for (name, a), (_, b) in zip(sorted(done.model.state_dict().items()), sorted(expected.model.state_dict().items())):
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(done.train_losses, expected.train_losses)


# ----- never checkpoint a broken model ------------------------------------------------------------------------
def test_a_non_finite_model_is_never_saved(tmp_path):
    run = Run.from_words(get_config("default", steps=20, hidden=[8]), WORDS)
    run.train(until=10, progress=False)
    path = run.save(tmp_path / "checkpoint.npz")
    before = path.read_bytes()
    run.model.parameters()[1].data[0] = np.inf  # what a learning-rate spike at a checkpoint step does
    with pytest.raises(DivergedError, match=rf"step 10: model state layers\.2\.weight is not finite.*{path.name} keeps"):
        run.save(path)
    assert path.read_bytes() == before


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--stop-at", "10"]) == 0
    capsys.readouterr()
    assert main(["train", "--input", str(WORDS_FILE), "--out", str(out), "--force", "--steps", "200", "--hidden", "8", "--lr", "1e30",
                 "--checkpoint-every", "1", "--no-progress", "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "error: training diverged at step" in err and "keeps the last good checkpoint" in err
    assert Run.load(out / "checkpoint.npz").step < 200  # loads: the loader refuses non-finite arrays


def test_a_finite_blow_up_warns_and_stop_on_divergence_makes_it_an_error(tmp_path, capsys):
    blow_up = ["--input", str(WORDS_FILE), "--steps", "60", "--hidden", "16", "--lr", "100", "--schedule", "constant", "--eval-every", "5",
               "--no-progress", "--no-plot", "--samples", "0"]
    assert main(["train", *blow_up, "--out", str(tmp_path / "a")]) == 0
    assert "warning: step 15: the mean training loss" in capsys.readouterr().err
    assert main(["train", *blow_up, "--out", str(tmp_path / "b"), "--stop-on-divergence"]) == 1
    err = capsys.readouterr().err
    assert "error: training diverged at step 15" in err and "--stop-on-divergence" in err
    assert not (tmp_path / "b" / "checkpoint.npz").exists()
