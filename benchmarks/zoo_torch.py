"""makemore's sequence models in PyTorch, for the zoo benchmarks only (torch is optional).

The same architectures as ``models/names/zoo.py`` (and makemore.py): bigram, BoW,
RNN, GRU, Transformer. PyTorch's default initialisation, no custom init.
``build(arch, vocab_size, block_size, ...)`` returns an ``nn.Module`` mapping
idx (B, T) to logits (B, T, V); ``loss(logits, Y)`` is the mean cross-entropy
over the non-padding targets (``ignore_index=-1``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bigram(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros((vocab_size, vocab_size)))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits[idx]


class BoW(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.c_fc = nn.Linear(n_embd, n_embd2)
        self.c_proj = nn.Linear(n_embd2, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, block_size, block_size))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        att = torch.zeros((B, T, T)).masked_fill(self.bias[:, :T, :T] == 0, float("-inf"))
        x = x + F.softmax(att, dim=-1) @ x
        x = x + self.c_proj(torch.tanh(self.c_fc(x)))
        return self.lm_head(x)


class RNNCell(nn.Module):
    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, xt: torch.Tensor, hprev: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.xh_to_h(torch.cat([xt, hprev], dim=1)))


class GRUCell(nn.Module):
    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_embd + n_embd2, n_embd2)
        self.xh_to_r = nn.Linear(n_embd + n_embd2, n_embd2)
        self.xh_to_hbar = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, xt: torch.Tensor, hprev: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([xt, hprev], dim=1)
        r = torch.sigmoid(self.xh_to_r(xh))
        hbar = torch.tanh(self.xh_to_hbar(torch.cat([xt, r * hprev], dim=1)))
        z = torch.sigmoid(self.xh_to_z(xh))
        return (1 - z) * hprev + z * hbar


class RNN(nn.Module):
    def __init__(self, vocab_size: int, n_embd: int, n_embd2: int, cell: str) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, n_embd2))
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.cell = RNNCell(n_embd, n_embd2) if cell == "rnn" else GRUCell(n_embd, n_embd2)
        self.lm_head = nn.Linear(n_embd2, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        emb = self.wte(idx)
        h = self.start.expand((b, -1))
        hiddens = []
        for i in range(t):
            h = self.cell(emb[:, i, :], h)
            hiddens.append(h)
        return self.lm_head(torch.stack(hiddens, 1))


class NewGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.n_head, self.n_embd = n_head, n_embd
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.act = NewGELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.resid_dropout(self.attn(self.ln_1(x)))
        return x + self.resid_dropout(self.c_proj(self.act(self.c_fc(self.ln_2(x)))))


class Transformer(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_embd: int, n_head: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T)))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def build(arch: str, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4, n_embd: int = 64,
          n_embd2: int = 64, dropout: float = 0.0) -> nn.Module:
    if arch == "bigram":
        return Bigram(vocab_size)
    if arch == "bow":
        return BoW(vocab_size, block_size, n_embd, n_embd2)
    if arch in ("rnn", "gru"):
        return RNN(vocab_size, n_embd, n_embd2, arch)
    if arch == "transformer":
        return Transformer(vocab_size, block_size, n_layer, n_embd, n_head, dropout)
    raise ValueError(f"unknown arch {arch!r}")


def loss(logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1), ignore_index=-1)
