"""Hostile checkpoints: every one is refused with a CheckpointError naming the file and the entry,
exit code 1 from the CLI, no mention of allow_pickle, bounded peak memory and time.

All files are loaded in one subprocess (``_LOADER``), so the peak RSS measured there is the peak of
loading them all; a loader that inflated any one of the bombs would exceed the bound by gigabytes.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from models.names import Run, get_config
from models.names import schema
from models.names.data import Words
from models.names.layout import ARCH_LAYOUTS, model_layout, optimizer_layout
from models.names.model import build_model, make_optimizer

ROOT = Path(__file__).resolve().parent.parent
MAX_RSS_MB = 300
MAX_SECONDS = 3.0
WORDS = Words(["anna", "bob", "clara", "dave", "emma", "fred", "gina", "hugo", "ida", "jon"] * 2, list(range(1, 21)), "t")
GIB = 1 << 30


# ----- forging zip files byte by byte (zipfile cannot write lies) ------------------------------------------
def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=True)
    return buf.getvalue()


def npy_header(dtype: str, shape: tuple) -> bytes:
    """A version-1.0 .npy header alone (no data)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": shape})
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


class Member:
    """A zip member: stored bytes, or a deflate stream with the declared CRC and size."""

    def __init__(self, name: str, data: bytes = b"", *, deflated: bytes | None = None, crc: int = 0,
                 size: int | None = None) -> None:
        self.name = name
        if deflated is None:
            self.method, self.payload, self.crc, self.size = 0, data, zlib.crc32(data), len(data)
        else:
            self.method, self.payload, self.crc, self.size = 8, deflated, crc, size
        if size is not None:
            self.size = size


def write_zip(path: Path, members: list[Member], *, count: int | None = None) -> Path:
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, m.method, 0, 0x21, m.crc, len(m.payload),
                           m.size, len(name), 0) + name + m.payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, m.method, 0, 0x21, m.crc,
                               len(m.payload), m.size, len(name), 0, 0, 0, 0, 0, offset) + name
    n = len(members) if count is None else count
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n & 0xFFFF, n & 0xFFFF, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + eocd))
    return path


def zero_bomb(prefix: bytes, zero_bytes: int) -> tuple[bytes, int]:
    """A deflate stream of ``prefix`` then ``zero_bytes`` zeros, and its CRC, built in well under a second:
    a fully flushed deflate chunk is self-contained, so one compressed 16 MiB chunk is repeated."""
    chunk = 16 << 20
    assert zero_bytes % chunk == 0
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = body.compress(bytes(chunk)) + body.flush(zlib.Z_FULL_FLUSH)
    stream += zeros * (zero_bytes // chunk) + b"\x03\x00"  # an empty final block ends the stream
    crc = zlib.crc32(prefix)
    block = bytes(chunk)
    for _ in range(zero_bytes // chunk):
        crc = zlib.crc32(block, crc)
    return stream, crc


# ----- the catalogue --------------------------------------------------------------------------------------
def _good_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {info.filename[:-4]: z.read(info) for info in z.infolist()}


def _meta(members: dict[str, bytes]) -> dict:
    return json.loads(str(np.load(io.BytesIO(members["meta"]))))


def _with_meta(members: dict[str, bytes], meta: dict | str) -> dict[str, bytes]:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return {**members, "meta": npy_bytes(np.array(text))}


def _edit_meta(members: dict[str, bytes], **changes) -> dict[str, bytes]:
    meta = _meta(members)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            meta[outer] = {**meta[outer], inner: value}
        else:
            meta[key] = value
    return _with_meta(members, meta)


def _stored(members: dict[str, bytes]) -> list[Member]:
    return [Member(f"{k}.npy", v) for k, v in members.items()]


def build_catalogue(good: Path, d: Path) -> dict[str, tuple[Path, str, str | None]]:
    """name -> (file, expected message fragment, entry the message must name or None)."""
    g = _good_members(good)
    cases: dict[str, tuple[Path, str, str | None]] = {}

    def case(name: str, members: list[Member] | dict[str, bytes], message: str, entry: str | None, **kw) -> None:
        items = _stored(members) if isinstance(members, dict) else members
        cases[name] = (write_zip(d / f"{name}.npz", items, **kw), message, entry)

    weight = "model/layers.0.weight"
    # bombs (the measurements: 2 GB RSS and 3.9 GB before failing)
    bomb, crc = zero_bomb(npy_header("<f4", (GIB // 4,)), GIB)
    case("extra_member_bomb", _stored(g) + [Member("extra.npy", deflated=bomb, crc=crc, size=len(npy_header("<f4", (GIB // 4,))) + GIB)],
         "out of proportion", "extra")
    meta_header = npy_header("<U%d" % (GIB // 4), ())
    bomb, crc = zero_bomb(meta_header, GIB)
    case("meta_bomb", _stored({k: v for k, v in g.items() if k != "meta"}) + [Member("meta.npy", deflated=bomb, crc=crc, size=len(meta_header) + GIB)],
         "out of proportion", "meta")
    case("meta_too_large", _with_meta(g, json.dumps(_meta(g)) + " " * ((5 << 20) // 4)), "bytes (at most", "meta")
    # lying headers and directories
    case("npy_header_1e12", {**g, weight: npy_header("<f4", (10**12,)) + b"\0" * 64}, "header declares", weight)
    case("npy_header_huge", {**g, weight: b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{}"}, ".npy header of", weight)
    case("declared_size_lie", _stored({k: v for k, v in g.items() if k != weight}) + [Member(f"{weight}.npy", g[weight], size=3 << 30)],
         "stored member declares", weight)
    case("deflate_ratio_lie", _stored({k: v for k, v in g.items() if k != weight})
         + [Member(f"{weight}.npy", deflated=zlib.compress(g[weight])[2:-4], crc=zlib.crc32(g[weight]), size=10**9)],
         "out of proportion", weight)
    case("too_many_members", _stored(g) + [Member(f"x{i}.npy", b"") for i in range(5000)], "lists 5,", None)
    case("duplicate_member", _stored(g) + [Member(f"{weight}.npy", g[weight])], "listed twice", weight)
    case("unknown_member", {**g, "model/evil": npy_bytes(np.zeros(3, np.float32))}, "unknown member", "model/evil")
    case("not_npy_member", _stored(g) + [Member("readme.txt", b"hi")], "unexpected member", None)
    case("missing_member", {k: v for k, v in g.items() if k != weight}, "missing", weight)
    case("pickled_member", {**g, weight: npy_bytes(np.array([{"a": 1}], dtype=object))}, "unsupported array type", weight)
    case("pickled_meta", {**g, "meta": npy_bytes(np.array([{"a": 1}], dtype=object))}, "unsupported array type", "meta")
    # shapes, dtypes, values
    case("wrong_shape", {**g, weight: npy_bytes(np.zeros((3, 3), np.float32))}, "the config implies", weight)
    case("wrong_dtype", {**g, weight: npy_bytes(np.load(io.BytesIO(g[weight])).astype(np.float64))}, "the config implies", weight)
    nan = np.load(io.BytesIO(g[weight])).copy()
    nan[0, 0] = np.nan
    case("nan_weights", {**g, weight: npy_bytes(nan)}, "non-finite", weight)
    adam = next(k for k in g if k.startswith("optim/state."))
    inf = np.load(io.BytesIO(g[adam])).copy()
    inf.flat[0] = np.inf
    case("inf_optimizer_state", {**g, adam: npy_bytes(inf)}, "non-finite", adam)
    case("dev_history_longer_than_run", {**g, "history/dev_step": npy_bytes(np.arange(1, 11)),
                                          "history/dev_loss": npy_bytes(np.ones(10))}, "more evaluations", "history/dev_step")
    # meta fields
    bad_text = bytearray(npy_bytes(np.array("x" * 8)))
    bad_text[-4:] = b"\xff\xff\xff\xff"
    case("meta_beyond_unicode", {**g, "meta": bytes(bad_text)}, "beyond Unicode", "meta")
    case("npy_header_short", {**g, weight: b"\x93NUMPY\x01\x00\x00\x00" + g[weight][10:]}, "malformed .npy header", weight)
    case("hidden_20000x20000", _edit_meta(g, **{"config.hidden": [20000, 20000]}), "parameters, more than the cap", "meta")
    case("json_nested_100k", _with_meta(g, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"), "nested", "meta")
    case("step_1e400", _with_meta(g, json.dumps(_meta(g)).replace('"step": 5', '"step": 1e400')), "step must be an integer", "meta")
    case("step_negative", _edit_meta(g, step=-1), "step must be an integer", "meta")
    case("meta_nan_constant", _with_meta(g, json.dumps(_meta(g)).replace('"train_seconds": ', '"train_seconds": NaN, "x": ')), "corrupt JSON", "meta")
    case("vocab_not_string", _edit_meta(g, vocab=[".", "a"]), "vocab must be a string", "meta")
    case("vocab_whitespace", _edit_meta(g, vocab=".a b"), "vocab holds", "meta")
    case("config_lr_string", _edit_meta(g, **{"config.lr": "fast"}), "lr must be a number", "meta")
    case("config_lr_negative", _edit_meta(g, **{"config.lr": -0.1}), "lr must be a finite number", "meta")
    case("config_unknown_key", _edit_meta(g, **{"config.evil": 1}), "unknown keys", "meta")
    case("config_arch_unknown", _edit_meta(g, **{"config.arch": "lstm"}), "arch must be", "meta")
    case("rng_state_garbage", _edit_meta(g, rng_state={"bit_generator": "MT19937"}), "rng_state", "meta")
    case("data_info_wrong_type", _edit_meta(g, **{"data.n_words": "many"}), "n_words must be int", "meta")
    case("meta_unknown_field", _edit_meta(g, evil=1), "unknown fields", "meta")
    case("meta_not_object", _with_meta(g, "[1, 2]"), "not a names checkpoint", "meta")
    # stored words
    words = np.frombuffer("\n".join(WORDS.words + ["annaé"]).encode(), np.uint8)
    case("word_outside_vocab", {**_edit_meta(g, data={"source": "t"}), "data/words": npy_bytes(words)}, "not in the model's vocabulary", "data/words")
    bad_utf8 = np.frombuffer(b"anna\n\xff\xfe\nbob", np.uint8)
    case("words_not_utf8", {**_edit_meta(g, data={"source": "t"}), "data/words": npy_bytes(bad_utf8)}, "not valid UTF-8", "data/words")
    tampered = np.frombuffer("\n".join(["nana"] + WORDS.words[1:]).encode(), np.uint8)
    case("words_tampered", {**g, "data/words": npy_bytes(tampered)}, "SHA-256", "data/words")
    # not checkpoints at all
    rng = np.random.default_rng(0)
    (d / "random_bytes.npz").write_bytes(rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    cases["random_bytes"] = (d / "random_bytes.npz", "not a names checkpoint", None)
    (d / "empty.npz").write_bytes(b"")
    cases["empty_file"] = (d / "empty.npz", "not a names checkpoint", None)
    return cases


_LOADER = r"""
import json, resource, sys, time, io, contextlib
from models.names.cli import main
results = {}
for name, path in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["sample", path, "-n", "2", "--seed", "0"])
    results[name] = {"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0,
                     "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    config = get_config("default", steps=20, hidden=[8], emb=4, optimizer="adamw", lr=1e-2, weight_decay=0.1,
                        eval_every=5)
    run = Run.from_words(config, WORDS)
    run.train(until=5, progress=False)
    return run.save(tmp_path_factory.mktemp("good") / "checkpoint.npz")


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
    "extra_member_bomb", "meta_bomb", "meta_too_large", "npy_header_1e12", "npy_header_huge", "declared_size_lie",
    "deflate_ratio_lie", "too_many_members", "duplicate_member", "unknown_member", "not_npy_member",
    "missing_member", "pickled_member", "pickled_meta", "wrong_shape", "wrong_dtype", "nan_weights",
    "inf_optimizer_state", "dev_history_longer_than_run", "meta_beyond_unicode",
    "npy_header_short", "hidden_20000x20000", "json_nested_100k", "step_1e400", "step_negative",
    "meta_nan_constant", "vocab_not_string", "vocab_whitespace", "config_lr_string", "config_lr_negative",
    "config_unknown_key", "config_arch_unknown", "rng_state_garbage", "data_info_wrong_type",
    "meta_unknown_field", "meta_not_object", "word_outside_vocab", "words_not_utf8", "words_tampered",
    "random_bytes", "empty_file",
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
    assert err.startswith(f"error: {path}"), err
    assert message in err, err
    if entry is not None:
        assert f"entry {entry!r}" in err, err
    assert "allow_pickle" not in err and "unsafe" not in err
    assert "Traceback" not in err
    assert result["seconds"] < MAX_SECONDS, result
    assert result["peak_mb"] < MAX_RSS_MB, result


def test_the_untouched_checkpoint_loads_in_the_same_process(catalogue):
    """The control: the loader process samples from the valid file (so refusals above are not a broken loader)."""
    _, results = catalogue
    assert results["good"]["code"] == 0, results["good"]["stderr"]


def test_the_bombs_really_inflate(catalogue, tmp_path):
    """The bombs are valid deflate streams of their declared size (a trusting reader would inflate them):
    checked on a 64 MiB one built the same way, and the catalogue's declare more than 1 GiB in ~1 MB."""
    cases, _ = catalogue
    with zipfile.ZipFile(cases["extra_member_bomb"][0]) as z:
        info = z.getinfo("extra.npy")
        assert info.file_size > GIB and info.compress_size < 2 << 20
    prefix = npy_header("<f4", (16 << 20,))
    stream, crc = zero_bomb(prefix, 64 << 20)
    path = write_zip(tmp_path / "small_bomb.zip", [Member("x.npy", deflated=stream, crc=crc, size=len(prefix) + (64 << 20))])
    with zipfile.ZipFile(path) as z, z.open("x.npy") as member:
        assert member.read(len(prefix)) == prefix
        total = 0
        while chunk := member.read(16 << 20):
            assert not chunk.strip(b"\0")
            total += len(chunk)
    assert total == 64 << 20  # and zipfile checked the CRC at the end


def test_max_params_raises_the_cap(good_checkpoint):
    with pytest.raises(schema.CheckpointError, match="more than the cap of 100"):
        Run.load(good_checkpoint, max_parameters=100)
    assert Run.load(good_checkpoint, max_parameters=10_000).step == 5


# ----- the layout the loader checks against is the model's ------------------------------------------------
def _sequence_configs(arch):
    """Sequence-model configs: widths, depth, dropout and the optimizer varied (block size from the data)."""
    widths = [dict(n_embd=6, n_embd2=5), dict(n_embd=4, n_embd2=9)]
    if arch == "bigram":
        widths = [{}]
    elif arch == "transformer":
        widths = [dict(n_embd=6, n_head=2, n_layer=1), dict(n_embd=8, n_head=4, n_layer=3, dropout=0.1)]
    for shape, optimizer, weight_decay in itertools.product(widths, ["sgd", "adam", "adamw"], [0.0, 0.1]):
        config = get_config(arch, optimizer=optimizer, weight_decay=weight_decay,
                            momentum=0.9 if optimizer == "sgd" else 0.0, **shape)
        config.block_size = 7
        yield config


def _mlp_configs(arch):
    for norm, dropout, optimizer, weight_decay, hidden in itertools.product(
            ["none", "batch", "layer"], [0.0, 0.1], ["sgd", "adam", "adamw"], [0.0, 0.1], [[7], [5, 6, 9]]):
        yield get_config("default", arch=arch, norm=norm, dropout=dropout, optimizer=optimizer,
                         weight_decay=weight_decay, hidden=hidden, block_size=8, emb=3,
                         momentum=0.9 if optimizer == "sgd" else 0.0)


@pytest.mark.parametrize("arch", sorted(ARCH_LAYOUTS))
def test_layout_matches_the_built_model(arch):
    configs = list(_mlp_configs(arch) if arch in ("mlp", "hier") else _sequence_configs(arch))
    assert configs
    for config in configs:
        model = build_model(config, 11, np.random.default_rng(0))
        layout = model_layout(config, 11)
        assert {e.name: e.shape for e in layout} == {k: v.shape for k, v in model.state_dict().items()}
        assert [e.name for e in layout if e.trainable] == [name for name, _ in model.named_parameters()]
        optimizer_ = make_optimizer(config, model)
        for p in model.parameters():
            p.grad = np.ones_like(p.data)
        optimizer_.step()
        state = {k: v.shape for k, v in optimizer_.state_dict().items() if k != "step"}
        assert state == optimizer_layout(config, layout)


def test_every_arch_the_cli_offers_has_a_layout(capsys):
    from models.names.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    offered = re.search(r"--arch \{([^}]*)\}", capsys.readouterr().out).group(1).split(",")
    assert offered and set(offered) <= set(ARCH_LAYOUTS)


def test_a_compressed_checkpoint_loads(good_checkpoint, tmp_path):
    """Deflated members (np.savez_compressed) are accepted: the ratio checks refuse only lies and bombs."""
    with zipfile.ZipFile(good_checkpoint) as z:
        payload = {i.filename[:-4]: np.load(io.BytesIO(z.read(i))) for i in z.infolist()}
    np.savez_compressed(tmp_path / "compressed.npz", **payload)
    with zipfile.ZipFile(tmp_path / "compressed.npz") as z:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    loaded, original = Run.load(tmp_path / "compressed.npz"), Run.load(good_checkpoint)
    assert loaded.step == original.step and loaded.sample(5, seed=1) == original.sample(5, seed=1)


# ----- sequence models (the zoo): their config fields bound what loading may allocate ---------------------
def _zoo_checkpoint(tmp_path, arch, **options):
    words = ["anna", "bob", "clara", "dave", "emma", "fred", "gina", "hugo", "ida", "jon"] * 3
    run = Run(get_config(arch, steps=4, batch_size=4, **options), words)
    run.train(progress=False)
    return _good_members(run.save(tmp_path / f"{arch}.npz"))


@pytest.mark.parametrize("arch, change, message", [
    ("gru", {"config.block_size": 10**9}, "config block_size 1000000000 for arch 'gru', but its words need 6"),
    ("rnn", {"config.block_size": 3}, "config block_size 3 for arch 'rnn', but its words need 6"),
    ("transformer", {"config.n_layer": 5000}, "n_layer 5000 is more than the 1024 layers accepted"),
    ("transformer", {"config.block_size": 4000}, "n_parameters 420 but the config implies 16,396"),
    ("transformer", {"config.keep_best": "yes"}, "keep_best must be true or false"),
])
def test_a_sequence_checkpoint_with_a_hostile_config_is_refused(tmp_path, arch, change, message):
    options = dict(n_layer=1, n_embd=4, n_head=1) if arch == "transformer" else dict(n_embd=4, n_embd2=4)
    members = _edit_meta(_zoo_checkpoint(tmp_path, arch, **options), **change)
    path = write_zip(tmp_path / "hostile.npz", _stored(members))
    with pytest.raises(schema.CheckpointError, match=re.escape(message)):
        Run.load(path)


@pytest.mark.parametrize("arch", ["bigram", "bow", "rnn", "gru", "transformer"])
def test_every_zoo_arch_round_trips_through_the_validated_loader(tmp_path, arch):
    options = {} if arch == "bigram" else (dict(n_layer=1, n_embd=4, n_head=2) if arch == "transformer"
                                           else dict(n_embd=4, n_embd2=4))
    members = _zoo_checkpoint(tmp_path, arch, **options)
    loaded = Run.load(tmp_path / f"{arch}.npz")
    assert loaded.config.arch == arch and loaded.step == 4
    assert {f"model/{k}" for k in loaded.model.state_dict()} == {k for k in members if k.startswith("model/")}
    assert len(loaded.sample(3, seed=0)) == 3
