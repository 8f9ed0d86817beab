"""Hostile checkpoints: every one is refused with a one-line CheckpointError naming the file (and the
tensor or metadata at fault), exit code 1 from the CLI, no traceback, bounded peak memory and time.

The files are safetensors files forged byte by byte (a JSON header that lies about lengths, offsets,
shapes, dtypes, or metadata). All are loaded in one subprocess (``_LOADER``), so the peak RSS measured
there is the peak of loading them all; a loader that allocated what any of them asks for would exceed
the bound by gigabytes.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from models.names import Run, get_config
from models.names import checkpoint as ckpt
from models.names.data import Words

ROOT = Path(__file__).resolve().parent.parent
MAX_RSS_MB = 300
MAX_SECONDS = 3.0
WORDS = Words(["anna", "bob", "clara", "dave", "emma", "fred", "gina", "hugo", "ida", "jon"] * 2, list(range(1, 21)), "t")
WEIGHT = "model/layers.0.weight"


# ----- forging safetensors files ---------------------------------------------------------------------------
def split_file(raw: bytes) -> tuple[dict, bytes]:
    """(header JSON object, data bytes) of a safetensors file."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_file(header: dict | str | bytes, data: bytes, *, length: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def arrays_of(raw: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    header, _ = split_file(raw)
    return safetensors.numpy.load(raw), header["__metadata__"]


def rebuild(raw: bytes, *, arrays: dict | None = None, drop: tuple = (), **meta) -> bytes:
    """A well-formed file with some tensors replaced or dropped, or metadata fields set (JSON-encoded
    unless given as a str already, so a field can hold text that is not JSON)."""
    old_arrays, metadata = arrays_of(raw)
    new = {k: v for k, v in {**old_arrays, **(arrays or {})}.items() if k not in drop}
    metadata = {**metadata, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    return safetensors.numpy.save(new, metadata=metadata)


def edit_entry(raw: bytes, name: str, **fields) -> bytes:
    """The same data under a header whose entry ``name`` says something else."""
    header, data = split_file(raw)
    header[name] = {**header[name], **fields}
    return join_file(header, data)


def meta_of(raw: bytes, key: str):
    return json.loads(split_file(raw)[0]["__metadata__"][key])


# ----- the catalogue --------------------------------------------------------------------------------------
def build_catalogue(good: Path, d: Path) -> dict[str, tuple[Path, str, str | None]]:
    """name -> (file, expected message fragment, entry the message must name or None)."""
    g = good.read_bytes()
    header, data = split_file(g)
    arrays, _ = arrays_of(g)
    cases: dict[str, tuple[Path, str, str | None]] = {}

    def case(name: str, raw: bytes, message: str, entry: str | None) -> None:
        (d / f"{name}.safetensors").write_bytes(raw)
        cases[name] = (d / f"{name}.safetensors", message, entry)

    config = meta_of(g, "config")
    # the header itself
    case("empty_file", b"", "0 bytes: empty or truncated", None)
    case("seven_bytes", g[:7], "7 bytes: empty or truncated", None)
    case("header_length_huge", join_file(header, data, length=2**63), "a header of 9,223,372,036,854,775,808 bytes", None)
    case("header_length_past_end", join_file(header, data, length=10**6), "a header of 1,000,000 bytes in a", None)
    case("header_too_large", join_file(json.dumps(header) + " " * (5 << 20), data), "at most 4,194,304 accepted", None)
    case("header_not_json", join_file(b"{not json" + b" " * 40, data), "header is not JSON", None)
    case("header_not_utf8", join_file(b'{"\xff\xfe": 1}', data), "header is not JSON", None)
    case("header_not_object", join_file("[1, 2]", data), "header is not a JSON object", None)
    case("header_nested_100k", join_file('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", data), "header is not JSON", None)
    duplicated = json.dumps(header)[:-1] + f', "{WEIGHT}": ' + json.dumps(header[WEIGHT]) + "}"
    case("header_duplicate_name", join_file(duplicated, data), f"the name {WEIGHT!r} appears twice", None)
    case("entry_malformed", edit_entry(g, WEIGHT, shape="big"), "malformed header entry", WEIGHT)
    case("entry_extra_field", edit_entry(g, WEIGHT, pickle="x"), "malformed header entry", WEIGHT)
    case("entry_negative_shape", edit_entry(g, WEIGHT, shape=[-1, 4]), "malformed header entry", WEIGHT)
    # metadata: the format
    no_meta = {k: v for k, v in header.items() if k != "__metadata__"}
    case("metadata_missing", join_file(no_meta, data), "not a names checkpoint (format tag 'None')", "__metadata__")
    case("format_tag_wrong", rebuild(g, format="something-else"), "format tag 'something-else'", "__metadata__")
    case("version_wrong", rebuild(g, version="1"), "checkpoint version 1, this code reads version 2", "__metadata__")
    case("metadata_value_not_string", join_file({**header, "__metadata__": {**header["__metadata__"], "step": 5}}, data),
         "metadata values must be strings", "__metadata__")
    case("metadata_unknown_field", rebuild(g, evil=1), "unknown fields ['evil']", "__metadata__")
    meta_without_step = {k: v for k, v in header["__metadata__"].items() if k != "step"}
    case("metadata_missing_field", join_file({**header, "__metadata__": meta_without_step}, data), "missing field 'step'",
         "__metadata__")
    # metadata: the fields
    case("config_nested_100k", rebuild(g, config="[" * 100_000 + "]" * 100_000), "config: corrupt JSON", "__metadata__")
    case("config_not_json", rebuild(g, config="{lr: 0.1}"), "config: corrupt JSON", "__metadata__")
    case("hidden_20000x20000", rebuild(g, config={**config, "hidden": [20000, 20000]}),
         "the config asks for more than the cap of 20,000,000 parameters", "__metadata__")
    wide = "." + "".join(c for c in map(chr, range(0x4E00, 0x4E00 + 30_000)) if c.isprintable())
    case("bigram_vocab_30k", rebuild(g, vocab=json.dumps(wide), config={**config, "arch": "bigram", "block_size": 6}),
         "more than the cap of 20,000,000 parameters", "__metadata__")
    case("n_layer_5000", rebuild(g, config={**config, "n_layer": 5000}), "more than the 1024 layers", "__metadata__")
    case("step_1e400", rebuild(g, step="1e400"), "step must be an integer", "__metadata__")
    case("step_negative", rebuild(g, step=-1), "step must be an integer", "__metadata__")
    case("step_beyond_config", rebuild(g, step=10**6), "step must be an integer in [0, config steps 20]", "__metadata__")
    case("train_seconds_nan", rebuild(g, train_seconds="NaN"), "train_seconds: corrupt JSON", "__metadata__")
    case("vocab_not_string", rebuild(g, vocab=[".", "a"]), "vocab must be a string", "__metadata__")
    case("vocab_whitespace", rebuild(g, vocab=json.dumps(".a b")), "vocab holds", "__metadata__")
    case("config_lr_string", rebuild(g, config={**config, "lr": "fast"}), "lr must be a number", "__metadata__")
    case("config_lr_negative", rebuild(g, config={**config, "lr": -0.1}), "lr must be a finite number", "__metadata__")
    case("config_unknown_key", rebuild(g, config={**config, "evil": 1}), "unknown keys", "__metadata__")
    case("config_arch_unknown", rebuild(g, config={**config, "arch": "lstm"}), "arch must be", "__metadata__")
    case("optimizer_mismatch", rebuild(g, optimizer=json.dumps("SGD")), "does not match config optimizer 'adamw'", "__metadata__")
    case("rng_state_garbage", rebuild(g, rng_state={"bit_generator": "MT19937"}), "rng_state", "__metadata__")
    case("data_info_wrong_type", rebuild(g, data={**meta_of(g, "data"), "n_words": "many"}), "n_words must be int",
         "__metadata__")
    # tensors: names, dtypes, shapes, offsets
    case("unknown_tensor", rebuild(g, arrays={"model/evil": np.zeros(3, np.float32)}), "unknown tensor", "model/evil")
    case("missing_tensor", rebuild(g, drop=(WEIGHT,)), "missing", WEIGHT)
    case("wrong_shape", rebuild(g, arrays={WEIGHT: np.zeros((3, 3), np.float32)}), "found F32 (3, 3), the config implies F32 (",
         WEIGHT)
    case("wrong_dtype", rebuild(g, arrays={WEIGHT: arrays[WEIGHT].astype(np.float64)}), "found F64", WEIGHT)
    case("shape_1e12", edit_entry(g, WEIGHT, shape=[10**12, 4]), "found F32 (1000000000000, 4)", WEIGHT)
    case("dtype_unknown", edit_entry(g, WEIGHT, dtype="F8_E4M3"), "found F8_E4M3", WEIGHT)
    begin, end = header[WEIGHT]["data_offsets"]
    case("offsets_wrong_length", edit_entry(g, WEIGHT, data_offsets=[begin, end + 4]), "data_offsets", WEIGHT)
    far = 10**15
    case("offsets_past_the_end", edit_entry(g, WEIGHT, data_offsets=[far, far + end - begin]), "past the end", WEIGHT)
    other = next(k for k in header if k.startswith("model/") and k != WEIGHT
                 and header[k]["data_offsets"][1] - header[k]["data_offsets"][0] <= end - begin)
    o_begin, o_end = header[other]["data_offsets"]
    case("offsets_overlap", edit_entry(g, other, data_offsets=[begin, begin + o_end - o_begin]), "overlap or leave a gap",
         None)
    case("truncated", g[:len(g) - 40], "past the end of the file's", None)
    case("trailing_bytes", g + b"\0" * 64, "64 bytes after the last tensor's data", None)
    # values
    nan = arrays[WEIGHT].copy()
    nan[0, 0] = np.nan
    case("nan_weights", rebuild(g, arrays={WEIGHT: nan}), "non-finite", WEIGHT)
    adam = next(k for k in arrays if k.startswith("optim/state."))
    inf = arrays[adam].copy()
    inf.flat[0] = np.inf
    case("inf_optimizer_state", rebuild(g, arrays={adam: inf}), "non-finite", adam)
    case("dev_history_longer_than_run", rebuild(g, arrays={"history/dev_step": np.arange(1, 11),
                                                          "history/dev_loss": np.ones(10)}), "more evaluations",
         "history/dev_step")
    case("optimizer_step_mismatch", rebuild(g, arrays={"optim/step": np.array(4)}), "optimizer step 4 but metadata step 5",
         "optim/step")
    # stored words
    words = np.frombuffer("\n".join(WORDS.words + ["annaé"]).encode(), np.uint8)
    case("word_outside_vocab", rebuild(g, arrays={"data/words": words}, data={"source": "t"}), "not in the model's vocabulary",
         "data/words")
    bad_utf8 = np.frombuffer(b"anna\n\xff\xfe\nbob", np.uint8)
    case("words_not_utf8", rebuild(g, arrays={"data/words": bad_utf8}, data={"source": "t"}), "not valid UTF-8", "data/words")
    tampered = np.frombuffer("\n".join(["nana"] + WORDS.words[1:]).encode(), np.uint8)
    case("words_tampered", rebuild(g, arrays={"data/words": tampered}), "SHA-256", "data/words")
    # not checkpoints at all
    case("random_bytes", np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes(),
         "not a names checkpoint", None)
    case("pickle_file", pickle.dumps({"model": np.ones(3)}), "not a names checkpoint", None)
    case("npz_file", _npz_bytes(), "not a names checkpoint", None)
    return cases


def _npz_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, weights=np.ones(3))
    return buf.getvalue()


_LOADER = r"""
import json, resource, sys, time, io, contextlib
from models.names.cli import main


def peak_mb():
    # This process's own high-water mark: Linux's ru_maxrss also counts the parent's resident size
    # at fork (the test runner's, large once torch is imported); VmHWM restarts at exec.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


results = {}
for name, path in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["sample", path, "-n", "2", "--seed", "0"])
    results[name] = {"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0,
                     "peak_mb": peak_mb()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    config = get_config("default", steps=20, hidden=[8], emb=4, optimizer="adamw", lr=1e-2, weight_decay=0.1,
                        eval_every=5)
    run = Run.from_words(config, WORDS)
    run.train(until=5, progress=False)
    return run.save(tmp_path_factory.mktemp("good") / "checkpoint.safetensors")


@pytest.fixture(scope="module")
def catalogue(good_checkpoint, tmp_path_factory):
    cases = build_catalogue(good_checkpoint, tmp_path_factory.mktemp("hostile"))
    paths = {name: str(path) for name, (path, _, _) in cases.items()}
    paths["good"] = str(good_checkpoint)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(paths)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return cases, json.loads(out.stdout)


CASE_NAMES = [
    "empty_file", "seven_bytes", "header_length_huge", "header_length_past_end", "header_too_large", "header_not_json",
    "header_not_utf8", "header_not_object", "header_nested_100k", "header_duplicate_name", "entry_malformed",
    "entry_extra_field", "entry_negative_shape", "metadata_missing", "format_tag_wrong", "version_wrong",
    "metadata_value_not_string", "metadata_unknown_field", "metadata_missing_field", "config_nested_100k",
    "config_not_json", "hidden_20000x20000", "bigram_vocab_30k", "n_layer_5000", "step_1e400", "step_negative", "step_beyond_config",
    "train_seconds_nan", "vocab_not_string", "vocab_whitespace", "config_lr_string", "config_lr_negative",
    "config_unknown_key", "config_arch_unknown", "optimizer_mismatch", "rng_state_garbage", "data_info_wrong_type",
    "unknown_tensor", "missing_tensor", "wrong_shape", "wrong_dtype", "shape_1e12", "dtype_unknown",
    "offsets_wrong_length", "offsets_past_the_end", "offsets_overlap", "truncated", "trailing_bytes", "nan_weights",
    "inf_optimizer_state", "dev_history_longer_than_run", "optimizer_step_mismatch", "word_outside_vocab",
    "words_not_utf8", "words_tampered", "random_bytes", "pickle_file", "npz_file",
]


def test_the_catalogue_is_complete(catalogue):
    cases, _ = catalogue
    assert sorted(cases) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_checkpoint_is_refused(catalogue, name):
    cases, results = catalogue
    path, message, entry = cases[name]
    result = results[name]
    err = result["stderr"]
    assert result["code"] == 1, err
    assert err.startswith(f"error: {path}: "), err
    assert err.count("\n") == 1, err  # one line
    assert message in err, err
    if entry is not None:
        assert f"entry {entry!r}" in err, err
    assert "Traceback" not in err
    assert result["seconds"] < MAX_SECONDS, result
    assert result["peak_mb"] < MAX_RSS_MB, result


def test_the_untouched_checkpoint_loads_in_the_same_process(catalogue):
    """The control: the loader process samples from the valid file (so refusals above are not a broken loader)."""
    _, results = catalogue
    assert results["good"]["code"] == 0, results["good"]["stderr"]


def test_the_forged_files_differ_from_the_good_one_only_as_named(good_checkpoint, tmp_path):
    """The forging helpers are faithful: rebuilding with no change gives a file that loads the same."""
    raw = good_checkpoint.read_bytes()
    same = tmp_path / "same.safetensors"
    same.write_bytes(rebuild(raw))
    assert Run.load(same).sample(5, seed=1) == Run.load(good_checkpoint).sample(5, seed=1)
    header, data = split_file(raw)
    again = tmp_path / "again.safetensors"
    again.write_bytes(join_file(header, data))
    assert Run.load(again).step == 5


def test_max_params_raises_the_cap(good_checkpoint):
    with pytest.raises(ckpt.CheckpointError, match="more than the cap of 100 parameters"):
        Run.load(good_checkpoint, max_parameters=100)
    assert Run.load(good_checkpoint, max_parameters=10_000).step == 5


def test_a_capped_build_refuses_before_allocating():
    """A config far over the cap is refused by the generator the model draws its weights from, before the
    matrix is made (a 20000 x 20000 float64 draw would take 3.2 GB)."""
    config = get_config("default", hidden=[20000, 20000])
    with pytest.raises(ValueError, match="more than the cap of 1,000,000 parameters"):
        ckpt.build_capped(config, 27, 1_000_000)
    assert ckpt.parameter_count(get_config("default"), 27, 1_000_000) == 11_897


# ----- sequence models (the zoo): their config fields bound what loading may allocate ---------------------
def _zoo_checkpoint(tmp_path, arch, **options) -> Path:
    words = ["anna", "bob", "clara", "dave", "emma", "fred", "gina", "hugo", "ida", "jon"] * 3
    run = Run(get_config(arch, steps=4, batch_size=4, **options), words)
    run.train(progress=False)
    return run.save(tmp_path / f"{arch}.safetensors")


@pytest.mark.parametrize("arch, change, message", [
    ("gru", {"block_size": 10**9}, "config block_size 1000000000 for arch 'gru', but its words need 6"),
    ("rnn", {"block_size": 3}, "config block_size 3 for arch 'rnn', but its words need 6"),
    ("transformer", {"n_layer": 5000}, "n_layer 5000 is more than the 1024 layers accepted"),
    ("transformer", {"block_size": 4000}, "entry 'model/wpe.weight': found F32 (6, 4), the config implies F32 (4000, 4)"),
    ("transformer", {"keep_best": "yes"}, "keep_best must be true or false"),
])
def test_a_sequence_checkpoint_with_a_hostile_config_is_refused(tmp_path, arch, change, message):
    options = dict(n_layer=1, n_embd=4, n_head=1) if arch == "transformer" else dict(n_embd=4, n_embd2=4)
    raw = _zoo_checkpoint(tmp_path, arch, **options).read_bytes()
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(rebuild(raw, config={**meta_of(raw, "config"), **change}))
    with pytest.raises(ckpt.CheckpointError, match=re.escape(message)):
        Run.load(path)


@pytest.mark.parametrize("arch", ["mlp", "hier", "bigram", "bow", "rnn", "gru", "transformer"])
def test_every_arch_round_trips_through_the_validated_loader(tmp_path, arch):
    options = {"mlp": dict(hidden=[8]), "hier": dict(hidden=[8], block_size=4, norm="batch"), "bigram": {},
               "transformer": dict(n_layer=1, n_embd=4, n_head=2)}.get(arch, dict(n_embd=4, n_embd2=4))
    if arch in ("mlp", "hier"):
        run = Run(get_config("default", arch=arch, steps=4, batch_size=4, optimizer="adam", **options), WORDS.words)
        run.train(progress=False)
        path = run.save(tmp_path / f"{arch}.safetensors")
    else:
        path = _zoo_checkpoint(tmp_path, arch, **options)
    loaded = Run.load(path)
    assert loaded.config.arch == arch and loaded.step == 4
    names = set(split_file(path.read_bytes())[0]) - {"__metadata__"}
    assert {f"model/{k}" for k in loaded.model.state_dict()} == {k for k in names if k.startswith("model/")}
    assert len(loaded.sample(3, seed=0)) == 3
