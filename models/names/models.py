"""The names models side by side: makemore's MLP (and its hierarchical variant), bigram, bag of
words, RNN, GRU and Transformer, all on ``autograd_np.nn``.

The MLPs (``mlp``, ``hier``) map a window of ``block_size`` characters (B, block_size) to the next
character's logits (B, V). The sequence models read a whole name at once: x (B, T) -> logits
(B, T, V), where position t may only use x[:, :t+1] (``data.build_sequences`` makes the rows).

- ``mlp``: embed, flatten the window, tanh hidden layers (Bengio et al. 2003, makemore part 3);
  ``hier``: fuse two neighbours per level instead (WaveNet-style, makemore part 5);
- ``bigram``: a (V, V) table of logits, the next character from the current one;
- ``bow``: averages of the previous embeddings (a causal bag of words) + an MLP;
- ``rnn``: an Elman RNN (Mikolov et al. 2010); ``gru``: a GRU (Cho et al. 2014);
- ``transformer``: a GPT-style decoder (Vaswani et al. 2017; pre-LayerNorm blocks of causal
  self-attention and a GELU MLP, GELU in its tanh form).

Init: the MLPs' hidden weights ~ N(0, (5/3)² / fan_in) (tanh gain), output weights scaled by
``output_scale``; the sequence models PyTorch's default, as makemore keeps it (Linear ~
U(-1/√fan_in, 1/√fan_in), embeddings ~ N(0, 1)). Every weight is drawn from the ``rng`` given, which
``checkpoint.build_capped`` relies on to bound what a config from a file may allocate.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import autograd_np as ag
from autograd_np import Tensor, nn
from autograd_np.functional import cross_entropy, softmax

from .config import SEQUENCE_ARCHS, Config, is_sequence_arch
from .data import IGNORE

TANH_GAIN = 5.0 / 3.0


# ----- the MLPs -----------------------------------------------------------------------------------
def build_mlp(config: Config, vocab_size: int, rng: np.random.Generator) -> nn.Sequential:
    """``mlp`` and ``hier``: Embedding -> (flatten | hierarchical fusion) -> [Linear -> norm -> tanh -> dropout]* -> Linear.

    Init: hidden Linear weights ~ N(0, (5/3)^2 / fan_in) (tanh gain), biases 0
    (and no bias before a BatchNorm, whose shift replaces it); output weights
    scaled by ``output_scale``, output bias 0.
    """
    dtype = np.dtype(config.dtype)
    layers: list[nn.Module] = [nn.Embedding(vocab_size, config.emb, rng=rng, dtype=dtype)]

    def hidden_block(fan_in: int, width: int) -> list[nn.Module]:
        block: list[nn.Module] = [
            nn.Linear(fan_in, width, bias=config.norm != "batch", gain=TANH_GAIN, rng=rng, dtype=dtype)
        ]
        if config.norm == "batch":
            block.append(nn.BatchNorm1d(width, dtype=dtype))
        elif config.norm == "layer":
            block.append(nn.LayerNorm(width, dtype=dtype))
        block.append(nn.Tanh())
        if config.dropout > 0:
            block.append(nn.Dropout(config.dropout, rng=rng))
        return block

    width = config.emb
    if config.arch == "mlp":
        layers.append(nn.Flatten())
        width = config.emb * config.block_size
        for h in config.hidden:
            layers += hidden_block(width, h)
            width = h
    else:
        levels = config.block_size.bit_length() - 1
        widths = list(config.hidden) + [config.hidden[-1]] * (levels - len(config.hidden))
        for h in widths[:levels]:
            layers.append(nn.FlattenConsecutive(2))
            layers += hidden_block(2 * width, h)
            width = h
    out = nn.Linear(width, vocab_size, rng=rng, dtype=dtype)
    out.weight.data *= config.output_scale
    layers.append(out)
    return nn.Sequential(*layers)


# ----- the sequence models (makemore's zoo) ------------------------------------------------------
def sequence_loss(model: nn.Module, X: np.ndarray, Y: np.ndarray) -> Tensor:
    """Mean cross-entropy over the real (non-padding) targets of a batch of whole words."""
    return cross_entropy(model(X), Y, ignore_index=IGNORE)


def _check_indices(idx: Any, block_size: int | None = None) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 2:
        raise ValueError(f"expected a (batch, time) array of character indices, got shape {idx.shape}")
    if block_size is not None and idx.shape[1] > block_size:
        raise ValueError(f"sequence of length {idx.shape[1]} is longer than the block size {block_size}")
    return idx


class Bigram(nn.Module):
    """logits[b, t] = W[x[b, t]]: one row of next-character logits per character (W starts at 0)."""

    def __init__(self, vocab_size: int, *, dtype: Any = np.float32) -> None:
        self.logits = Tensor(np.zeros((vocab_size, vocab_size), dtype=dtype), requires_grad=True)

    def forward(self, idx: Any) -> Tensor:
        return self.logits[_check_indices(idx)]


class BoW(nn.Module):
    """Causal bag of words: x = token + position embedding; x += mean of x[:, :t+1] at every t;
    x += MLP(x) (tanh, width n_embd2); logits = x W + b."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, n_embd2: int, *, rng: Any,
                 dtype: Any = np.float32) -> None:
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        self.wpe = nn.Embedding(block_size, n_embd, rng=rng, dtype=dtype)
        self.c_fc = nn.Linear(n_embd, n_embd2, rng=rng, dtype=dtype)
        self.c_proj = nn.Linear(n_embd2, n_embd, rng=rng, dtype=dtype)
        self.lm_head = nn.Linear(n_embd, vocab_size, rng=rng, dtype=dtype)
        self.dtype = np.dtype(dtype)

    def forward(self, idx: Any) -> Tensor:
        idx = _check_indices(idx, self.block_size)
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe.weight[:T]
        # row t averages positions 0..t: softmax of zeros under a causal mask, a constant
        lower = np.tril(np.ones((T, T), dtype=self.dtype))
        x = x + ag.matmul(lower / lower.sum(axis=1, keepdims=True), x)
        x = x + self.c_proj(self.c_fc(x).tanh())
        return self.lm_head(x)


class RNN(nn.Module):
    """h_0 = a learned start state; h_t = cell(embedding(x_t), h_{t-1}); logits_t = h_t W + b."""

    def __init__(self, vocab_size: int, n_embd: int, n_embd2: int, cell: str, *, rng: Any,
                 dtype: Any = np.float32) -> None:
        self.start = Tensor(np.zeros((1, n_embd2), dtype=dtype), requires_grad=True)
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        cell_class = {"rnn": RNNCell, "gru": GRUCell}[cell]
        self.cell = cell_class(n_embd, n_embd2, rng=rng, dtype=dtype)
        self.lm_head = nn.Linear(n_embd2, vocab_size, rng=rng, dtype=dtype)

    def forward(self, idx: Any) -> Tensor:
        idx = _check_indices(idx)
        B, T = idx.shape
        emb = self.wte(idx)
        h = ag.broadcast_to(self.start, (B, self.start.shape[1]))
        hiddens = []
        for t in range(T):
            h = self.cell(emb[:, t, :], h)
            hiddens.append(h)
        return self.lm_head(ag.stack(hiddens, axis=1))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x += attn(LN(x)); x += MLP(LN(x)) (GELU, width 4·n_embd).
    With dropout, the two residual branches are dropped too."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float, *, rng: Any,
                 dtype: Any = np.float32) -> None:
        self.ln_1 = nn.LayerNorm(n_embd, dtype=dtype)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout, rng=rng, dtype=dtype)
        self.ln_2 = nn.LayerNorm(n_embd, dtype=dtype)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, rng=rng, dtype=dtype)
        self.act = nn.GELU(approximate="tanh")  # makemore's (GPT-2's) form; the exact erf form is slower
        self.c_proj = nn.Linear(4 * n_embd, n_embd, rng=rng, dtype=dtype)
        self.resid_dropout = nn.Dropout(dropout, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.resid_dropout(self.attn(self.ln_1(x)))
        return x + self.resid_dropout(self.c_proj(self.act(self.c_fc(self.ln_2(x)))))


class Transformer(nn.Module):
    """GPT-style decoder: token + position embeddings, n_layer blocks, a final LayerNorm,
    logits = x W (no bias)."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_embd: int, n_head: int,
                 dropout: float = 0.0, *, rng: Any, dtype: Any = np.float32) -> None:
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        self.wpe = nn.Embedding(block_size, n_embd, rng=rng, dtype=dtype)
        self.drop = nn.Dropout(dropout, rng=rng)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, block_size, dropout, rng=rng, dtype=dtype)
                                    for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, dtype=dtype)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False, rng=rng, dtype=dtype)

    def forward(self, idx: Any) -> Tensor:
        idx = _check_indices(idx, self.block_size)
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe.weight[:T])
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def torch_default_init(model: nn.Module, rng: np.random.Generator) -> None:
    """Linear weights and biases ~ U(-1/√fan_in, 1/√fan_in), PyTorch's default (makemore keeps it)."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / np.sqrt(module.in_features)
            w = module.weight.data
            w[...] = rng.uniform(-bound, bound, size=w.shape)
            if module.bias is not None:
                module.bias.data[...] = rng.uniform(-bound, bound, size=module.bias.shape)



# ----- attention and recurrent cells ---------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (Vaswani et al. 2017, decoder side; GPT's layout).

    For x of shape (B, T, C) and H heads of size d = C / H:

        [Q K V] = x W_qkv + b_qkv                 (one Linear C -> 3C, split into heads)
        A_h     = softmax(Q_h K_hᵀ / √d + M)      M_ij = 0 if j <= i else -inf (no peeking ahead)
        y       = concat_h(A_h V_h) W_o + b_o     (Linear C -> C)

    Masked scores are filled with -inf (``masked_fill``), so their gradient is
    exactly zero. The (T, T) mask is made for each call's T, so no block_size²
    array is held. ``dropout`` (training mode) drops attention probabilities;
    its masks come from ``rng``. ``block_size`` bounds T.
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, *, rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        if n_head < 1 or n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_head={n_head} must divide n_embd={n_embd}")
        self.n_embd, self.n_head, self.block_size = int(n_embd), int(n_head), int(block_size)
        rng = np.random.default_rng(rng)  # one generator for both layers, also from a seed
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, rng=rng, dtype=dtype)
        self.c_proj = nn.Linear(n_embd, n_embd, rng=rng, dtype=dtype)
        self.attn_dropout = nn.Dropout(dropout, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        if C != self.n_embd or T > self.block_size:
            raise ValueError(
                f"CausalSelfAttention: expected (B, T <= {self.block_size}, {self.n_embd}), got shape {x.shape}"
            )
        H = self.n_head
        d = C // H
        # (B, T, 3C) -> (3, B, H, T, d), copied once into that order so that the batched
        # matmuls below get contiguous operands; then three basic slices
        qkv = self.c_attn(x).reshape(B, T, 3, H, d).permute(2, 0, 3, 1, 4).reshape(3, B, H, T, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        future = np.triu(np.ones((T, T), dtype=bool), k=1)  # M_ij: j > i
        scores = ((q @ k.transpose(-2, -1)) * (1.0 / d**0.5)).masked_fill(future, -np.inf)
        att = self.attn_dropout(softmax(scores, axis=-1))
        y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        return self.c_proj(y)

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, block_size={self.block_size}"


class RNNCell(nn.Module):
    """Elman RNN cell (Mikolov et al. 2010):  h' = tanh([x, h] W + b),  W of shape (in + hidden, hidden)."""

    def __init__(self, input_size: int, hidden_size: int, *, rng: Any = None, dtype: Any = np.float32) -> None:
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.xh_to_h = nn.Linear(input_size + hidden_size, hidden_size, rng=rng, dtype=dtype)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return ag.tanh(self.xh_to_h(ag.concatenate([x, h], axis=-1)))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class GRUCell(nn.Module):
    """Gated recurrent unit (Cho et al. 2014), as in makemore:

        r  = σ([x, h] W_r + b_r)            reset gate
        z  = σ([x, h] W_z + b_z)            update gate
        h̃  = tanh([x, r ⊙ h] W_h + b_h)     candidate
        h' = (1 - z) ⊙ h + z ⊙ h̃

    ``W_r`` and ``W_z`` are stored side by side in one Linear (in + hidden -> 2 hidden):
    one matmul for both gates.
    """

    def __init__(self, input_size: int, hidden_size: int, *, rng: Any = None, dtype: Any = np.float32) -> None:
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        rng = np.random.default_rng(rng)  # one generator for both layers, also from a seed
        self.xh_to_rz = nn.Linear(input_size + hidden_size, 2 * hidden_size, rng=rng, dtype=dtype)
        self.xh_to_hbar = nn.Linear(input_size + hidden_size, hidden_size, rng=rng, dtype=dtype)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        n = self.hidden_size
        rz = self.xh_to_rz(ag.concatenate([x, h], axis=-1)).sigmoid()
        r, z = rz[..., :n], rz[..., n:]
        hbar = ag.tanh(self.xh_to_hbar(ag.concatenate([x, r * h], axis=-1)))
        return h + z * (hbar - h)  # = (1 - z) h + z hbar, one op fewer

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


# ----- one entry point ---------------------------------------------------------------------------
def build_model(config: Config, vocab_size: int, rng: np.random.Generator) -> nn.Module:
    """The model ``config.arch`` names, its weights drawn from ``rng`` (a sequence model's
    ``config.block_size`` must already be set from the data: the longest word + 1)."""
    if not is_sequence_arch(config.arch):
        return build_mlp(config, vocab_size, rng)
    dtype = np.dtype(config.dtype)
    arch, T = config.arch, config.block_size
    if arch == "bigram":
        return Bigram(vocab_size, dtype=dtype)
    if arch == "bow":
        model: nn.Module = BoW(vocab_size, T, config.n_embd, config.n_embd2, rng=rng, dtype=dtype)
    elif arch in ("rnn", "gru"):
        model = RNN(vocab_size, config.n_embd, config.n_embd2, arch, rng=rng, dtype=dtype)
    elif arch == "transformer":
        model = Transformer(vocab_size, T, config.n_layer, config.n_embd, config.n_head, config.dropout,
                            rng=rng, dtype=dtype)
    else:
        raise ValueError(f"unknown sequence arch {arch!r}; choose from {SEQUENCE_ARCHS}")
    torch_default_init(model, rng)
    return model
