"""makemore's sequence models on autograd_np: bigram, bag of words, RNN, GRU, Transformer.

Unlike the MLP, which sees a fixed window of ``block_size`` characters, these
models read a whole name at once. Every word becomes one row of length
``T = block_size`` (the longest word + 1):

    x = .  e  m  m  a  .  .  ...      (start token, the word, padding)
    y = e  m  m  a  .  -1 -1 ...      (the word, the end token, ignored padding)

and a model maps x (B, T) to logits (B, T, V), where position t may only use
x[:, :t+1]. The loss is the mean cross-entropy over the real targets
(``cross_entropy(..., ignore_index=-1)``): per character plus the end token,
the same quantity the MLP's per-example loss measures, so the numbers compare.

The architectures follow makemore (Karpathy) and the papers:
- ``bigram``: a (V, V) table of logits, the next character from the current one;
- ``bow``: averages of the previous embeddings (a causal bag of words) + an MLP;
- ``rnn``: an Elman RNN (Mikolov et al. 2010); ``gru``: a GRU (Cho et al. 2014);
- ``transformer``: a GPT-style decoder (Vaswani et al. 2017; pre-LayerNorm
  blocks of causal self-attention and a GELU MLP, GELU in its tanh form).

Initialisation is PyTorch's default (as makemore uses): Linear weights and
biases ~ U(-1/√fan_in, 1/√fan_in), embeddings ~ N(0, 1), LayerNorm 1 and 0.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from autograd_np import Tensor, nn, ops, stack
from autograd_np.functional import cross_entropy

from .data import Vocab

SEQUENCE_ARCHS = ("bigram", "bow", "rnn", "gru", "transformer")
#: archs with a position embedding: they cannot read more than block_size positions
POSITIONAL_ARCHS = ("bow", "transformer")
IGNORE = -1


def is_sequence_arch(arch: str) -> bool:
    return arch in SEQUENCE_ARCHS


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------
def sequence_length(words: Sequence[str]) -> int:
    """The block size of a sequence model trained on ``words``: the longest word + 1."""
    return max((len(w) for w in words), default=0) + 1


def build_sequences(words: Sequence[str], vocab: Vocab, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y), both (N, block_size) int64: X = start token then the word, 0-padded;
    Y = the word then the end token, padded with -1 (ignored by the loss)."""
    X = np.zeros((len(words), block_size), dtype=np.int64)
    Y = np.full((len(words), block_size), IGNORE, dtype=np.int64)
    stoi = vocab.stoi
    for i, word in enumerate(words):
        if len(word) + 1 > block_size:
            raise ValueError(
                f"the word {word!r} ({len(word)} characters) is longer than this model reads: its block size is "
                f"{block_size}, the longest word it was built for + 1"
            )
        ids = [stoi[c] for c in word]
        X[i, 1:len(ids) + 1] = ids
        Y[i, :len(ids)] = ids
        Y[i, len(ids)] = 0
    return X, Y


def trim_padding(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the trailing columns where every target is padding.

    Each position sees only the ones before it, so the loss and its gradient
    are unchanged; the batch just costs less.
    """
    used = np.flatnonzero((Y != IGNORE).any(axis=0))
    t = int(used[-1]) + 1 if used.size else 1
    return (X, Y) if t == X.shape[1] else (X[:, :t], Y[:, :t])


def sequence_loss(model: nn.Module, X: np.ndarray, Y: np.ndarray) -> Tensor:
    """Mean cross-entropy over the real (non-padding) targets of a batch."""
    return cross_entropy(model(X), Y, ignore_index=IGNORE)


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------
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
        x = x + ops.matmul(lower / lower.sum(axis=1, keepdims=True), x)
        x = x + self.c_proj(self.c_fc(x).tanh())
        return self.lm_head(x)


class RNN(nn.Module):
    """h_0 = a learned start state; h_t = cell(embedding(x_t), h_{t-1}); logits_t = h_t W + b."""

    def __init__(self, vocab_size: int, n_embd: int, n_embd2: int, cell: str, *, rng: Any,
                 dtype: Any = np.float32) -> None:
        self.start = Tensor(np.zeros((1, n_embd2), dtype=dtype), requires_grad=True)
        self.wte = nn.Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)
        cell_class = {"rnn": nn.RNNCell, "gru": nn.GRUCell}[cell]
        self.cell = cell_class(n_embd, n_embd2, rng=rng, dtype=dtype)
        self.lm_head = nn.Linear(n_embd2, vocab_size, rng=rng, dtype=dtype)

    def forward(self, idx: Any) -> Tensor:
        idx = _check_indices(idx)
        B, T = idx.shape
        emb = self.wte(idx)
        h = ops.broadcast_to(self.start, shape=(B, self.start.shape[1]))
        hiddens = []
        for t in range(T):
            h = self.cell(emb[:, t, :], h)
            hiddens.append(h)
        return self.lm_head(stack(hiddens, axis=1))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x += attn(LN(x)); x += MLP(LN(x)) (GELU, width 4·n_embd).
    With dropout, the two residual branches are dropped too."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float, *, rng: Any,
                 dtype: Any = np.float32) -> None:
        self.ln_1 = nn.LayerNorm(n_embd, dtype=dtype)
        self.attn = nn.CausalSelfAttention(n_embd, n_head, block_size, dropout, rng=rng, dtype=dtype)
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


def build_sequence_model(config: Any, vocab_size: int, rng: np.random.Generator) -> nn.Module:
    """The model named by ``config.arch`` (``config.block_size`` must already be set from the data)."""
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
